//! Locking, pushes arriving during a run, stale locks, upstream mid-update (SPEC §4 steps
//! 2, 3, 6), and hooks.

mod common;
use common::*;
use std::fs;
use std::path::Path;
use std::time::Duration;

fn wait_started(run: &mut Running, started: &Path, m: &Mirror) {
    assert!(
        run.reaches(started, "HOOK1"),
        "first run ended before reaching HOOK1; log:\n{}",
        m.log()
    );
}

/// Run A is held at a point of its run (`started` exists) until `release` is made. The
/// upstream moves to v2 and a push (B) arrives: B meets the lock (exit 1), and A goes round
/// for it once released: the tree is v2, and each rotated log is one whole run, A's two
/// passes in order.
fn push_meets_held_run(m: &Mirror, up: &Upstream, a: Running, release: &Path) {
    build_archive(&up.root, &ArchiveSpec::v2());
    let b = m.spawn(&["sync:all"], &[]).wait(Duration::from_secs(60));
    fs::write(release, "").unwrap();
    let a = a.wait(RUN_TIMEOUT);
    m.expect_code(&a, 0);
    m.expect_code(&b, 1);
    assert!(b.stdout.contains("lock file still exists"), "{}", b.stdout);
    // Not lost: A synced again, and the tree is v2.
    assert_same_tree(&up.root, &m.to, &m.name);
    assert_eq!(m.trace().req("Archive serial"), SERIAL_V2);
    // Not rotated away.
    assert!(!m.logdir().join("ftpsync.log").exists());
    assert_one_whole_run_each(m, &["ftpsync.log.0", "ftpsync.log.1"]);
}

#[test]
fn live_lock_second_run_exits_1_and_queues_push() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let (hook, started, release) = waiting_hook(&m.dir);
    m.write_conf(&m.conf(&up.url()).set("HOOK1", hook.to_string_lossy()));
    let mut a = m.spawn(&["sync:all"], &[]);
    wait_started(&mut a, &started, &m);

    assert!(m.lock_path().exists(), "no lock file while run A is active");
    let lock = read_string(&m.lock_path());
    assert!(
        lock.contains(&a.pid().to_string()),
        "lock file does not carry A's pid {}: {lock:?}",
        a.pid()
    );
    // A created Update-Required at its start; remove it so only B can bring it back
    assert!(
        m.update_required_path().exists(),
        "run A did not create Update-Required"
    );
    fs::remove_file(m.update_required_path()).unwrap();

    let b = m.run(&["sync:all"]);
    m.expect_code(&b, 1);
    assert!(
        b.stdout
            .contains("Unable to start rsync, lock file still exists"),
        "stdout of B: {:?}",
        b.stdout
    );
    assert!(
        b.stdout.contains(&format!("PID {}", a.pid())),
        "B's message does not name A's pid {}: {:?}",
        a.pid(),
        b.stdout
    );
    assert!(
        m.update_required_path().exists(),
        "B did not create Archive-Update-Required-{}",
        m.name
    );
    assert!(m.lock_path().exists(), "B removed A's lock");
    assert!(!m.to.join("pool").exists(), "B synced although locked");

    fs::write(&release, "").unwrap();
    let a = a.wait(RUN_TIMEOUT);
    m.expect_code(&a, 0);
    // A's loop saw B's Update-Required: the push was not lost
    assert_same_tree(&up.root, &m.to, &m.name);
    assert!(!m.lock_path().exists(), "lock left behind");
    assert!(
        !m.update_required_path().exists(),
        "Update-Required left behind"
    );
    let log = m.log();
    assert!(
        log.contains(&format!("Running hook 1: {}", hook.display())),
        "{log}"
    );
    assert!(log.contains("Back from hook 1, got returncode 0"), "{log}");
}

#[test]
fn stale_lock_after_sigkill_is_taken_over() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let (hook, started, release) = waiting_hook(&m.dir);
    m.write_conf(&m.conf(&up.url()).set("HOOK1", hook.to_string_lossy()));
    let mut a = m.spawn(&["sync:all"], &[]);
    wait_started(&mut a, &started, &m);
    let pid = a.kill9_and_reap();
    // let the orphaned hook go
    fs::write(&release, "").unwrap();
    assert!(
        m.lock_path().exists(),
        "lock file vanished although its owner was SIGKILLed"
    );

    // second run: config without the hook
    m.write_conf(&m.conf(&up.url()));
    let out = m.run(&["sync:all"]);
    m.expect_code(&out, 0);
    let log = m.log();
    assert!(log.contains("Found stale lock"), "{log}");
    assert!(
        log.contains(&format!(
            "left by pid {pid} (no live run holds it), taking it over"
        )),
        "stale-lock message does not name pid {pid}:\n{log}"
    );
    assert_same_tree(&up.root, &m.to, &m.name);
    assert!(!m.lock_path().exists(), "lock left behind");
    assert!(!m.update_required_path().exists());
}

#[test]
fn push_during_run_is_synced_by_the_running_instance() {
    let up = Upstream::v1();
    let v2tmp = tempdir();
    let v2 = v2tmp.path().join("v2");
    build_archive(&v2, &ArchiveSpec::v2());
    let m = Mirror::new();
    let d = m.dir.clone();
    let hook = d.join("hook2.sh");
    write_script(
        &hook,
        &format!(
            r#"echo call >> {calls}
if [ ! -e {done} ]; then
  touch {done}
  find {up} -mindepth 1 -delete
  cp -a {v2}/. {up}/
  {bin} > {out} 2>&1
  echo $? > {rc}
fi
exit 0"#,
            calls = shq(&d.join("hook2.calls").to_string_lossy()),
            done = shq(&d.join("hook2.done").to_string_lossy()),
            up = shq(&up.root.to_string_lossy()),
            v2 = shq(&v2.to_string_lossy()),
            bin = shq(&m.bin().to_string_lossy()),
            out = shq(&d.join("second.out").to_string_lossy()),
            rc = shq(&d.join("second.rc").to_string_lossy()),
        ),
    );
    m.write_conf(&m.conf(&up.url()).set("HOOK2", hook.to_string_lossy()));
    let out = m.run(&["sync:all"]);
    m.expect_code(&out, 0);

    let second_rc = read_string(&d.join("second.rc"));
    let second_out = read_string(&d.join("second.out"));
    assert_eq!(
        second_rc.trim(),
        "1",
        "the run started from HOOK2 should fail on the lock; output:\n{second_out}"
    );
    assert!(
        second_out.contains("Unable to start rsync, lock file still exists"),
        "{second_out}"
    );
    let log = m.log();
    assert_eq!(count_lines(&log, "Running stage1: "), 2, "{log}");
    assert_eq!(count_lines(&log, "Running stage2: "), 2, "{log}");
    assert_eq!(
        read_string(&d.join("hook2.calls")).lines().count(),
        2,
        "HOOK2 runs once per pass"
    );
    assert_same_tree(&up.root, &m.to, &m.name);
    assert!(!m.to.join("pool/main/z/zsh").exists());
    assert_eq!(m.trace().req("Archive serial"), SERIAL_V2);
    assert!(!m.lock_path().exists());
    assert!(!m.update_required_path().exists());
}

#[test]
fn upstream_update_in_progress_retries_then_fails_with_4() {
    let up = Upstream::new(ArchiveSpec {
        upstream_uip: true,
        ..ArchiveSpec::v1()
    });
    let m = Mirror::new();
    m.write_conf(
        &m.conf(&up.url())
            .set("UIPSLEEP", "1")
            .set("UIPRETRIES", "2"),
    );
    let out = m.run(&["sync:all"]);
    m.expect_code(&out, 4);
    let log = m.log();
    assert_eq!(
        count_lines(&log, "Upstream archive update in progress, skipping stage2"),
        3,
        "{log}"
    );
    assert_eq!(count_lines(&log, "Retrying update in 1"), 2, "{log}");
    assert!(log.contains("Update has been retried"), "{log}");
    assert_eq!(count_lines(&log, "Running stage2: "), 0, "{log}");
    assert_eq!(count_lines(&log, "Running stage1: "), 3, "{log}");
    assert!(log.contains("Mirrorsync done with errors"), "{log}");
    // stage 2 never ran: no index files
    let files = non_dirs(&snapshot(&m.to));
    let idx = names_matching(&files, |n| {
        n.starts_with("Packages")
            || n.starts_with("Sources")
            || n.starts_with("Release")
            || n == "InRelease"
    });
    assert!(idx.is_empty(), "index files present: {idx:?}");
    assert!(
        m.to.join("pool/main/h/hello").exists(),
        "stage 1 did not run"
    );
    assert!(
        !m.trace_path().exists(),
        "trace written although stage 2 failed"
    );
    assert!(
        !m.to
            .join(format!("Archive-Update-in-Progress-{UPSTREAM_TRACE}"))
            .exists(),
        "upstream's UIP file not deleted from the mirror"
    );
    assert!(!m.lock_path().exists(), "lock left behind");
}

#[test]
fn upstream_update_in_progress_then_finished_succeeds() {
    let up = Upstream::new(ArchiveSpec {
        upstream_uip: true,
        ..ArchiveSpec::v1()
    });
    let m = Mirror::new();
    let hook = m.dir.join("hook2.sh");
    write_script(
        &hook,
        &format!(
            "if [ ! -e {done} ]; then touch {done}; rm -f {uip}; fi\nexit 0",
            done = shq(&m.dir.join("h2.done").to_string_lossy()),
            uip = shq(&up
                .root
                .join(format!("Archive-Update-in-Progress-{UPSTREAM_TRACE}"))
                .to_string_lossy()),
        ),
    );
    m.write_conf(
        &m.conf(&up.url())
            .set("UIPSLEEP", "1")
            .set("UIPRETRIES", "2")
            .set("HOOK2", hook.to_string_lossy()),
    );
    let out = m.run(&["sync:all"]);
    m.expect_code(&out, 0);
    let log = m.log();
    assert_eq!(
        count_lines(&log, "Upstream archive update in progress, skipping stage2"),
        1,
        "{log}"
    );
    assert_eq!(count_lines(&log, "Retrying update in 1"), 1, "{log}");
    assert_eq!(count_lines(&log, "Running stage1: "), 2, "{log}");
    assert_eq!(count_lines(&log, "Running stage2: "), 1, "{log}");
    assert_same_tree(&up.root, &m.to, &m.name);
    assert!(!m
        .to
        .join(format!("Archive-Update-in-Progress-{UPSTREAM_TRACE}"))
        .exists());
    assert_eq!(m.trace().req("Archive serial"), SERIAL_V1);
}

#[test]
fn hooks_run_in_order() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let rec = m.dir.join("hooks.txt");
    let mut conf = m.conf(&up.url());
    for n in 1..=4 {
        let s = m.dir.join(format!("hook{n}.sh"));
        // hook 2 sees pool files (after stage 1) but no Packages (before stage 2)
        let check = match n {
            2 => format!(
                "[ -e {p} ] && [ ! -e {i} ] && echo ok2 >> {r}\n",
                p = shq(&m.to.join("pool/main/h/hello").to_string_lossy()),
                i = shq(&m
                    .to
                    .join("dists/sid/main/binary-amd64/Packages.xz")
                    .to_string_lossy()),
                r = shq(&rec.to_string_lossy())
            ),
            3 => format!(
                "[ -e {i} ] && echo ok3 >> {r}\n",
                i = shq(&m
                    .to
                    .join("dists/sid/main/binary-amd64/Packages.xz")
                    .to_string_lossy()),
                r = shq(&rec.to_string_lossy())
            ),
            _ => String::new(),
        };
        write_script(
            &s,
            &format!(
                "{check}echo hook{n} >> {}\nexit 0",
                shq(&rec.to_string_lossy())
            ),
        );
        conf = conf.set(&format!("HOOK{n}"), s.to_string_lossy());
    }
    m.write_conf(&conf);
    m.expect_code(&m.run(&[]), 0);
    assert_eq!(
        read_string(&rec),
        "hook1\nok2\nhook2\nok3\nhook3\nhook4\n",
        "hook order / timing"
    );
}

#[test]
fn lock_failure_does_not_rotate_logs_or_send_mail() {
    // A push meeting a held lock is routine; the refused run must leave the running
    // instance's log alone (the original exits before installing its cleanup trap).
    let up = Upstream::v1();
    let m = Mirror::new();
    let (hook, started, release) = waiting_hook(&m.dir);
    let (sendmail, mail_out) = sendmail_recorder(&m.dir);
    m.write_conf(
        &m.conf(&up.url())
            .set("HOOK1", hook.to_string_lossy())
            .set("LOGROTATE", "14")
            .set("MAILTO", "ops@example.org")
            .set("ERRORSONLY", "false")
            .set("SENDMAIL", sendmail.to_string_lossy()),
    );
    let mut a = m.spawn(&["sync:all"], &[]);
    wait_started(&mut a, &started, &m);
    let b = m.run(&["sync:all"]);
    m.expect_code(&b, 1);
    assert!(
        m.logdir().join("ftpsync.log").exists(),
        "the refused run rotated away the running instance's log"
    );
    assert!(
        !m.logdir().join("ftpsync.log.0").exists(),
        "the refused run rotated the logs"
    );
    assert!(
        !mail_out.exists(),
        "the refused run sent mail: {}",
        read_string(&mail_out)
    );
    fs::write(&release, "").unwrap();
    let a = a.wait(RUN_TIMEOUT);
    m.expect_code(&a, 0);
    let l0 = m.read_log_file("ftpsync.log.0");
    assert_eq!(count_lines(&l0, "Mirrorsync start"), 1, "{l0}");
    assert!(
        l0.contains(&format!("ftpsync[{}]: Mirrorsync done", a.pid)),
        "A's log is not intact in ftpsync.log.0:\n{l0}"
    );
    assert!(!m.logdir().join("ftpsync.log.1").exists());
    assert_eq!(
        read_string(&mail_out).matches("Subject:").count(),
        1,
        "expected exactly A's mail"
    );
}

/// A hook is bounded in time (HOOKTIMEOUT): one that hangs is killed, logged, and ends the
/// run as a failing hook does, with exit status 124 (as timeout(1) reports it).
#[test]
fn a_hook_past_hooktimeout_is_killed_and_fails_the_run() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let hook = m.dir.join("hanging-hook.sh");
    write_script(&hook, "exec sleep 617");
    m.write_conf(
        &m.conf(&up.url())
            .set("HOOK1", hook.to_string_lossy())
            .set("HOOKTIMEOUT", "1"),
    );
    let out = m.spawn(&[], &[]).wait(Duration::from_secs(30));
    m.expect_code(&out, 124);
    let log = m.log();
    assert!(
        log.contains("Hook 1 did not finish within 1 s (HOOKTIMEOUT) and was killed"),
        "{log}"
    );
    assert!(!m.to.join("pool").exists(), "the run went on");
    assert!(!m.lock_path().exists());
    let left: Vec<u32> = descendants(1)
        .into_iter()
        .filter(|p| proc_cmdline(*p).is_some_and(|c| c == ["sleep", "617"]))
        .collect();
    assert!(left.is_empty(), "the hook outlived its deadline: {left:?}");
}

/// Each of `files` (in the log dir) holds exactly one run: one `Mirrorsync start`, then one
/// `Mirrorsync done`, all lines of one pid.
fn assert_one_whole_run_each(m: &Mirror, files: &[&str]) {
    for f in files {
        let text = m.read_log_file(f);
        let starts: Vec<usize> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains("Mirrorsync start"))
            .map(|(i, _)| i)
            .collect();
        let dones: Vec<usize> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains("Mirrorsync done"))
            .map(|(i, _)| i)
            .collect();
        assert!(
            starts.len() == 1 && dones.len() == 1 && starts[0] < dones[0],
            "{f} is not one whole run:\n{text}"
        );
        let pids: std::collections::BTreeSet<&str> = text
            .lines()
            .filter_map(|l| l.split("ftpsync[").nth(1)?.split(']').next())
            .collect();
        assert_eq!(pids.len(), 1, "{f} mixes runs:\n{text}");
    }
}

/// A push while run A is in its exit path (here: its mail, held by a slow sendmail) meets
/// the lock (exit 1) instead of starting a run whose live log A then rotates away; A goes
/// round for it after its exit path (state, metrics, mail, rotation) is done.
#[test]
fn a_push_during_the_exit_path_waits_for_it_and_is_not_lost() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let started = m.dir.join("sendmail.started");
    let release = m.dir.join("sendmail.release");
    let sendmail = m.dir.join("slow-sendmail");
    write_script(
        &sendmail,
        &format!(
            "cat > /dev/null\n[ -e {s} ] && exit 0\ntouch {s}\ni=0\nwhile [ ! -e {r} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done\nexit 0",
            s = shq(&started.to_string_lossy()),
            r = shq(&release.to_string_lossy())
        ),
    );
    m.write_conf(
        &m.conf(&up.url())
            .set("LOGROTATE", "5")
            .set("MAILTO", "ops@example.org")
            .set("ERRORSONLY", "false")
            .set("SENDMAIL", sendmail.to_string_lossy()),
    );
    let mut a = m.spawn(&["sync:all"], &[]);
    assert!(
        a.reaches(&started, "A's mail"),
        "A never mailed:\n{}",
        m.log()
    );
    push_meets_held_run(&m, &up, a, &release);
    assert!(!m.logdir().join("ftpsync.log.2").exists());
    assert!(!m.lock_path().exists() && !m.update_required_path().exists());
}

/// During the HUB step (and HOOK5 after it) downstreams must not see us as mid-update: the
/// lock file is gone. A push landing then still meets the lock (exit 1), and the run goes
/// round for it after its exit path.
#[test]
fn during_the_hub_step_the_lock_file_is_gone_and_a_push_waits() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let (hook, started, release) = waiting_hook(&m.dir);
    let key = m.dir.join("pushkey");
    fs::write(&key, "not used").unwrap();
    m.write_raw(
        "runmirrors.conf",
        &format!(
            "KEYFILE={}\nMAILTO=\"\"\nLOGROTATE=0\n",
            shq(&key.to_string_lossy())
        ),
    );
    m.write_conf(
        &m.conf(&up.url())
            .set("HUB", "true")
            .set("LOGROTATE", "5")
            .set("HOOK5", hook.to_string_lossy()),
    );
    let mut a = m.spawn(&["sync:all"], &[]);
    assert!(
        a.reaches(&started, "A's HOOK5"),
        "A never reached HOOK5:\n{}",
        m.log()
    );
    assert!(
        !m.lock_path().exists(),
        "downstreams see the lock file during the HUB step"
    );
    push_meets_held_run(&m, &up, a, &release);
}
