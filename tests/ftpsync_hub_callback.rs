//! The end of a run: the callback (`sync:callback`) and the HUB step.
//! The callback's ssh is a recording fake on PATH: only its command line is checked here.

mod common;
use common::*;

#[test]
fn callback_runs_ssh_with_the_original_options() {
    let up = Upstream::v1();
    let mut m = Mirror::new();
    let record = m.dir.join("ssh.args");
    m.fake_program(
        "ssh",
        &format!(
            "printf '%s\\n' \"$@\" > {}\nexit 0",
            shq(&record.to_string_lossy())
        ),
    );
    m.write_conf(
        &m.conf(&up.url())
            .set("CALLBACKHOST", "upstream.example")
            .set("CALLBACKKEY", "/keys/cb")
            .set("CALLBACKUSER", "cbuser"),
    );
    let out = m.run(&["sync:all", "sync:callback"]);
    m.expect_code(&out, 0);
    let args = read_string(&record);
    let node = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let want = format!(
        "-n\n-o\nBatchMode=yes\n-o\nServerAliveInterval=45\n-o\nConnectTimeout=45\n-o\n\
         PasswordAuthentication=no\n-i\n/keys/cb\n-ouser cbuser\nupstream.example\ncallback:{}\n",
        node.trim()
    );
    assert_eq!(args, want);
    assert!(m.log().contains("Calling back upstream.example"));
}

#[test]
fn callback_without_host_is_reported_and_the_sync_still_succeeds() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    let out = m.run(&["sync:callback"]);
    m.expect_code(&out, 0);
    let log = m.log();
    assert!(
        log.contains("We are asked to call back, but we do not know where to"),
        "{log}"
    );
    assert!(!log.contains("Calling back"), "{log}");
    assert_same_tree(&up.root, &m.to, &m.name);
}

#[test]
fn hub_runs_runmirrors_and_its_failure_is_ours() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf_file("ftpsync-extra.conf", &m.conf(&up.url()).set("HUB", "true"));
    // No runmirrors-extra.conf: runmirrors exits 78, and so does ftpsync (set -e).
    let out = m.run(&["sync:archive:extra"]);
    m.expect_code(&out, 78);
    let log = m.read_log_file("ftpsync-extra.log");
    assert!(
        log.contains("Trigger slave mirrors using -a extra -f -k all"),
        "{log}"
    );
    assert!(
        log.contains("runmirrors failed with exit status 78"),
        "{log}"
    );
    assert!(!m.lock_path().exists(), "lock left behind");

    // With a config and a key but no mirror list there is nothing to push: success.
    let key = m.dir.join("pushkey");
    std::fs::write(&key, "not used").unwrap();
    m.write_raw(
        "runmirrors-extra.conf",
        &format!(
            "KEYFILE={}\nMAILTO=\"\"\nLOGROTATE=0\n",
            shq(&key.to_string_lossy())
        ),
    );
    let out = m.run(&["sync:archive:extra"]);
    m.expect_code(&out, 0);
    let rlog = m.read_log_file("runmirrors-extra.log");
    assert!(rlog.contains("there is nothing to push"), "{rlog}");

    // stage1 without mhop is not a reason to push.
    let out = m.run(&["sync:archive:extra", "sync:stage1"]);
    m.expect_code(&out, 0);
    let log = m.read_log_file("ftpsync-extra.log");
    assert_eq!(count_lines(&log, "Trigger slave mirrors using"), 2, "{log}");
}

/// HUB=true with a runmirrors config but no mirror list: the sync succeeds (exit 0), but
/// no downstream hears of it, so it is a warning where warnings go: stderr, ftpsync's log
/// and runmirrors' log; a push by hand warns too, and check-config calls it a warning.
#[test]
fn hub_without_a_mirror_list_is_warned_about() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf_file("ftpsync-extra.conf", &m.conf(&up.url()).set("HUB", "true"));
    let key = m.dir.join("pushkey");
    std::fs::write(&key, "not used").unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    m.write_raw(
        "runmirrors-extra.conf",
        &format!(
            "KEYFILE={}\nMAILTO=\"\"\nLOGROTATE=0\n",
            shq(&key.to_string_lossy())
        ),
    );
    let want = format!(
        "warning: HUB=true but there is no runmirrors-extra.mirror (searched {}, {}, /etc/ftpsync)",
        m.etc().display(),
        m.home.join(".config/ftpsync").display()
    );
    let out = m.run(&["sync:archive:extra"]);
    m.expect_code(&out, 0);
    assert_eq!(
        count_lines(&out.stderr, &want),
        1,
        "{}",
        m.diagnostics(&out)
    );
    let log = m.read_log_file("ftpsync-extra.log");
    assert!(
        log.contains(&format!("ftpsync-extra[{}]: {want}", out.pid)),
        "{log}"
    );
    let rlog = m.read_log_file("runmirrors-extra.log");
    assert!(rlog.contains(&want), "{rlog}");

    let out = m.run_cmd(m.command_prog(&m.link_bin("runmirrors"), &["-a", "extra"]));
    m.expect_code(&out, 0);
    assert!(
        out.stderr
            .contains("warning: there is no runmirrors-extra.mirror (searched "),
        "{}",
        out.stderr
    );

    let out = m.run_cmd(m.command_prog(&m.link_bin("archvsync"), &["check-config", "extra"]));
    m.expect_code(&out, 0);
    assert_eq!(count_lines(&out.stdout, &want), 1, "{}", out.stdout);
}

#[test]
fn ssl_transport_runs_the_tunnel_and_unknown_transports_are_refused() {
    let up = Upstream::v1();
    let m = Mirror::new();
    // ssl is accepted: rsync runs the built-in tunnel, which fails here (no CA certificates
    // in the CA path given; the tunnel itself is covered by tests/tunnel_*.rs).
    m.write_conf(
        &m.conf(&up.url())
            .unset("RSYNC_SOURCE")
            .set("RSYNC_TRANSPORT", "ssl")
            .set("RSYNC_SSL_PORT", free_port().to_string())
            .set("RSYNC_SSL_CAPATH", up.root.to_string_lossy()),
    );
    let out = m.run(&[]);
    m.expect_code(&out, 3);
    let err = m.read_log_file("rsync-ftpsync.error");
    assert!(err.contains("rsync-ssl-tunnel"), "{}", m.diagnostics(&out));
    m.write_conf(&m.conf(&up.url()).set("RSYNC_TRANSPORT", "carrier-pigeon"));
    let out = m.run(&[]);
    m.expect_code(&out, 1);
    assert!(
        out.stderr
            .contains("Unknown rsync transport configured (carrier-pigeon)"),
        "{}",
        out.stderr
    );
}

/// A failing HUB push says why in ftpsync's own log (and on stderr), not only in
/// runmirrors.log: a missing KEYFILE is named.
#[test]
fn hub_push_failure_says_why_in_ftpsyncs_log() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()).set("HUB", "true"));
    let key = m.dir.join("no-such-key");
    m.write_raw(
        "runmirrors.conf",
        &format!(
            "KEYFILE={}\nMAILTO=\"\"\nLOGROTATE=0\n",
            shq(&key.to_string_lossy())
        ),
    );
    let out = m.run(&[]);
    m.expect_code(&out, 5);
    let why = format!("SSH Key {} does not exist", key.display());
    let log = m.log();
    let line = log
        .lines()
        .find(|l| l.contains("runmirrors failed with exit status 5"))
        .unwrap_or_else(|| panic!("{}", m.diagnostics(&out)));
    assert!(line.contains(&why), "{line}");
    assert!(out.stderr.contains(&why), "{}", m.diagnostics(&out));
}

/// The callback's ssh is bounded (CALLBACKTIMEOUT): one that hangs is killed and logged,
/// and the sync still succeeds (a callback failure never fails the run).
#[test]
fn a_callback_past_callbacktimeout_is_killed() {
    let up = Upstream::v1();
    let mut m = Mirror::new();
    m.fake_program("ssh", "exec sleep 619");
    m.write_conf(
        &m.conf(&up.url())
            .set("CALLBACKHOST", "upstream.example")
            .set("CALLBACKKEY", "/keys/cb")
            .set("CALLBACKTIMEOUT", "1"),
    );
    let out = m
        .spawn(&["sync:all", "sync:callback"], &[])
        .wait(std::time::Duration::from_secs(30));
    m.expect_code(&out, 0);
    let log = m.log();
    assert!(
        log.contains("Callback to upstream.example did not finish within 1 s (CALLBACKTIMEOUT) and was killed"),
        "{log}"
    );
    assert_same_tree(&up.root, &m.to, &m.name);
}
