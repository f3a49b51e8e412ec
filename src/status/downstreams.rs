//! Downstreams as Debian sees them: `status --downstreams` checks every mirror of
//! runmirrors[-ARCHIVE].mirror that has an `http` line (with `report::monitor::check`, as
//! check-mirror does), and notes how far behind us each one is (serial lag) and how old it
//! is. The result is recorded (`report::downstream_health`) for METRICS_FILE and
//! `status --json`.

use crate::common::http::is_http_url;
use crate::common::trace;
pub use crate::report::downstream_health::{DownstreamCheck, Record};
use crate::report::monitor::fetch::Fetcher;
use crate::report::monitor::rules::{self, Level};
use crate::report::monitor::{check, Report};
use crate::settings::archive::ArchiveSettings;
use crate::settings::mirrorlist::{self, Entry};
use std::path::Path;
use std::time::Duration;
use time::OffsetDateTime;

/// Downstreams checked at once: each check is a handful of sequential requests.
const PARALLEL: usize = 16;

/// Our master trace's date and serial.
fn ours(to: &Path) -> (Option<OffsetDateTime>, Option<String>) {
    let master = to.join(trace::MASTER);
    match std::fs::read(&master) {
        Ok(data) => match rules::read_as_mirror_status(&String::from_utf8_lossy(&data)) {
            Ok(t) => (Some(t.date), t.serial),
            Err(_) => (None, trace::read_field(&master, "Archive serial")),
        },
        Err(_) => (None, None),
    }
}

/// Check every downstream with an http line now, and record it.
pub fn refresh(
    layout: &crate::common::layout::Layout,
    s: &ArchiveSettings,
    timeout: Duration,
) -> Record {
    let now = OffsetDateTime::now_utc();
    let mut record = Record {
        checked_at: now.unix_timestamp(),
        ..Record::default()
    };
    let targets = match downstream_urls(layout, &s.archive) {
        Ok(Some((t, problems))) => {
            record.problems = problems;
            t
        }
        Ok(None) => {
            record.note = Some("no runmirrors config, so no downstreams to check".into());
            Vec::new()
        }
        Err(why) => {
            record.problems.push(why);
            Vec::new()
        }
    };
    let https = targets.iter().any(|t| t.1.starts_with("https://"));
    let fetcher = match Fetcher::new(timeout, https.then(|| Path::new(&s.ssl_capath))) {
        Ok(f) => Some(f),
        Err(e) => {
            record.problems.push(format!(
                "cannot load the CA certificates {}: {e}",
                s.ssl_capath
            ));
            None
        }
    };
    let (our_date, our_serial) = ours(&s.to);
    if let Some(f) = &fetcher {
        for chunk in targets.chunks(PARALLEL) {
            let reports: Vec<_> = std::thread::scope(|scope| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|(_, url, site)| {
                        let site = site.clone().map(|s| (s, "its http line".to_string()));
                        scope.spawn(move || check(f, url, site, None, now))
                    })
                    .collect();
                handles.into_iter().map(|h| h.join()).collect()
            });
            for ((name, url, _), report) in chunk.iter().zip(reports) {
                let check = match report {
                    Ok(r) => summarize(name, &r, our_date, our_serial.clone()),
                    Err(_) => DownstreamCheck {
                        name: name.clone(),
                        url: url.clone(),
                        site: None,
                        status: Level::Error,
                        problem: Some("the check itself failed".into()),
                        serial: None,
                        our_serial: our_serial.clone(),
                        serial_lag_seconds: None,
                        age_seconds: None,
                    },
                };
                record.downstreams.push(check);
            }
        }
    }
    if let Err(e) = crate::report::downstream_health::write(s, &record) {
        record.problems.push(e);
    }
    record
}

/// (SHORTNAME, URL, SITE) of every mirror with an http line, and the list's bad lines.
type Targets = Vec<(String, String, Option<String>)>;

/// None: a mirror that pushes nobody (no runmirrors config, or no mirror list).
fn downstream_urls(
    layout: &crate::common::layout::Layout,
    archive: &str,
) -> Result<Option<(Targets, Vec<String>)>, String> {
    let name = if archive.is_empty() {
        "runmirrors".to_string()
    } else {
        crate::common::config::sanitize_name(&format!("runmirrors-{archive}"))
    };
    if crate::common::config::find(&layout.confdirs, &name).is_none() {
        return Ok(None);
    }
    let push = crate::settings::push::PushSettings::load(layout, archive)
        .map_err(|r| format!("no downstreams checked: {}", r.message))?;
    let Some(list) = push.mirrors else {
        return Ok(None);
    };
    let (entries, errors) =
        mirrorlist::read(&list).map_err(|e| format!("cannot read {}: {e}", list.display()))?;
    let problems = errors
        .iter()
        .map(|e| format!("{}:{}: {}", list.display(), e.line, e.message))
        .collect();
    let targets = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Mirror(t) => t
                .http
                .as_ref()
                .map(|h| (t.name.clone(), h.url.clone(), h.site.clone())),
            _ => None,
        })
        .filter(|(_, url, _)| is_http_url(url))
        .collect();
    Ok(Some((targets, problems)))
}

fn summarize(
    name: &str,
    r: &Report,
    our_date: Option<OffsetDateTime>,
    our_serial: Option<String>,
) -> DownstreamCheck {
    let serial = r.master.as_ref().and_then(|m| m.serial.clone());
    let their_date = r.master.as_ref().and_then(|m| m.date);
    let serial_lag_seconds = match (&serial, &our_serial, their_date, our_date) {
        (Some(a), Some(b), _, _) if a == b => Some(0),
        (_, _, Some(theirs), Some(ours)) => Some((ours.unix_timestamp() - theirs).max(0)),
        _ => None,
    };
    DownstreamCheck {
        name: name.to_string(),
        url: r.url.clone(),
        site: r.site.clone(),
        status: r.status,
        problem: r.problem(),
        serial,
        our_serial,
        serial_lag_seconds,
        age_seconds: r.age_seconds,
    }
}

/// An age in words, `-` when unknown.
fn age_words_or_dash(secs: Option<i64>) -> String {
    secs.map_or_else(|| "-".to_string(), crate::report::human_age)
}

/// The downstreams' table under status' own.
pub fn table(archive: &str, record: &Record, colour: bool) -> String {
    let name = if archive.is_empty() {
        "(default)"
    } else {
        archive
    };
    let header = [
        "DOWNSTREAM",
        "CHECK",
        "SERIAL THEIRS/OURS",
        "LAG",
        "AGE",
        "URL",
    ];
    let rows: Vec<Vec<String>> = record
        .downstreams
        .iter()
        .map(|d| {
            vec![
                d.name.clone(),
                d.status.as_str().to_string(),
                format!(
                    "{}/{}",
                    d.serial.as_deref().unwrap_or("-"),
                    d.our_serial.as_deref().unwrap_or("-")
                ),
                age_words_or_dash(d.serial_lag_seconds),
                age_words_or_dash(d.age_seconds),
                d.url.clone(),
            ]
        })
        .collect();
    let mut out = format!("\nDownstreams of {name}, as Debian's monitors see them:\n");
    if rows.is_empty() {
        out.push_str("(none with an http line)\n");
    } else {
        out.push_str(&crate::common::term::columns(
            &header,
            &rows,
            |row, col, padded| match (row.checked_sub(1), col) {
                (Some(r), 1) => record.downstreams[r].status.paint(padded, colour),
                _ => padded,
            },
        ));
    }
    for d in &record.downstreams {
        if let Some(p) = &d.problem {
            out.push_str(&format!("{}: {}: {p}\n", d.name, d.status.as_str()));
        }
    }
    for p in record.note.iter().chain(&record.problems) {
        out.push_str(&format!("{name}: {p}\n"));
    }
    out
}
