//! The page from a history written by hand (the writer is the history module's): one point
//! per run, the failed run marked, every downstream listed, every foreign string escaped,
//! nothing fetched.

use super::*;
use crate::common::history::{PushRecord, RunRecord};
use crate::common::kinds::{DownstreamOutcome, PushKind, RunResult, Stage, SyncKind};
use crate::common::state::{Downstream, PushRun, SyncRun};
use crate::report::downstream_health::{DownstreamCheck, Record as Checks};
use crate::report::monitor::rules::Level;
use crate::report::{InProgress, Serials};

const NOW: i64 = 1_796_000_000;

fn run(ended: i64, ok: bool, master_date: Option<i64>) -> RunRecord {
    RunRecord {
        started: ended - 40,
        ended,
        result: if ok {
            RunResult::Success
        } else {
            RunResult::Failure
        },
        exit_status: if ok { 0 } else { 23 },
        request: "all".into(),
        sync_kind: Some(if ok {
            SyncKind::Journal
        } else {
            SyncKind::Full
        }),
        full_sync_reason: (!ok).then(|| "gap".to_string()),
        index_sync_reason: None,
        paths: ok.then_some(12),
        files_changed: Some(3),
        bytes_received: 123_456,
        stage1_seconds: 10,
        stage2_seconds: 20,
        archive_serial: Some("2026120701".into()),
        master_date,
    }
}

fn push(at: i64, downstream: &str, outcome: DownstreamOutcome) -> PushRecord {
    PushRecord {
        at,
        downstream: downstream.into(),
        host: "127.0.0.1".into(),
        stage: Stage::All,
        outcome,
        exit_status: Some(0),
        duration_seconds: 0.4,
        finished_exit_status: None,
        finished_seconds: None,
    }
}

/// A hub: 5 runs in the last two weeks (one failed, one without a master trace) and one
/// older; pushes to two downstreams, a third only checked over http.
fn history() -> Vec<Record> {
    let master = NOW - 7200;
    vec![
        Record::Run(run(NOW - 20 * 86400, true, Some(NOW - 21 * 86400))),
        Record::Run(run(NOW - 5 * 86400, true, None)),
        Record::Run(run(NOW - 2 * 86400, true, Some(NOW - 3 * 86400))),
        Record::Run(run(NOW - 86400, false, Some(NOW - 3 * 86400))),
        Record::Push(push(NOW - 86400 + 5, "leaf", DownstreamOutcome::Failed)),
        Record::Run(run(NOW - 3600, true, Some(master))),
        Record::Run(run(NOW - 600, true, Some(master))),
        Record::Push(push(NOW - 590, "leaf", DownstreamOutcome::Accepted)),
        Record::Push(push(NOW - 590, "dead<b>", DownstreamOutcome::Failed)),
    ]
}

fn sync_run(ended: i64, ok: bool) -> SyncRun {
    SyncRun {
        started: ended - 40,
        ended,
        request: "all".into(),
        result: if ok {
            RunResult::Success
        } else {
            RunResult::Failure
        },
        ..SyncRun::default()
    }
}

fn status() -> ArchiveStatus {
    let mut downstreams = std::collections::BTreeMap::new();
    downstreams.insert(
        "leaf".to_string(),
        Downstream {
            host: "127.0.0.1".into(),
            outcome: DownstreamOutcome::Accepted,
            at: NOW - 590,
            duration_seconds: 0.4,
            finished_exit_status: Some(0),
            finished_seconds: Some(12.0),
            ..Downstream::default()
        },
    );
    downstreams.insert(
        "dead<b>".to_string(),
        Downstream {
            host: "192.0.2.1\"onmouseover=\"x".into(),
            outcome: DownstreamOutcome::Failed,
            exit_status: Some(255),
            at: NOW - 590,
            duration_seconds: 1.5,
            ..Downstream::default()
        },
    );
    ArchiveStatus {
        name: "ftpsync".into(),
        archive: String::new(),
        config: Some("/srv/etc/ftpsync.conf".into()),
        mirrorname: Some("hub.example".into()),
        to: Some("/srv/mirror".into()),
        health: Health::Failed,
        problem: Some("the last run failed with exit status 23 <here>".into()),
        last_success_age_seconds: Some(600),
        serial: Serials {
            ours: Some("2026120701".into()),
            master: Some("2026120701".into()),
        },
        in_progress: Some(InProgress {
            pid: "4242".into(),
            since: Some(NOW - 30),
        }),
        last_run: Some(sync_run(NOW - 600, false)),
        last_success: Some(sync_run(NOW - 3600, true)),
        last_push: Some(PushRun {
            started: NOW - 595,
            ended: NOW - 580,
            kind: PushKind::Mhop,
            from_ftpsync: true,
            triggers: 2,
            delivered: 1,
            failed: 1,
            not_sent: vec![],
            interrupted: None,
        }),
        downstreams,
        downstream_checks: Some(Checks {
            checked_at: NOW - 60,
            downstreams: vec![DownstreamCheck {
                name: "web-only".into(),
                url: "http://web.example/debian/".into(),
                site: None,
                status: Level::Warning,
                problem: Some("its trace is <old>".into()),
                serial: Some("2026120601".into()),
                our_serial: Some("2026120701".into()),
                serial_lag_seconds: Some(86400),
                age_seconds: Some(90000),
            }],
            problems: vec![],
            note: None,
        }),
        history: Vec::new(),
    }
}

fn traces() -> Traces {
    Traces {
        hierarchy: hierarchy_lines(
            "master master ftp-master.debian.org unknown\n\
             up <script>alert(1)</script> up.example ftp-master.debian.org\n\
             hub.example hub.example hub.example up.example\n",
        ),
        master_date: Some(NOW - 7200),
        our_date: Some(NOW - 600),
    }
}

/// How many elements of the page carry all of `classes` among their classes.
fn count_classes(html: &str, classes: &[&str]) -> usize {
    html.split("class=\"")
        .skip(1)
        .filter(|rest| {
            rest.split('"').next().is_some_and(|c| {
                classes
                    .iter()
                    .all(|want| c.split_whitespace().any(|w| w == *want))
            })
        })
        .count()
}

fn count_class(html: &str, class: &str) -> usize {
    count_classes(html, &[class])
}

fn page() -> String {
    render(
        &[ArchivePage {
            status: status(),
            history: history(),
            traces: traces(),
        }],
        NOW,
    )
}

#[test]
fn one_point_per_run_of_the_last_two_weeks() {
    let html = page();
    // Five runs in two weeks, the one of 20 days ago left out; the run without a master
    // trace is a point too, marked unknown.
    assert_eq!(count_class(&html, "lag-point"), 5, "{html}");
    assert_eq!(count_class(&html, "duration-point"), 5);
    assert_eq!(count_classes(&html, &["lag-point", "unknown"]), 1, "{html}");
    assert_eq!(count_classes(&html, &["lag-point", "failed"]), 1);
    assert_eq!(count_classes(&html, &["duration-point", "failed"]), 1);
    // Every run of the table, the old one too; the failed one marked in words and symbol.
    assert_eq!(count_class(&html, "run"), 6);
    let failed_rows: Vec<&str> = html
        .lines()
        .filter(|l| l.starts_with("<tr class=\"run failed\""))
        .collect();
    assert_eq!(failed_rows.len(), 1, "{html}");
    assert!(
        failed_rows[0].contains("✖</span> failed"),
        "{}",
        failed_rows[0]
    );
    assert!(failed_rows[0].contains("full (gap)"), "{}", failed_rows[0]);
    // The tooltip of a point says which run it is.
    assert!(
        html.contains("lag 1h50m (serial 2026120701), ok</title>"),
        "{html}"
    );
}

#[test]
fn health_in_words_and_symbols_and_every_downstream() {
    let html = page();
    assert!(html.contains("<span class=\"badge failed\"><span class=\"sym\" aria-hidden=\"true\">✖</span> failed</span>"));
    assert!(html.contains("⟳</span> syncing"));
    for name in ["leaf", "dead&lt;b&gt;", "web-only"] {
        assert_eq!(
            html.matches(&format!("data-name=\"{name}\"")).count(),
            1,
            "{name}: {html}"
        );
    }
    assert!(html.contains("<tr class=\"downstream failed\" data-name=\"dead&lt;b&gt;\""));
    assert!(html.contains("<tr class=\"downstream ok\" data-name=\"leaf\""));
    // A push that failed in the history is counted against its downstream.
    assert!(html.contains("2 <span class=\"res failed\">(<span class=\"sym\" aria-hidden=\"true\">✖</span> 1 failed)</span>"), "{html}");
    // The last push, in order: the archive made, our trace, the push, each downstream.
    let tl = &html[html.find("<ol class=\"timeline\">").unwrap()..];
    let tl = &tl[..tl.find("</ol>").unwrap()];
    let order = [
        "the archive is made",
        "our sync of it ends",
        "we push our downstreams",
        "<strong>leaf</strong> is triggered",
        "<strong>leaf</strong> ends its sync",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|w| tl.find(w).unwrap_or_else(|| panic!("{w} not in {tl}")))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{tl}");
    assert!(tl.contains("(+1h50m from the start"), "{tl}");
    // The chain of upstreams, ours last.
    assert!(html.contains("<li class=\"us\"><strong>hub.example</strong>"));
}

#[test]
fn every_foreign_string_is_escaped_and_nothing_is_fetched() {
    let html = page();
    for raw in ["<script", "<b>", "\"onmouseover", "<here>", "<old>"] {
        assert!(!html.contains(raw), "{raw} unescaped");
    }
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("192.0.2.1&quot;onmouseover=&quot;x"));
    for fetch in [
        "http:", "https:", "url(", "src=", "<link", "@import", "<img",
    ] {
        assert!(!html.contains(fetch), "{fetch} in the page");
    }
    assert!(html.contains("default-src 'none'"));
    assert_eq!(esc("a\u{1b}b\tc"), "a\u{FFFD}b\tc");
}

#[test]
fn the_history_file_is_read_line_by_line_skipping_bad_lines() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("ftpsync.history.jsonl");
    let mut text = String::new();
    for r in history() {
        text.push_str(&serde_json::to_string(&r).unwrap());
        text.push('\n');
        text.push_str("not json\n");
    }
    // A run killed mid-write leaves a line without its end.
    text.push_str("{\"type\":\"run\",\"started\":1");
    std::fs::write(&path, text).unwrap();
    let read = crate::common::history::read(&path);
    assert_eq!(read, history());
    assert!(crate::common::history::read(&d.path().join("none")).is_empty());
}

#[test]
fn trace_dates_and_hierarchy() {
    assert_eq!(
        parse_rfc2822("Fri, 21 Nov 2026 08:00:00 +0000"),
        Some(1_795_248_000)
    );
    assert_eq!(
        parse_rfc2822("Fri, 21 Nov 2026 09:30:00 +0130"),
        Some(1_795_248_000)
    );
    assert_eq!(
        parse_rfc2822("21 Nov 2026 08:00:00 GMT"),
        Some(1_795_248_000)
    );
    assert_eq!(parse_rfc2822("Fri, 21 Nov 2026 08:00 +0000"), None);
    assert_eq!(parse_rfc2822("Fri, 31 Feb 2026 08:00:00 +0000"), None);
    // The `Date:` field first; the first line when there is none.
    assert_eq!(
        trace_date("Sat Nov 21 10:00:00 UTC 2026\nDate: Fri, 21 Nov 2026 08:00:00 +0000\n"),
        Some(1_795_248_000)
    );
    assert_eq!(
        trace_date("Sat Nov 21 08:00:00 UTC 2026\nArchive serial: 1\n"),
        Some(1_795_248_000)
    );
    assert_eq!(trace_date("garbage\n"), None);
    let many: String = (0..100).map(|i| format!("t{i} m{i} h{i} u{i}\n")).collect();
    let lines = hierarchy_lines(&format!("{many}short\n"));
    assert_eq!(lines.len(), HIERARCHY_LINES);
    assert_eq!(lines[HIERARCHY_LINES - 2].mirrorname, "m99");
    assert_eq!(lines[HIERARCHY_LINES - 1].upstream, "unknown");
    let long = "x".repeat(1000);
    assert_eq!(
        hierarchy_lines(&format!("a {long} b c"))[0]
            .mirrorname
            .len(),
        FIELD_CHARS
    );
}

#[test]
fn an_archive_without_history_or_config() {
    let mut s = status();
    s.last_run = None;
    s.last_success = None;
    s.last_push = None;
    s.downstreams.clear();
    s.downstream_checks = None;
    s.in_progress = None;
    s.health = Health::Never;
    let html = render(&[page_without_settings(s)], NOW);
    assert_eq!(count_class(&html, "lag-point"), 0);
    assert!(html.contains("No run in the history yet."));
    assert!(html.contains("no run in these two weeks"));
    assert!(html.contains("None pushed, none checked."));
    assert!(html.contains("∅</span> never synced"));
}
