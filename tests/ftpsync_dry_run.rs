//! `ftpsync --dry-run` against a real rsync daemon: both stages run with rsync's --dry-run,
//! the tree is left alone (no trace files, no hooks, no push), the lock protocol still holds.

mod common;
use common::*;
use std::fs;
use std::time::Duration;

const DRY_RUN_LINE: &str =
    "Dry run: rsync gets --dry-run, no trace files are written, no downstream is pushed";

fn assert_dry_stages(m: &Mirror, out: &RunOutput) {
    let log = m.log();
    assert!(log.contains(DRY_RUN_LINE), "{}", m.diagnostics(out));
    for stage in ["stage1", "stage2"] {
        let tag = format!(": Running {stage}: ");
        let line = log
            .lines()
            .find(|l| l.contains(&tag))
            .unwrap_or_else(|| panic!("no {tag:?} line\n{}", m.diagnostics(out)));
        let words: Vec<&str> = line.split(' ').collect();
        // right before source and target
        assert_eq!(words[words.len() - 3], "--dry-run", "{line}");
    }
}

#[test]
fn dry_run_leaves_the_tree_alone_and_a_real_run_then_syncs() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));

    let out = m.run(&["--dry-run"]);
    m.expect_code(&out, 0);
    assert_dry_stages(&m, &out);
    assert!(m.to.is_dir(), "TO exists (it holds the lock)");
    let tree = snapshot(&m.to);
    assert!(
        tree.is_empty(),
        "the dry run wrote into TO: {:?}",
        tree.keys()
    );
    assert!(!m.trace_path().exists());
    // rsync did look at the upstream: its log lists what it would fetch
    assert!(
        m.read_log_file("rsync-ftpsync.log").contains("pool/"),
        "{}",
        m.diagnostics(&out)
    );

    // A real run afterwards syncs everything, and its rsync gets no --dry-run.
    let out = m.run(&["sync:all"]);
    m.expect_code(&out, 0);
    assert_same_tree(&up.root, &m.to, &m.name);
    assert!(m.trace_path().exists());
    let log = m.log();
    let last_stage2 = log
        .lines()
        .rfind(|l| l.contains(": Running stage2: "))
        .unwrap();
    assert!(!last_stage2.contains("--dry-run"), "{last_stage2}");

    // After an upstream update, a dry run (also `archvsync ftpsync --dry-run`) changes
    // nothing: same files, same trace files, same _hierarchy and _traces.
    build_archive(&up.root, &ArchiveSpec::v2());
    let before = snapshot(&m.to);
    let trace_mtime = fs::metadata(m.trace_path()).unwrap().modified().unwrap();
    let archvsync = m.link_bin("archvsync");
    let out = m.run_cmd(m.command_prog(&archvsync, &["ftpsync", "--dry-run"]));
    m.expect_code(&out, 0);
    assert_eq!(
        tree_diff(&before, &snapshot(&m.to)),
        "",
        "the dry run changed the tree"
    );
    assert_eq!(
        fs::metadata(m.trace_path()).unwrap().modified().unwrap(),
        trace_mtime
    );
    assert_eq!(
        count_lines(&m.log(), DRY_RUN_LINE),
        2,
        "{}",
        m.diagnostics(&out)
    );

    // and the real one brings v2
    let out = m.run(&[]);
    m.expect_code(&out, 0);
    assert_same_tree(&up.root, &m.to, &m.name);
    assert_eq!(m.trace().req("Archive serial"), SERIAL_V2);
}

#[test]
fn dry_run_runs_no_hook_no_callback_and_pushes_nobody() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let marker = m.dir.join("hook-ran");
    let hook = format!("touch {}", shq(&marker.to_string_lossy()));
    // A hub whose push would fail (no push key: runmirrors exits 5, and so would we).
    m.write_conf(
        &m.conf(&up.url())
            .set("HUB", "true")
            .set("HOOK1", hook.clone())
            .set("HOOK4", hook.clone())
            .set("HOOK5", hook)
            .set("CALLBACKHOST", "callback.invalid")
            .set("CALLBACKKEY", m.dir.join("no-key").to_string_lossy()),
    );
    m.write_conf_file(
        "runmirrors.conf",
        &Conf::default()
            .set("MAILTO", "")
            .set("KEYFILE", m.dir.join("no-such-key").to_string_lossy()),
    );
    m.write_raw("runmirrors.mirror", "all d 127.0.0.1 nobody\n");

    let out = m.run(&["--dry-run", "sync:all", "sync:callback"]);
    m.expect_code(&out, 0);
    assert_dry_stages(&m, &out);
    let log = m.log();
    assert!(!marker.exists(), "a hook ran\n{log}");
    assert!(log.contains("Dry run: HOOK1 is not run"), "{log}");
    assert!(!log.contains("Trigger slave"), "{log}");
    assert!(!log.contains("Calling back"), "{log}");
    assert!(snapshot(&m.to).is_empty(), "{:?}", snapshot(&m.to).keys());

    // The same without --dry-run does all of it (and fails on the push): the test can fail.
    let out = m.run(&["sync:all"]);
    m.expect_code(&out, 5);
    assert!(marker.exists());
    assert!(m.log().contains("Trigger slave"));
}

#[test]
fn dry_run_takes_the_lock_like_a_real_run() {
    let up = Upstream::v1();
    let m = Mirror::new();
    // An rsync that waits for a release file before running (its --version answers at once).
    let started = m.dir.join("rsync.started");
    let release = m.dir.join("rsync.release");
    let slow = m.dir.join("slow-rsync");
    write_script(
        &slow,
        &format!(
            "if [ \"$1\" = --version ]; then exec {rsync} \"$@\"; fi\n\
             touch {s}\ni=0\nwhile [ ! -e {r} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done\n\
             exec {rsync} \"$@\"",
            rsync = rsync_bin(),
            s = shq(&started.to_string_lossy()),
            r = shq(&release.to_string_lossy())
        ),
    );
    m.write_conf(&m.conf(&up.url()).set("RSYNC", slow.to_string_lossy()));

    let dry = m.spawn(&["--dry-run"], &[]);
    wait_for(Duration::from_secs(30), "the dry run's rsync", || {
        started.exists()
    });
    assert!(m.lock_path().exists());
    // A real run meets the lock: exit 1, its push is queued in Update-Required.
    let out = m.run(&[]);
    m.expect_code(&out, 1);
    assert!(
        out.stdout
            .contains("Unable to start rsync, lock file still exists"),
        "{}",
        m.diagnostics(&out)
    );
    fs::write(&release, "").unwrap();
    let out = dry.wait(RUN_TIMEOUT);
    m.expect_code(&out, 0);
    assert!(!m.lock_path().exists());
    // The queued push made the dry run go round again, still dry: nothing synced (the
    // real run that met the lock made project/trace/; no file is there).
    assert!(
        count_lines(&m.log(), ": Running stage1: ") >= 2,
        "{}",
        m.log()
    );
    let files = non_dirs(&snapshot(&m.to));
    assert!(files.is_empty(), "{:?}", files.keys());
}

#[test]
fn an_upstream_cannot_ask_for_a_dry_run() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    let out = m.run_env(&[], &[("SSH_ORIGINAL_COMMAND", "--dry-run sync:all")]);
    m.expect_code(&out, 0);
    let log = m.log();
    assert!(log.contains("Unknown option --dry-run ignored"), "{log}");
    assert!(!log.contains(DRY_RUN_LINE), "{log}");
    assert_same_tree(&up.root, &m.to, &m.name);
    assert!(m.trace_path().exists());
}
