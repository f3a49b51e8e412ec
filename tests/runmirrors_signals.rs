//! Stopping a push: SIGTERM while triggers are being set up over slow links or wait on a
//! silent downstream ends runmirrors within 2 s (128+15) while the accepted triggers run to
//! their end; SIGKILL during the staged mirrors' stage 1 loses no stage 2; a mirror line's
//! own ssh options win over the built-in ones.
//!
//! The downstreams here are a real sshd whose forced command is a small /bin/sh script that
//! notes what arrived (`SSH_ORIGINAL_COMMAND`), so that many can be pushed cheaply; slow
//! links are a delay proxy in front of that sshd.

mod common;
use common::delay::DelayProxy;
use common::sshd::*;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// A line per event the forced command noted: `arrived WORDS`, `done WORDS`.
fn notes(dir: &Path) -> Vec<String> {
    read_string(&dir.join("notes"))
        .lines()
        .map(str::to_string)
        .collect()
}

fn count(notes: &[String], prefix: &str) -> usize {
    notes.iter().filter(|l| l.starts_with(prefix)).count()
}

/// A pusher and one sshd for all its downstreams, whose forced command runs `body` (with
/// `$N` the notes file) after noting the arrival.
fn pusher_and_sshd(body: &str, rm: &[(&str, &str)]) -> (Downstream, Sshd, tempfile::TempDir) {
    // An ftpsync.conf too, so that `status` knows the archive.
    let mut b = Downstream::builder("pusher.test")
        .source("rsync://127.0.0.1:9/debian")
        .pusher();
    for (k, v) in rm {
        b = b.rm_set(k, *v);
    }
    let pusher = b.start();
    let (sshd, dir) = noting_sshd(pusher.key(), body);
    (pusher, sshd, dir)
}

/// An sshd whose forced command for `key` notes each arrival in `notes`, then runs `body`.
fn noting_sshd(key: &SshKey, body: &str) -> (Sshd, tempfile::TempDir) {
    let dir = tempdir();
    let script = dir.path().join("forced-command");
    write_script(
        &script,
        &format!(
            "N={}\necho \"arrived $SSH_ORIGINAL_COMMAND\" >> \"$N\"\n{body}",
            shq(&dir.path().join("notes").to_string_lossy())
        ),
    );
    (Sshd::start(&forced_command_line(&script, key)), dir)
}

fn sigterm(pid: u32) {
    let st = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

/// Waits (bounded) for a background runmirrors and returns its exit code and how long
/// after `since` it ended.
fn ended(run: Running, since: Instant, limit: Duration) -> (Option<i32>, Duration, RunOutput) {
    let mut run = run;
    let deadline = Instant::now() + limit;
    while !run.try_done() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = since.elapsed();
    let out = run.wait(Duration::from_secs(10));
    (out.code, took, out)
}

#[test]
fn sigterm_during_slow_pushes_ends_within_2s_and_accepted_triggers_complete() {
    // The accepted sessions last 3 s on the downstream; the slow ones never get that far.
    let (pusher, sshd, dir) = pusher_and_sshd(
        "sleep 3\necho \"done $SSH_ORIGINAL_COMMAND\" >> \"$N\"",
        &[],
    );
    // 1 s each way: an ssh handshake takes about 10 s over that link.
    let proxy = DelayProxy::start(
        format!("127.0.0.1:{}", sshd.port).parse().unwrap(),
        Duration::from_millis(1000),
    );
    let mut lines = Vec::new();
    for i in 0..4 {
        lines.push(format!(
            "all fast{i} ssh+ftpsync://root@127.0.0.1:{}/fast{i}",
            sshd.port
        ));
    }
    for i in 0..20 {
        lines.push(format!(
            "all slow{i} ssh+ftpsync://root@127.0.0.1:{}/slow{i}",
            proxy.port
        ));
    }
    pusher.write_mirrors(&lines);
    let run = pusher.m.spawn_cmd(pusher.runmirrors_cmd(&[]), &[]);
    let pid = run.pid();
    // The fast ones are accepted within a second; the slow ones are mid-handshake.
    wait_for(
        Duration::from_secs(15),
        "the fast downstreams to be reached",
        || count(&notes(dir.path()), "arrived sync:archive:fast") == 4,
    );
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    sigterm(pid);
    let (code, took, out) = ended(run, t, Duration::from_secs(10));
    let rl = pusher.runmirrors_log();
    assert_eq!(code, Some(143), "{}\n{rl}", pusher.m.diagnostics(&out));
    assert!(
        took < Duration::from_secs(2),
        "runmirrors took {took:?} to stop after SIGTERM\n{rl}"
    );
    assert!(rl.contains("Interrupted by SIGTERM"), "{rl}");
    assert!(rl.contains("dropped while connecting: slow"), "{rl}");

    // The accepted triggers are the downstreams' own syncs: they run to their end, and
    // the follower records how they ended.
    wait_for(
        Duration::from_secs(15),
        "the accepted sessions to complete",
        || count(&notes(dir.path()), "done sync:archive:fast") == 4,
    );
    for i in 0..4 {
        wait_for(
            Duration::from_secs(10),
            &format!("fast{i}.log to record the end of its session"),
            || {
                pusher
                    .push_log(&format!("fast{i}"))
                    .contains("normal trigger finished: exit status 0")
            },
        );
    }
    // The slow ones were dropped before their downstream ran anything; give the link time
    // to deliver anything that was still under way.
    std::thread::sleep(Duration::from_secs(3));
    let n = notes(dir.path());
    assert_eq!(count(&n, "arrived sync:archive:slow"), 0, "{n:#?}");
    let state = read_string(&pusher.m.logdir().join("ftpsync.state.json"));
    let v: serde_json::Value = serde_json::from_str(&state).unwrap();
    for i in 0..20 {
        let o = &v["downstreams"][format!("slow{i}")]["outcome"];
        assert_eq!(o, "dropped", "slow{i}: {state}");
    }
    assert_eq!(v["last_push"]["interrupted"], "SIGTERM", "{state}");
    for i in 0..4 {
        wait_for(
            Duration::from_secs(10),
            "the final status in the state record",
            || {
                let s = read_string(&pusher.m.logdir().join("ftpsync.state.json"));
                serde_json::from_str::<serde_json::Value>(&s).is_ok_and(|v| {
                    v["downstreams"][format!("fast{i}")]["finished_exit_status"] == 0
                })
            },
        );
    }
}

#[test]
fn sigterm_while_a_trigger_waits_on_a_silent_downstream() {
    let (pusher, sshd, dir) = pusher_and_sshd("", &[]);
    let hang = HangingListener::start();
    pusher.write_mirrors(&[
        format!("all ok ssh+ftpsync://root@127.0.0.1:{}/ok", sshd.port),
        format!(
            "all silent ssh+ftpsync://root@127.0.0.1:{}/silent",
            hang.port
        ),
    ]);
    let run = pusher.m.spawn_cmd(pusher.runmirrors_cmd(&[]), &[]);
    let pid = run.pid();
    wait_for(Duration::from_secs(15), "the healthy downstream", || {
        count(&notes(dir.path()), "arrived sync:archive:ok") == 1
    });
    // ssh waits for the silent one's banner (ConnectTimeout=45): well beyond 2 s.
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    sigterm(pid);
    let (code, took, out) = ended(run, t, Duration::from_secs(10));
    let rl = pusher.runmirrors_log();
    assert_eq!(code, Some(143), "{}\n{rl}", pusher.m.diagnostics(&out));
    assert!(took < Duration::from_secs(2), "took {took:?}\n{rl}");
    assert!(rl.contains("dropped while connecting: silent"), "{rl}");
    assert!(
        pusher
            .push_log("silent")
            .contains("dropped while connecting"),
        "{}",
        pusher.push_log("silent")
    );
}

#[test]
fn sigkill_during_staged_stage1_loses_no_stage2() {
    // Stage 1 takes 2 s on each downstream; stage 2 only notes its arrival.
    let (pusher, sshd, dir) = pusher_and_sshd(
        "case \"$SSH_ORIGINAL_COMMAND\" in *stage1*) sleep 2; echo \"done $SSH_ORIGINAL_COMMAND\" >> \"$N\";; esac",
        &[("PUSHDELAY", "30")],
    );
    let names = ["s1", "s2", "s3", "s4", "s5"];
    pusher.write_mirrors(
        &names
            .iter()
            .map(|n| format!("staged {n} ssh+ftpsync://root@127.0.0.1:{}/{n}", sshd.port))
            .collect::<Vec<_>>(),
    );
    let run = pusher.m.spawn_cmd(pusher.runmirrors_cmd(&[]), &[]);
    wait_for(Duration::from_secs(15), "every stage 1 to arrive", || {
        count(&notes(dir.path()), "arrived sync:archive:s") == names.len()
    });
    let pid = run.kill9_and_reap();
    // runmirrors is gone; the follower still owns the push.
    wait_for(
        Duration::from_secs(20),
        "stage 2 to reach every staged downstream",
        || {
            let n = notes(dir.path());
            names.iter().all(|m| {
                n.iter()
                    .any(|l| l == &format!("arrived sync:archive:{m} sync:stage2"))
            })
        },
    );
    let n = notes(dir.path());
    // Stage 2 went out only after every stage 1 was done.
    let first_stage2 = n.iter().position(|l| l.ends_with("sync:stage2")).unwrap();
    let last_stage1_done = n
        .iter()
        .rposition(|l| l.starts_with("done ") && l.ends_with("sync:stage1"))
        .unwrap();
    assert!(last_stage1_done < first_stage2, "{n:#?}");
    wait_for(Duration::from_secs(10), "the follower's summary", || {
        pusher.runmirrors_log().contains("push-follower done")
    });
    let rl = pusher.runmirrors_log();
    assert_eq!(
        count_lines(&rl, "second stage trigger succeeded"),
        5,
        "{rl}"
    );
    assert!(!rl.contains("trigger failed"), "{rl}");
    assert!(rl.contains(&format!("runmirrors[{pid}]")), "{rl}");
    let state = read_string(&pusher.m.logdir().join("ftpsync.state.json"));
    let v: serde_json::Value = serde_json::from_str(&state).unwrap();
    for m in names {
        assert_eq!(v["downstreams"][m]["stage"], "stage2", "{state}");
    }
    // Everything had been handed over before the kill: nothing is missing.
    assert_eq!(v["last_push"]["not_sent"], serde_json::json!([]), "{state}");
    assert_eq!(v["last_push"]["delivered"], 10, "{state}");
}

#[test]
fn a_mirror_lines_own_ssh_options_win_over_the_built_in_ones() {
    let (pusher, _sshd, _dir) = pusher_and_sshd("", &[("PUSHTIMEOUT", "60")]);
    let hang = HangingListener::start();
    // ConnectTimeout=45 is built in; the line's 2 must be the one ssh uses.
    pusher.write_mirrors(&[format!(
        "all silent 127.0.0.1 root -p {} -o ConnectTimeout=2",
        hang.port
    )]);
    let t = Instant::now();
    let out = pusher.runmirrors(&[]);
    let took = t.elapsed();
    pusher.m.expect_code(&out, 0);
    let log = pusher.push_log("silent");
    assert!(log.contains("exit status 255"), "{log}");
    assert!(
        took < Duration::from_secs(10),
        "took {took:?}: the line's ConnectTimeout=2 was not used\n{log}"
    );
}

#[test]
fn sigkill_before_every_trigger_was_handed_over_is_recorded_and_shown() {
    let (pusher, sshd, dir) = pusher_and_sshd("", &[]);
    pusher.write_mirrors(&[
        format!("all early ssh+ftpsync://root@127.0.0.1:{}/early", sshd.port),
        "DELAY 30".into(),
        format!("all late1 ssh+ftpsync://root@127.0.0.1:{}/late1", sshd.port),
        format!("all late2 ssh+ftpsync://root@127.0.0.1:{}/late2", sshd.port),
    ]);
    let run = pusher.m.spawn_cmd(pusher.runmirrors_cmd(&[]), &[]);
    wait_for(Duration::from_secs(15), "the first downstream", || {
        count(&notes(dir.path()), "arrived sync:archive:early") == 1
    });
    // runmirrors now sleeps in the DELAY line: the two after it were never handed over.
    run.kill9_and_reap();
    wait_for(Duration::from_secs(15), "the follower to finish", || {
        pusher.runmirrors_log().contains("push-follower done")
    });
    let rl = pusher.runmirrors_log();
    assert!(
        rl.contains("not pushed: late1, late2 (the next push sends them)"),
        "{rl}"
    );
    let state = read_string(&pusher.m.logdir().join("ftpsync.state.json"));
    let v: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(
        v["last_push"]["not_sent"],
        serde_json::json!(["late1", "late2"]),
        "{state}"
    );
    assert_eq!(
        v["last_push"]["interrupted"], "runmirrors ended early",
        "{state}"
    );
    assert_eq!(v["downstreams"]["late1"]["outcome"], "not_sent", "{state}");
    assert_eq!(v["downstreams"]["early"]["outcome"], "accepted", "{state}");
    let bin = pusher.m.link_bin("archvsync");
    let st = pusher.m.run_cmd(pusher.m.command_prog(&bin, &["status"]));
    assert!(
        st.stdout.contains("1/3 ok, not sent: late1,late2"),
        "{}
{}",
        st.stdout,
        st.stderr
    );
    // The next push sends them (without the long DELAY this time).
    pusher.write_mirrors(&[
        format!("all early ssh+ftpsync://root@127.0.0.1:{}/early", sshd.port),
        format!("all late1 ssh+ftpsync://root@127.0.0.1:{}/late1", sshd.port),
        format!("all late2 ssh+ftpsync://root@127.0.0.1:{}/late2", sshd.port),
    ]);
    let out = pusher.runmirrors(&[]);
    pusher.m.expect_code(&out, 0);
    // Accepted is authenticated: the forced command runs a moment later.
    wait_for(
        Duration::from_secs(10),
        "the late ones to be pushed",
        || count(&notes(dir.path()), "arrived sync:archive:late") == 2,
    );
}

#[test]
fn sigterm_during_a_hubs_push_ends_its_ftpsync_through_the_normal_exit_path() {
    let up = Upstream::v1();
    let hub = Downstream::builder("hub.test")
        .source(&up.url())
        .hub()
        .start();
    let (sshd, _dir) = noting_sshd(hub.key(), "");
    // Downstreams 1.5 s away each way: the push is still connecting when we stop it.
    let proxy = DelayProxy::start(
        format!("127.0.0.1:{}", sshd.port).parse().unwrap(),
        Duration::from_millis(1500),
    );
    hub.write_mirrors(
        &(0..5)
            .map(|i| {
                format!(
                    "all far{i} ssh+ftpsync://root@127.0.0.1:{}/far{i}",
                    proxy.port
                )
            })
            .collect::<Vec<_>>(),
    );
    let run = hub.m.spawn(&["sync:all"], &[]);
    let pid = run.pid();
    wait_for(Duration::from_secs(30), "the hub's push to start", || {
        hub.runmirrors_log().contains("Trigger for far4 done")
    });
    let t = Instant::now();
    sigterm(pid);
    let (code, took, out) = ended(run, t, Duration::from_secs(10));
    let log = hub.m.log();
    assert_eq!(code, Some(143), "{}", hub.m.diagnostics(&out));
    assert!(took < Duration::from_secs(2), "took {took:?}\n{log}");
    // The rest of ftpsync's exit path ran: the error is logged, the lock is gone.
    assert!(log.contains("Interrupted by SIGTERM"), "{log}");
    assert!(log.contains("Mirrorsync done with errors"), "{log}");
    assert!(
        !hub.m.lock_path().exists(),
        "the hub's lock was left behind"
    );
    let rl = hub.runmirrors_log();
    assert!(rl.contains("dropped while connecting: far"), "{rl}");
    // The tree itself was synced before the push began.
    assert_same_tree(&up.root, &hub.m.to, hub.name());
}
