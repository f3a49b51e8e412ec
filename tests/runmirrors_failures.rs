//! Broken downstreams (SPEC §7, PUSHTIMEOUT of the contract): an unreachable one, one that
//! accepts the TCP connection and never answers, and a malformed line in the mirror file
//! must neither stop nor delay the pushes to the healthy ones.

mod common;
use common::sshd::*;
use common::*;
use std::time::{Duration, Instant};

const PUSHTIMEOUT: u64 = 5;

#[test]
fn bad_downstreams_do_not_delay_healthy_ones() {
    let up = Upstream::v1();
    let maildir = tempdir();
    let (sendmail, mail_out) = sendmail_recorder(maildir.path());
    let pusher = Downstream::builder("pusher.test")
        .pusher()
        .rm_set("PUSHTIMEOUT", PUSHTIMEOUT.to_string())
        .rm_set("MAILTO", "ops@example.org")
        .rm_set("SENDMAIL", sendmail.to_string_lossy())
        .start();
    let good = |name: &str| {
        Downstream::builder(name)
            .source(&up.url())
            .pushed_by(pusher.key())
            .start()
    };
    let good1 = good("good1.test");
    let good2 = good("good2.test");
    let dead_port = free_port(); // nobody listens there
    let hang = HangingListener::start();
    pusher.write_mirrors(&[
        "# healthy, malformed, unreachable, hanging, healthy".into(), // line 1
        good1.host_line("all", "good1"),                              // line 2
        "bogus x y".into(),                                           // line 3
        format!("all dead 127.0.0.1 root -p {dead_port}"),            // line 4
        format!("all hang ssh+ftpsync://root@127.0.0.1:{}/", hang.port), // line 5
        good2.url_line("all", "good2"),                               // line 6
    ]);
    let all = [&pusher, &good1, &good2];

    let t0 = Instant::now();
    let mut run = pusher.m.spawn_cmd(pusher.runmirrors_cmd(&[]), &[]);
    // the healthy leaves are synced well before the hanging one's PUSHTIMEOUT runs out
    let mut synced_after = Vec::new();
    for l in [&good1, &good2] {
        wait_synced(l, Duration::from_secs(30), &all);
        synced_after.push(t0.elapsed());
    }
    let deadline = t0 + Duration::from_secs(PUSHTIMEOUT + 20);
    while !run.try_done() {
        assert!(
            Instant::now() < deadline,
            "runmirrors still running after {:?}\n{}",
            t0.elapsed(),
            all_diagnostics(&all)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = t0.elapsed();
    let out = run.wait(Duration::from_secs(5));
    eprintln!("healthy leaves synced after {synced_after:?}; runmirrors returned after {took:?}");
    assert_eq!(
        out.code,
        Some(0),
        "failed triggers are reported, not an exit status\n{}\n{}",
        pusher.m.diagnostics(&out),
        all_diagnostics(&all)
    );
    for (i, s) in synced_after.iter().enumerate() {
        assert!(
            *s < Duration::from_secs(PUSHTIMEOUT),
            "healthy leaf {} synced only after {s:?}: delayed by the broken ones?\n{}",
            i + 1,
            all_diagnostics(&all)
        );
    }
    assert!(
        took < Duration::from_secs(PUSHTIMEOUT + 5),
        "runmirrors returned after {took:?} with PUSHTIMEOUT={PUSHTIMEOUT}\n{}",
        all_diagnostics(&all)
    );
    assert!(
        took >= Duration::from_secs(PUSHTIMEOUT) - Duration::from_millis(200),
        "runmirrors returned after {took:?}: did it wait for the hanging trigger at all?"
    );
    for l in [&good1, &good2] {
        assert_same_tree(&up.root, &l.m.to, l.name());
        assert_eq!(l.m.trace().req("Trigger"), "ssh");
    }

    let rl = pusher.runmirrors_log();
    assert!(
        rl.contains("runmirrors.mirror:3"),
        "the malformed line is not reported with FILE:LINE:\n{rl}"
    );
    assert!(
        !pusher.m.logdir().join("x.log").exists(),
        "the malformed line was pushed"
    );
    let failed: Vec<&str> = rl
        .lines()
        .filter(|l| l.contains("trigger failed"))
        .collect();
    assert_eq!(failed.len(), 2, "{rl}");
    assert!(
        failed.iter().any(|l| l.contains("(exit status 255")),
        "the unreachable downstream is not reported as failed (ssh's 255):\n{rl}"
    );
    assert!(
        failed
            .iter()
            .any(|l| l.contains(&format!("(timed out after {PUSHTIMEOUT} s)"))),
        "the hanging downstream is not reported as timed out:\n{rl}"
    );
    assert_eq!(
        count_lines(&rl, "normal trigger succeeded: 127.0.0.1"),
        2,
        "{rl}"
    );
    for short in ["good1", "good2", "dead", "hang"] {
        assert!(rl.contains(&format!("Trigger {short}")), "{rl}");
    }
    assert!(rl.contains("Summary:"), "{rl}");
    assert!(rl.contains("Mirrorpush done"), "{rl}");

    let dead = pusher.push_log("dead");
    assert!(dead.contains("exit status 255"), "dead.log:\n{dead}");
    assert!(
        dead.contains("Connection refused"),
        "ssh's own message belongs in dead.log:\n{dead}"
    );
    let hanging = pusher.push_log("hang");
    assert!(
        hanging.contains(&format!("timed out after {PUSHTIMEOUT} s")),
        "hang.log:\n{hanging}"
    );
    for short in ["good1", "good2"] {
        wait_for(
            Duration::from_secs(20),
            &format!("{short}.log to record the end of the trigger"),
            || pusher.push_log(short).contains("finished: exit status 0"),
        );
    }

    // failures are mailed (SPEC §7: ssh's 255 is a failed trigger, error mail), successes
    // are not
    let mails = recorded_mails(&mail_out);
    let about = |needles: &[&str]| {
        mails
            .iter()
            .filter(|m| needles.iter().all(|n| m.contains(n)))
            .count()
    };
    assert!(
        about(&["ops@example.org", "runmirrors.mirror:3"]) >= 1,
        "the malformed line was not mailed: {mails:#?}"
    );
    assert!(
        about(&["ops@example.org", "trigger failed", "exit status 255"]) >= 1,
        "the unreachable downstream was not mailed: {mails:#?}"
    );
    assert!(
        about(&["ops@example.org", "trigger failed", "timed out"]) >= 1,
        "the hanging downstream was not mailed: {mails:#?}"
    );
    assert_eq!(
        about(&["succeeded"]),
        0,
        "a successful trigger was mailed: {mails:#?}"
    );
}
