//! Deletion rails: a TO that `rsync --delete` must never touch is refused before anything
//! runs, an upstream that lost its master trace does not get mirrored by stage 2, and a
//! config holding RSYNC_PASSWORD that others can read is warned about.

mod common;
use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// A fake RSYNC that only records its arguments: if it is ever called, the test sees it.
fn recording_rsync(m: &Mirror) -> (PathBuf, PathBuf) {
    let script = m.dir.join("fake-rsync");
    let calls = m.dir.join("fake-rsync.calls");
    write_script(
        &script,
        &format!(
            "printf '%s\\n' \"$*\" >> {}\nexit 0",
            shq(&calls.to_string_lossy())
        ),
    );
    (script, calls)
}

fn assert_to_refused(m: &Mirror, to: &str, env: &[(&str, &str)], needle: &str) {
    let (fake, calls) = recording_rsync(m);
    m.write_conf(
        &m.conf("rsync://127.0.0.1:9/debian/")
            .set("TO", to)
            .set("RSYNC", fake.to_string_lossy()),
    );
    let out = m.run_env(&["sync:all"], env);
    assert_eq!(out.code, Some(1), "TO={to:?}\n{}", m.diagnostics(&out));
    let conf = m.etc().join("ftpsync.conf");
    assert!(
        out.stderr.contains(&conf.to_string_lossy().into_owned()),
        "TO={to:?}: the message does not name the config file:\n{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(needle) && out.stderr.contains("refusing"),
        "TO={to:?}: expected {needle:?}:\n{}",
        out.stderr
    );
    assert!(
        !calls.exists(),
        "TO={to:?}: the fake RSYNC was run:\n{}",
        read_string(&calls)
    );
    // No run started: the log holds the refusal (where a cron user looks), nothing else.
    let log = read_string(&m.logdir().join("ftpsync.log"));
    assert!(
        log.contains(needle) && !log.contains("Mirrorsync start"),
        "TO={to:?}: the log is not the refusal alone:\n{log}"
    );
    std::fs::remove_file(m.logdir().join("ftpsync.log")).unwrap();
}

#[test]
fn to_root_is_refused() {
    let m = Mirror::new();
    for to in ["/", "//", "/.", "/tmp/..", "/nonexistent-archvsync/../"] {
        assert_to_refused(&m, to, &[], "root directory");
    }
}

#[test]
fn to_home_is_refused() {
    let m = Mirror::new();
    let home = m.home.to_string_lossy().into_owned();
    for to in [
        home.clone(),
        format!("{home}/"),
        format!("{home}/x/.."),
        format!("{home}/./"),
    ] {
        assert_to_refused(&m, &to, &[], "home directory");
    }
    // Nothing in $HOME was touched.
    assert!(!m.home.join("project").exists());
    assert!(!m
        .home
        .join(format!("Archive-Update-Required-{}", m.name))
        .exists());
}

#[test]
fn to_above_home_is_refused() {
    let m = Mirror::new();
    // HOME is $B/home: $B contains it.
    assert_to_refused(&m, &m.dir.to_string_lossy(), &[], "contains your home");
    assert_to_refused(
        &m,
        &m.dir.parent().unwrap().to_string_lossy(),
        &[],
        "contains your home",
    );
    // HOME below /home: TO=/home (HOME need not exist).
    assert_to_refused(
        &m,
        "/home",
        &[("HOME", "/home/archvsync-test-user")],
        "contains your home",
    );
    assert_to_refused(
        &m,
        "/home/",
        &[("HOME", "/home/archvsync-test-user")],
        "contains your home",
    );
}

#[test]
fn to_empty_is_refused() {
    let m = Mirror::new();
    assert_to_refused(&m, "", &[], "TO is set but empty");
    assert_to_refused(&m, "  ", &[], "TO is set but empty");
}

#[test]
fn to_next_to_home_is_fine() {
    // The rail must not refuse ordinary mirrors, also ones below $HOME.
    let up = Upstream::v1();
    let m = Mirror::new();
    let to = m.home.join("mirror");
    m.write_conf(&m.conf(&up.url()).set("TO", to.to_string_lossy()));
    let out = m.run(&["sync:all"]);
    m.expect_code(&out, 0);
    assert_same_tree(&up.root, &to, &m.name);
}

// ---------------------------------------------------------------------------------------
// RSYNC_PASSWORD in a readable file
// ---------------------------------------------------------------------------------------

#[test]
fn password_config_readable_by_group_or_others_is_warned_about() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()).set("RSYNC_PASSWORD", "s3cret-pw"));
    let conf = m.etc().join("ftpsync.conf");
    for (mode, warned) in [(0o644, true), (0o640, true), (0o604, true), (0o600, false)] {
        fs::set_permissions(&conf, fs::Permissions::from_mode(mode)).unwrap();
        let out = m.run(&["sync:all"]);
        m.expect_code(&out, 0);
        let log = m.log();
        let needle = "sets RSYNC_PASSWORD and is readable by group or others";
        assert_eq!(
            out.stderr.contains(needle),
            warned,
            "mode {mode:o}: stderr:\n{}",
            out.stderr
        );
        assert_eq!(log.contains(needle), warned, "mode {mode:o}: log:\n{log}");
        assert!(!out.stderr.contains("s3cret-pw") && !log.contains("s3cret-pw"));
        fs::remove_file(m.logdir().join("ftpsync.log")).unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// empty upstream
// ---------------------------------------------------------------------------------------

fn empty_dir(root: &std::path::Path) {
    for e in fs::read_dir(root).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            fs::remove_dir_all(&p).unwrap();
        } else {
            fs::remove_file(&p).unwrap();
        }
    }
}

/// `journal`: the journal fetch before stage 1 answers the question (the default), or the
/// `--list-only` check during stage 1 does.
fn empty_upstream_case(lose_only_master: bool, journal: bool) {
    let up = Upstream::v1();
    let m = Mirror::new();
    let (sm, mail) = sendmail_recorder(&m.dir);
    let conf = m
        .conf(&up.url())
        .set("MAILTO", "admin@example.org")
        .set("SENDMAIL", sm.to_string_lossy())
        .set("JOURNAL", journal.to_string());
    m.write_conf(&conf);
    m.expect_code(&m.run(&["sync:all"]), 0);
    let before = without_owned(&snapshot(&m.to), &m.name);
    let trace_before = read_string(&m.trace_path());

    if lose_only_master {
        fs::remove_file(up.root.join("project/trace/master")).unwrap();
    } else {
        empty_dir(&up.root);
    }
    let out = m.run(&["sync:all"]);
    m.expect_code(&out, 4);
    let after = without_owned(&snapshot(&m.to), &m.name);
    assert!(
        before == after,
        "the tree changed:\n{}",
        tree_diff(&before, &after)
    );
    assert_eq!(
        read_string(&m.trace_path()),
        trace_before,
        "trace rewritten"
    );
    let log = m.log();
    assert!(log.contains("has no project/trace/master"), "{log}");
    assert!(log.contains("Refusing stage2"), "{log}");
    // Who answered: the journal fetch whenever the journal is on (it skips what the
    // upstream lacks, even project/trace/ itself, and what it brought is the answer), else
    // the `--list-only` check after stage 1.
    assert_eq!(
        log.contains("Checked the upstream with the journal fetch: it has no project/trace/master"),
        journal,
        "{log}"
    );
    assert_eq!(log.contains("Checking the upstream: "), !journal, "{log}");
    // The first (good) run's stage 2 only: the refused run has none.
    assert_eq!(
        count_lines(&log, "Running stage2"),
        1,
        "stage 2 ran:\n{log}"
    );
    let mail = read_string(&mail);
    assert!(
        mail.contains("Refusing stage2") && mail.contains("ERROR"),
        "no error mail:\n{mail}"
    );
    assert!(!m.lock_path().exists());
    assert!(!m.update_required_path().exists());

    // The operator says this is intended: stage 2 mirrors the (near) empty upstream.
    m.write_conf(&conf.set("ALLOW_EMPTY_UPSTREAM", "true"));
    let out = m.run(&["sync:all"]);
    m.expect_code(&out, 0);
    assert_eq!(count_lines(&m.log(), "Running stage2"), 2);
    // Stage 2 mirrored the upstream, deletions included (the protect filters keep
    // project/trace/ itself, as in the original).
    let outside_trace = |t: &Tree| -> Tree {
        without_owned(t, &m.name)
            .into_iter()
            .filter(|(k, _)| !k.starts_with("project"))
            .collect()
    };
    let (want, got) = (outside_trace(&up.tree()), outside_trace(&snapshot(&m.to)));
    assert!(want == got, "{}", tree_diff(&want, &got));
    if !lose_only_master {
        assert!(!m.to.join("pool").exists() && !m.to.join("dists").exists());
    }
}

#[test]
fn empty_upstream_does_not_wipe_the_mirror() {
    empty_upstream_case(false, true);
}

#[test]
fn upstream_without_master_trace_does_not_wipe_the_mirror() {
    empty_upstream_case(true, true);
}

#[test]
fn without_the_journal_the_check_during_stage1_refuses_too() {
    empty_upstream_case(true, false);
}

/// An upstream whose `project/trace/master` is a link to its trace file (as the original's
/// own test archive has it: `master -> master.example.com`), pulled from a local path so
/// the link arrives as it is: the upstream has its master, whoever asks (the journal fetch,
/// which copies only the link, or the `--list-only` check). Found by the original's bats
/// suite (scripts/compat-bats): the journal fetch took the dangling copy for no master.
#[test]
fn an_upstream_master_trace_that_is_a_link_is_there() {
    for journal in [true, false] {
        let up = Upstream::v1();
        let trace = up.root.join("project/trace");
        fs::rename(trace.join("master"), trace.join("master.example.org")).unwrap();
        std::os::unix::fs::symlink("master.example.org", trace.join("master")).unwrap();
        let m = Mirror::new();
        m.write_conf(
            &m.conf(&format!("{}/", up.root.display()))
                .set("JOURNAL", journal.to_string()),
        );
        m.expect_code(&m.run(&["sync:all"]), 0);
        let out = m.run(&["sync:all"]);
        m.expect_code(&out, 0);
        let log = m.log();
        let answer = if journal {
            "Checked the upstream with the journal fetch: it has project/trace/master"
        } else {
            "Checking the upstream: "
        };
        assert!(log.contains(answer), "journal={journal}: {log}");
        assert_eq!(count_lines(&log, "Running stage2"), 2, "{log}");
        assert_same_tree(&up.root, &m.to, &m.name);
    }
}

#[test]
fn stage2_only_run_checks_the_upstream_too() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    m.expect_code(&m.run(&["sync:all"]), 0);
    let before = without_owned(&snapshot(&m.to), &m.name);
    empty_dir(&up.root);
    let out = m.run(&["sync:stage2"]);
    m.expect_code(&out, 4);
    assert!(before == without_owned(&snapshot(&m.to), &m.name));
}

#[test]
fn first_sync_into_an_empty_mirror_needs_no_master() {
    // Without our own master trace there is nothing to protect: no check, no refusal.
    let up = Upstream::v1();
    fs::remove_file(up.root.join("project/trace/master")).unwrap();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    let out = m.run(&["sync:all"]);
    m.expect_code(&out, 0);
    assert!(!m.log().contains("Checking the upstream"));
    assert_same_tree(&up.root, &m.to, &m.name);
}

/// The upstream check has a hard deadline (CHECK_TIMEOUT plus a margin) besides rsync's own
/// I/O timeout: one that ignores its timeout is killed then, and stage 2 goes on.
#[test]
fn an_upstream_check_past_its_deadline_is_killed() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    m.expect_code(&m.run(&["sync:all"]), 0);
    let w = list_only_wrapper(&m, "exec sleep 613");
    let (hook, started, release) = waiting_hook(&m.dir);
    m.write_conf(
        &m.conf(&up.url())
            .set("RSYNC", w.to_string_lossy())
            .set("CHECK_TIMEOUT", "1")
            .set("HOOK3", hook.to_string_lossy())
            // The `--list-only` check runs when the journal fetch did not answer for it.
            .set("JOURNAL", "false"),
    );
    let mut run = m.spawn(&["sync:all"], &[]);
    let pid = run.pid();
    let sleeper = |pids: Vec<u32>| -> Vec<u32> {
        pids.into_iter()
            .filter(|p| proc_cmdline(*p).is_some_and(|c| c.iter().any(|a| a == "613")))
            .collect()
    };
    let mut seen = Vec::new();
    wait_for(
        std::time::Duration::from_secs(30),
        "the check to start",
        || {
            seen = sleeper(descendants(pid));
            !seen.is_empty() || run.try_done()
        },
    );
    assert!(!seen.is_empty(), "no upstream check seen:\n{}", m.log());
    run.reaches(&started, "HOOK3");
    let log = m.log();
    assert!(log.contains("took longer than"), "{log}");
    let left: Vec<u32> = seen
        .iter()
        .copied()
        .filter(|p| std::path::Path::new(&format!("/proc/{p}/cmdline")).exists())
        .filter(|p| sleeper(vec![*p]) == vec![*p])
        .collect();
    std::fs::write(&release, "").unwrap();
    let out = run.wait(RUN_TIMEOUT);
    m.expect_code(&out, 0);
    assert!(
        left.is_empty(),
        "the check runs on past its deadline: {left:?}"
    );
}
