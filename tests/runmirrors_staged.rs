//! Staged pushes (SPEC §7): stage 2 goes to every staged mirror only after the last one
//! finished stage 1, and then at once (the original polled every 5 s; the contract says
//! "immediately"). Timing is taken on the downstreams' side with high-resolution
//! timestamps written by their hooks. Alone in its own test binary so that no other test
//! competes for the two CPUs while it measures.

mod common;
use common::sshd::*;
use common::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn secs(d: &[Duration]) -> String {
    d.iter()
        .map(|x| format!("{:.3}", x.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn staged_leaves_get_stage2_only_after_all_stage1() {
    let up = Upstream::v1();
    let pusher = Downstream::builder("pusher.test").pusher().start();
    // HOOK1 (start of a run) and HOOK4 (after the trace, the end of a run) record
    // `LEAF HOOK EPOCH.NS WORDS`; the slow leaf's stage-1 run lingers 2 s in HOOK1.
    let (hook, events) = hook_recorder(
        &pusher.m.dir,
        "case \"$1 $2 $SSH_ORIGINAL_COMMAND\" in\n\
         \"slow 1 \"*sync:stage1*) sleep 2 ;;\n\
         esac",
    );
    let leaf = |short: &str| {
        Downstream::builder(&format!("{short}.test"))
            .source(&up.url())
            .pushed_by(pusher.key())
            .record_hooks(&hook, short, &[1, 4])
            .start()
    };
    let fast1 = leaf("fast1");
    let slow = leaf("slow");
    let fast2 = leaf("fast2");
    pusher.write_mirrors(&[
        fast1.host_line("staged", "fast1"),
        slow.url_line("staged", "slow"),
        fast2.host_line("staged", "fast2"),
    ]);
    let all = [&pusher, &fast1, &slow, &fast2];

    // The pusher's side: an `ssh` first in PATH stamps when each trigger's ssh starts and when
    // its session ends (the push follower runs `ssh` from PATH), then runs the real one. The
    // real one runs with `-f` and goes to the background once authenticated, keeping its
    // output pipe open until the session ends: the end is stamped when that pipe closes.
    let stampbin = pusher.m.dir.join("stampbin");
    let stamps = pusher.m.dir.join("ssh-stamps");
    std::fs::create_dir_all(&stampbin).unwrap();
    let wrapper = stampbin.join("ssh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/bash
printf 'S %s %s\\n' \"$EPOCHREALTIME\" \"$*\" >> {f}
/usr/bin/ssh \"$@\" > >(cat; printf 'E %s %s\\n' \"$EPOCHREALTIME\" \"$*\" >> {f}) 2>&1
",
            f = shq(&stamps.to_string_lossy())
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut cmd = pusher.runmirrors_cmd(&[]);
    cmd.env("PATH", path_with(&stampbin));
    let t0 = Instant::now();
    let out = pusher.m.run_cmd(cmd);
    let took = t0.elapsed();
    pusher.expect_code(&out, 0, &all);
    for l in [&fast1, &slow, &fast2] {
        wait_synced(l, Duration::from_secs(30), &all);
    }
    // HOOK4 of the last stage-2 run comes just before its lock goes away
    wait_for(Duration::from_secs(10), "all six runs' HOOK4", || {
        hook_events(&events).iter().filter(|e| e.hook == 4).count() >= 6
    });
    let ev = hook_events(&events);

    let names = ["fast1", "slow", "fast2"];
    let mut s1_end: BTreeMap<&str, f64> = BTreeMap::new();
    let mut s2_start: BTreeMap<&str, f64> = BTreeMap::new();
    for n in names {
        let mine: Vec<&HookEvent> = ev.iter().filter(|e| e.mirror == n).collect();
        let pick = |hook: u32, stage: &str| -> Vec<&HookEvent> {
            mine.iter()
                .copied()
                .filter(|e| e.hook == hook && e.has_word(&format!("sync:{stage}")))
                .collect()
        };
        let s1_starts = pick(1, "stage1");
        let s1_ends = pick(4, "stage1");
        let s2_starts = pick(1, "stage2");
        assert_eq!(s1_starts.len(), 1, "{n}: one stage-1 run expected: {ev:#?}");
        assert_eq!(s1_ends.len(), 1, "{n}: {ev:#?}");
        assert_eq!(s2_starts.len(), 1, "{n}: one stage-2 run expected: {ev:#?}");
        assert_eq!(
            s1_starts[0].words, "sync:archive: sync:stage1",
            "{n}: the stage-1 trigger's words"
        );
        assert!(
            !mine.iter().any(|e| e.has_word("sync:all")),
            "{n} got sync:all: {ev:#?}"
        );
        s1_end.insert(n, s1_ends[0].t);
        s2_start.insert(n, s2_starts[0].t);
    }
    let last_s1_end = s1_end.values().cloned().fold(f64::MIN, f64::max);
    let first_s2_start = s2_start.values().cloned().fold(f64::MAX, f64::min);
    let latency = first_s2_start - last_s1_end;

    // "Stage 2 is sent within 0.5 s of the last stage 1": measured where it is sent.
    let stamp_lines = read_string(&stamps);
    let stamp = |kind: &str, stage: &str| -> Vec<f64> {
        stamp_lines
            .lines()
            .filter(|l| l.starts_with(kind) && l.contains(&format!("sync:{stage}")))
            .filter_map(|l| l.split(' ').nth(1)?.parse().ok())
            .collect()
    };
    let s1_ssh_end = stamp("E", "stage1");
    let s2_ssh_start = stamp("S", "stage2");
    assert_eq!(
        (s1_ssh_end.len(), s2_ssh_start.len()),
        (3, 3),
        "{stamp_lines}"
    );
    let last_s1_ssh = s1_ssh_end.iter().cloned().fold(f64::MIN, f64::max);
    let send_latency = s2_ssh_start.iter().cloned().fold(f64::MIN, f64::max) - last_s1_ssh;
    assert!(
        s2_ssh_start.iter().all(|t| *t >= last_s1_ssh),
        "a stage-2 ssh started before the last stage-1 ssh ended:\n{stamp_lines}"
    );

    let logins = time_ssh_logins(3, true);
    let logins_bashrc = time_ssh_logins(3, false);
    let report = format!(
        "stage-1 ends: {s1_end:?}\nstage-2 starts: {s2_start:?}\n\
         last stage-1 end -> first stage-2 start: {latency:.3} s\n\
         pusher side: last stage-1 ssh end -> last stage-2 ssh start: {send_latency:.3} s\n\
         runmirrors returned after {:.3} s\n\
         ssh login (connect+auth+/bin/true), runs: {} s; with root's ~/.bashrc: {} s",
        took.as_secs_f64(),
        secs(&logins),
        secs(&logins_bashrc)
    );
    eprintln!("{report}");

    // the barrier was really exercised: the fast ones were done long before the slow one
    for n in ["fast1", "fast2"] {
        assert!(
            s1_end["slow"] - s1_end[n] > 1.5,
            "the slow leaf was not slow:\n{report}"
        );
    }
    for n in names {
        assert!(
            s2_start[n] > last_s1_end,
            "{n} began stage 2 before every leaf finished stage 1:\n{report}\n{}",
            all_diagnostics(&all)
        );
    }
    assert!(
        send_latency < 0.5,
        "stage 2 was sent {send_latency:.3} s after the last stage 1 ended (limit 0.5 s):\n{report}"
    );
    // Seen from the leaves, an ssh session end and a login (0.2-0.3 s here) come on top.
    assert!(
        latency < 1.5,
        "stage 2 reached the leaves {latency:.3} s after the last stage 1 ended:\n{report}"
    );

    for l in [&fast1, &slow, &fast2] {
        assert_same_tree(&up.root, &l.m.to, l.name());
        assert!(
            l.m.stage1_trace_path().exists(),
            "{}: no stage-1 trace",
            l.name()
        );
    }
    let rl = pusher.runmirrors_log();
    assert!(
        rl.contains("Pushing leaf mirrors. Inside ftpsync: false. Pushkind: mhop"),
        "{rl}"
    );
    assert_eq!(
        count_lines(&rl, "first stage trigger succeeded: 127.0.0.1"),
        3,
        "{rl}"
    );
    assert_eq!(
        count_lines(&rl, "second stage trigger succeeded: 127.0.0.1"),
        3,
        "{rl}"
    );
    assert!(!rl.contains("Missing stage1"), "{rl}");
    assert!(!rl.contains("trigger failed"), "{rl}");
    for n in names {
        let pl = pusher.push_log(n);
        assert!(
            pl.lines().any(|l| l.contains("Sending ")
                && l.trim_end().ends_with("trigger: sync:archive: sync:stage1")),
            "{n}.log:\n{pl}"
        );
        assert!(
            pl.lines().any(|l| l.contains("Sending ")
                && l.trim_end().ends_with("trigger: sync:archive: sync:stage2")),
            "{n}.log:\n{pl}"
        );
    }
}
