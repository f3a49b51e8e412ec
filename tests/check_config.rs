//! `archvsync check-config`: config problems are reported with their location, refusals and
//! unusable paths are errors, and the rsync and ssh command lines printed are the ones a
//! real run uses, word for word.
//!
//! Longer than the ~650 lines a file should keep to, on purpose: the ftpsync and the
//! runmirrors halves compare check-config's output with real runs through the same helpers
//! (check_config_cmd, assert_problem, the recorded runs), and split they would need them
//! in the harness for this one command.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `base/bin/archvsync`, so that the layout (BASEDIR = base) is the one `base/bin/ftpsync` gets.
fn archvsync(m: &Mirror) -> PathBuf {
    m.link_bin("archvsync")
}

fn check_config_cmd(m: &Mirror, args: &[&str]) -> Command {
    let mut a = vec!["check-config"];
    a.extend_from_slice(args);
    m.command_prog(&archvsync(m), &a)
}

fn check_config(m: &Mirror, args: &[&str]) -> RunOutput {
    m.run_cmd(check_config_cmd(m, args))
}

fn lines_starting<'a>(out: &'a RunOutput, prefix: &str) -> Vec<&'a str> {
    out.stdout
        .lines()
        .filter(|l| l.starts_with(prefix))
        .collect()
}

/// The one `error:` line containing `needle`, with the whole output on failure.
fn assert_problem(out: &RunOutput, kind: &str, needle: &str) -> String {
    let hits: Vec<&str> = lines_starting(out, &format!("{kind}: "))
        .into_iter()
        .filter(|l| l.contains(needle))
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "expected one {kind}: line containing {needle:?}\n{}\n{}",
        out.stdout,
        out.stderr
    );
    hits[0].to_string()
}

/// A mirror whose config passes: pulls from a (not running) local daemon URL.
fn good_mirror() -> Mirror {
    let m = Mirror::new();
    m.write_conf(&m.conf("rsync://127.0.0.1:9/debian"));
    m
}

#[test]
fn a_good_config_passes_and_warnings_do_not_fail() {
    let m = good_mirror();
    let out = check_config(&m, &[]);
    m.expect_code(&out, 0);
    assert!(lines_starting(&out, "error:").is_empty(), "{}", out.stdout);
    assert!(out.stdout.contains("0 errors"), "{}", out.stdout);
    assert!(
        out.stdout.contains("RSYNC_PASSWORD is not set"),
        "{}",
        out.stdout
    );

    // A typo'd key: a warning naming file, line and the key meant; still exit 0.
    let text = format!(
        "{}RSYNC_HOTS=upstream.example.org\n",
        m.conf("rsync://127.0.0.1:9/debian").to_bash()
    );
    let line = text.lines().count();
    m.write_raw("ftpsync.conf", &text);
    let out = check_config(&m, &[]);
    m.expect_code(&out, 0);
    let w = assert_problem(&out, "warning", "RSYNC_HOTS");
    let conf = m.etc().join("ftpsync.conf");
    assert!(
        w.starts_with(&format!("warning: {}:{line}: ", conf.display())),
        "{w}"
    );
    assert!(w.contains("did you mean RSYNC_HOST"), "{w}");
}

#[test]
fn missing_config_exits_78() {
    let m = Mirror::new();
    let out = check_config(&m, &[]);
    m.expect_code(&out, 78);
    assert_problem(&out, "error", "ftpsync.conf");
    // and for an archive: its own file
    m.write_conf(&m.conf("rsync://127.0.0.1:9/debian"));
    let out = check_config(&m, &["security"]);
    m.expect_code(&out, 78);
    assert_problem(&out, "error", "ftpsync-security.conf");
}

#[test]
fn both_arch_keys_are_an_error() {
    let m = Mirror::new();
    m.write_conf(
        &m.conf("rsync://127.0.0.1:9/debian")
            .set("ARCH_INCLUDE", "amd64")
            .set("ARCH_EXCLUDE", "i386"),
    );
    let out = check_config(&m, &[]);
    m.expect_code(&out, 1);
    assert_problem(&out, "error", "mutually exclusive");
    // nothing to print: a run would not get that far
    assert!(
        lines_starting(&out, "stage1: ").is_empty(),
        "{}",
        out.stdout
    );
}

#[test]
fn other_refusals_are_errors() {
    let m = Mirror::new();
    for (conf, needle) in [
        (
            m.conf("x").set("RSYNC_TRANSPORT", "carrier-pigeon"),
            "Unknown rsync transport",
        ),
        (
            m.conf("x").unset("RSYNC_SOURCE").unset("RSYNC_HOST"),
            "RSYNC_HOST",
        ),
        (m.conf("x").set("UIPSLEEP", "ten"), "UIPSLEEP=ten"),
    ] {
        m.write_conf(&conf);
        let out = check_config(&m, &[]);
        m.expect_code(&out, 1);
        assert_problem(&out, "error", needle);
    }
}

/// A warning found while the defaults were applied (here RSYNC_SSL=yes, which reads as
/// false) is reported with the refusal that came after it (an unknown transport), first.
#[test]
fn warnings_found_before_a_refusal_come_before_it() {
    let m = Mirror::new();
    m.write_conf(
        &m.conf("x")
            .set("RSYNC_SSL", "yes")
            .set("RSYNC_TRANSPORT", "carrier-pigeon"),
    );
    let out = check_config(&m, &[]);
    m.expect_code(&out, 1);
    let warning = assert_problem(&out, "warning", "RSYNC_SSL=yes is neither true nor false");
    let error = assert_problem(&out, "error", "Unknown rsync transport");
    assert!(
        out.stdout.find(&warning) < out.stdout.find(&error),
        "{}",
        out.stdout
    );

    // runmirrors.conf the same: a typo'd key, then a number out of its range.
    m.write_conf(&m.conf("x").set("HUB", "true"));
    m.write_raw(
        "runmirrors.conf",
        "MAILTO=\"\"\nPUSHDELAI=5\nPUSHTIMEOUT=0\n",
    );
    let out = check_config(&m, &[]);
    m.expect_code(&out, 1);
    let warning = assert_problem(&out, "warning", "PUSHDELAI (did you mean PUSHDELAY?)");
    let error = assert_problem(&out, "error", "PUSHTIMEOUT=0 is out of range");
    assert!(
        out.stdout.find(&warning) < out.stdout.find(&error),
        "{}",
        out.stdout
    );
}

#[test]
fn crlf_bounds_names_and_ignored_rsync_user_are_reported() {
    // CRLF line endings: a warning with file and line; the values are used without \r.
    let m = Mirror::new();
    let text = m.conf("rsync://127.0.0.1:9/debian").to_bash();
    m.write_raw("ftpsync.conf", &text.replace('\n', "\r\n"));
    let out = check_config(&m, &[]);
    m.expect_code(&out, 0);
    let w = assert_problem(&out, "warning", "CRLF");
    assert!(w.contains("ftpsync.conf:1:"), "{w}");
    assert!(
        out.stdout
            .lines()
            .any(|l| l == "source: rsync://127.0.0.1:9/debian"),
        "{}",
        out.stdout
    );

    // A MIRRORNAME that would break _hierarchy and the file names: an error.
    let m = Mirror::new();
    m.write_conf(
        &m.conf("rsync://127.0.0.1:9/debian")
            .set("MIRRORNAME", "my mirror"),
    );
    let out = check_config(&m, &[]);
    m.expect_code(&out, 1);
    let e = assert_problem(&out, "error", "MIRRORNAME");
    assert!(e.contains("ftpsync.conf:"), "{e}");

    // A number above its bound: an error naming it.
    m.write_conf(
        &m.conf("rsync://127.0.0.1:9/debian")
            .set("LOGROTATE", "100000"),
    );
    let out = check_config(&m, &[]);
    m.expect_code(&out, 1);
    assert_problem(&out, "error", "LOGROTATE=100000 is out of range");

    // RSYNC_USER that RSYNC_SOURCE leaves out: a warning.
    m.write_conf(
        &m.conf("rsync://127.0.0.1:9/debian")
            .set("RSYNC_USER", "bob"),
    );
    let out = check_config(&m, &[]);
    m.expect_code(&out, 0);
    let w = assert_problem(&out, "warning", "RSYNC_USER");
    assert!(w.contains("ftpsync.conf:"), "{w}");
}

#[test]
fn dangerous_or_unusable_to_is_an_error() {
    let m = Mirror::new();
    let home = m.home.to_string_lossy().into_owned();
    let file = m.dir.join("a-file");
    fs::write(&file, "x").unwrap();
    for to in [
        "/".to_string(),
        "//".to_string(),
        home.clone(),
        format!("{home}/"),
        m.dir.to_string_lossy().into_owned(), // contains $HOME
        file.to_string_lossy().into_owned(),
    ] {
        m.write_conf(&m.conf("rsync://127.0.0.1:9/debian").set("TO", to.clone()));
        let out = check_config(&m, &[]);
        m.expect_code(&out, 1);
        let e = assert_problem(&out, "error", "TO");
        assert!(e.contains(to.trim_end_matches('/')), "{to}: {e}");
    }
    // set but empty: a run would silently fall back to the default
    m.write_conf(&m.conf("rsync://127.0.0.1:9/debian").set("TO", ""));
    let out = check_config(&m, &[]);
    m.expect_code(&out, 1);
    assert_problem(&out, "error", "TO is set but empty");

    // not there yet, but creatable: a note only
    let to = m.dir.join("new/mirror/");
    m.write_conf(
        &m.conf("rsync://127.0.0.1:9/debian")
            .set("TO", to.to_string_lossy()),
    );
    let out = check_config(&m, &[]);
    m.expect_code(&out, 0);
    assert_problem(&out, "note", "does not exist yet");
}

#[test]
fn unwritable_to_and_logdir_are_errors() {
    // Root may write anywhere, so as root (CI) it is checked as nobody, who may not.
    let m = Mirror::new();
    let ro = m.dir.join("ro");
    fs::create_dir_all(&ro).unwrap();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
    m.write_conf(
        &m.conf("rsync://127.0.0.1:9/debian")
            .set("TO", ro.join("mirror/").to_string_lossy())
            .set("LOGDIR", ro.join("log").to_string_lossy()),
    );
    let out = m.run_cmd(as_nobody(&check_config_cmd(&m, &[])));
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
    m.expect_code(&out, 1);
    assert_problem(&out, "error", "TO ");
    assert_problem(&out, "error", "LOGDIR ");
}

#[test]
fn missing_rsync_is_an_error() {
    let m = good_mirror();
    m.write_conf(
        &m.conf("rsync://127.0.0.1:9/debian")
            .set("RSYNC", "/nonexistent/rsync"),
    );
    let out = check_config(&m, &[]);
    m.expect_code(&out, 1);
    assert_problem(&out, "error", "/nonexistent/rsync");

    // a bare name is looked up in PATH, and the protocol version of a real one reported
    m.write_conf(
        &m.conf("rsync://127.0.0.1:9/debian")
            .set("RSYNC", "no-such-rsync-here"),
    );
    let out = check_config(&m, &[]);
    m.expect_code(&out, 1);
    assert_problem(&out, "error", "no-such-rsync-here not found in PATH");
    m.write_conf(&m.conf("rsync://127.0.0.1:9/debian"));
    let out = check_config(&m, &[]);
    m.expect_code(&out, 0);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("rsync: ") && l.contains("(protocol version ")),
        "{}",
        out.stdout
    );
}

#[test]
fn world_readable_password_warns_and_is_masked() {
    let m = Mirror::new();
    let secret = "s3cr3t-Pa55";
    m.write_conf(
        &m.conf("rsync://127.0.0.1:9/debian")
            .set("RSYNC_PASSWORD", secret),
    );
    let conf = m.etc().join("ftpsync.conf");
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o644)).unwrap();
    let out = check_config(&m, &[]);
    m.expect_code(&out, 0);
    let w = assert_problem(&out, "warning", "RSYNC_PASSWORD");
    assert!(w.contains(&conf.to_string_lossy().into_owned()), "{w}");
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("RSYNC_PASSWORD=********")),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(secret), "{}", out.stdout);
    assert!(!out.stderr.contains(secret), "{}", out.stderr);

    // Group-readable is warned about too: the same rule as the run's own warning.
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o640)).unwrap();
    let out = check_config(&m, &[]);
    let w = assert_problem(&out, "warning", "RSYNC_PASSWORD");
    assert!(w.contains("readable by group or others (mode 640)"), "{w}");

    // mode 600: no warning; a password that also shows up in a word is masked there too
    fs::write(
        &conf,
        m.conf("rsync://127.0.0.1:9/debian")
            .set("RSYNC_PASSWORD", secret)
            .set("EXCLUDE", format!("--exclude=/{secret}/"))
            .to_bash(),
    )
    .unwrap();
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o600)).unwrap();
    let out = check_config(&m, &[]);
    m.expect_code(&out, 0);
    assert!(
        lines_starting(&out, "warning:").is_empty(),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(secret), "{}", out.stdout);
    assert!(
        out.stdout.contains("--exclude=/********/"),
        "{}",
        out.stdout
    );
}

#[test]
fn ssl_ca_path_must_load() {
    let m = Mirror::new();
    m.write_conf(
        &m.conf("127.0.0.1::debian")
            .set("RSYNC_TRANSPORT", "ssl")
            .set("RSYNC_SSL_CAPATH", m.dir.join("no-ca").to_string_lossy()),
    );
    let out = check_config(&m, &[]);
    m.expect_code(&out, 1);
    assert_problem(&out, "error", "RSYNC_SSL_CAPATH");
    let empty = m.dir.join("empty-ca");
    fs::create_dir_all(&empty).unwrap();
    m.write_conf(
        &m.conf("127.0.0.1::debian")
            .set("RSYNC_TRANSPORT", "ssl")
            .set("RSYNC_SSL_CAPATH", empty.to_string_lossy()),
    );
    let out = check_config(&m, &[]);
    m.expect_code(&out, 1);
    assert_problem(&out, "error", "no CA certificates");
}

/// The rest of the `Running stageN: ` line of a run's log.
fn logged_stage(log: &str, stage: &str) -> String {
    let tag = format!(": Running {stage}: ");
    let line = log
        .lines()
        .find(|l| l.contains(&tag))
        .unwrap_or_else(|| panic!("no {tag:?} line:\n{log}"));
    line[line.find(&tag).unwrap() + tag.len()..].to_string()
}

fn printed_stage(out: &RunOutput, stage: &str) -> String {
    let prefix = format!("{stage}: ");
    let lines = lines_starting(out, &prefix);
    assert_eq!(lines.len(), 1, "{}", out.stdout);
    lines[0][prefix.len()..].to_string()
}

#[test]
fn stage_lines_are_the_ones_a_run_logs() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let conf = m
        .conf(&up.url())
        .set("ARCH_EXCLUDE", "i386 source")
        .set("EXCLUDE", "--exclude=/tools/ --exclude=/doc/")
        .set("RSYNC_EXTRA", "--contimeout=10")
        .set("RSYNC_BW", "100000")
        .set("RSYNC_PASSWORD", "not-in-the-argv")
        .set(
            "RSYNC_OPTIONS2",
            "--max-delete=1000 --delay-updates --delete",
        );
    m.write_conf(&conf);
    fs::set_permissions(
        m.etc().join("ftpsync.conf"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let out = check_config(&m, &[]);
    m.expect_code(&out, 0);
    let run = m.run(&[]);
    m.expect_code(&run, 0);
    let log = m.log();
    for stage in ["stage1", "stage2"] {
        assert_eq!(
            printed_stage(&out, stage),
            logged_stage(&log, stage),
            "{stage} differs\n{}",
            out.stdout
        );
    }
    // sanity: these are real command lines of this config
    let s1 = printed_stage(&out, "stage1");
    assert!(s1.starts_with("rsync --quiet --log-file "), "{s1}");
    assert!(s1.contains(" --contimeout=10 --bwlimit=100000 "), "{s1}");
    assert!(
        s1.contains("--filter=exclude_/dists/**/binary-i386/"),
        "{s1}"
    );
    assert!(
        s1.ends_with(&format!("{} {}", up.url(), m.to.display())),
        "{s1}"
    );
    assert!(printed_stage(&out, "stage2").contains(" --max-delete=1000 --delay-updates --delete "));

    // an archive: its own config (and tree: a shared TO is an error), its own log file names
    m.write_conf_file(
        "ftpsync-security.conf",
        &conf.set("TO", m.dir.join("security").to_string_lossy()),
    );
    let out = check_config(&m, &["security"]);
    m.expect_code(&out, 0);
    assert!(
        printed_stage(&out, "stage1").contains("/rsync-ftpsync-security.log "),
        "{}",
        out.stdout
    );
}

/// A fake `ssh` first in PATH: records its arguments, one file per call, and exits 0.
fn fake_ssh(dir: &Path) -> (PathBuf, PathBuf) {
    let bin = dir.join("fakebin");
    let rec = dir.join("ssh-calls");
    fs::create_dir_all(&rec).unwrap();
    write_script(
        &bin.join("ssh"),
        &format!(
            "f=$(mktemp {}/call.XXXXXX)\nprintf '%s\\n' ssh \"$@\" > \"$f\"\nexit 0",
            shq(&rec.to_string_lossy())
        ),
    );
    (bin, rec)
}

fn recorded_calls(rec: &Path) -> Vec<Vec<String>> {
    let mut calls: Vec<Vec<String>> = fs::read_dir(rec)
        .unwrap()
        .flatten()
        .map(|e| read_string(&e.path()).lines().map(str::to_string).collect())
        .collect();
    calls.sort();
    calls
}

#[test]
fn ssh_lines_are_the_ones_runmirrors_runs() {
    let m = Mirror::new();
    m.write_conf(&m.conf("rsync://127.0.0.1:9/debian").set("HUB", "true"));
    let key = m.dir.join("keys/push");
    fs::create_dir_all(key.parent().unwrap()).unwrap();
    fs::write(&key, "not really a key\n").unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    let own_key = m.dir.join("keys/us");
    fs::write(&own_key, "not really a key either\n").unwrap();
    fs::set_permissions(&own_key, fs::Permissions::from_mode(0o600)).unwrap();
    m.write_conf_file(
        "runmirrors.conf",
        &Conf::default()
            .set("MAILTO", "")
            .set("KEYFILE", key.to_string_lossy())
            .set(
                "SSH_OPTS",
                "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
            )
            .set("PUSHDELAY", "20")
            // The exact line below would otherwise depend on this machine's ssh defaults.
            .set("PUSH_FAST_KEX", "false"),
    );
    m.write_raw(
        "runmirrors.mirror",
        &format!(
            "# comment\n\
             all eu eu.example.org archvsync\n\
             staged us us.example.org mirror 2 {}\n\
             mhop hub hub.example.org mirror -p 2222 -o 'ProxyCommand=ssh -W %h:%p jump'\n\
             all ports ssh+ftpsync://m@ports.example.org:2200/debian-ports\n\
             all other rsync://h.example.org/\n",
            own_key.display()
        ),
    );
    let out = check_config(&m, &[]);
    m.expect_code(&out, 0);

    let expected_eu = format!(
        "eu all: ssh -o user=archvsync -o StrictHostKeyChecking=no \
         -o UserKnownHostsFile=/dev/null -i {} -o BatchMode=yes -o ServerAliveInterval=45 \
         -o ConnectTimeout=45 -o PasswordAuthentication=no -n eu.example.org sync:archive: sync:all",
        key.display()
    );
    assert!(
        out.stdout.lines().any(|l| l == expected_eu),
        "no line {expected_eu:?}\n{}",
        out.stdout
    );
    assert_problem(&out, "note", "rsync://h.example.org/");

    // What check-config printed, as argv.
    let mut printed: Vec<Vec<String>> = out
        .stdout
        .lines()
        .filter_map(|l| {
            let (head, cmd) = l.split_once(": ssh ")?;
            assert!(
                head.ends_with(" all") || head.ends_with(" stage1") || head.ends_with(" stage2"),
                "{l}"
            );
            Some(shell_words::split(&format!("ssh {cmd}")).unwrap())
        })
        .collect();
    printed.sort();
    assert_eq!(
        printed.len(),
        6,
        "eu, ports: all; us, hub: stage1 + stage2\n{}",
        out.stdout
    );
    assert!(printed
        .iter()
        .any(|a| a.contains(&"ProxyCommand=ssh -W %h:%p jump".to_string())));

    // What runmirrors runs, recorded by a fake ssh.
    let (fakebin, rec) = fake_ssh(&m.dir);
    let mut cmd = m.command_prog(&archvsync(&m), &["runmirrors"]);
    cmd.env("PATH", path_with(&fakebin));
    let run = m.run_cmd(cmd);
    m.expect_code(&run, 0);
    wait_for(std::time::Duration::from_secs(30), "6 ssh calls", || {
        fs::read_dir(&rec).map(|d| d.count()).unwrap_or(0) >= 6
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    // Each call starts with the follower's acceptance watch (a FIFO of its own), which
    // check-config describes once; the rest is the printed line.
    let mut fifos = BTreeSet::new();
    let mut calls = recorded_calls(&rec);
    for c in calls.iter_mut() {
        assert_eq!(c[1..4], ["-o", "PermitLocalCommand=yes", "-o"], "{c:?}");
        let fifo = c[4]
            .strip_prefix("LocalCommand=echo 1<>")
            .unwrap_or_else(|| panic!("{c:?}"));
        assert!(fifo.contains("/archvsync-push-"), "{c:?}");
        fifos.insert(fifo.to_string());
        c.drain(1..5);
    }
    calls.sort();
    assert_eq!(fifos.len(), 6, "one FIFO per trigger: {fifos:?}");
    assert_eq!(calls, printed);
    assert!(
        out.stdout
            .contains("-o PermitLocalCommand=yes -o LocalCommand=echo 1<>FIFO"),
        "{}",
        out.stdout
    );
}

#[test]
fn runmirrors_problems_are_errors_with_locations() {
    let m = good_mirror();
    // HUB=true needs a runmirrors config
    m.write_conf(&m.conf("rsync://127.0.0.1:9/debian").set("HUB", "true"));
    let out = check_config(&m, &[]);
    m.expect_code(&out, 1);
    assert_problem(&out, "error", "HUB=true but there is no runmirrors.conf");

    // a missing KEYFILE, a mirror file with bad lines
    m.write_conf_file(
        "runmirrors.conf",
        &Conf::default()
            .set("MAILTO", "")
            .set("KEYFILE", m.dir.join("no-such-key").to_string_lossy()),
    );
    let mirrors = m.etc().join("runmirrors.mirror");
    m.write_raw(
        "runmirrors.mirror",
        "all ok ok.example.org u\nbogus x y z\nstaged s h u 7\n",
    );
    let out = check_config(&m, &[]);
    m.expect_code(&out, 1);
    assert_problem(&out, "error", "KEYFILE");
    assert_problem(&out, "error", &format!("{}:2: ", mirrors.display()));
    assert_problem(&out, "error", &format!("{}:3: ", mirrors.display()));
    assert!(out.stdout.contains("ok all: ssh "), "{}", out.stdout);

    // HUB=true and no mirror file: a warning (nothing is pushed), not an error
    fs::remove_file(&mirrors).unwrap();
    let key = m.dir.join("key");
    fs::write(&key, "k\n").unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    m.write_conf_file(
        "runmirrors.conf",
        &Conf::default()
            .set("MAILTO", "")
            .set("KEYFILE", key.to_string_lossy()),
    );
    let out = check_config(&m, &[]);
    m.expect_code(&out, 0);
    assert_problem(
        &out,
        "warning",
        "HUB=true but there is no runmirrors.mirror",
    );

    // Without HUB=true nothing pushes after a sync anyway: a note.
    m.write_conf(&m.conf("rsync://127.0.0.1:9/debian"));
    let out = check_config(&m, &[]);
    m.expect_code(&out, 0);
    assert_problem(&out, "note", "there is no runmirrors.mirror");
}

/// Triggers prefer curve25519-sha256 over ssh's sntrup761 default (about 65 ms less CPU
/// per downstream), unless an ssh configuration file chooses key exchange itself.
#[test]
fn triggers_prefer_a_cheap_key_exchange_unless_the_ssh_config_chooses() {
    let default = std::process::Command::new("ssh")
        .args(["-G", "-F", "/dev/null", "-o", "user=x", "localhost"])
        .output()
        .unwrap();
    let default = String::from_utf8_lossy(&default.stdout).to_string();
    let sntrup_first = default
        .lines()
        .any(|l| l.starts_with("kexalgorithms sntrup761"));
    let m = Mirror::new();
    m.write_conf(&m.conf("rsync://127.0.0.1:9/debian"));
    let key = m.dir.join("keys/push");
    fs::create_dir_all(key.parent().unwrap()).unwrap();
    fs::write(&key, "not really a key\n").unwrap();
    m.write_conf_file(
        "runmirrors.conf",
        &Conf::default()
            .set("MAILTO", "")
            .set("KEYFILE", key.to_string_lossy()),
    );
    m.write_raw("runmirrors.mirror", "all eu eu.example.org archvsync\n");
    let line = |out: &RunOutput| -> String {
        out.stdout
            .lines()
            .find(|l| l.starts_with("eu all: ssh "))
            .unwrap_or_else(|| panic!("no trigger line\n{}", out.stdout))
            .to_string()
    };
    let out = check_config(&m, &[]);
    if sntrup_first {
        assert!(
            line(&out).contains("-o KexAlgorithms=curve25519-sha256,sntrup761"),
            "{}",
            line(&out)
        );
    } else {
        assert!(!line(&out).contains("KexAlgorithms"), "{}", line(&out));
    }
    // An operator who chose (here through an Include) keeps the choice.
    let ssh_dir = m.home.join(".ssh");
    fs::create_dir_all(ssh_dir.join("config.d")).unwrap();
    fs::write(ssh_dir.join("config"), "Include config.d/*\n").unwrap();
    fs::write(
        ssh_dir.join("config.d/kex"),
        "Host *\n    KexAlgorithms sntrup761x25519-sha512@openssh.com\n",
    )
    .unwrap();
    let out = check_config(&m, &[]);
    assert!(!line(&out).contains("KexAlgorithms"), "{}", line(&out));
    // And PUSH_FAST_KEX=false turns it off.
    fs::remove_dir_all(&ssh_dir).unwrap();
    m.write_conf_file(
        "runmirrors.conf",
        &Conf::default()
            .set("MAILTO", "")
            .set("KEYFILE", key.to_string_lossy())
            .set("PUSH_FAST_KEX", "false"),
    );
    let out = check_config(&m, &[]);
    assert!(!line(&out).contains("KexAlgorithms"), "{}", line(&out));
}

/// A TO that another config uses too (however it is spelt) is an error naming both files.
#[test]
fn a_to_shared_with_another_config_is_an_error() {
    let m = good_mirror();
    m.write_conf_file(
        "ftpsync-other.conf",
        &m.conf("rsync://127.0.0.1:9/debian")
            .set("MIRRORNAME", "other.test")
            .set("TO", format!("{}//", m.to.display())),
    );
    let ours = m.etc().join("ftpsync.conf");
    let other = m.etc().join("ftpsync-other.conf");
    for (args, own, theirs) in [(&[][..], &ours, &other), (&["other"][..], &other, &ours)] {
        let out = check_config(&m, args);
        assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
        let line = assert_problem(&out, "error", "is also the TO of");
        assert!(
            line.contains(&own.display().to_string())
                && line.contains(&theirs.display().to_string())
                && line.contains("certain"),
            "{line}"
        );
    }
    m.write_conf_file(
        "ftpsync-other.conf",
        &m.conf("rsync://127.0.0.1:9/debian")
            .set("MIRRORNAME", "other.test")
            .set("TO", m.dir.join("other-mirror").to_string_lossy()),
    );
    let out = check_config(&m, &[]);
    assert!(!out.stdout.contains("is also the TO of"), "{}", out.stdout);
}

/// A TO that is another config's only through the caller's environment (the original's
/// test configs: `TO=output/$TEST_ID/`) is reported as a warning, saying it is likely but
/// not certain and that a run goes on; no error.
#[test]
fn a_to_shared_through_the_environment_is_a_warning_saying_so() {
    let m = Mirror::new();
    m.write_env_dependent_to_configs("rsync://127.0.0.1:9/debian");
    let base = m.base.display().to_string();
    let mut cmd = check_config_cmd(&m, &["plain"]);
    cmd.env("TEST_OWN_ID", "t1").env("TEST_OWN_ROOT", &base);
    let out = m.run_cmd(cmd);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert!(lines_starting(&out, "error:").is_empty(), "{}", out.stdout);
    let ours = m.etc().join("ftpsync-plain.conf").display().to_string();
    for other in ["ftpsync-ssl.conf", "ftpsync-abs.conf"] {
        let other = m.etc().join(other).display().to_string();
        let line = assert_problem(&out, "warning", &format!("may also be the TO of {other}"));
        assert!(
            line.starts_with(&format!("warning: {ours}: TO=output/t1/"))
                && line.contains("likely, not certain")
                && line.contains("a run warns and goes on"),
            "{line}"
        );
    }
}
