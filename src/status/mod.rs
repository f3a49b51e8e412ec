//! `archvsync status [ARCHIVE...]`: what the last runs did, at a glance (a table), for
//! machines (`--json`), for Prometheus (`--prometheus`), for the MirrorZ federation
//! (`--mirrorz`) and for a browser (`--html FILE`); the model and its renderings are in
//! `report`, which ftpsync's METRICS_FILE and STATUS_HTML use too.
//! Its exit status makes it a Nagios/Icinga check: 0 OK, 2 CRITICAL (the last run failed or
//! the last success is older than --max-age), 3 UNKNOWN (no run recorded, or no config).

pub mod downstreams;

use crate::common::config;
use crate::common::kinds::{DownstreamOutcome, RunResult, SyncKind};
use crate::common::layout::Layout;
use crate::common::state;
use crate::report::html::{self, ArchivePage};
use crate::report::{gather, human_age, mirrorz, prometheus::prometheus, ArchiveStatus, Health};
use crate::settings::archive::ArchiveSettings;
use std::io::IsTerminal;
use std::time::Duration;

/// What `status` was asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Archives to show; empty: every one found.
    pub archives: Vec<String>,
    pub json: bool,
    pub prometheus: bool,
    /// A mirrorz.json document (`report::mirrorz`).
    pub mirrorz: bool,
    /// Write the status page here instead of printing the table.
    pub html: Option<std::path::PathBuf>,
    /// Seconds since the last success beyond which the mirror is stale.
    pub max_age: u64,
    /// Check the downstreams with an http line as check-mirror does (and record it).
    pub downstreams: bool,
}

pub fn main(layout: &Layout, args: Options) -> u8 {
    let archives = if args.archives.is_empty() {
        crate::settings::discover(layout)
    } else {
        args.archives.clone()
    };
    let mut all = Vec::new();
    // Each archive's settings, when its config loaded: what --mirrorz adds to the status.
    let mut settings = Vec::new();
    // The page also reads each archive's history and trace files, which need its settings.
    let mut pages: Vec<ArchivePage> = Vec::new();
    for a in &archives {
        let a = if a == "default" { "" } else { a.as_str() };
        match ArchiveSettings::load(layout, a, None) {
            Ok(s) => {
                let status = if args.downstreams {
                    with_downstreams(layout, &s, args.max_age)
                } else {
                    gather(&s, args.max_age)
                };
                if args.html.is_some() {
                    pages.push(html::gather_page(&s, status.clone()));
                }
                all.push(status);
                settings.push(Some(s));
            }
            Err(refusal) => {
                settings.push(None);
                all.push(ArchiveStatus::bare(
                    if a.is_empty() {
                        "ftpsync".into()
                    } else {
                        config::sanitize_name(&format!("ftpsync-{a}"))
                    },
                    a.to_string(),
                    Health::Unknown,
                    Some(refusal.message),
                ));
            }
        }
        if args.html.is_some() && pages.len() < all.len() {
            if let Some(status) = all.last() {
                pages.push(html::page_without_settings(status.clone()));
            }
        }
    }
    if all.is_empty() {
        eprintln!(
            "no ftpsync configuration found (searched {})",
            layout.searched()
        );
        return 3;
    }
    let mut page_failed = false;
    if let Some(path) = &args.html {
        let page = html::render(&pages, state::now());
        if let Err(e) = crate::common::atomic::write(path, page.as_bytes()) {
            eprintln!("cannot write the status page {}: {e}", path.display());
            page_failed = true;
        }
    } else if args.json {
        match serde_json::to_string_pretty(&all) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("cannot render JSON: {e}");
                return 3;
            }
        }
    } else if args.prometheus {
        print!("{}", prometheus(&all));
    } else if args.mirrorz {
        let pairs: Vec<_> = all
            .iter()
            .zip(settings.iter().map(Option::as_ref))
            .collect();
        match serde_json::to_string_pretty(&mirrorz::document(&pairs)) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("cannot render JSON: {e}");
                return 3;
            }
        }
    } else {
        let colour = std::io::stdout().is_terminal();
        print!("{}", table(&all, colour));
        for a in all.iter().filter(|_| args.downstreams) {
            if let Some(record) = &a.downstream_checks {
                print!("{}", downstreams::table(&a.archive, record, colour));
            }
        }
    }
    // The worst wins: CRITICAL over UNKNOWN over WARNING (a downstream's) over OK.
    let checks = all
        .iter()
        .filter(|_| args.downstreams)
        .filter_map(|a| a.downstream_checks.as_ref())
        .map(|r| r.level().exit_code());
    // A page that could not be written leaves the operator's view unknown.
    let page = page_failed.then_some(3);
    crate::report::worst_exit(
        all.iter()
            .map(|a| a.health.exit_code())
            .chain(checks)
            .chain(page),
    )
}

/// `status --downstreams`: check the downstreams now; METRICS_FILE and STATUS_HTML show it
/// at once.
fn with_downstreams(layout: &Layout, s: &ArchiveSettings, max_age: u64) -> ArchiveStatus {
    let record = downstreams::refresh(layout, s, Duration::from_secs(s.check_timeout));
    if let Some(m) = &s.metrics_file {
        if let Err(e) = crate::report::prometheus::write_metrics_file(m, s) {
            eprintln!("cannot write METRICS_FILE {}: {e}", m.display());
        }
    }
    if let Some(p) = &s.status_html {
        if let Err(e) = html::write_page_file(p, s) {
            eprintln!("cannot write STATUS_HTML {}: {e}", p.display());
        }
    }
    let mut a = gather(s, max_age);
    // What was just found, also when it could not be recorded.
    a.downstream_checks = Some(record);
    a
}

fn date(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| {
            t.to_offset(crate::common::dates::now_local().offset())
                .format(time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute]"
                ))
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

pub fn table(all: &[ArchiveStatus], colour: bool) -> String {
    let now = state::now();
    let paint = |h: Health, text: String| -> String {
        if !colour {
            return text;
        }
        let code = match h {
            Health::Ok => "32",
            Health::Failed => "31",
            Health::Stale => "33",
            Health::Never | Health::Unknown => "35",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    };
    let header = [
        "ARCHIVE",
        "HEALTH",
        "LAST RUN",
        "SYNC",
        "LAST SUCCESS",
        "SERIAL OURS/MASTER",
        "RUNNING",
        "DOWNSTREAMS",
    ];
    let mut rows: Vec<(Health, [String; 8])> = Vec::new();
    for a in all {
        let last_run = a
            .last_run
            .as_ref()
            .map(|r| {
                format!(
                    "{} {} ({} ago)",
                    if r.result == RunResult::Success {
                        "ok"
                    } else {
                        "FAILED"
                    },
                    if r.result == RunResult::Success {
                        String::new()
                    } else {
                        format!("exit {}", r.exit_status)
                    },
                    human_age(now - r.ended)
                )
                .replace("  ", " ")
            })
            .unwrap_or_else(|| "never".into());
        // How the last run synced: `journal (N paths)`, `index (N paths)` or `full (REASONS)`.
        let sync = a
            .last_run
            .as_ref()
            .and_then(|r| {
                let index_why = r
                    .index_sync_reason
                    .as_deref()
                    .map(|w| format!("; index: {w}"))
                    .unwrap_or_default();
                Some(match (r.sync_kind?, &r.full_sync_reason) {
                    (SyncKind::Journal, _) => {
                        format!("journal ({} paths)", r.journal_paths.unwrap_or_default())
                    }
                    (SyncKind::Index, _) => {
                        format!("index ({} paths)", r.journal_paths.unwrap_or_default())
                    }
                    (SyncKind::Full, Some(why)) => format!("full ({why}{index_why})"),
                    (SyncKind::Full, None) if !index_why.is_empty() => {
                        format!(
                            "full (index: {})",
                            r.index_sync_reason.as_deref().unwrap_or("")
                        )
                    }
                    (SyncKind::Full, None) => "full".into(),
                })
            })
            .unwrap_or_else(|| "-".into());
        let last_success = a
            .last_success
            .as_ref()
            .map(|r| format!("{} ({} ago)", date(r.ended), human_age(now - r.ended)))
            .unwrap_or_else(|| "never".into());
        let serial = format!(
            "{}/{}",
            a.serial.ours.as_deref().unwrap_or("-"),
            a.serial.master.as_deref().unwrap_or("-")
        );
        let running = a
            .in_progress
            .as_ref()
            .map(|p| match p.since {
                Some(t) => format!("pid {} for {}", p.pid, human_age(now - t)),
                None => format!("pid {}", p.pid),
            })
            .unwrap_or_else(|| "no".into());
        let downstreams = if a.downstreams.is_empty() {
            "-".to_string()
        } else {
            let ok = a.downstreams.values().filter(|d| d.ok()).count();
            let names = |f: &dyn Fn(&state::Downstream) -> bool| -> Vec<&str> {
                a.downstreams
                    .iter()
                    .filter(|(_, d)| f(d))
                    .map(|(n, _)| n.as_str())
                    .collect()
            };
            let failed = names(&|d| !d.ok() && d.outcome != DownstreamOutcome::NotSent);
            let not_sent = names(&|d| d.outcome == DownstreamOutcome::NotSent);
            let mut text = format!("{ok}/{} ok", a.downstreams.len());
            if !failed.is_empty() {
                text.push_str(&format!(", failed: {}", failed.join(",")));
            }
            if !not_sent.is_empty() {
                text.push_str(&format!(", not sent: {}", not_sent.join(",")));
            }
            text
        };
        let name = if a.archive.is_empty() {
            "(default)".to_string()
        } else {
            a.archive.clone()
        };
        let health = format!("{:?}", a.health).to_lowercase();
        rows.push((
            a.health,
            [
                name,
                health,
                last_run,
                sync,
                last_success,
                serial,
                running,
                downstreams,
            ],
        ));
    }
    let cells: Vec<Vec<String>> = rows.iter().map(|(_, r)| r.to_vec()).collect();
    let mut out = crate::common::term::columns(&header, &cells, |row, col, padded| {
        match (row.checked_sub(1).map(|r| rows[r].0), col) {
            (Some(h), 1) => paint(h, padded),
            _ => padded,
        }
    });
    for a in all {
        if let Some(p) = &a.problem {
            let name = if a.archive.is_empty() {
                "(default)"
            } else {
                &a.archive
            };
            out.push_str(&format!("{name}: {p}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(human_age(59), "59s");
        assert_eq!(human_age(3700), "1h01m");
        assert_eq!(human_age(90000), "1d01h");
    }
}
