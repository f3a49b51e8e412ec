//! `archvsync status` and the metrics (issue 5): after no run, a success, a failure, during a
//! run, with --max-age, --json fields, Prometheus output checked by the real promtool, and
//! downstream push results recorded by runmirrors and its supervisors.

mod common;
use common::sshd::*;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn status(m: &Mirror, args: &[&str]) -> RunOutput {
    let mut all = vec!["status"];
    all.extend_from_slice(args);
    m.run_cmd(m.command_prog(&m.link_bin("archvsync"), &all))
}

fn json(m: &Mirror) -> (Option<i32>, Vec<Value>) {
    let out = status(m, &["--json"]);
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", out.stdout, out.stderr));
    (out.code, v.as_array().expect("an array").clone())
}

fn promtool() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/prometheus/usr/bin/promtool");
    assert!(
        p.exists(),
        "{} missing: run scripts/setup-deps",
        p.display()
    );
    p
}

/// `promtool check metrics` must accept the text (it parses it the way Prometheus does and
/// lints HELP/TYPE); we also refuse duplicate series ourselves.
fn check_prometheus(text: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool rejected:\n{text}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut seen = std::collections::BTreeSet::new();
    for l in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let series = l.rsplit_once(' ').unwrap().0;
        assert!(seen.insert(series.to_string()), "duplicate series {series}");
    }
}

#[test]
fn status_before_any_run_is_unknown() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    let out = status(&m, &[]);
    assert_eq!(out.code, Some(3), "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.starts_with("ARCHIVE"), "{}", out.stdout);
    assert!(out.stdout.contains("never"), "{}", out.stdout);
    assert!(
        !out.stdout.contains('\x1b'),
        "no colour when not on a terminal"
    );
    let (code, v) = json(&m);
    assert_eq!(code, Some(3));
    assert_eq!(v[0]["health"], "never");
    assert!(v[0]["last_run"].is_null());
}

#[test]
fn status_after_success_failure_and_during_a_run() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    m.expect_code(&m.run(&["-T", "manual"]), 0);

    let out = status(&m, &[]);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("(default)  ok"), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!("{SERIAL_V1}/{SERIAL_V1}")),
        "{}",
        out.stdout
    );

    // Every documented field, with its type.
    let (code, v) = json(&m);
    assert_eq!(code, Some(0));
    let a = &v[0];
    for (k, want) in [
        ("name", "string"),
        ("archive", "string"),
        ("config", "string"),
        ("mirrorname", "string"),
        ("to", "string"),
        ("health", "string"),
        ("problem", "null"),
        ("last_success_age_seconds", "number"),
        ("serial", "object"),
        ("in_progress", "null"),
        ("last_run", "object"),
        ("last_success", "object"),
        ("last_push", "null"),
        ("downstreams", "object"),
    ] {
        let got = match &a[k] {
            Value::Null => "null",
            Value::String(_) => "string",
            Value::Number(_) => "number",
            Value::Object(_) => "object",
            Value::Array(_) => "array",
            Value::Bool(_) => "bool",
        };
        assert_eq!(got, want, "field {k} in {a:#}");
    }
    let run = &a["last_run"];
    for k in [
        "started",
        "ended",
        "trigger",
        "pushed_from",
        "request",
        "result",
        "exit_status",
        "stage1_seconds",
        "stage2_seconds",
        "bytes_received",
        "archive_serial",
        "passes",
        "uip_retries",
        "dry_run",
    ] {
        assert!(run.get(k).is_some(), "last_run lacks {k}: {run:#}");
    }
    // How it synced (the test upstream publishes no change journal).
    assert_eq!(run["sync_kind"], "full", "{run:#}");
    assert_eq!(run["full_sync_reason"], "none", "{run:#}");
    assert!(run.get("journal_paths").is_none(), "{run:#}");
    assert!(out.stdout.contains(" SYNC "), "{}", out.stdout);
    // Nor was it an index sync: the first sync of a tree has nothing to compare with.
    assert!(
        out.stdout.contains("full (none; index: first)"),
        "{}",
        out.stdout
    );
    assert_eq!(a["health"], "ok");
    assert_eq!(run["result"], "success");
    assert_eq!(run["trigger"], "manual");
    assert_eq!(run["request"], "all");
    assert_eq!(run["passes"], 1);
    assert_eq!(run["archive_serial"], SERIAL_V1);
    assert!(run["bytes_received"].as_u64().unwrap() > 0);
    assert_eq!(a["serial"]["ours"], SERIAL_V1);
    assert_eq!(a["name"], "ftpsync");

    // A failure: the upstream is gone.
    let dead = format!("rsync://127.0.0.1:{}/debian/", free_port());
    m.write_conf(&m.conf(&dead));
    m.expect_code(&m.run(&[]), 3);
    let out = status(&m, &[]);
    assert_eq!(out.code, Some(2), "{}", out.stdout);
    assert!(out.stdout.contains("FAILED exit 3"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("the last run failed with exit status 3"),
        "{}",
        out.stdout
    );
    let (_, v) = json(&m);
    assert_eq!(v[0]["health"], "failed");
    assert_eq!(
        v[0]["last_success"]["result"], "success",
        "the last success is kept"
    );

    // During a run: the lock holder is shown; the health is still the last run's.
    let (hook, started, release) = waiting_hook(&m.dir);
    m.write_conf(&m.conf(&up.url()).set("HOOK1", hook.to_string_lossy()));
    let mut running = m.spawn(&[], &[]);
    running.reaches(&started, "HOOK1");
    let (code, v) = json(&m);
    assert_eq!(code, Some(2));
    assert_eq!(v[0]["in_progress"]["pid"], running.pid().to_string());
    assert!(v[0]["in_progress"]["since"].as_i64().unwrap() > 0);
    let out = status(&m, &[]);
    assert!(
        out.stdout.contains(&format!("pid {}", running.pid())),
        "{}",
        out.stdout
    );
    std::fs::write(&release, "").unwrap();
    m.expect_code(&running.wait(RUN_TIMEOUT), 0);
    assert_eq!(status(&m, &[]).code, Some(0));
}

#[test]
fn max_age_turns_an_old_success_into_a_failure() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    m.expect_code(&m.run(&[]), 0);
    // Age the record by three days.
    let p = m.logdir().join("ftpsync.state.json");
    let mut st: Value = serde_json::from_str(&read_string(&p)).unwrap();
    for k in ["last_run", "last_success"] {
        for t in ["started", "ended"] {
            let v = st[k][t].as_i64().unwrap() - 3 * 86400;
            st[k][t] = v.into();
        }
    }
    std::fs::write(&p, serde_json::to_string(&st).unwrap()).unwrap();
    let out = status(&m, &[]);
    assert_eq!(out.code, Some(2), "{}", out.stdout);
    assert!(out.stdout.contains("stale"), "{}", out.stdout);
    assert_eq!(status(&m, &["--max-age", "4d"]).code, Some(0));
    assert_eq!(status(&m, &["--max-age", "3600"]).code, Some(2));
    // A bad option value is bad usage: 64, like every command's.
    assert_eq!(status(&m, &["--max-age", "soon"]).code, Some(64));
}

#[test]
fn metrics_file_and_prometheus_output_pass_promtool_and_change_after_a_run() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let metrics = m.dir.join("archvsync.prom");
    m.write_conf(
        &m.conf(&up.url())
            .set("METRICS_FILE", metrics.to_string_lossy()),
    );
    m.expect_code(&m.run(&[]), 0);
    let first = read_string(&metrics);
    check_prometheus(&first);
    for name in [
        "archvsync_last_success_timestamp_seconds{",
        "archvsync_last_run_duration_seconds{",
        "stage=\"stage1\"",
        "stage=\"stage2\"",
        "archvsync_last_run_received_bytes{",
        "archvsync_last_run_success{",
        "archvsync_archive_serial{",
    ] {
        assert!(first.contains(name), "{name} missing in\n{first}");
    }
    assert!(
        first.contains(&format!(
            "archvsync_archive_serial{{name=\"ftpsync\",mirror=\"{MIRRORNAME}\"}} {SERIAL_V1}"
        )),
        "{first}"
    );

    build_archive(&up.root, &ArchiveSpec::v2());
    std::thread::sleep(Duration::from_millis(1100));
    m.expect_code(&m.run(&[]), 0);
    let second = read_string(&metrics);
    check_prometheus(&second);
    assert_ne!(first, second, "the metrics file must change after a run");
    assert!(second.contains(&format!("}} {SERIAL_V2}")), "{second}");

    // A second archive: status --prometheus has each family once, with both series.
    m.write_conf_file(
        "ftpsync-extra.conf",
        &m.conf(&up.url()).set("MIRRORNAME", "extra.test"),
    );
    let out = status(&m, &["--prometheus"]);
    check_prometheus(&out.stdout);
    assert_eq!(
        count_lines(&out.stdout, "# TYPE archvsync_last_run_success "),
        1
    );
    assert!(out.stdout.contains("name=\"ftpsync\""));
    assert!(
        out.stdout
            .contains("archvsync_healthy{name=\"ftpsync-extra\",mirror=\"extra.test\"} 0"),
        "{}",
        out.stdout
    );
}

#[test]
fn downstream_push_results_are_recorded() {
    let up = Upstream::v1();
    let hub = Downstream::builder("hub.test")
        .source(&up.url())
        .hub()
        .serve()
        .pusher()
        .start();
    let leaf = Downstream::builder("leaf.test")
        .source(&hub.rsync_url())
        .pushed_by(hub.key())
        .start();
    let dead = free_port();
    hub.write_mirrors(&[
        leaf.host_line("all", "leaf"),
        format!("all dead 127.0.0.1 root -p {dead}"),
    ]);
    let out = hub.m.run(&[]);
    hub.m.expect_code(&out, 0);
    wait_synced(&leaf, Duration::from_secs(30), &[&hub, &leaf]);
    // The supervisor notes the leaf's final exit status once its session ends.
    let state = hub.m.logdir().join("ftpsync.state.json");
    wait_for(
        Duration::from_secs(30),
        "the supervisor's final record",
        || read_string(&state).contains("\"finished_exit_status\": 0"),
    );
    let (code, v) = json(&hub.m);
    assert_eq!(code, Some(0));
    let ds = &v[0]["downstreams"];
    assert_eq!(ds["leaf"]["outcome"], "accepted", "{ds:#}");
    assert_eq!(ds["leaf"]["finished_exit_status"], 0);
    assert_eq!(
        ds["leaf"]["words"],
        serde_json::json!(["sync:archive:", "sync:all"])
    );
    assert_eq!(ds["dead"]["outcome"], "failed");
    assert_eq!(ds["dead"]["exit_status"], 255);
    assert_eq!(v[0]["last_push"]["triggers"], 2);
    assert_eq!(v[0]["last_push"]["failed"], 1);
    let out = status(&hub.m, &[]);
    assert!(
        out.stdout.contains("1/2 ok, failed: dead"),
        "{}",
        out.stdout
    );
    let out = status(&hub.m, &["--prometheus"]);
    check_prometheus(&out.stdout);
    assert!(out.stdout.contains("archvsync_downstream_trigger_success{name=\"ftpsync\",mirror=\"hub.test\",downstream=\"dead\"} 0"), "{}", out.stdout);
}

#[test]
fn a_dry_run_leaves_the_state_record_alone() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    m.expect_code(&m.run(&[]), 0);
    let p = m.logdir().join("ftpsync.state.json");
    let before = read_string(&p);
    build_archive(&up.root, &ArchiveSpec::v2());
    m.expect_code(&m.run(&["--dry-run"]), 0);
    assert_eq!(read_string(&p), before);
    assert!(m.log().contains("Dry run: the state record is not updated"));
}

/// The metrics a run writes describe it finished: `archvsync_sync_in_progress` is 0 once
/// the run is over, also when it failed (the metrics used to be gathered while the run still
/// held its own lock, so every failed or interrupted run left a 1 behind).
#[test]
fn metrics_after_a_failed_run_say_no_sync_is_in_progress() {
    let m = Mirror::new();
    let metrics = m.dir.join("archvsync.prom");
    let dead = format!("rsync://127.0.0.1:{}/debian/", free_port());
    m.write_conf(&m.conf(&dead).set("METRICS_FILE", metrics.to_string_lossy()));
    m.expect_code(&m.run(&[]), 3);
    let text = read_string(&metrics);
    check_prometheus(&text);
    let series = format!("archvsync_sync_in_progress{{name=\"ftpsync\",mirror=\"{MIRRORNAME}\"}}");
    assert!(
        text.contains(&format!("{series} 0\n")),
        "{series} should be 0 after the run:\n{text}"
    );
    assert!(
        text.contains(&format!(
            "archvsync_last_run_exit_status{{name=\"ftpsync\",mirror=\"{MIRRORNAME}\"}} 3\n"
        )),
        "{text}"
    );
}

/// A state record that does not parse is not silently replaced (which lost last_success):
/// it is kept aside as `.corrupt-TIMESTAMP`, the log says so, and a new record is started.
#[test]
fn a_corrupt_state_record_is_kept_aside_with_a_warning() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    let p = m.logdir().join("ftpsync.state.json");
    let garbage = "{\"schema\": 1, \"last_success\": {\"started\": 17";
    std::fs::write(&p, garbage).unwrap();
    // Before any run: not "never", but a record that cannot be read.
    let (code, v) = json(&m);
    assert_eq!(code, Some(3));
    assert_eq!(v[0]["health"], "unknown");
    assert!(
        v[0]["problem"]
            .as_str()
            .is_some_and(|p| p.contains("does not parse")),
        "{:#}",
        v[0]
    );
    let out = m.run(&[]);
    m.expect_code(&out, 0);
    let aside: Vec<PathBuf> = std::fs::read_dir(m.logdir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("ftpsync.state.json.corrupt-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "{}", m.diagnostics(&out));
    assert_eq!(read_string(&aside[0]), garbage, "kept as it was");
    let log = m.log();
    let warning = log
        .lines()
        .find(|l| l.contains("warning:") && l.contains("state record"))
        .unwrap_or_else(|| panic!("no warning about the state record in\n{log}"));
    assert!(
        warning.contains(&aside[0].display().to_string()),
        "the warning names where the record went: {warning}"
    );
    // The new record is whole and says what this run did.
    let (_, v) = json(&m);
    assert_eq!(v[0]["last_run"]["result"], "success");
    assert_eq!(v[0]["health"], "ok");
}

/// A leaf of an archvsync hub: status, --json and the metrics say it synced by the hub's
/// change journal, and how many paths; before that, that and why its first sync was full.
#[test]
fn status_and_metrics_say_how_a_run_synced() {
    let up = Upstream::v1();
    let hub = Mirror::new();
    hub.write_conf(&hub.conf(&up.url()).set("MIRRORNAME", "hub.test.example"));
    let hub_daemon = RsyncDaemon::start(&[("debian", &hub.to)]);
    let m = Mirror::new();
    let metrics = m.dir.join("archvsync.prom");
    m.write_conf(
        &m.conf(&hub_daemon.url("debian"))
            .set("METRICS_FILE", metrics.to_string_lossy()),
    );
    hub.expect_code(&hub.run(&[]), 0);
    m.expect_code(&m.run(&[]), 0);
    let text = read_string(&metrics);
    check_prometheus(&text);
    let labels = format!("{{name=\"ftpsync\",mirror=\"{MIRRORNAME}\"");
    assert!(
        text.contains(&format!("archvsync_last_run_journal_sync{labels}}} 0"))
            && text.contains(&format!(
                "archvsync_last_run_full_sync{labels},reason=\"first\"}} 1"
            )),
        "{text}"
    );
    build_archive(&up.root, &ArchiveSpec::v2());
    hub.expect_code(&hub.run(&[]), 0);
    m.expect_code(&m.run(&[]), 0);
    let (_, v) = json(&m);
    let run = &v[0]["last_run"];
    assert_eq!(run["sync_kind"], "journal", "{run:#}");
    // Both stages over the journal's lists: none fell back to a full walk.
    assert_eq!(
        run["journal_stages"],
        serde_json::json!(["stage1", "stage2"]),
        "{run:#}"
    );
    assert!(run.get("full_sync_reason").is_none(), "{run:#}");
    let paths = run["journal_paths"].as_u64().unwrap();
    assert!(paths > 10, "{run:#}");
    let out = status(&m, &[]);
    assert!(
        out.stdout.contains(&format!("journal ({paths} paths)")),
        "{}",
        out.stdout
    );
    let text = read_string(&metrics);
    check_prometheus(&text);
    assert!(
        text.contains(&format!("archvsync_last_run_journal_sync{labels}}} 1"))
            && text.contains(&format!(
                "archvsync_last_run_journal_paths{labels}}} {paths}"
            ))
            && !text.contains("archvsync_last_run_full_sync"),
        "{text}"
    );
}

/// `status --downstreams`: every downstream of runmirrors.mirror with an http line is
/// checked as check-mirror does, against a real nginx serving mirrors archvsync synced;
/// the table and JSON show each one's serial lag and age, METRICS_FILE gets the same.
#[test]
fn status_downstreams_checks_each_http_downstream_for_lag_and_age() {
    use common::nginx::*;
    let hour = 3600;
    // We and down1 carry the master trace of an hour ago; down2 one of seven hours ago.
    let t0 = now_epoch();
    let up = upstream_dated(SERIAL_V2, t0 - hour);
    let up_old = upstream_dated(SERIAL_V1, t0 - 7 * hour);
    let hub = Mirror::new();
    let metrics = hub.dir.join("archvsync.prom");
    hub.write_conf(
        &hub.conf(&up.url())
            .set("METRICS_FILE", metrics.to_string_lossy()),
    );
    hub.expect_code(&hub.run(&["sync:all"]), 0);
    let down1 = synced_mirror(&up, "down1.test.example", &[]);
    let down2 = synced_mirror(&up_old, "down2.test.example", &[]);
    let web = Nginx::start(&[("/down1/", &down1.to), ("/down2/", &down2.to)]);
    // A mirror that pushes nobody has nothing to check, which is no problem.
    let out = status(&hub, &["--downstreams"]);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("no runmirrors config, so no downstreams to check"),
        "{}",
        out.stdout
    );
    let nobody_there = format!("http://127.0.0.1:{}/debian/", free_port());
    hub.write_raw("runmirrors.conf", "MAILTO=\"\"\nKEYFILE=/nonexistent/key\n");
    hub.write_raw(
        "runmirrors.mirror",
        &format!(
            "all down1 down1.test.example mirror\n\
             http down1 {}\n\
             staged down2 ssh+ftpsync://mirror@down2.test.example\n\
             http down2 {} down2.test.example\n\
             all down3 down3.test.example mirror\n\
             http down3 {nobody_there}\n\
             all down4 down4.test.example mirror\n",
            web.url("/down1/"),
            web.url("/down2/")
        ),
    );

    let out = status(&hub, &["--downstreams"]);
    // down3 cannot be reached: CRITICAL.
    assert_eq!(out.code, Some(2), "{}\n{}", out.stdout, out.stderr);
    let row = |name: &str| -> Vec<String> {
        out.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{}", out.stdout))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        row("down1")[..4],
        ["down1", "ok", &format!("{SERIAL_V2}/{SERIAL_V2}"), "0s"],
        "{}",
        out.stdout
    );
    assert_eq!(
        row("down2")[..4],
        ["down2", "ok", &format!("{SERIAL_V1}/{SERIAL_V2}"), "6h00m"],
        "{}",
        out.stdout
    );
    assert_eq!(row("down3")[1], "error", "{}", out.stdout);
    assert!(
        out.stdout
            .contains("down3: error: mirror-status master trace: cannot fetch")
            && out.stdout.contains("Connection refused"),
        "{}",
        out.stdout
    );
    // Without an http line a downstream is pushed but not checked.
    assert!(!out.stdout.contains("down4"), "{}", out.stdout);

    // Recorded: status --json shows the last checks without checking again.
    let (_, v) = json(&hub);
    let checks = v[0]["downstream_checks"]["downstreams"]
        .as_array()
        .unwrap_or_else(|| panic!("{:#}", v[0]));
    let by_name = |n: &str| checks.iter().find(|c| c["name"] == n).unwrap().clone();
    let (d1, d2, d3) = (by_name("down1"), by_name("down2"), by_name("down3"));
    assert_eq!(d1["serial_lag_seconds"], 0);
    assert_eq!(d2["serial_lag_seconds"], 6 * hour);
    assert_eq!(d2["serial"], SERIAL_V1);
    assert_eq!(d2["our_serial"], SERIAL_V2);
    assert_eq!(d2["site"], "down2.test.example");
    assert_eq!(d1["site"], "down1.test.example");
    let age = d2["age_seconds"].as_i64().unwrap();
    assert!((7 * hour - 60..7 * hour + 600).contains(&age), "{d2:#}");
    assert_eq!(d3["status"], "error");
    assert!(d3["serial_lag_seconds"].is_null());

    // METRICS_FILE has the same per downstream, as Prometheus reads it.
    let text = read_string(&metrics);
    check_prometheus(&text);
    for want in [
        "archvsync_downstream_check_status{name=\"ftpsync\",mirror=\"mirror.test.example\",downstream=\"down1\"} 0".to_string(),
        "archvsync_downstream_check_status{name=\"ftpsync\",mirror=\"mirror.test.example\",downstream=\"down3\"} 2".to_string(),
        format!("archvsync_downstream_serial_lag_seconds{{name=\"ftpsync\",mirror=\"mirror.test.example\",downstream=\"down2\"}} {}", 6 * hour),
        format!("archvsync_downstream_archive_serial{{name=\"ftpsync\",mirror=\"mirror.test.example\",downstream=\"down2\"}} {SERIAL_V1}"),
    ] {
        assert!(text.contains(&want), "{want} missing:\n{text}");
    }
    // ... and keeps it across the next run's METRICS_FILE write.
    hub.expect_code(&hub.run(&["sync:all"]), 0);
    let text = read_string(&metrics);
    assert!(
        text.contains("archvsync_downstream_age_seconds{name=\"ftpsync\",mirror=\"mirror.test.example\",downstream=\"down2\"}"),
        "{text}"
    );
    check_prometheus(&text);
}
