//! runmirrors against real sshds and rsync daemons: a hub pushing `all` leaves (SPEC §1,
//! §4 step 9, §7), and a push that reaches a downstream in the middle of a sync.

mod common;
use common::sshd::*;
use common::*;
use std::fs;
use std::time::{Duration, Instant};

/// The lines of `text` that contain every one of `needles`.
fn lines_with<'a>(text: &'a str, needles: &[&str]) -> Vec<&'a str> {
    text.lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .collect()
}

#[test]
fn hub_pushes_two_all_leaves() {
    let up = Upstream::v1();
    let hub = Downstream::builder("hub.test")
        .source(&up.url())
        .hub()
        .start();
    let leaf1 = Downstream::builder("leaf1.test")
        .source(&hub.rsync_url())
        .pushed_by(hub.key())
        .start();
    // leaf2 lingers 3 s at the end of its run (HOOK4, before its lock goes away)
    let leaf2 = Downstream::builder("leaf2.test")
        .source(&hub.rsync_url())
        .pushed_by(hub.key())
        .set("HOOK4", "sleep 3")
        .start();
    hub.write_mirrors(&[
        "# one leaf in each line form".into(),
        leaf1.host_line("all", "leaf1"),
        String::new(),
        leaf2.url_line("all", "leaf2"),
    ]);
    let all = [&hub, &leaf1, &leaf2];

    // the hub's own sync, run by hand: HUB=true pushes the leaves in-process
    let out = hub.m.run(&["sync:all"]);
    assert_eq!(
        out.code,
        Some(0),
        "hub's ftpsync failed\n{}\n{}",
        hub.m.diagnostics(&out),
        all_diagnostics(&all)
    );
    // `all` triggers are detached: the hub did not wait for leaf2's sync to end
    assert!(
        !leaf2.synced(),
        "the hub's ftpsync returned only after leaf2 had finished its sync\n{}",
        all_diagnostics(&all)
    );
    assert_same_tree(&up.root, &hub.m.to, hub.name());
    let hublog = hub.m.log();
    assert!(
        hublog.contains("Trigger slave mirrors using -f -k all"),
        "{hublog}"
    );
    assert!(hublog.contains("Trigger slave done"), "{hublog}");

    // the pushes are detached: the leaves may still be syncing
    for l in [&leaf1, &leaf2] {
        wait_synced(l, Duration::from_secs(60), &all);
    }
    for (l, short) in [(&leaf1, "leaf1"), (&leaf2, "leaf2")] {
        assert_same_tree_via(&up.root, &l.m.to, l.name(), &["hub.test"]);
        let hier = read_string(&l.m.to.join("project/trace/_hierarchy"));
        let want = format!(
            "{UPSTREAM_HIERARCHY_LINE}\n{}\n{}\n",
            hierarchy_line("hub.test"),
            hierarchy_line(l.name())
        );
        assert_eq!(hier, want, "{short}'s _hierarchy does not show the chain");
        let t = l.m.trace();
        assert_eq!(t.req("Trigger"), "ssh", "{}", t.raw);
        assert_eq!(t.req("Archive serial"), SERIAL_V1, "{}", t.raw);
        let llog = l.ftpsync_log();
        assert!(
            llog.contains("We got pushed from 127.0.0.1"),
            "{short}'s ftpsync does not know it was pushed:\n{llog}"
        );
        assert!(
            !l.m.lock_path().exists() && !l.m.update_required_path().exists(),
            "{short} left its lock or Update-Required behind"
        );
    }

    // the hub's logs: runmirrors' own, and one per leaf
    let rl = hub.runmirrors_log();
    assert!(
        rl.contains("Pushing leaf mirrors. Inside ftpsync: true. Pushkind: all"),
        "{rl}"
    );
    for short in ["leaf1", "leaf2"] {
        assert!(rl.contains(&format!("Trigger {short}")), "{rl}");
        assert!(rl.contains(&format!("Trigger for {short} done")), "{rl}");
    }
    assert_eq!(
        count_lines(&rl, "normal trigger succeeded: 127.0.0.1"),
        2,
        "{rl}"
    );
    assert!(!rl.contains("trigger failed"), "{rl}");
    assert!(rl.contains("Mirrorpush done"), "{rl}");
    for short in ["leaf1", "leaf2"] {
        wait_for(
            Duration::from_secs(30),
            &format!("{short}.log to record the end of the trigger"),
            || hub.push_log(short).contains("finished: exit status 0"),
        );
        let pl = hub.push_log(short);
        let sending: Vec<&str> = pl
            .lines()
            .filter(|l| {
                l.contains("Sending ") && l.trim_end().ends_with("trigger: sync:archive: sync:all")
            })
            .collect();
        assert_eq!(sending.len(), 1, "{short}.log:\n{pl}");
        assert_eq!(
            lines_with(&pl, &["trigger accepted after"]).len(),
            1,
            "{short}.log:\n{pl}"
        );
    }
}

/// SPEC §4 step 3 / §7: a downstream that answers "lock held" (exit 1) has queued the push;
/// the run holding the lock syncs again.
#[test]
fn push_to_busy_downstream_is_queued() {
    let up = Upstream::v1();
    let hookdir = tempdir();
    let (sendmail, mail_out) = sendmail_recorder(hookdir.path());
    let pusher = Downstream::builder("pusher.test")
        .pusher()
        .rm_set("MAILTO", "ops@example.org")
        .rm_set("SENDMAIL", sendmail.to_string_lossy())
        .start();
    let (hook, started, release) = waiting_hook(hookdir.path());
    // HOOK2 runs between stage 1 and stage 2: a push arriving then must cause a second pass
    // (one arriving before stage 1 would be absorbed by the first pass).
    let leaf = Downstream::builder("leaf.test")
        .source(&up.url())
        .pushed_by(pusher.key())
        .set("HOOK2", hook.to_string_lossy())
        .start();
    pusher.write_mirrors(&[leaf.url_line("all", "leaf")]);
    let all = [&pusher, &leaf];

    let mut a = leaf.m.spawn(&["sync:all"], &[]);
    assert!(
        a.reaches(&started, "HOOK2"),
        "local run ended before HOOK2\n{}",
        all_diagnostics(&all)
    );
    assert_eq!(count_lines(&leaf.ftpsync_log(), "Running stage1:"), 1);
    assert!(!leaf.m.update_required_path().exists());
    // the upstream moves on while the leaf is busy
    build_archive(&up.root, &ArchiveSpec::v2());

    let t0 = Instant::now();
    let out = pusher.runmirrors(&[]);
    pusher.expect_code(&out, 0, &all);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !pusher.push_log("leaf").contains("finished: exit status") {
        assert!(
            Instant::now() < deadline,
            "the trigger's end was never recorded in leaf.log\n{}",
            all_diagnostics(&all)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pl = pusher.push_log("leaf");
    assert!(
        pl.contains("finished: exit status 1"),
        "the pushed run should have found the lock held (exit 1):\n{pl}\n{}",
        all_diagnostics(&all)
    );
    assert!(
        pl.contains("Unable to start rsync, lock file still exists"),
        "ssh's output (the downstream's answer) is not in leaf.log:\n{pl}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "the push took {:?}",
        t0.elapsed()
    );
    // "lock held" is a delivered push, not a failure
    let rl = pusher.runmirrors_log();
    assert!(rl.contains("normal trigger succeeded: 127.0.0.1"), "{rl}");
    assert!(!rl.contains("trigger failed"), "{rl}");
    let mails = recorded_mails(&mail_out);
    assert!(
        mails.is_empty(),
        "a push answered with \"lock held\" was reported as a failure: {mails:#?}"
    );
    assert!(
        leaf.m.update_required_path().exists(),
        "the pushed run did not leave Archive-Update-Required behind"
    );
    assert!(
        !a.try_done(),
        "the local run ended while its hook was waiting"
    );

    fs::write(&release, "").unwrap();
    let a = a.wait(RUN_TIMEOUT);
    assert_eq!(
        a.code,
        Some(0),
        "{}\n{}",
        leaf.m.diagnostics(&a),
        all_diagnostics(&all)
    );
    let log = leaf.ftpsync_log();
    assert_eq!(
        count_lines(&log, "Running stage1:"),
        2,
        "the queued push did not cause a second pass:\n{log}"
    );
    assert_same_tree(&up.root, &leaf.m.to, leaf.name());
    let t = leaf.m.trace();
    assert_eq!(t.req("Archive serial"), SERIAL_V2, "{}", t.raw);
    assert!(!leaf.m.lock_path().exists());
    assert!(!leaf.m.update_required_path().exists());
}
