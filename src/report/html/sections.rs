//! The parts of the page: the summary of all archives, and per archive its health, runs,
//! charts, chain of upstreams, downstreams and last push.

use super::charts::{self, Point};
use super::{
    bytes, esc, health_badge, span, span_f, time_cell, time_html, time_text, title_of, ArchivePage,
    CHART_SECONDS, TABLE_RUNS,
};
use crate::common::history::{PushRecord, Record, RunRecord};
use crate::common::kinds::{DownstreamOutcome, RunResult, SyncKind};
use crate::common::state::{Downstream, SyncRun};
use crate::report::downstream_health::DownstreamCheck;
use crate::report::monitor::rules::Level;
use std::collections::BTreeSet;

/// The table at the top: one row per archive, linking to its section.
pub(super) fn summary(out: &mut String, pages: &[ArchivePage], now: i64) {
    out.push_str(
        "<div class=\"scroll\"><table class=\"summary\">\n<thead><tr><th>Archive</th><th>Health</th>\
         <th>Last run</th><th>Last success</th><th>Serial ours / master</th></tr></thead>\n<tbody>\n",
    );
    for (i, p) in pages.iter().enumerate() {
        let a = &p.status;
        let last_run = a.last_run.as_ref().map_or_else(
            || "never".to_string(),
            |r| format!("{} {} ago", result_html(r.result), span(now - r.ended)),
        );
        let last_success = a.last_success.as_ref().map_or_else(
            || "never".to_string(),
            |r| format!("{} ago", span(now - r.ended)),
        );
        out.push_str(&format!(
            "<tr data-archive=\"{}\"><td><a href=\"#archive-{i}\">{}</a></td><td>{}{}</td><td>{last_run}</td><td>{last_success}</td><td>{} / {}</td></tr>\n",
            esc(&a.archive),
            esc(&title_of(a)),
            health_badge(a.health),
            if a.in_progress.is_some() { " <span class=\"badge busy\"><span class=\"sym\" aria-hidden=\"true\">⟳</span> syncing</span>" } else { "" },
            esc(a.serial.ours.as_deref().unwrap_or("-")),
            esc(a.serial.master.as_deref().unwrap_or("-")),
        ));
    }
    out.push_str("</tbody></table></div>\n");
}

/// `✔ ok` or `✖ failed`, in the run's class.
fn result_html(r: RunResult) -> &'static str {
    match r {
        RunResult::Success => {
            "<span class=\"res ok\"><span class=\"sym\" aria-hidden=\"true\">✔</span> ok</span>"
        }
        RunResult::Failure => {
            "<span class=\"res failed\"><span class=\"sym\" aria-hidden=\"true\">✖</span> failed</span>"
        }
    }
}

/// One archive's section.
pub(super) fn archive(out: &mut String, i: usize, p: &ArchivePage, now: i64) {
    let a = &p.status;
    out.push_str(&format!(
        "<section class=\"archive\" id=\"archive-{i}\" data-archive=\"{}\">\n<h2>{} {}{}</h2>\n",
        esc(&a.archive),
        esc(&title_of(a)),
        health_badge(a.health),
        if a.in_progress.is_some() {
            " <span class=\"badge busy\"><span class=\"sym\" aria-hidden=\"true\">⟳</span> syncing</span>"
        } else {
            ""
        }
    ));
    if let Some(problem) = &a.problem {
        out.push_str(&format!(
            "<p class=\"problem\"><span class=\"sym\" aria-hidden=\"true\">⚠</span> {}</p>\n",
            esc(problem)
        ));
    }
    facts(out, p, now);
    let runs: Vec<&RunRecord> = p
        .history
        .iter()
        .filter_map(|r| match r {
            Record::Run(r) => Some(r),
            Record::Push(_) => None,
        })
        .collect();
    runs_table(out, &runs);
    charts_of(out, &runs, now);
    chain(out, p);
    downstreams(out, p, now);
    timeline(out, p);
    out.push_str("</section>\n");
}

fn facts(out: &mut String, p: &ArchivePage, now: i64) {
    let a = &p.status;
    let mut facts: Vec<(&str, String)> = Vec::new();
    let mut fact = |name, value| facts.push((name, value));
    let run_words = |r: &SyncRun| {
        format!(
            "{} ({} ago), took {}",
            time_html(r.ended),
            span(now - r.ended),
            span(r.ended - r.started)
        )
    };
    fact(
        "Last run",
        a.last_run.as_ref().map_or_else(
            || "never".to_string(),
            |r| {
                let exit = if r.result == RunResult::Success {
                    String::new()
                } else {
                    format!(", exit status {}", r.exit_status)
                };
                format!("{} {}{exit}", result_html(r.result), run_words(r))
            },
        ),
    );
    fact(
        "Last success",
        a.last_success
            .as_ref()
            .map_or_else(|| "never".to_string(), run_words),
    );
    let (ours, master) = (a.serial.ours.as_deref(), a.serial.master.as_deref());
    let agree = match (ours, master) {
        (Some(o), Some(m)) if o == m => {
            " <span class=\"res ok\"><span class=\"sym\" aria-hidden=\"true\">✔</span> the same</span>"
        }
        (Some(_), Some(_)) => {
            " <span class=\"res warn\"><span class=\"sym\" aria-hidden=\"true\">⚠</span> they differ</span>"
        }
        _ => "",
    };
    fact(
        "Archive serial: ours / the master trace's",
        format!(
            "{} / {}{agree}",
            esc(ours.unwrap_or("-")),
            esc(master.unwrap_or("-"))
        ),
    );
    fact(
        "The archive was made",
        p.traces.master_date.map_or_else(
            || "unknown (no master trace)".to_string(),
            |t| format!("{} ({} ago)", time_html(t), span(now - t)),
        ),
    );
    fact(
        "Syncing now",
        a.in_progress.as_ref().map_or_else(
            || "no".to_string(),
            |b| match b.since {
                Some(t) => format!(
                    "<span class=\"sym\" aria-hidden=\"true\">⟳</span> yes, pid {} since {} ({})",
                    esc(&b.pid),
                    time_html(t),
                    span(now - t)
                ),
                None => format!(
                    "<span class=\"sym\" aria-hidden=\"true\">⟳</span> yes, pid {}",
                    esc(&b.pid)
                ),
            },
        ),
    );
    if let Some(to) = &a.to {
        fact("TO", format!("<code>{}</code>", esc(&to.to_string_lossy())));
    }
    if let Some(c) = &a.config {
        fact(
            "Config",
            format!("<code>{}</code>", esc(&c.to_string_lossy())),
        );
    }
    out.push_str("<dl class=\"facts\">\n");
    for (name, value) in facts {
        out.push_str(&format!("<div><dt>{name}</dt><dd>{value}</dd></div>\n"));
    }
    out.push_str("</dl>\n");
}

/// `journal (12 paths)`, `full (due; index: no-listing)`.
fn sync_words(r: &RunRecord) -> String {
    let Some(kind) = r.sync_kind else {
        return "-".to_string();
    };
    let mut why = Vec::new();
    if let Some(w) = &r.full_sync_reason {
        why.push(w.clone());
    }
    if let Some(w) = &r.index_sync_reason {
        why.push(format!("index: {w}"));
    }
    let mut text = kind.as_str().to_string();
    if kind != SyncKind::Full || !why.is_empty() {
        let what = match (kind, r.paths) {
            (SyncKind::Full, _) | (_, None) => String::new(),
            (_, Some(n)) => format!("{n} paths"),
        };
        let inner: Vec<String> = [what]
            .into_iter()
            .chain(why)
            .filter(|w| !w.is_empty())
            .collect();
        if !inner.is_empty() {
            text.push_str(&format!(" ({})", inner.join("; ")));
        }
    }
    text
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn runs_table(out: &mut String, runs: &[&RunRecord]) {
    out.push_str(&format!("<h3>Last {TABLE_RUNS} runs</h3>\n"));
    if runs.is_empty() {
        out.push_str("<p class=\"note\">No run in the history yet.</p>\n");
        return;
    }
    out.push_str(
        "<div class=\"scroll\"><table class=\"runs\">\n<thead><tr><th>Started (UTC)</th><th>Took</th>\
         <th>Result</th><th>Request</th><th>Sync (why)</th><th>Changed</th><th>Received</th>\
         <th>Serial</th><th>Lag</th></tr></thead>\n<tbody>\n",
    );
    for r in runs.iter().rev().take(TABLE_RUNS) {
        let failed = r.result != RunResult::Success;
        out.push_str(&format!(
            "<tr class=\"run {}\"><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"result\">{}{}</td><td>{}</td><td class=\"wrap\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td></tr>\n",
            if failed { "failed" } else { "ok" },
            time_cell(r.started),
            span(r.ended - r.started),
            result_html(r.result),
            if failed {
                format!(", exit {}", r.exit_status)
            } else {
                String::new()
            },
            esc(&r.request),
            esc(&sync_words(r)),
            opt(r.files_changed),
            bytes(r.bytes_received),
            esc(r.archive_serial.as_deref().unwrap_or("-")),
            r.lag_seconds().map_or_else(|| "-".to_string(), span),
        ));
    }
    out.push_str("</tbody></table></div>\n");
}

fn charts_of(out: &mut String, runs: &[&RunRecord], now: i64) {
    let from = now - CHART_SECONDS;
    let recent: Vec<&&RunRecord> = runs.iter().filter(|r| r.ended >= from).collect();
    let verdict = |r: &RunRecord| {
        if r.result == RunResult::Success {
            "ok".to_string()
        } else {
            format!("failed, exit status {}", r.exit_status)
        }
    };
    let lag: Vec<Point> = recent
        .iter()
        .map(|r| Point {
            t: r.ended,
            v: r.lag_seconds(),
            failed: r.result != RunResult::Success,
            title: match r.lag_seconds() {
                Some(l) => format!(
                    "{}: lag {} (serial {}), {}",
                    time_text(r.ended),
                    span(l),
                    r.archive_serial.as_deref().unwrap_or("unknown"),
                    verdict(r)
                ),
                None => format!(
                    "{}: lag unknown (no master trace), {}",
                    time_text(r.ended),
                    verdict(r)
                ),
            },
        })
        .collect();
    let duration: Vec<Point> = recent
        .iter()
        .map(|r| Point {
            t: r.ended,
            v: Some(r.ended - r.started),
            failed: r.result != RunResult::Success,
            title: format!(
                "{}: took {} (rsync stage 1 {}, stage 2 {}), {}",
                time_text(r.started),
                span(r.ended - r.started),
                span(i64::try_from(r.stage1_seconds).unwrap_or(i64::MAX)),
                span(i64::try_from(r.stage2_seconds).unwrap_or(i64::MAX)),
                verdict(r)
            ),
        })
        .collect();
    out.push_str("<h3>The last two weeks</h3>\n<div class=\"charts\">\n");
    out.push_str(&charts::chart(
        &charts::Chart {
            class: "lag-point",
            caption: "Lag: how old the archive we served was when each run ended",
            y_title: "lag",
            from,
            to: now,
        },
        &lag,
    ));
    out.push_str(&charts::chart(
        &charts::Chart {
            class: "duration-point",
            caption: "Sync duration of each run",
            y_title: "duration",
            from,
            to: now,
        },
        &duration,
    ));
    out.push_str(
        "</div>\n<p class=\"legend\"><span><span class=\"key-ok\">●</span> a run that succeeded</span>\
         <span><span class=\"key-failed\">✖</span> a run that failed</span>\
         <span><span class=\"key-unknown\">○</span> lag unknown (no master trace)</span>\
         <span>Hover a point for its run.</span></p>\n",
    );
}

fn chain(out: &mut String, p: &ArchivePage) {
    out.push_str("<h3>Chain of upstreams</h3>\n");
    let lines = &p.traces.hierarchy;
    if lines.is_empty() {
        out.push_str("<p class=\"note\">No <code>project/trace/_hierarchy</code> yet.</p>\n");
        return;
    }
    out.push_str(
        "<p class=\"note\">From <code>project/trace/_hierarchy</code>, the archive's source first.</p>\n<ol class=\"chain\">\n",
    );
    let ours = p.status.mirrorname.as_deref();
    let last = lines.len() - 1;
    for (i, l) in lines.iter().enumerate() {
        let us = i == last && ours == Some(l.mirrorname.as_str());
        out.push_str(&format!(
            "<li{}><strong>{}</strong> on {}, pulls from {} <span class=\"delta\">(trace {})</span>{}</li>\n",
            if us { " class=\"us\"" } else { "" },
            esc(&l.mirrorname),
            esc(&l.host),
            esc(&l.upstream),
            esc(&l.tracefile),
            if us { " ← this mirror" } else { "" }
        ));
    }
    out.push_str("</ol>\n");
}

/// What became of a trigger, in words with a symbol; whether it reached the downstream.
fn outcome_html(d: &Downstream) -> String {
    let (class, sym) = match d.outcome {
        _ if d.ok() => ("ok", "✔"),
        DownstreamOutcome::Timeout => ("failed", "⏱"),
        DownstreamOutcome::NotSent => ("none", "∅"),
        _ => ("failed", "✖"),
    };
    let mut word = d.outcome.as_str().replace('_', " ");
    if d.finished_exit_status == Some(255) {
        word.push_str(", then lost");
    }
    format!("<span class=\"res {class}\"><span class=\"sym\" aria-hidden=\"true\">{sym}</span> {word}</span>")
}

/// How the downstream's session ended: its final exit status and time, when known.
fn session_html(d: &Downstream) -> String {
    match (d.finished_exit_status, d.finished_seconds, d.exit_status) {
        (Some(0), Some(s), _) => format!(
            "<span class=\"res ok\"><span class=\"sym\" aria-hidden=\"true\">✔</span> exit 0 after {}</span>",
            span_f(s)
        ),
        (Some(c), s, _) => format!(
            "<span class=\"res failed\"><span class=\"sym\" aria-hidden=\"true\">✖</span> exit {c}{}</span>",
            s.map(|s| format!(" after {}", span_f(s))).unwrap_or_default()
        ),
        (None, _, Some(0)) => "<span class=\"res ok\"><span class=\"sym\" aria-hidden=\"true\">✔</span> exit 0</span>".to_string(),
        (None, _, Some(c)) => format!(
            "<span class=\"res failed\"><span class=\"sym\" aria-hidden=\"true\">✖</span> exit {c}</span>"
        ),
        (None, _, None) if d.outcome == DownstreamOutcome::Accepted => {
            "<span class=\"res none\">running or not reported</span>".to_string()
        }
        _ => "-".to_string(),
    }
}

fn check_html(c: &DownstreamCheck) -> String {
    let (class, sym) = match c.status {
        Level::Ok => ("ok", "✔"),
        Level::Warning => ("warn", "⚠"),
        Level::Error => ("failed", "✖"),
    };
    let problem = c
        .problem
        .as_deref()
        .map(|p| format!(": {}", esc(p)))
        .unwrap_or_default();
    format!(
        "<span class=\"res {class}\"><span class=\"sym\" aria-hidden=\"true\">{sym}</span> {}</span>{problem}",
        c.status.as_str()
    )
}

fn downstreams(out: &mut String, p: &ArchivePage, now: i64) {
    let a = &p.status;
    out.push_str("<h3>Downstreams</h3>\n");
    let checks: &[DownstreamCheck] = a
        .downstream_checks
        .as_ref()
        .map_or(&[], |r| r.downstreams.as_slice());
    let names: BTreeSet<&str> = a
        .downstreams
        .keys()
        .map(String::as_str)
        .chain(checks.iter().map(|c| c.name.as_str()))
        .collect();
    if names.is_empty() {
        out.push_str("<p class=\"note\">None pushed, none checked.</p>\n");
        return;
    }
    let pushes: Vec<&PushRecord> = p
        .history
        .iter()
        .filter_map(|r| match r {
            Record::Push(x) if x.at >= now - CHART_SECONDS => Some(x),
            _ => None,
        })
        .collect();
    out.push_str(
        "<div class=\"scroll\"><table class=\"downstreams\">\n<thead><tr><th>Downstream</th>\
         <th>Last trigger (UTC)</th><th>Outcome</th><th>Session</th><th>Pushes, 2 weeks</th>\
         <th>Check</th><th>Serial theirs / ours</th><th>Behind us</th>\
         <th>Served trace age</th></tr></thead>\n<tbody>\n",
    );
    for name in names {
        let d = a.downstreams.get(name);
        let c = checks.iter().find(|c| c.name == name);
        let failed = d.is_some_and(|d| !d.ok() && d.outcome != DownstreamOutcome::NotSent)
            || c.is_some_and(|c| c.status == Level::Error);
        let theirs: Vec<&&PushRecord> = pushes.iter().filter(|x| x.downstream == name).collect();
        let lost = theirs
            .iter()
            .filter(|x| {
                !matches!(
                    x.outcome,
                    DownstreamOutcome::Delivered | DownstreamOutcome::Accepted
                ) || x.finished_exit_status.is_some_and(|c| c != 0)
            })
            .count();
        let pushes_cell = match (theirs.len(), lost) {
            (0, _) => "-".to_string(),
            (n, 0) => n.to_string(),
            (n, l) => format!(
                "{n} <span class=\"res failed\">(<span class=\"sym\" aria-hidden=\"true\">✖</span> {l} failed)</span>"
            ),
        };
        let dash = || "-".to_string();
        out.push_str(&format!(
            "<tr class=\"downstream {}\" data-name=\"{}\"><td><strong>{}</strong>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td class=\"num\">{pushes_cell}</td><td class=\"wrap\">{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
            if failed { "failed" } else { "ok" },
            esc(name),
            esc(name),
            d.map(|d| format!("<br><span class=\"delta\">{}</span>", esc(&d.host)))
                .unwrap_or_default(),
            d.map_or_else(
                || "never pushed".to_string(),
                |d| format!(
                    "{} <span class=\"delta\">({} ago)</span>, {}",
                    time_cell(d.at),
                    span(now - d.at),
                    d.stage.as_str()
                )
            ),
            d.map_or_else(dash, |d| format!(
                "{} in {}",
                outcome_html(d),
                span_f(d.duration_seconds)
            )),
            d.map_or_else(dash, session_html),
            c.map_or_else(|| "no http line".to_string(), check_html),
            c.map_or_else(dash, |c| format!(
                "{} / {}",
                esc(c.serial.as_deref().unwrap_or("-")),
                esc(c.our_serial.as_deref().unwrap_or("-"))
            )),
            c.and_then(|c| c.serial_lag_seconds).map_or_else(dash, span),
            c.and_then(|c| c.age_seconds).map_or_else(dash, span),
        ));
    }
    out.push_str("</tbody></table></div>\n");
    if let Some(r) = &a.downstream_checks {
        out.push_str(&format!(
            "<p class=\"note\">Check: as Debian's monitors see it (<code>status --downstreams</code>), {} ({} ago).</p>\n",
            time_html(r.checked_at),
            span(now - r.checked_at)
        ));
        for problem in r.note.iter().chain(&r.problems) {
            out.push_str(&format!("<p class=\"note\">{}</p>\n", esc(problem)));
        }
    }
}

/// The last push, from the making of the archive to each downstream's end: the times the
/// trace files and the records hold, in order, each with how long after the archive's
/// making and after the step before it.
fn timeline(out: &mut String, p: &ArchivePage) {
    let a = &p.status;
    out.push_str("<h3>The last push</h3>\n");
    let mut steps: Vec<(i64, String)> = Vec::new();
    if let Some(t) = p.traces.master_date {
        steps.push((t, "the archive is made (master trace)".into()));
    }
    if let Some(t) = p.traces.our_date {
        steps.push((t, "our sync of it ends (our trace)".into()));
    }
    if let Some(lp) = &a.last_push {
        steps.push((
            lp.started,
            format!(
                "we push our downstreams ({}, {} triggers, {} delivered, {} failed{})",
                lp.kind.as_str(),
                lp.triggers,
                lp.delivered,
                lp.failed,
                lp.interrupted
                    .as_deref()
                    .map(|i| format!(", stopped: {}", esc(i)))
                    .unwrap_or_default()
            ),
        ));
        for (name, d) in a.downstreams.iter().filter(|(_, d)| d.at >= lp.started) {
            steps.push((
                d.at,
                format!(
                    "<strong>{}</strong> is triggered ({})",
                    esc(name),
                    d.stage.as_str()
                ),
            ));
            let (secs, what) = match d.finished_seconds {
                Some(s) => (s, "ends its sync"),
                None => (d.duration_seconds, "answers the trigger"),
            };
            steps.push((
                d.at + secs.round() as i64,
                format!("<strong>{}</strong> {what}: {}", esc(name), outcome_html(d)),
            ));
        }
        for name in &lp.not_sent {
            steps.push((
                lp.ended,
                format!("<strong>{}</strong> was not sent a trigger", esc(name)),
            ));
        }
    }
    if steps.is_empty() {
        out.push_str("<p class=\"note\">No trace and no push yet.</p>\n");
        return;
    }
    // Stable: a downstream's trigger stays before its end when both fall in one second.
    steps.sort_by_key(|s| s.0);
    let first = steps[0].0;
    out.push_str("<ol class=\"timeline\">\n");
    let mut prev = first;
    for (i, (t, what)) in steps.iter().enumerate() {
        let delta = if i == 0 {
            String::new()
        } else {
            format!(
                " <span class=\"delta\">(+{} from the start, +{} from the step before)</span>",
                span(t - first),
                span(t - prev)
            )
        };
        out.push_str(&format!("<li>{}{delta} {what}</li>\n", time_html(*t)));
        prev = *t;
    }
    out.push_str("</ol>\n");
}
