//! The status page (issue 21), `status --html FILE` and STATUS_HTML, as a real browser
//! (headless Chromium) builds it: one section per archive, one chart point per run of the
//! history, the failed run marked, every downstream listed, every foreign string shown as
//! text; a screenshot of it is kept in target/test-artifacts/.

mod common;
use common::browser::{count_class, count_classes, dump_dom, element, screenshot};
use common::nginx::{upstream_dated, Nginx};
use common::sshd::*;
use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `archvsync status ARGS` of mirror `m`.
fn status(m: &Mirror, args: &[&str]) -> RunOutput {
    let mut all = vec!["status"];
    all.extend_from_slice(args);
    m.run_cmd(m.command_prog(&m.link_bin("archvsync"), &all))
}

/// `status --html PAGE ARGS`, which must exit with `code`; the page's path.
fn render(m: &Mirror, page: &Path, args: &[&str], code: i32) -> PathBuf {
    let mut all = vec!["--html", page.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = status(m, &all);
    assert_eq!(out.code, Some(code), "{}\n{}", out.stdout, out.stderr);
    // The page replaces the table.
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    page.to_path_buf()
}

/// The archive's section of the DOM (`data-archive=""` is ftpsync.conf's).
fn section<'a>(dom: &'a str, archive: &str) -> &'a str {
    let start = dom
        .match_indices("<section class=\"archive\"")
        .map(|(i, _)| i)
        .find(|i| {
            dom[*i..]
                .split('>')
                .next()
                .is_some_and(|tag| tag.contains(&format!("data-archive=\"{archive}\"")))
        })
        .unwrap_or_else(|| panic!("no section of archive {archive:?}:\n{}", tail(dom, 4000)));
    element(&dom[start..], "<section", "</section>")
}

fn history_path(m: &Mirror, name: &str) -> PathBuf {
    m.logdir().join(format!("{name}.history.jsonl"))
}

/// The run records of a history file.
fn history_runs(path: &Path) -> Vec<Value> {
    read_string(path)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "run")
        .collect()
}

/// The history file without its `n`th run record (counted from 0).
fn drop_run(path: &Path, n: usize) {
    let mut seen = 0;
    let kept: String = read_string(path)
        .lines()
        .filter(|l| {
            let run = serde_json::from_str::<Value>(l).is_ok_and(|v| v["type"] == "run");
            let drop = run && seen == n;
            seen += usize::from(run);
            !drop
        })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(path, kept).unwrap();
}

fn assert_png(png: &Path) {
    let size = std::fs::metadata(png).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 20_000,
        "{} is {size} bytes: too small for a page with tables and charts",
        png.display()
    );
}

fn state_of(m: &Mirror) -> Value {
    serde_json::from_str(&read_string(&m.logdir().join("ftpsync.state.json"))).unwrap_or_default()
}

/// The operator's view of real runs: a hub synced from a real rsync daemon three times (the
/// second failing: its upstream module is gone), pushing a leaf behind a real sshd and a
/// downstream that is down, the leaf checked over HTTP (nginx) by `status --downstreams`;
/// a second archive synced once. Needs the history writer (the runs in
/// `LOGDIR/NAME.history.jsonl`, each ftpsync run appending one).
#[test]
fn the_page_of_real_runs_shows_each_run_the_failure_and_every_downstream() {
    let up = upstream_dated(SERIAL_V1, now_epoch() - 3600);
    let auto_page = tempdir();
    let auto = auto_page.path().join("status.html");
    let hub = Downstream::builder("hub.test")
        .source(&up.url())
        .hub()
        .set("STATUS_HTML", auto.to_string_lossy())
        .start();
    let leaf = Downstream::builder("leaf.test")
        .source(&hub.rsync_url())
        .pushed_by(hub.key())
        .start();
    let web = Nginx::start(&[("/leaf/", &leaf.m.to)]);
    let dead = free_port();
    hub.write_mirrors(&[
        leaf.host_line("all", "leaf"),
        format!("http leaf {}", web.url("/leaf/")),
        format!("all dead 127.0.0.1 root -p {dead}"),
    ]);
    // A second archive of the same machine.
    let extra_to = hub.m.dir.join("extra-mirror");
    hub.m.write_conf_file(
        "ftpsync-extra.conf",
        &hub.m
            .conf(&up.url())
            .set("MIRRORNAME", "extra.test")
            .set("TO", extra_to.to_string_lossy()),
    );

    let leaf_done_after = |t: i64| {
        wait_for(
            Duration::from_secs(60),
            "the leaf's session to end (the supervisor's record)",
            || {
                let l = &state_of(&hub.m)["downstreams"]["leaf"];
                l["at"].as_i64().is_some_and(|at| at >= t) && l["finished_exit_status"] == 0
            },
        );
    };
    let t1 = now_epoch();
    hub.expect_code(&hub.m.run(&["sync:all"]), 0, &[&hub, &leaf]);
    leaf_done_after(t1);
    // ftpsync rewrote STATUS_HTML at the end of the run.
    assert!(
        read_string(&auto).contains("hub.test (default)"),
        "STATUS_HTML {} after a run:\n{}",
        auto.display(),
        read_string(&auto)
    );
    let gone = up.url().replace("/debian/", "/gone/");
    hub.write_ftpsync_conf(&hub.ftpsync_conf().set("RSYNC_SOURCE", gone));
    let failed = hub.m.run(&["sync:all"]);
    assert_ne!(failed.code, Some(0), "{}", hub.m.diagnostics(&failed));
    hub.write_ftpsync_conf(&hub.ftpsync_conf());
    let t3 = now_epoch();
    hub.expect_code(&hub.m.run(&["sync:all"]), 0, &[&hub, &leaf]);
    leaf_done_after(t3);
    hub.m.expect_code(&hub.m.run(&["sync:archive:extra"]), 0);
    let hub_runs = 3;

    let page = render(&hub.m, &hub.m.dir.join("page.html"), &["--downstreams"], 0);
    // status --downstreams rewrote STATUS_HTML too, with its checks.
    assert!(
        read_string(&auto).contains("status --downstreams</code>"),
        "{}",
        read_string(&auto)
    );
    let dom = dump_dom(&page);
    let png = common::browser::artifact_dir().join("status-page.png");
    screenshot(&page, &png, (1280, 2000));
    assert_png(&png);

    // A row and a section per archive.
    for archive in ["", "extra"] {
        let row = element(&dom, &format!("<tr data-archive=\"{archive}\">"), "</tr>");
        assert!(row.contains("✔</span> ok"), "{row}");
        section(&dom, archive);
    }
    let s = section(&dom, "");
    let history = history_path(&hub.m, "ftpsync");
    let recorded = history_runs(&history);
    assert_eq!(
        recorded.len(),
        hub_runs,
        "{} holds {} runs, {hub_runs} were made: is the history written (the history module's writer)?\n{}",
        history.display(),
        recorded.len(),
        read_string(&history)
    );
    // One point per run in each chart, lag known or not.
    assert_eq!(count_class(s, "lag-point"), hub_runs, "{s}");
    assert_eq!(count_class(s, "duration-point"), hub_runs, "{s}");
    assert_eq!(count_class(s, "run"), hub_runs, "{s}");
    // The failed run: its row, its points, in words and symbols.
    let failed_row = element(s, "<tr class=\"run failed\"", "</tr>");
    assert!(
        failed_row.contains("✖</span> failed</span>, exit "),
        "{failed_row}"
    );
    assert_eq!(s.matches("<tr class=\"run failed\"").count(), 1, "{s}");
    for chart in ["lag-point", "duration-point"] {
        assert_eq!(count_classes(s, &[chart, "failed"]), 1, "{s}");
    }
    // Every downstream, pushed or checked; the one that is down marked.
    let leaf_row = element(s, "<tr class=\"downstream ok\" data-name=\"leaf\"", "</tr>");
    assert!(leaf_row.contains("✔</span> accepted"), "{leaf_row}");
    assert!(leaf_row.contains("✔</span> exit 0 after"), "{leaf_row}");
    // Its check: ok, our serial, not behind.
    assert!(leaf_row.contains("✔</span> ok"), "{leaf_row}");
    assert!(
        leaf_row.contains(&format!("{SERIAL_V1} / {SERIAL_V1}")),
        "{leaf_row}"
    );
    let dead_row = element(
        s,
        "<tr class=\"downstream failed\" data-name=\"dead\"",
        "</tr>",
    );
    assert!(dead_row.contains("✖</span> failed"), "{dead_row}");
    assert!(dead_row.contains("no http line"), "{dead_row}");
    // The chain: the upstream's line, then ours.
    let chain = element(s, "<ol class=\"chain\">", "</ol>");
    let (u, us) = (
        chain.find("upstream.test.example").unwrap_or(usize::MAX),
        chain.find("<li class=\"us\"><strong>hub.test</strong>"),
    );
    assert!(us.is_some_and(|us| u < us), "{chain}");
    // The last push: the archive made, our trace, the push, the leaf triggered and done.
    let tl = element(s, "<ol class=\"timeline\">", "</ol>");
    for step in [
        "the archive is made",
        "our sync of it ends",
        "we push our downstreams",
        "<strong>leaf</strong> is triggered",
        "<strong>leaf</strong> ends its sync",
        "<strong>dead</strong> answers the trigger",
    ] {
        assert!(tl.contains(step), "{step} not in {tl}");
    }

    // The page follows the history: one run less, one point less.
    drop_run(&history, 0);
    let page = render(&hub.m, &hub.m.dir.join("page2.html"), &[], 0);
    let dom = dump_dom(&page);
    let s = section(&dom, "");
    assert_eq!(count_class(s, "lag-point"), hub_runs - 1, "{s}");
    assert_eq!(count_class(s, "duration-point"), hub_runs - 1, "{s}");
}

/// One history line as the history module documents it.
fn run_line(ended: i64, ok: bool, master_date: Option<i64>, why: &str) -> String {
    let mut v = json!({
        "type": "run",
        "started": ended - 30,
        "ended": ended,
        "result": if ok { "success" } else { "failure" },
        "exit_status": if ok { 0 } else { 10 },
        "request": "all",
        "sync_kind": "full",
        "full_sync_reason": why,
        "bytes_received": 1234,
        "stage1_seconds": 5,
        "stage2_seconds": 20,
        "archive_serial": SERIAL_V1,
    });
    if let Some(m) = master_date {
        v["master_date"] = json!(m);
    }
    v.to_string()
}

/// A real mirror and run, its history written by hand (seven runs of the last days, one
/// failed, one without a master trace, a hostile string in one) and a `_hierarchy` an
/// upstream filled with markup: Chromium finds one point per run, the failed run marked,
/// no element made of the foreign strings; one run less in the file, one point less on the
/// page. STATUS_HTML is rewritten by the run, and a page that cannot be written is an
/// UNKNOWN (3).
#[test]
fn the_page_of_a_hand_written_history_in_chromium() {
    let now = now_epoch();
    let up = upstream_dated(SERIAL_V1, now - 7200);
    let m = Mirror::new();
    let auto = m.dir.join("web/status.html");
    std::fs::create_dir_all(auto.parent().unwrap()).unwrap();
    m.write_conf(&m.conf(&up.url()).set("STATUS_HTML", auto.to_string_lossy()));
    m.expect_code(&m.run(&["sync:all"]), 0);
    assert!(
        read_string(&auto).contains("mirror.test.example (default)"),
        "{}",
        read_string(&auto)
    );

    let hostile = "<script>document.title='owned'</script><img src=x>";
    let lines = [
        run_line(now - 6 * 86400, true, Some(now - 6 * 86400 - 4000), "first"),
        run_line(now - 5 * 86400, true, None, "due"),
        run_line(now - 4 * 86400, true, Some(now - 4 * 86400 - 900), "due"),
        run_line(now - 3 * 86400, false, Some(now - 4 * 86400 - 900), hostile),
        run_line(now - 2 * 86400, true, Some(now - 2 * 86400 - 1800), "due"),
        run_line(now - 86400, true, Some(now - 86400 - 600), "due"),
        run_line(now - 60, true, Some(now - 7200), "due"),
    ];
    let history = history_path(&m, "ftpsync");
    // A run killed mid-write leaves a line without its end; the page skips it.
    std::fs::write(
        &history,
        format!("{}\n{{\"type\":\"run\",\"sta", lines.join("\n")),
    )
    .unwrap();
    let hierarchy = m.to.join("project/trace/_hierarchy");
    let mut h = read_string(&hierarchy);
    h.insert_str(0, "evil <b>bold</b> \"quoted\" <script>x</script>\n");
    std::fs::write(&hierarchy, h).unwrap();

    let page = render(&m, &m.dir.join("page.html"), &[], 0);
    let dom = dump_dom(&page);
    screenshot(
        &page,
        &common::browser::artifact_dir().join("status-page-hand.png"),
        (1280, 2000),
    );
    let s = section(&dom, "");
    assert_eq!(count_class(s, "lag-point"), 7, "{s}");
    assert_eq!(count_classes(s, &["lag-point", "unknown"]), 1, "{s}");
    assert_eq!(count_classes(s, &["lag-point", "failed"]), 1, "{s}");
    assert_eq!(count_class(s, "duration-point"), 7, "{s}");
    let failed_row = element(s, "<tr class=\"run failed\"", "</tr>");
    assert!(
        failed_row.contains("✖</span> failed</span>, exit 10"),
        "{failed_row}"
    );
    assert_eq!(s.matches("<tr class=\"run failed\"").count(), 1);
    // Foreign strings are text: no script, image or bold element came of them, and the
    // page's title is its own.
    for tag in ["<script", "<img", "<b>"] {
        assert!(!dom.contains(tag), "{tag} in the DOM:\n{dom}");
    }
    assert!(dom.contains("&lt;script&gt;document.title="), "{dom}");
    assert!(dom.contains("<title>Mirror status: mirror.test.example (default)</title>"));
    assert!(
        s.contains("<strong>&lt;b&gt;bold&lt;/b&gt;</strong>"),
        "{s}"
    );

    // The page follows the history.
    drop_run(&history, 1);
    let dom = dump_dom(&render(&m, &m.dir.join("page2.html"), &[], 0));
    let s = section(&dom, "");
    assert_eq!(count_class(s, "lag-point"), 6, "{s}");
    assert_eq!(count_classes(s, &["lag-point", "unknown"]), 0, "{s}");

    // A page that cannot be written: UNKNOWN, and why.
    let out = status(&m, &["--html", "/nonexistent/dir/status.html"]);
    assert_eq!(out.code, Some(3), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("cannot write the status page /nonexistent/dir/status.html"),
        "{}",
        out.stderr
    );
}
