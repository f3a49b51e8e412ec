//! ftpsync-cron (SPEC §8): sync only when the upstream's archive serial changed, checked
//! over HTTP (a local server serving a trace file) or with rsync (the real daemon).

mod common;
use common::http::{trace_with_serial, HttpServer, Reply};
use common::*;
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn cron_bin(m: &Mirror) -> PathBuf {
    let p = m.base.join("bin/ftpsync-cron");
    if !p.exists() {
        symlink(BIN, &p).unwrap();
    }
    p
}

fn cron(m: &Mirror, args: &[&str]) -> RunOutput {
    m.run_cmd(m.command_prog(&cron_bin(m), args))
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
    let (sendmail, mails) = sshd::sendmail_recorder(&m.dir);
    let base = m
        .conf(&up.url())
        .set("MAILTO", "ops@example.org")
        .set("SENDMAIL", sendmail.to_string_lossy());

    // Nobody listens there.
    let url = format!("http://127.0.0.1:{}/trace", free_port());
    m.write_conf(&base.clone().set("UPSTREAM_TRACE_URL", url.clone()));
    let out = cron(&m, &[]);
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains(&format!("Failed to retrieve {url}")),
        "{}",
        out.stderr
    );
    assert!(cron_log(&m).contains(&format!("Failed to retrieve {url}")));

    // An HTTP error.
    let http = HttpServer::start(Reply::Status(404));
    m.write_conf(&base.clone().set("UPSTREAM_TRACE_URL", http.url("/t")));
    let out = cron(&m, &[]);
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("404"), "{}", out.stderr);

    // A page without a serial.
    http.set(Reply::Ok("<html>mirror maintenance</html>".into()));
    let out = cron(&m, &[]);
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains("Failed to parse archive serial"),
        "{}",
        out.stderr
    );

    assert_eq!(syncs(&m), 0, "an error must not start a sync");
    let mails = sshd::recorded_mails(&mails);
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
    assert_ne!(out.code, Some(0));
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(took >= Duration::from_secs(2), "took {took:?}");
    assert!(out.stderr.contains("Failed to retrieve"), "{}", out.stderr);
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
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains("Failed to retrieve rsync://"),
        "{}",
        out.stderr
    );
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
    wait_for(Duration::from_secs(30), "the sync to reach HOOK1", || {
        started.exists() || running.try_done()
    });
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
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains(&format!("Failed to retrieve {url}")),
        "{}",
        out.stderr
    );
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
