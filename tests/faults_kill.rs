//! Fault injection by signals: ftpsync SIGKILLed mid-stage, SIGTERM mid-rsync, rsync killed
//! from outside. After each, the lock is free, no marker is left, and the next run heals.

mod common;
use common::*;
use std::fs;
use std::path::Path;
use std::time::Duration;

/// An upstream whose stage `stage` is slow: stage 1 gets a big .deb, stage 2 a big index
/// file (Contents-* is left to stage 2), and only that stage is bandwidth-limited.
fn slow_upstream(stage: u8) -> Upstream {
    let up = Upstream::new(ArchiveSpec {
        big_file: if stage == 1 { 4 << 20 } else { 0 },
        ..ArchiveSpec::v1()
    });
    if stage == 2 {
        let data: Vec<u8> = (0..(4u32 << 20)).map(|i| (i * 7 + i / 251) as u8).collect();
        fs::write(up.root.join("dists/sid/main/Contents-amd64.gz"), data).unwrap();
    }
    up
}

fn slow_conf(m: &Mirror, up: &Upstream, stage: u8) -> Conf {
    let c = m.conf(&up.url());
    if stage == 1 {
        c.set("RSYNC_BW", "100")
    } else {
        c.set(
            "RSYNC_OPTIONS2",
            "--max-delete=40000 --delay-updates --delete --delete-delay --delete-excluded --bwlimit=100",
        )
    }
}

/// Start a run and wait until `Running stageN:` is logged and an rsync child runs.
fn start_in_stage(m: &Mirror, stage: u8, env: &[(&str, &str)]) -> (Running, Vec<u32>) {
    let mut run = m.spawn(&["sync:all"], env);
    let pid = run.pid();
    let log_path = m.logdir().join("ftpsync.log");
    let needle = format!("Running stage{stage}:");
    wait_for(Duration::from_secs(60), &needle, || {
        (fs::read_to_string(&log_path).is_ok_and(|l| l.contains(&needle))
            && !rsync_descendants(pid).is_empty())
            || run.try_done()
    });
    let kids = rsync_descendants(pid);
    assert!(!kids.is_empty(), "no rsync in stage {stage}:\n{}", m.log());
    // Let it transfer a little.
    std::thread::sleep(Duration::from_millis(500));
    (run, kids)
}

/// Markers and rsync temp dirs anywhere in the tree.
fn leftovers(to: &Path) -> Vec<String> {
    snapshot(to)
        .keys()
        .filter(|k| {
            let last = k.rsplit('/').next().unwrap();
            last.starts_with("Archive-Update-in-Progress-")
                || last.starts_with("Archive-Update-Required-")
                || last == ".~tmp~"
        })
        .cloned()
        .collect()
}

fn sigkill_ftpsync_during(stage: u8) {
    let up = slow_upstream(stage);
    let m = Mirror::new();
    m.write_conf(&slow_conf(&m, &up, stage));
    let (run, kids) = start_in_stage(&m, stage, &[]);
    run.kill9_and_reap();
    // The rsync it started must not run on in the tree (it would race the next run, and in
    // stage 2 it deletes).
    for k in &kids {
        wait_for(
            Duration::from_secs(10),
            "rsync to die with its ftpsync",
            || !is_alive(*k),
        );
    }
    assert!(m.lock_path().exists(), "SIGKILL left no lock file?");

    m.write_conf(&m.conf(&up.url()));
    let out = m.run(&["sync:all"]);
    m.expect_code(&out, 0);
    assert!(m.log().contains("Found stale lock"), "{}", m.log());
    assert_same_tree(&up.root, &m.to, &m.name);
    let left = leftovers(&m.to);
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn sigkill_during_stage1_then_rerun_heals() {
    sigkill_ftpsync_during(1);
}

#[test]
fn sigkill_during_stage2_then_rerun_heals() {
    sigkill_ftpsync_during(2);
}

#[test]
fn sigterm_mid_rsync_mails_an_error_and_unlocks() {
    let up = slow_upstream(1);
    let m = Mirror::new();
    let (sm, mail) = sendmail_recorder(&m.dir);
    m.write_conf(
        &slow_conf(&m, &up, 1)
            .set("MAILTO", "admin@example.org")
            .set("SENDMAIL", sm.to_string_lossy()),
    );
    let (run, kids) = start_in_stage(&m, 1, &[]);
    let pid = run.pid();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    let out = run.wait(Duration::from_secs(30));
    assert_eq!(out.code, Some(128 + 15), "{}", m.diagnostics(&out));
    for k in &kids {
        wait_for(Duration::from_secs(10), "rsync stopped", || !is_alive(*k));
    }
    assert!(!m.lock_path().exists(), "lock left behind");
    let log = m.log();
    assert!(log.contains("Interrupted by SIGTERM, stopping"), "{log}");
    assert!(log.contains("Mirrorsync done with errors"), "{log}");
    let mail = read_string(&mail);
    let subjects: Vec<&str> = mail.lines().filter(|l| l.starts_with("Subject:")).collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("ERROR: Interrupted by SIGTERM")),
        "no one-line error mail: {subjects:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("] ERROR") && !s.contains("Interrupted")),
        "no final ERROR mail: {subjects:?}"
    );
    assert!(!subjects.iter().any(|s| s.contains("SUCCESS")));

    m.write_conf(&m.conf(&up.url()));
    m.expect_code(&m.run(&["sync:all"]), 0);
    assert_same_tree(&up.root, &m.to, &m.name);
    assert!(leftovers(&m.to).is_empty());
}

fn rsync_killed_from_outside_during(stage: u8) {
    let up = slow_upstream(stage);
    let m = Mirror::new();
    m.write_conf(&slow_conf(&m, &up, stage));
    let (run, kids) = start_in_stage(&m, stage, &[]);
    for k in &kids {
        kill_9(*k);
    }
    let out = run.wait(Duration::from_secs(30));
    let code = if stage == 1 { 3 } else { 4 };
    m.expect_code(&out, code);
    assert!(!m.lock_path().exists(), "lock left behind");
    let log = m.log();
    assert!(
        log.contains(&format!("Sync step {stage} went wrong")),
        "{log}"
    );
    assert!(log.contains("Mirrorsync done with errors"), "{log}");

    m.write_conf(&m.conf(&up.url()));
    m.expect_code(&m.run(&["sync:all"]), 0);
    assert_same_tree(&up.root, &m.to, &m.name);
    assert!(leftovers(&m.to).is_empty());
}

#[test]
fn rsync_killed_during_stage1_fails_with_3_then_heals() {
    rsync_killed_from_outside_during(1);
}

#[test]
fn rsync_killed_during_stage2_fails_with_4_then_heals() {
    rsync_killed_from_outside_during(2);
}

/// The upstream check (`rsync --list-only`, run while a full stage 1 runs) dies with a SIGKILLed
/// ftpsync like the stages' rsync: it was spawned untied and outlived its run (46 minutes
/// once, polling a daemon child whose temp dirs were long gone). Here it talks to a port
/// that never answers, so only its death can end it early.
#[test]
fn sigkill_during_the_upstream_check_takes_the_check_along() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    m.expect_code(&m.run(&["sync:all"]), 0);

    // Accepts connections (the kernel's backlog) and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let w = list_only_wrapper(
        &m,
        &format!(
            "set -- $(printf '%s\\n' \"$@\" | sed 's#127.0.0.1:{}/#127.0.0.1:{silent_port}/#')\nexec \"$REAL\" \"$@\"",
            up.daemon.port
        ),
    );
    m.write_conf(
        &m.conf(&up.url())
            .set("RSYNC", w.to_string_lossy())
            .set("CHECK_TIMEOUT", "60")
            // With the journal on, the journal fetch before stage 1 asks the question
            // instead (it is tied to the run like any stage).
            .set("JOURNAL", "false"),
    );
    let mut run = m.spawn(&["sync:all"], &[]);
    let pid = run.pid();
    let is_check = |p: &u32| {
        proc_cmdline(*p).is_some_and(|c| {
            c.iter().any(|a| a == "--list-only")
                && c.iter().any(|a| a.contains(&format!(":{silent_port}/")))
        })
    };
    let mut check = Vec::new();
    wait_for(Duration::from_secs(30), "the upstream check to run", || {
        check = descendants(pid).into_iter().filter(is_check).collect();
        !check.is_empty() || run.try_done()
    });
    assert!(!check.is_empty(), "no upstream check seen:\n{}", m.log());
    run.kill9_and_reap();
    for p in &check {
        wait_for(
            Duration::from_secs(5),
            "the upstream check to die with its ftpsync",
            || !is_alive(*p),
        );
    }
    drop(silent);
}
