//! A sendmail that never returns must not wedge anything: it delays no trigger, runmirrors
//! and its follower end after MAILTIMEOUT, a failing ftpsync run still ends (and releases
//! its lock), and the hung sendmail is killed.

mod common;
use common::sshd::*;
use common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MAILTIMEOUT: u64 = 2;

/// A sendmail that notes its pid, then hangs.
fn hanging_sendmail(dir: &Path) -> (PathBuf, PathBuf) {
    let script = dir.join("sendmail");
    let pids = dir.join("sendmail.pids");
    write_script(
        &script,
        &format!(
            "echo $$ >> {}\ncat > /dev/null\nexec sleep 300",
            shq(&pids.to_string_lossy())
        ),
    );
    (script, pids)
}

/// Every sendmail that ran is gone (it was killed at the deadline).
fn assert_all_killed(pids: &Path) {
    let list = read_string(pids);
    assert!(!list.trim().is_empty(), "sendmail never ran");
    for pid in list.split_whitespace() {
        wait_for(
            Duration::from_secs(5),
            &format!("the hung sendmail {pid} to be killed"),
            || !Path::new(&format!("/proc/{pid}")).exists(),
        );
    }
}

#[test]
fn a_hanging_sendmail_delays_no_trigger() {
    let maildir = tempdir();
    let (sendmail, pids) = hanging_sendmail(maildir.path());
    let pusher = Downstream::builder("pusher.test")
        .pusher()
        .rm_set("MAILTO", "ops@example.org")
        .rm_set("SENDMAIL", sendmail.to_string_lossy())
        .rm_set("MAILTIMEOUT", MAILTIMEOUT.to_string())
        .start();
    let notes = tempdir();
    let script = notes.path().join("forced-command");
    let notes_file = notes.path().join("notes");
    write_script(
        &script,
        &format!(
            "echo \"$SSH_ORIGINAL_COMMAND\" >> {}",
            shq(&notes_file.to_string_lossy())
        ),
    );
    let sshd = Sshd::start(&forced_command_line(&script, pusher.key()));
    let dead = free_port();
    let mut lines = vec![
        // A failed trigger and a bad line: two error mails, one by the follower, one by
        // runmirrors itself.
        format!("all dead 127.0.0.1 root -p {dead}"),
        "bogus line".to_string(),
    ];
    for i in 0..3 {
        lines.push(format!(
            "all ok{i} ssh+ftpsync://root@127.0.0.1:{}/ok{i}",
            sshd.port
        ));
    }
    pusher.write_mirrors(&lines);
    let t0 = Instant::now();
    let mut run = pusher.m.spawn_cmd(pusher.runmirrors_cmd(&[]), &[]);
    wait_for(
        Duration::from_secs(10),
        "the healthy downstreams to be reached",
        || read_string(&notes_file).lines().count() == 3,
    );
    let reached = t0.elapsed();
    while !run.try_done() && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = t0.elapsed();
    let out = run.wait(Duration::from_secs(5));
    let rl = pusher.runmirrors_log();
    pusher.m.expect_code(&out, 0);
    assert!(
        reached < Duration::from_secs(MAILTIMEOUT),
        "the triggers waited for sendmail: reached after {reached:?}\n{rl}"
    );
    assert!(
        took < Duration::from_secs(MAILTIMEOUT + 4),
        "runmirrors took {took:?} with MAILTIMEOUT={MAILTIMEOUT}\n{rl}"
    );
    wait_for(
        Duration::from_secs(MAILTIMEOUT + 8),
        "the follower to end after its mail timed out",
        || pusher.runmirrors_log().contains("push-follower done"),
    );
    let rl = pusher.runmirrors_log();
    assert!(
        count_lines(
            &rl,
            &format!(
                "No mail could be sent: {} did not finish within {MAILTIMEOUT} s and was killed",
                sendmail.display()
            )
        ) >= 2,
        "{rl}"
    );
    assert!(rl.contains("normal trigger failed: 127.0.0.1"), "{rl}");
    assert_eq!(count_lines(&rl, "normal trigger succeeded"), 3, "{rl}");
    assert_all_killed(&pids);
}

#[test]
fn a_hanging_sendmail_in_a_failing_ftpsync_run_releases_the_lock() {
    let m = Mirror::new();
    let maildir = tempdir();
    let (sendmail, pids) = hanging_sendmail(maildir.path());
    // Nobody serves this port: stage 1 fails, which is mailed (twice: the error and the
    // run's report).
    let dead = format!("rsync://127.0.0.1:{}/debian", free_port());
    m.write_conf(
        &m.conf(&dead)
            .set("MAILTO", "ops@example.org")
            .set("SENDMAIL", sendmail.to_string_lossy())
            .set("MAILTIMEOUT", MAILTIMEOUT.to_string()),
    );
    let t0 = Instant::now();
    let out = m.run(&["sync:all"]);
    let took = t0.elapsed();
    m.expect_code(&out, 3);
    assert!(
        took < Duration::from_secs(4 * MAILTIMEOUT + 10),
        "ftpsync took {took:?} with MAILTIMEOUT={MAILTIMEOUT}"
    );
    let log = m.log();
    assert!(
        log.contains(&format!(
            "did not finish within {MAILTIMEOUT} s and was killed"
        )),
        "{log}"
    );
    assert!(!m.lock_path().exists(), "the lock was left behind");
    assert_all_killed(&pids);
    // Nothing blocks the next run.
    let again = m.run(&["sync:all"]);
    m.expect_code(&again, 3);
    assert!(
        !again.stderr.contains("lock file still exists"),
        "{}",
        again.stderr
    );
}
