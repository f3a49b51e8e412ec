//! SIGTERM / SIGINT / SIGHUP during rsync: rsync is stopped, the normal exit path runs
//! (log, rotation), the lock is removed, and the next run syncs normally.

mod common;
use common::*;
use std::time::Duration;

fn signal_during_rsync(sig: &str, signum: i32) {
    let up = Upstream::new(ArchiveSpec {
        // 4 MB at 100 KiB/s: rsync is busy for far longer than the test waits.
        big_file: 4 << 20,
        ..ArchiveSpec::v1()
    });
    let m = Mirror::new();
    m.write_conf(
        &m.conf(&up.url())
            .set("RSYNC_BW", "100")
            .set("LOGROTATE", "3"),
    );
    let mut run = m.spawn(&["sync:all"], &[]);
    let pid = run.pid();
    // Not the `rsync --version` probe that precedes the lock: the stage 1 transfer.
    let log_path = m.logdir().join("ftpsync.log");
    wait_for(
        Duration::from_secs(30),
        "rsync to start under ftpsync",
        || {
            (std::fs::read_to_string(&log_path).is_ok_and(|l| l.contains("Running stage1"))
                && !rsync_descendants(pid).is_empty())
                || run.try_done()
        },
    );
    let kids = rsync_descendants(pid);
    assert!(!kids.is_empty(), "rsync never ran; log:\n{}", m.log());
    assert!(m.lock_path().exists(), "no lock while rsync runs");

    let st = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let out = run.wait(Duration::from_secs(30));
    assert_eq!(
        out.code,
        Some(128 + signum),
        "exit status after SIG{sig}; stderr: {}",
        out.stderr
    );
    // The exit path ran: the log was closed with the error line and rotated.
    let log = read_string(&m.logdir().join("ftpsync.log.0"));
    assert!(log.contains(&format!("Interrupted by SIG{sig}")), "{log}");
    assert!(log.contains("Mirrorsync done with errors"), "{log}");
    assert!(!m.lock_path().exists(), "lock left behind after SIG{sig}");
    for k in kids {
        wait_for(Duration::from_secs(10), "rsync to be stopped", || {
            !std::path::Path::new(&format!("/proc/{k}")).exists()
                || proc_cmdline(k).is_none_or(|c| c.is_empty())
        });
    }

    // Nothing blocks the next run.
    m.write_conf(&m.conf(&up.url()).set("LOGROTATE", "3"));
    let again = m.run(&["sync:all"]);
    m.expect_code(&again, 0);
    assert_same_tree(&up.root, &m.to, &m.name);
}

#[test]
fn sigterm_stops_rsync_and_cleans_up() {
    signal_during_rsync("TERM", 15);
}

#[test]
fn sigint_stops_rsync_and_cleans_up() {
    signal_during_rsync("INT", 2);
}

#[test]
fn sighup_stops_rsync_and_cleans_up() {
    signal_during_rsync("HUP", 1);
}
