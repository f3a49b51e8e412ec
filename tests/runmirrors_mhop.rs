//! Multi-hop pushes through three tiers (SPEC §1, §2 `sync:mhop`, §4 step 9, §7):
//! master runmirrors → tier A (hub) → tier B (hub) → tier C (leaf), each tier pulling from
//! the one above through an rsync daemon and pushed over ssh by the one above.

mod common;
use common::sshd::*;
use common::*;
use std::time::Duration;

#[test]
fn mhop_three_tiers() {
    let up = Upstream::v1();
    let master = Downstream::builder("master.test").pusher().start();
    let (hook, events) = hook_recorder(&master.m.dir, "");
    let hooks = |b: DownstreamBuilder, tier: &str| b.record_hooks(&hook, tier, &[1, 4]);
    let a = hooks(Downstream::builder("tierA.test"), "A")
        .source(&up.url())
        .hub()
        .pushed_by(master.key())
        .start();
    let b = hooks(Downstream::builder("tierB.test"), "B")
        .source(&a.rsync_url())
        .hub()
        .pushed_by(a.key())
        .start();
    let c = hooks(Downstream::builder("tierC.test"), "C")
        .source(&b.rsync_url())
        .pushed_by(b.key())
        .start();
    master.write_mirrors(&[c_comment(), a.url_line("mhop", "tierA")]);
    a.write_mirrors(&[b.host_line("mhop", "tierB")]);
    b.write_mirrors(&[c.host_line("staged", "tierC")]);
    let all = [&master, &a, &b, &c];

    // kind defaults to mhop
    let out = master.runmirrors(&[]);
    master.expect_code(&out, 0, &all);
    wait_synced(&c, Duration::from_secs(60), &all);
    wait_synced(&b, Duration::from_secs(10), &all);
    wait_synced(&a, Duration::from_secs(10), &all);

    assert_same_tree(&up.root, &a.m.to, a.name());
    assert_same_tree_via(&up.root, &b.m.to, b.name(), &["tierA.test"]);
    assert_same_tree_via(&up.root, &c.m.to, c.name(), &["tierA.test", "tierB.test"]);
    let hier = read_string(&c.m.to.join("project/trace/_hierarchy"));
    assert_eq!(
        hier,
        format!(
            "{UPSTREAM_HIERARCHY_LINE}\n{}\n{}\n{}\n",
            hierarchy_line("tierA.test"),
            hierarchy_line("tierB.test"),
            hierarchy_line("tierC.test")
        ),
        "tier C's _hierarchy does not show the chain"
    );
    for t in [&a, &b, &c] {
        let tr = t.m.trace();
        assert_eq!(tr.req("Trigger"), "ssh", "{}", tr.raw);
        // each tier ran stage 1 once, then stage 2 once
        let log = t.ftpsync_log();
        assert_eq!(
            count_lines(&log, "Running stage1:"),
            1,
            "{}:\n{log}",
            t.name()
        );
        assert_eq!(
            count_lines(&log, "Running stage2:"),
            1,
            "{}:\n{log}",
            t.name()
        );
        let s1 = log.find("Running stage1:").unwrap();
        let s2 = log.find("Running stage2:").unwrap();
        assert!(
            s1 < s2,
            "{}: stage 2 logged before stage 1:\n{log}",
            t.name()
        );
    }

    // the words each tier received, and stage 2 nowhere before stage 1 everywhere
    wait_for(Duration::from_secs(10), "all six runs' HOOK4", || {
        hook_events(&events).iter().filter(|e| e.hook == 4).count() >= 6
    });
    let ev = hook_events(&events);
    let run = |tier: &str, hook: u32, stage: &str| -> &HookEvent {
        let v: Vec<&HookEvent> = ev
            .iter()
            .filter(|e| e.mirror == tier && e.hook == hook && e.has_word(stage))
            .collect();
        assert_eq!(v.len(), 1, "tier {tier} HOOK{hook} {stage}: {ev:#?}");
        v[0]
    };
    for (tier, words) in [
        ("A", "sync:archive: sync:mhop sync:stage1"),
        ("B", "sync:archive: sync:mhop sync:stage1"),
        ("C", "sync:archive: sync:stage1"),
    ] {
        assert_eq!(run(tier, 1, "sync:stage1").words, words, "tier {tier}");
        let s2 = run(tier, 1, "sync:stage2");
        assert!(s2.has_word("sync:archive:"), "tier {tier}: {s2:?}");
        assert!(!s2.has_word("sync:stage1"), "tier {tier}: {s2:?}");
    }
    assert_eq!(
        ev.iter().filter(|e| e.hook == 1).count(),
        6,
        "exactly one stage-1 and one stage-2 run per tier: {ev:#?}"
    );
    let last_s1_end = ["A", "B", "C"]
        .iter()
        .map(|t| run(t, 4, "sync:stage1").t)
        .fold(f64::MIN, f64::max);
    for tier in ["A", "B", "C"] {
        let s2 = run(tier, 1, "sync:stage2").t;
        assert!(
            s2 > last_s1_end,
            "tier {tier} began stage 2 before every tier finished stage 1: {ev:#?}"
        );
    }
    // stage 2 reaches the tiers top-down
    assert!(run("A", 1, "sync:stage2").t < run("B", 1, "sync:stage2").t);
    assert!(run("B", 1, "sync:stage2").t < run("C", 1, "sync:stage2").t);

    // the hubs' runmirrors logs: inside ftpsync, mhop for stage 1, stage2 for stage 2
    for (h, short) in [(&a, "tierB"), (&b, "tierC")] {
        let rl = h.runmirrors_log();
        assert!(
            rl.contains("Pushing leaf mirrors. Inside ftpsync: true. Pushkind: mhop"),
            "{}:\n{rl}",
            h.name()
        );
        assert!(
            rl.contains("Pushing leaf mirrors. Inside ftpsync: true. Pushkind: stage2"),
            "{}:\n{rl}",
            h.name()
        );
        assert!(rl.contains(&format!("Trigger {short}")), "{rl}");
        assert!(!rl.contains("trigger failed"), "{}:\n{rl}", h.name());
    }
    let rl = master.runmirrors_log();
    assert!(
        rl.contains("Pushing leaf mirrors. Inside ftpsync: false. Pushkind: mhop"),
        "{rl}"
    );
    assert!(rl.contains("first stage trigger succeeded"), "{rl}");
    assert!(rl.contains("second stage trigger succeeded"), "{rl}");
}

fn c_comment() -> String {
    "# the master pushes tier A only; A pushes B, B pushes C".into()
}
