//! ftpsync-cron (SPEC §8): sync only when the upstream's archive serial changed, checked
//! over HTTP (a local server serving a trace file) or with rsync (the real daemon).

mod common;
use common::http::{trace_with_serial, HttpServer, Reply};
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn cron_cmd(m: &Mirror, args: &[&str]) -> Command {
    m.command_prog(&m.link_bin("ftpsync-cron"), args)
}

fn cron(m: &Mirror, args: &[&str]) -> RunOutput {
    m.run_cmd(cron_cmd(m, args))
}

/// README: a fetch or parse error ends ftpsync-cron with exit status 1, and stderr says
/// why (`why`).
fn expect_check_error(m: &Mirror, out: &RunOutput, why: &str) {
    m.expect_code(out, 1);
    assert!(out.stderr.contains(why), "{}", out.stderr);
}

fn cron_log(m: &Mirror) -> String {
    m.read_log_file("ftpsync-cron.log")
}

fn syncs(m: &Mirror) -> usize {
    // LOGROTATE=0 in the harness config: one growing ftpsync log.
    let p = m.logdir().join("ftpsync.log");
    if p.exists() {
        count_lines(&read_string(&p), "Mirrorsync start")
    } else {
        0
    }
}

#[test]
fn http_check_syncs_once_and_again_only_when_the_serial_changes() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let http = HttpServer::start(Reply::Ok(trace_with_serial(SERIAL_V1)));
    // RSYNC_HOST names the upstream for the default URL: http://HOST/RSYNC_PATH/project/trace/HOST.
    let host = format!("127.0.0.1:{}", http.port);
    m.write_conf(&m.conf(&up.url()).set("RSYNC_HOST", host.clone()));

    let out = cron(&m, &[]);
    m.expect_code(&out, 0);
    assert_eq!(syncs(&m), 1, "first call must sync:\n{}", cron_log(&m));
    assert_eq!(
        http.requests(),
        vec![format!("/debian/project/trace/{host}")]
    );
    assert_eq!(m.trace().get("Archive serial"), Some(SERIAL_V1));
    assert_eq!(m.trace().get("Trigger"), Some("cron"));
    assert!(cron_log(&m).contains("differs from ours (none): running ftpsync"));

    let out = cron(&m, &[]);
    m.expect_code(&out, 0);
    assert_eq!(syncs(&m), 1, "same serial must not sync:\n{}", cron_log(&m));
    assert!(cron_log(&m).contains(&format!("Upstream archive serial {SERIAL_V1} is ours too")));

    build_archive(&up.root, &ArchiveSpec::v2());
    http.set(Reply::Ok(trace_with_serial(SERIAL_V2)));
    let out = cron(&m, &[]);
    m.expect_code(&out, 0);
    assert_eq!(syncs(&m), 2, "a new serial must sync:\n{}", cron_log(&m));
    assert_eq!(m.trace().get("Archive serial"), Some(SERIAL_V2));
    assert_same_tree(&up.root, &m.to, &m.name);
}

#[test]
fn archive_argument_and_trace_url_override() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let http = HttpServer::start(Reply::Ok(trace_with_serial(SERIAL_V1)));
    m.write_conf_file(
        "ftpsync-security.conf",
        &m.conf(&up.url())
            .set("UPSTREAM_TRACE_URL", http.url("/custom/trace")),
    );
    let out = cron(&m, &["security"]);
    m.expect_code(&out, 0);
    assert_eq!(http.requests(), vec!["/custom/trace".to_string()]);
    assert!(m.logdir().join("ftpsync-security.log").exists());
    assert!(read_string(&m.logdir().join("ftpsync-cron-security.log")).contains("running ftpsync"));
}

#[test]
fn fetch_and_parse_errors_are_reported_and_sync_nothing() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let (sendmail, mails) = sendmail_recorder(&m.dir);
    let base = m
        .conf(&up.url())
        .set("MAILTO", "ops@example.org")
        .set("SENDMAIL", sendmail.to_string_lossy());

    // Nobody listens there.
    let url = format!("http://127.0.0.1:{}/trace", free_port());
    m.write_conf(&base.clone().set("UPSTREAM_TRACE_URL", url.clone()));
    let out = cron(&m, &[]);
    expect_check_error(&m, &out, &format!("Failed to retrieve {url}"));
    assert!(cron_log(&m).contains(&format!("Failed to retrieve {url}")));

    // An HTTP error.
    let http = HttpServer::start(Reply::Status(404));
    m.write_conf(&base.clone().set("UPSTREAM_TRACE_URL", http.url("/t")));
    let out = cron(&m, &[]);
    expect_check_error(&m, &out, "404");

    // A page without a serial.
    http.set(Reply::Ok("<html>mirror maintenance</html>".into()));
    let out = cron(&m, &[]);
    expect_check_error(&m, &out, "Failed to parse archive serial");

    assert_eq!(syncs(&m), 0, "an error must not start a sync");
    let mails = recorded_mails(&mails);
    assert_eq!(mails.len(), 3, "{mails:?}");
    assert!(mails[0].contains("Subject: [ftpsync-cron@"), "{}", mails[0]);
}

#[test]
fn a_hanging_server_is_cut_off_by_check_timeout() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let http = HttpServer::start(Reply::Hang);
    m.write_conf(
        &m.conf(&up.url())
            .set("UPSTREAM_TRACE_URL", http.url("/t"))
            .set("CHECK_TIMEOUT", "2"),
    );
    let start = Instant::now();
    let out = cron(&m, &[]);
    let took = start.elapsed();
    expect_check_error(&m, &out, "Failed to retrieve");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(took >= Duration::from_secs(2), "took {took:?}");
    assert_eq!(syncs(&m), 0);
}

#[test]
fn rsync_check_uses_the_master_trace() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()).set("CHECK_UPSTREAM", "rsync"));
    let out = cron(&m, &[]);
    m.expect_code(&out, 0);
    assert_eq!(syncs(&m), 1, "{}", cron_log(&m));
    let out = cron(&m, &[]);
    m.expect_code(&out, 0);
    assert_eq!(syncs(&m), 1, "{}", cron_log(&m));
    build_archive(&up.root, &ArchiveSpec::v2());
    let out = cron(&m, &[]);
    m.expect_code(&out, 0);
    assert_eq!(syncs(&m), 2, "{}", cron_log(&m));
    assert_eq!(m.trace().get("Archive serial"), Some(SERIAL_V2));
    // The daemon saw the cron checks as plain file fetches.
    assert!(
        up.daemon.log().contains("project/trace/master"),
        "{}",
        up.daemon.log()
    );

    // An rsync source that does not answer is an error, not a sync.
    let dead = format!("rsync://127.0.0.1:{}/debian/", free_port());
    m.write_conf(&m.conf(&dead).set("CHECK_UPSTREAM", "rsync"));
    let out = cron(&m, &[]);
    expect_check_error(&m, &out, "Failed to retrieve rsync://");
    assert_eq!(syncs(&m), 2);
}

#[test]
fn nothing_happens_while_a_sync_runs() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let http = HttpServer::start(Reply::Ok(trace_with_serial(SERIAL_V1)));
    let (hook, started, release) = waiting_hook(&m.dir);
    m.write_conf(
        &m.conf(&up.url())
            .set("UPSTREAM_TRACE_URL", http.url("/t"))
            .set("HOOK1", hook.to_string_lossy()),
    );
    let mut running = m.spawn(&[], &[]);
    running.reaches(&started, "HOOK1");
    let out = cron(&m, &[]);
    m.expect_code(&out, 0);
    assert!(
        cron_log(&m).contains("A sync is running"),
        "{}",
        cron_log(&m)
    );
    assert!(http.requests().is_empty(), "no fetch while a sync runs");
    std::fs::write(&release, "").unwrap();
    let done = running.wait(RUN_TIMEOUT);
    m.expect_code(&done, 0);
}

#[test]
fn https_check_is_verified_against_rsync_ssl_capath() {
    use common::tls::{Ca, Stunnel};
    let up = Upstream::v1();
    let m = Mirror::new();
    let http = HttpServer::start(Reply::Ok(trace_with_serial(SERIAL_V1)));
    let ca = Ca::new("cron-ca");
    let tls = Stunnel::start(&ca.issue(&["DNS:localhost"]), http.port);
    let url = format!("https://localhost:{}/debian/project/trace/up", tls.port);
    let conf = m.conf(&up.url()).set("UPSTREAM_TRACE_URL", url.clone());

    // Our CA: the fetch works and the sync runs.
    m.write_conf(
        &conf
            .clone()
            .set("RSYNC_SSL_CAPATH", ca.capath.to_string_lossy()),
    );
    let out = cron(&m, &[]);
    m.expect_code(&out, 0);
    assert_eq!(syncs(&m), 1, "{}", cron_log(&m));
    assert_eq!(
        http.requests(),
        vec!["/debian/project/trace/up".to_string()]
    );

    // Another CA: the certificate is refused, nothing is fetched or synced.
    let other = Ca::new("other-ca");
    build_archive(&up.root, &ArchiveSpec::v2());
    http.set(Reply::Ok(trace_with_serial(SERIAL_V2)));
    m.write_conf(&conf.set("RSYNC_SSL_CAPATH", other.capath.to_string_lossy()));
    let out = cron(&m, &[]);
    expect_check_error(&m, &out, &format!("Failed to retrieve {url}"));
    assert_eq!(syncs(&m), 1);
    assert_eq!(http.requests().len(), 1);
}

#[test]
fn check_timeout_above_its_bound_is_refused_not_a_panic() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(
        &m.conf(&up.url())
            .set("CHECK_UPSTREAM", "rsync")
            .set("CHECK_TIMEOUT", "18446744073709551615"),
    );
    let out = cron(&m, &[]);
    m.expect_code(&out, 78);
    assert!(
        out.stderr
            .contains("CHECK_TIMEOUT=18446744073709551615 is out of range"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert_eq!(syncs(&m), 0);
}

/// An RSYNC for the cron check: calls that fetch `project/trace/master` into a file run
/// `body` (the real rsync is $REAL, the destination $DEST); every other call (the
/// `--version` probe, the stages of the sync it starts and its `--list-only` look at the
/// upstream's master trace) is the real rsync.
fn check_rsync_wrapper(m: &Mirror, body: &str) -> PathBuf {
    let w = m.dir.join("rsync-check-wrapper");
    write_script(
        &w,
        &format!(
            r#"REAL={real}
for a; do DEST=$a; done
case " $* " in
  *" --list-only "*) exec "$REAL" "$@" ;;
esac
case "$DEST" in
  */master) ;;
  *) exec "$REAL" "$@" ;;
esac
{body}"#,
            real = shq(rsync_bin()),
        ),
    );
    w
}

#[test]
fn rsync_check_uses_a_fresh_private_temp_dir_and_removes_it() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let tmp = m.dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let record = m.dir.join("check.record");
    let w = check_rsync_wrapper(
        &m,
        &format!(
            r#"D=$(dirname "$DEST")
stat -c '%a %u %F' "$D" >> {rec}
echo "$D" >> {rec}
echo "$PPID" >> {rec}
exec "$REAL" "$@""#,
            rec = shq(&record.to_string_lossy())
        ),
    );
    m.write_conf(
        &m.conf(&up.url())
            .set("CHECK_UPSTREAM", "rsync")
            .set("RSYNC", w.to_string_lossy()),
    );
    let mut cmd = cron_cmd(&m, &[]);
    cmd.env("TMPDIR", &tmp);
    let out = m.run_cmd(cmd);
    m.expect_code(&out, 0);
    assert_eq!(syncs(&m), 1, "{}", cron_log(&m));
    let rec = read_string(&record);
    let lines: Vec<&str> = rec.lines().collect();
    assert_eq!(lines.len(), 3, "{rec}");
    // Ours alone: mode 0700, owned by us, a directory we made.
    let uid = std::fs::metadata("/proc/self").map(|md| {
        use std::os::unix::fs::MetadataExt;
        md.uid()
    });
    assert_eq!(lines[0], format!("700 {} directory", uid.unwrap()), "{rec}");
    let dir = Path::new(lines[1]);
    assert_eq!(dir.parent(), Some(tmp.as_path()), "not under TMPDIR: {rec}");
    // Not a name a local user can guess and plant beforehand.
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    assert_ne!(name, format!("archvsync-cron-{}", lines[2]), "{rec}");
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "TMPDIR not left as it was"
    );
}

#[test]
fn rsync_check_with_a_flood_on_stderr_fails_fast() {
    let up = Upstream::v1();
    let m = Mirror::new();
    // 200 KiB of complaints, more than a pipe holds, then a failure.
    let w = check_rsync_wrapper(
        &m,
        "head -c 204800 /dev/zero | tr '\\0' e >&2\necho >&2\necho 'rsync: the last word' >&2\nexit 5",
    );
    m.write_conf(
        &m.conf(&up.url())
            .set("CHECK_UPSTREAM", "rsync")
            .set("CHECK_TIMEOUT", "30")
            .set("RSYNC", w.to_string_lossy()),
    );
    let start = Instant::now();
    let out = cron(&m, &[]);
    let took = start.elapsed();
    expect_check_error(&m, &out, "rsync exited with 5");
    assert!(
        took < Duration::from_secs(15),
        "took {took:?}: rsync's stderr was not read while it ran"
    );
    assert!(out.stderr.contains("the last word"), "{}", out.stderr);
    assert!(
        out.stderr.len() < 20_000,
        "the whole flood was printed: {} bytes",
        out.stderr.len()
    );
    assert_eq!(syncs(&m), 0);
}

/// ftpsync-cron starts runs of its own: words an upstream left in SSH_ORIGINAL_COMMAND (cron
/// run from a forced command, say) are not read again as if they were a push.
#[test]
fn cron_runs_ignore_ssh_original_command() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let http = HttpServer::start(Reply::Ok(trace_with_serial(SERIAL_V1)));
    let host = format!("127.0.0.1:{}", http.port);
    m.write_conf(&m.conf(&up.url()).set("RSYNC_HOST", host));
    let mut cmd = cron_cmd(&m, &[]);
    cmd.env("SSH_ORIGINAL_COMMAND", "sync:stage1 sync:archive:other");
    let out = m.run_cmd(cmd);
    m.expect_code(&out, 0);
    assert_eq!(syncs(&m), 1, "{}", cron_log(&m));
    // A whole sync of the default archive, triggered by cron: not stage 1 of `other`.
    assert_eq!(m.trace().get("Trigger"), Some("cron"));
    assert_same_tree(&up.root, &m.to, &m.name);
}
