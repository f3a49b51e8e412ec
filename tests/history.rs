//! The archive's history, `LOGDIR/ftpsync.history.jsonl` (issue 21): what a run and a push
//! add to it, and that it stays whole and bounded when its writers are killed with SIGKILL,
//! a line is cut short, many runs pile up, or there is no history yet beside an old state
//! record. Every writer here is the real program: ftpsync against a real rsync daemon,
//! runmirrors and its push follower against a real sshd.

mod common;
use common::sshd::*;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn history_path(m: &Mirror) -> PathBuf {
    m.logdir().join("ftpsync.history.jsonl")
}

/// Every line of the history: the record, or the line as it is when it does not parse.
fn lines(path: &Path) -> Vec<Result<Value, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).map_err(|_| l.to_string()))
        .collect()
}

/// The records of the history, each checked to be a whole record of its kind.
fn records(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "the history does not end with a whole line:\n{text}"
    );
    lines(path)
        .into_iter()
        .filter_map(Result::ok)
        .inspect(whole)
        .collect()
}

/// A record with every field its kind always has.
fn whole(r: &Value) {
    let fields: &[&str] = match r["type"].as_str() {
        Some("run") => &[
            "started",
            "ended",
            "result",
            "exit_status",
            "request",
            "bytes_received",
            "stage1_seconds",
            "stage2_seconds",
        ],
        Some("push") => &[
            "at",
            "downstream",
            "host",
            "stage",
            "outcome",
            "duration_seconds",
        ],
        _ => panic!("a record of no known type: {r}"),
    };
    for f in fields {
        assert!(r.get(*f).is_some(), "{f} missing in {r}");
    }
}

fn status_json(m: &Mirror) -> (Option<i32>, Value) {
    let out = m.run_cmd(m.command_prog(&m.link_bin("archvsync"), &["status", "--json"]));
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", out.stdout, out.stderr));
    (out.code, v[0].clone())
}

fn state(m: &Mirror) -> Value {
    serde_json::from_str(&read_string(&m.logdir().join("ftpsync.state.json"))).unwrap()
}

/// The upstream's master trace says `Date: Fri, 21 Nov 2026 08:00:00 +0000` (v1).
fn v1_master_date() -> i64 {
    days_from_civil(2026, 11, 21) * 86400 + 8 * 3600
}

/// A run's record says what its state record says, and what only the history keeps.
#[test]
fn a_run_adds_one_record_with_its_lag_and_changes_and_a_dry_run_none() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    m.expect_code(&m.run(&["sync:all"]), 0);
    let r = records(&history_path(&m));
    assert_eq!(r.len(), 1, "{r:#?}");
    let st = state(&m);
    let run = &st["last_run"];
    for k in [
        "started",
        "ended",
        "result",
        "exit_status",
        "request",
        "bytes_received",
        "archive_serial",
    ] {
        assert_eq!(r[0][k], run[k], "{k}: {:#} vs {run:#}", r[0]);
    }
    assert_eq!(r[0]["type"], "run");
    assert_eq!(r[0]["master_date"], v1_master_date(), "{:#}", r[0]);
    // The first sync creates every file and link of the upstream's tree but the two that
    // the mirror writes itself and rsync leaves alone.
    let files = up
        .tree()
        .iter()
        .filter(|(p, n)| {
            !n.is_dir() && *p != "project/trace/_hierarchy" && *p != "project/trace/_traces"
        })
        .count() as u64;
    assert_eq!(r[0]["files_changed"].as_u64(), Some(files), "{:#}", r[0]);

    // A dry run adds nothing.
    build_archive(&up.root, &ArchiveSpec::v2());
    let before = read_string(&history_path(&m));
    m.expect_code(&m.run(&["--dry-run"]), 0);
    assert_eq!(read_string(&history_path(&m)), before);
    m.expect_code(&m.run(&["sync:all"]), 0);
    let r = records(&history_path(&m));
    assert_eq!(r.len(), 2);
    assert!(r[1]["files_changed"].as_u64().unwrap() > 0, "{:#}", r[1]);
    assert_eq!(r[1]["archive_serial"], SERIAL_V2);
    // Nothing changed upstream: the one file rsync changes is project/trace/_hierarchy.mirror,
    // the upstream's, which every run of ours replaces with its own copy of _hierarchy.
    m.expect_code(&m.run(&["sync:all"]), 0);
    let r = records(&history_path(&m));
    assert_eq!(r.len(), 3);
    let rsync_log = m.read_log_file("rsync-ftpsync.log");
    assert_eq!(
        r[2]["files_changed"],
        1,
        "{:#}\n{}",
        r[2],
        tail(&rsync_log, 3000)
    );
    let last_transfer = rsync_log.lines().rfind(|l| l.contains("] >f")).unwrap();
    assert!(
        last_transfer.ends_with(" project/trace/_hierarchy.mirror"),
        "{last_transfer}"
    );
    let (_, s) = status_json(&m);
    assert_eq!(
        s["history"],
        Value::Array(r),
        "status --json shows them all"
    );
}

/// (a) An ftpsync killed with SIGKILL mid-run leaves no record, not even part of one; the
/// next run's is there, whole.
#[test]
fn a_run_killed_with_sigkill_leaves_no_partial_record() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    m.expect_code(&m.run(&["sync:all"]), 0);
    let (hook, started, _release) = waiting_hook(&m.dir);
    m.write_conf(&m.conf(&up.url()).set("HOOK1", hook.to_string_lossy()));
    let mut running = m.spawn(&["sync:all"], &[]);
    assert!(running.reaches(&started, "HOOK1"));
    let killed_at = now_epoch();
    running.kill9_and_reap();
    assert_eq!(records(&history_path(&m)).len(), 1);

    std::thread::sleep(Duration::from_millis(1100));
    m.write_conf(&m.conf(&up.url()));
    m.expect_code(&m.run(&["sync:all"]), 0);
    let path = history_path(&m);
    assert!(lines(&path).iter().all(Result::is_ok), "{:?}", lines(&path));
    let r = records(&path);
    assert_eq!(r.len(), 2, "{r:#?}");
    assert!(r.iter().all(|x| x["result"] == "success"), "{r:#?}");
    assert!(
        r[1]["started"].as_i64().unwrap() > killed_at,
        "the second record is the next run's: {r:#?}"
    );
}

/// SIGKILL at moments spread over whole runs, the end included, where the state record and
/// the history are written: whatever a killed writer left, the next run's record starts a
/// line of its own and every record that parses is whole.
#[test]
fn runs_killed_at_any_moment_never_spoil_the_next_record() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    let t = Instant::now();
    m.expect_code(&m.run(&["sync:all"]), 0);
    let span = t.elapsed();
    let kills = 8u32;
    for i in 0..kills {
        let running = m.spawn(&["sync:all"], &[]);
        std::thread::sleep(span * (i + 3) / (kills + 2));
        running.kill9_and_reap();
        // An rsync of the killed run dies with it; the next run finds the stale lock.
    }
    m.expect_code(&m.run(&["sync:all"]), 0);
    let path = history_path(&m);
    let all = lines(&path);
    let cut = all.iter().filter(|l| l.is_err()).count();
    assert!(cut <= kills as usize, "{all:?}");
    assert!(
        all.last().is_some_and(Result::is_ok),
        "the last run's record is whole: {all:?}"
    );
    let r = records(&path);
    assert!(r.len() >= 2, "{r:#?}");
    assert_eq!(
        r.last().unwrap()["started"],
        state(&m)["last_run"]["started"]
    );
}

/// (b) Half a line left by a write cut short (as a writer killed mid-write leaves it) is
/// skipped by every reader, and the next run's record is whole after it.
#[test]
fn a_half_written_line_is_skipped_and_the_next_record_parses() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    m.expect_code(&m.run(&["sync:all"]), 0);
    let path = history_path(&m);
    let text = read_string(&path);
    let whole_line = text.lines().next().unwrap();
    let half = &whole_line[..whole_line.len() / 2];
    std::fs::write(&path, format!("{text}{half}")).unwrap();
    let (code, s) = status_json(&m);
    assert_eq!(code, Some(0));
    assert_eq!(s["history"].as_array().unwrap().len(), 1, "{s:#}");

    m.expect_code(&m.run(&["sync:all"]), 0);
    let all = lines(&path);
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(all[1], Err(half.to_string()), "the cut line stays alone");
    assert!(all[0].is_ok() && all[2].is_ok(), "{all:?}");
    let r = records(&path);
    assert_eq!(r[1]["started"], state(&m)["last_run"]["started"]);
    let (_, s) = status_json(&m);
    assert_eq!(s["history"].as_array().unwrap().len(), 2, "{s:#}");
}

/// (c) HISTORY_ENTRIES bounds the file: 15 runs with 10 keep at most 12 records (a quarter
/// over, then rewritten), the newest; out-of-range values are refused with file and line.
#[test]
fn history_entries_bounds_the_file_and_out_of_range_values_are_refused() {
    let up = Upstream::v1();
    let m = Mirror::new();
    for (k, v) in [
        ("HISTORY_ENTRIES", "9"),
        ("HISTORY_ENTRIES", "1000001"),
        ("HISTORY_DAYS", "0"),
        ("HISTORY_DAYS", "-1"),
    ] {
        m.write_conf(&m.conf(&up.url()).set(k, v));
        let out = m.run(&["sync:all"]);
        assert_ne!(out.code, Some(0), "{k}={v} accepted");
        let conf = read_string(&m.etc().join("ftpsync.conf"));
        let line = conf
            .lines()
            .position(|l| l.starts_with(&format!("{k}=")))
            .unwrap()
            + 1;
        let want = format!("ftpsync.conf:{line}: {k}={v} is ");
        assert!(
            out.stderr.contains(&want),
            "{want:?} not in:\n{}",
            m.diagnostics(&out)
        );
    }
    assert!(!history_path(&m).exists(), "a refused run writes nothing");

    m.write_conf(&m.conf(&up.url()).set("HISTORY_ENTRIES", "10"));
    let mut most = 0;
    for _ in 0..15 {
        m.expect_code(&m.run(&["sync:all"]), 0);
        let n = lines(&history_path(&m)).len();
        most = most.max(n);
        assert!(n <= 12, "{n} records after a run");
    }
    assert_eq!(most, 12, "it grows to the bound and a quarter, then is cut");
    let r = records(&history_path(&m));
    assert!((10..=12).contains(&r.len()), "{}", r.len());
    assert_eq!(
        r.last().unwrap()["started"],
        state(&m)["last_run"]["started"],
        "the newest is kept"
    );
    let starts: Vec<i64> = r.iter().map(|x| x["started"].as_i64().unwrap()).collect();
    assert!(
        starts.windows(2).all(|w| w[0] <= w[1]),
        "oldest first: {starts:?}"
    );
}

/// (d) A state record of an earlier version, with no history beside it, still reads:
/// `status --json` shows it with an empty history, and the next run starts one.
#[test]
fn an_old_state_record_without_history_still_loads() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    let t = now_epoch() - 600;
    let old = format!(
        r#"{{
  "schema": 1,
  "name": "ftpsync",
  "mirrorname": "{MIRRORNAME}",
  "last_run": {{
    "started": {t},
    "ended": {end},
    "trigger": "cron",
    "pushed_from": null,
    "request": "all",
    "result": "success",
    "exit_status": 0,
    "stage1_seconds": 50,
    "stage2_seconds": 10,
    "bytes_received": 12345,
    "archive_serial": "{SERIAL_V1}",
    "passes": 1,
    "uip_retries": 0
  }},
  "last_success": null,
  "last_push": null
}}
"#,
        end = t + 60
    );
    std::fs::write(m.logdir().join("ftpsync.state.json"), old).unwrap();
    assert!(!history_path(&m).exists());
    let (code, s) = status_json(&m);
    assert_eq!(code, Some(0), "{s:#}");
    assert_eq!(s["history"], serde_json::json!([]));
    assert_eq!(s["last_run"]["ended"], t + 60);
    assert_eq!(s["health"], "ok");
    let table = m.run_cmd(m.command_prog(&m.link_bin("archvsync"), &["status"]));
    assert!(
        table.stdout.contains("(default)  ok"),
        "{}{}",
        table.stdout,
        table.stderr
    );
    m.expect_code(&m.run(&["sync:all"]), 0);
    let (_, s) = status_json(&m);
    assert_eq!(s["history"].as_array().unwrap().len(), 1, "{s:#}");
}

/// The follower's pid, from runmirrors' log line `Follower PID sends and follows ...`.
fn follower_pid(pusher: &Downstream) -> Option<u32> {
    pusher.runmirrors_log().lines().rev().find_map(|l| {
        let rest = l.split(": Follower ").nth(1)?;
        let (pid, tail) = rest.split_once(' ')?;
        tail.starts_with("sends and follows")
            .then(|| pid.parse().ok())
            .flatten()
    })
}

fn push_records(path: &Path) -> Vec<Value> {
    records(path)
        .into_iter()
        .filter(|r| r["type"] == "push")
        .collect()
}

/// (e) A push follower killed with SIGKILL while the downstreams' sessions end one after
/// another, each ending adding its record: the history holds only whole push records, one
/// per trigger that ended before the kill, and the next push's records are whole after
/// them.
#[test]
fn a_push_follower_killed_mid_write_leaves_only_whole_records() {
    // An ftpsync.conf too: runmirrors takes the history's bounds from it.
    let pusher = Downstream::builder("pusher.test")
        .source("rsync://127.0.0.1:9/debian")
        .set("HISTORY_ENTRIES", "1000")
        .pusher()
        .start();
    // d0*: the session ends at once; d1*, d2*: after 1 and 2 s; d3*: after 8 s.
    let dir = tempdir();
    let script = dir.path().join("forced-command");
    write_script(
        &script,
        "case \"$SSH_ORIGINAL_COMMAND\" in\n  *:d1*) sleep 1 ;;\n  *:d2*) sleep 2 ;;\n  *:d3*) sleep 8 ;;\nesac\n",
    );
    let sshd = Sshd::start(&forced_command_line(&script, pusher.key()));
    let names: Vec<String> = (0..4)
        .flat_map(|g| (0..8).map(move |i| format!("d{g}{i}")))
        .collect();
    pusher.write_mirrors(
        &names
            .iter()
            .map(|n| format!("all {n} ssh+ftpsync://root@127.0.0.1:{}/{n}", sshd.port))
            .collect::<Vec<_>>(),
    );
    let path = history_path(&pusher.m);
    let out = pusher.runmirrors(&[]);
    pusher.m.expect_code(&out, 0);
    let follower = follower_pid(&pusher).expect("the follower's pid in runmirrors.log");
    assert!(is_alive(follower), "the follower follows the sessions");
    // Kill it while the 1 s and 2 s sessions end and their records are written.
    wait_for(
        Duration::from_secs(20),
        "the first sessions' records",
        || push_records(&path).len() >= 8,
    );
    std::thread::sleep(Duration::from_millis(1200));
    kill_9(follower);
    wait_for(Duration::from_secs(10), "the follower to die", || {
        !is_alive(follower)
    });
    let r = push_records(&path);
    let all = lines(&path);
    assert!(all.iter().all(Result::is_ok), "{all:?}");
    let mut seen: Vec<&str> = r
        .iter()
        .map(|x| x["downstream"].as_str().unwrap())
        .collect();
    seen.sort();
    let before = seen.len();
    seen.dedup();
    assert_eq!(seen.len(), before, "one record per trigger: {r:#?}");
    assert!(
        (8..32).contains(&seen.len()),
        "the ended ones, not the 8 s sessions: {seen:?}"
    );
    assert!(seen.iter().all(|n| !n.starts_with("d3")), "{seen:?}");
    for x in &r {
        assert_eq!(x["host"], "127.0.0.1", "{x}");
        assert!(
            x["outcome"] == "delivered"
                || (x["outcome"] == "accepted" && x["finished_exit_status"] == 0),
            "{x}"
        );
    }

    // The next push (only fast ones) adds its records, whole, after them.
    pusher.write_mirrors(
        &["e0", "e1", "e2"]
            .iter()
            .map(|n| format!("all {n} ssh+ftpsync://root@127.0.0.1:{}/{n}", sshd.port))
            .collect::<Vec<_>>(),
    );
    let out = pusher.runmirrors(&[]);
    pusher.m.expect_code(&out, 0);
    wait_for(Duration::from_secs(20), "the next push's records", || {
        push_records(&path).len() >= before + 3
    });
    let all = lines(&path);
    assert!(all.iter().all(Result::is_ok), "{all:?}");
    let r = push_records(&path);
    let new: Vec<&str> = r[before..]
        .iter()
        .map(|x| x["downstream"].as_str().unwrap())
        .collect();
    let mut sorted = new.clone();
    sorted.sort();
    assert_eq!(sorted, ["e0", "e1", "e2"], "{r:#?}");
}

/// runmirrors bounds the history as the archive's ftpsync config says (HISTORY_ENTRIES=10
/// there): 20 triggers leave at most 12 records, the newest.
#[test]
fn runmirrors_keeps_the_history_within_the_archives_bounds() {
    let pusher = Downstream::builder("pusher.test")
        .source("rsync://127.0.0.1:9/debian")
        .set("HISTORY_ENTRIES", "10")
        .pusher()
        .start();
    let dir = tempdir();
    let script = dir.path().join("forced-command");
    write_script(&script, "exit 0\n");
    let sshd = Sshd::start(&forced_command_line(&script, pusher.key()));
    pusher.write_mirrors(
        &(0..20)
            .map(|i| {
                format!(
                    "all f{i:02} ssh+ftpsync://root@127.0.0.1:{}/f{i:02}",
                    sshd.port
                )
            })
            .collect::<Vec<_>>(),
    );
    let out = pusher.runmirrors(&[]);
    pusher.m.expect_code(&out, 0);
    wait_for(Duration::from_secs(20), "the follower to finish", || {
        pusher.runmirrors_log().contains("push-follower done")
    });
    let path = history_path(&pusher.m);
    let all = lines(&path);
    assert!(all.iter().all(Result::is_ok), "{all:?}");
    assert!(
        (10..=12).contains(&all.len()),
        "{} records: {all:?}",
        all.len()
    );
    // The newest are kept: the last trigger to end is the last record.
    let st: Value =
        serde_json::from_str(&read_string(&pusher.m.logdir().join("ftpsync.state.json"))).unwrap();
    let last = records(&path).pop().unwrap();
    let name = last["downstream"].as_str().unwrap();
    assert_eq!(last["at"], st["downstreams"][name]["at"], "{last}");
}
