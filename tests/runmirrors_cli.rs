//! runmirrors' command line, configuration and early exits (SPEC §2, §3, §7).

mod common;
use common::sshd::*;
use common::*;
use std::fs;
use std::path::Path;
use std::time::Duration;

/// A classic layout with `base/bin/runmirrors`, nothing configured.
fn bare() -> Mirror {
    let m = Mirror::new();
    m.link_bin("runmirrors");
    m
}

fn rm(m: &Mirror, args: &[&str]) -> RunOutput {
    m.run_cmd(m.command_prog(&m.link_bin("runmirrors"), args))
}

fn all_output(m: &Mirror, out: &RunOutput) -> String {
    format!(
        "{}{}{}",
        out.stdout,
        out.stderr,
        read_string(&m.logdir().join("runmirrors.log"))
    )
}

/// Another configuration on this machine would be found by the search path.
/// The "missing config" tests need the last place of the search empty: a system-wide
/// config would be found and used. Fail (do not pass untested) on a machine that has one.
fn assert_no_system_config() {
    for p in [
        "/etc/ftpsync/runmirrors.conf",
        "/etc/ftpsync/runmirrors.mirror",
    ] {
        assert!(
            !Path::new(p).exists(),
            "{p} exists: this test needs a machine without a system-wide runmirrors config"
        );
    }
}

#[test]
fn help_exits_0() {
    let m = bare();
    let out = rm(&m, &["-h"]);
    assert_eq!(out.code, Some(0), "{}", m.diagnostics(&out));
    assert!(!out.stdout.is_empty() || !out.stderr.is_empty());
    let out = m.run_cmd(m.command_prog(Path::new(BIN), &["runmirrors", "--help"]));
    assert_eq!(out.code, Some(0), "{}", m.diagnostics(&out));
}

#[test]
fn unknown_kind_is_a_usage_error() {
    let m = bare();
    let key = ssh_keygen(&m.dir.join("keys/pushmirror"));
    m.write_conf_file(
        "runmirrors.conf",
        &Conf::default()
            .set("MAILTO", "")
            .set("KEYFILE", key.path.to_string_lossy()),
    );
    // a trigger that would show up if anything were pushed
    m.write_raw("runmirrors.mirror", "all leaf 127.0.0.1 root -p 1\n");
    let out = rm(&m, &["-k", "bogus"]);
    // runmirrors(1): 64, bad usage.
    assert_eq!(out.code, Some(64), "-k bogus\n{}", m.diagnostics(&out));
    assert!(
        !m.logdir().join("leaf.log").exists(),
        "pushed despite the usage error"
    );
    let out = rm(&m, &["-x"]);
    assert_eq!(out.code, Some(64), "-x\n{}", m.diagnostics(&out));
}

#[test]
fn missing_keyfile_exits_5() {
    assert_no_system_config();
    let m = bare();
    m.write_raw("runmirrors.mirror", "all leaf 127.0.0.1 root -p 1\n");
    // default KEYFILE: .ssh/pushmirror under $HOME, which does not exist
    m.write_conf_file("runmirrors.conf", &Conf::default().set("MAILTO", ""));
    let out = rm(&m, &[]);
    assert_eq!(out.code, Some(5), "{}", m.diagnostics(&out));
    let all = all_output(&m, &out);
    assert!(all.contains("does not exist"), "{all}");
    assert!(all.contains(".ssh/pushmirror"), "{all}");
    assert!(!m.logdir().join("leaf.log").exists());

    // an explicit one that is missing
    let missing = m.dir.join("keys/nope");
    m.write_conf_file(
        "runmirrors.conf",
        &Conf::default()
            .set("MAILTO", "")
            .set("KEYFILE", missing.to_string_lossy()),
    );
    let out = rm(&m, &[]);
    assert_eq!(out.code, Some(5), "{}", m.diagnostics(&out));
    let all = all_output(&m, &out);
    assert!(all.contains("does not exist"), "{all}");
}

#[test]
fn missing_config_exits_78() {
    assert_no_system_config();
    let m = bare();
    ssh_keygen(&m.home.join(".ssh/pushmirror"));
    m.write_raw("runmirrors.mirror", "all leaf 127.0.0.1 root -p 1\n");
    let out = rm(&m, &[]);
    assert_eq!(out.code, Some(78), "{}", m.diagnostics(&out));
    // a named one too
    let out = rm(&m, &["-a", "other"]);
    assert_eq!(out.code, Some(78), "{}", m.diagnostics(&out));
    assert!(!m.logdir().join("leaf.log").exists());
}

#[test]
fn missing_mirror_file_is_nothing_to_do() {
    assert_no_system_config();
    let m = bare();
    // KEYFILE relative to $HOME (the default)
    ssh_keygen(&m.home.join(".ssh/pushmirror"));
    m.write_conf_file("runmirrors.conf", &Conf::default().set("MAILTO", ""));
    let out = rm(&m, &[]);
    assert_eq!(out.code, Some(0), "{}", m.diagnostics(&out));
    // and through the subcommand with an explicit kind
    let mut cmd = m.command_prog(Path::new(BIN), &["runmirrors", "-k", "all"]);
    // the subcommand has no argv[0] layout: point it at the config by HOME
    let cfgdir = m.home.join(".config/ftpsync");
    fs::create_dir_all(&cfgdir).unwrap();
    fs::write(cfgdir.join("runmirrors.conf"), "MAILTO=\"\"\n").unwrap();
    cmd.current_dir(&m.home);
    let out = m.run_cmd(cmd);
    assert_eq!(out.code, Some(0), "{}", m.diagnostics(&out));
}

/// A relative KEYFILE is taken relative to $HOME, and the ssh command line carries it.
#[test]
fn relative_keyfile_is_used_for_the_push() {
    let up = Upstream::v1();
    let pusher = Downstream::builder("pusher.test").pusher().start();
    // move the key below $HOME and name it relatively
    let rel = ".ssh/pushkey";
    let key = SshKey {
        path: pusher.m.home.join(rel),
    };
    fs::create_dir_all(key.path.parent().unwrap()).unwrap();
    fs::copy(&pusher.key().path, &key.path).unwrap();
    let leaf = Downstream::builder("leaf.test")
        .source(&up.url())
        .pushed_by(pusher.key())
        .start();
    fs::remove_file(&pusher.key().path).unwrap();
    pusher.write_runmirrors_conf(&pusher.runmirrors_conf().set("KEYFILE", rel));
    pusher.write_mirrors(&[leaf.host_line("all", "leaf")]);
    let out = pusher.runmirrors(&["-k", "all"]);
    pusher.expect_code(&out, 0, &[&pusher, &leaf]);
    wait_synced(&leaf, Duration::from_secs(30), &[&pusher, &leaf]);
    assert_same_tree(&up.root, &leaf.m.to, leaf.name());
    let rl = pusher.runmirrors_log();
    assert!(
        rl.contains("Pushing leaf mirrors. Inside ftpsync: false. Pushkind: all"),
        "{rl}"
    );
}

/// `runmirrors NAME` and `-a NAME` read runmirrors-NAME.conf / .mirror and push
/// `sync:archive:NAME`; PUSHARCHIVE overrides the archive that is sent.
#[test]
fn named_archive_selects_files_and_the_pushed_archive() {
    let m = bare();
    let key = ssh_keygen(&m.dir.join("keys/pushmirror"));
    let words = m.dir.join("words");
    let stub = m.dir.join("stub.sh");
    write_script(
        &stub,
        &format!(
            "printf '%s\\n' \"$SSH_ORIGINAL_COMMAND\" >> {}",
            shq(&words.to_string_lossy())
        ),
    );
    let sshd = Sshd::start(&forced_command_line(&stub, &key));
    let conf = Conf::default()
        .set("MAILTO", "")
        .set("KEYFILE", key.path.to_string_lossy())
        .set("SSH_OPTS", SSH_OPTS);
    m.write_conf_file("runmirrors-security.conf", &conf);
    m.write_raw(
        "runmirrors-security.mirror",
        &format!("all sec 127.0.0.1 root -p {}\n", sshd.port),
    );
    // the unnamed files must not be used
    m.write_conf_file("runmirrors.conf", &conf);
    m.write_raw("runmirrors.mirror", "all wrong 127.0.0.1 root -p 1\n");

    let received = |n: usize| {
        wait_for(Duration::from_secs(20), "the triggers to arrive", || {
            read_string(&words).lines().count() >= n
        });
        read_string(&words)
    };
    let out = rm(&m, &["security"]);
    assert_eq!(out.code, Some(0), "{}", m.diagnostics(&out));
    assert_eq!(received(1), "sync:archive:security sync:all\n");
    let out = rm(&m, &["-a", "security", "-k", "all"]);
    assert_eq!(out.code, Some(0), "{}", m.diagnostics(&out));
    assert_eq!(
        received(2),
        "sync:archive:security sync:all\nsync:archive:security sync:all\n"
    );
    m.write_conf_file(
        "runmirrors-security.conf",
        &conf.clone().set("PUSHARCHIVE", "other"),
    );
    let out = rm(&m, &["-a", "security"]);
    assert_eq!(out.code, Some(0), "{}", m.diagnostics(&out));
    assert_eq!(
        received(3).lines().last(),
        Some("sync:archive:other sync:all")
    );
    assert!(!m.logdir().join("wrong.log").exists());
    let log = read_string(&m.logdir().join("runmirrors-security.log"))
        + &read_string(&m.logdir().join("runmirrors-security.log.0"));
    assert!(log.contains("Trigger sec"), "{log}");
}
