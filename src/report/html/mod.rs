//! The status page (`status --html FILE`, STATUS_HTML): one self-contained HTML file that an
//! operator opens in a browser, per archive its health now, its last runs, lag and sync
//! duration over two weeks, the chain of upstreams, the downstreams and the last push.
//!
//! Inline CSS and SVG only: no script, no font, no image, no fetch of any kind (its
//! Content-Security-Policy forbids them), so it shows the same from file://, from a mail,
//! or from a web root that serves nothing else. Every string from configs, records and
//! trace files (which upstreams write) is HTML-escaped. Colour is never the only sign: each
//! state has a symbol and a word, and the palette is blue/orange (Okabe-Ito), which readers
//! with red-green colour blindness tell apart.

mod charts;
mod sections;

use super::{gather, ArchiveStatus, Health, DEFAULT_MAX_AGE};
use crate::common::dates::{self, TraceDateReader};
use crate::common::history::{self, Record};
use crate::common::trace;
use crate::settings::archive::ArchiveSettings;
use std::io::Read;
use std::path::Path;

/// Runs the table lists, newest first.
pub const TABLE_RUNS: usize = 20;
/// What the charts span, back from the page's time.
pub const CHART_SECONDS: i64 = 14 * 86400;
/// A `_hierarchy` is written by every mirror above us: only so much of it is shown.
const HIERARCHY_LINES: usize = 64;
const FIELD_CHARS: usize = 200;
/// Trace files are small; one that is not is not read whole.
const TRACE_BYTES: u64 = 64 * 1024;

/// One archive as the page shows it.
#[derive(Debug, Clone)]
pub struct ArchivePage {
    pub status: ArchiveStatus,
    /// Oldest first, as the history file keeps them.
    pub history: Vec<Record>,
    pub traces: Traces,
}

/// What the page reads from the archive's trace files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Traces {
    /// `_hierarchy`, the mirror nearest the archive's source first, ours last.
    pub hierarchy: Vec<HierarchyLine>,
    /// When the archive we serve was made: the master trace's `Date:`, Unix seconds.
    pub master_date: Option<i64>,
    /// When our last sync finished: our own trace's `Date:`.
    pub our_date: Option<i64>,
}

/// `TRACEFILE MIRRORNAME HOST UPSTREAM`: one mirror of the chain and whom it pulls from.
#[derive(Debug, Clone, PartialEq)]
pub struct HierarchyLine {
    pub tracefile: String,
    pub mirrorname: String,
    pub host: String,
    pub upstream: String,
}

impl Traces {
    /// The trace files of `to`, ours being `project/trace/MIRRORNAME`.
    pub fn read(to: &Path, mirrorname: &str) -> Traces {
        let text = |rel: &str| read_capped(&to.join(rel));
        let hierarchy = text(trace::HIERARCHY)
            .map(|t| hierarchy_lines(&t))
            .unwrap_or_default();
        Traces {
            hierarchy,
            master_date: text(trace::MASTER).as_deref().and_then(trace_date),
            our_date: text(&format!("{}/{mirrorname}", trace::TRACEDIR))
                .as_deref()
                .and_then(trace_date),
        }
    }
}

fn read_capped(path: &Path) -> Option<String> {
    let mut data = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(TRACE_BYTES)
        .read_to_end(&mut data)
        .ok()?;
    Some(String::from_utf8_lossy(&data).into_owned())
}

/// The lines of a `_hierarchy`, the last [`HIERARCHY_LINES`] of them (ours is last).
fn hierarchy_lines(text: &str) -> Vec<HierarchyLine> {
    let cut =
        |s: Option<&str>| -> String { s.unwrap_or("unknown").chars().take(FIELD_CHARS).collect() };
    let lines: Vec<HierarchyLine> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split_whitespace();
            HierarchyLine {
                tracefile: cut(f.next()),
                mirrorname: cut(f.next()),
                host: cut(f.next()),
                upstream: cut(f.next()),
            }
        })
        .collect();
    let skip = lines.len().saturating_sub(HIERARCHY_LINES);
    lines.into_iter().skip(skip).collect()
}

/// A trace file's date: its `Date:` field, else its first line (`date -u`), which Debian's
/// mirror checker reads.
fn trace_date(text: &str) -> Option<i64> {
    trace::field(text, "Date")
        .and_then(|d| parse_rfc2822(&d))
        .or_else(|| {
            let first = text.lines().next()?;
            dates::parse_trace_date(first, TraceDateReader::MirrorStatus)
                .ok()
                .map(|t| t.unix_timestamp())
        })
}

/// `date -R`: `Fri, 21 Nov 2026 08:00:00 +0000` (the weekday optional, the zone a numeric
/// offset or GMT/UTC).
fn parse_rfc2822(s: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let rest = s.split_once(',').map_or(s, |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let [day, mon, year, hms, zone] = f[..] else {
        return None;
    };
    let month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(mon))
        .and_then(|i| time::Month::try_from(u8::try_from(i + 1).ok()?).ok())?;
    let date = time::Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()?;
    let mut t = hms.split(':').map(|x| x.parse::<u8>().ok());
    let clock = time::Time::from_hms(t.next()??, t.next()??, t.next()??).ok()?;
    let offset = match zone {
        "GMT" | "UTC" | "Z" => 0,
        z => {
            let (sign, digits) = match z.as_bytes().first()? {
                b'+' => (1, &z[1..]),
                b'-' => (-1, &z[1..]),
                _ => return None,
            };
            if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let h: i64 = digits[..2].parse().ok()?;
            let m: i64 = digits[2..].parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
    };
    Some(
        time::PrimitiveDateTime::new(date, clock)
            .assume_utc()
            .unix_timestamp()
            - offset,
    )
}

/// Everything the page shows of one archive, `status` being what [`gather`] found.
pub fn gather_page(s: &ArchiveSettings, status: ArchiveStatus) -> ArchivePage {
    ArchivePage {
        history: history::read(&history::path(&s.core.logdir, &s.core.name)),
        traces: Traces::read(&s.to, &s.mirrorname),
        status,
    }
}

/// An archive whose config could not be loaded: its status alone.
pub fn page_without_settings(status: ArchiveStatus) -> ArchivePage {
    ArchivePage {
        status,
        history: Vec::new(),
        traces: Traces::default(),
    }
}

/// STATUS_HTML: this archive's page, replaced atomically (a web server never serves half a
/// page).
pub fn write_page_file(path: &Path, s: &ArchiveSettings) -> std::io::Result<()> {
    let page = gather_page(s, gather(s, DEFAULT_MAX_AGE));
    let html = render(&[page], crate::common::state::now());
    crate::common::atomic::write(path, html.as_bytes())
}

/// The whole page; `now` (Unix seconds) is when it is made: ages and the charts' span are
/// counted from it.
pub fn render(pages: &[ArchivePage], now: i64) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let names: Vec<String> = pages.iter().map(|p| title_of(&p.status)).collect();
    out.push_str(&format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"generator\" content=\"{}\">\n<title>Mirror status: {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        esc(trace::CREATOR),
        esc(&names.join(", "))
    ));
    out.push_str(&format!(
        "<header>\n<h1>Mirror status</h1>\n<p class=\"generated\">Made {} by {}. Times are UTC; ages count from then.</p>\n",
        time_html(now),
        esc(trace::CREATOR)
    ));
    sections::summary(&mut out, pages, now);
    out.push_str("</header>\n<main>\n");
    for (i, p) in pages.iter().enumerate() {
        sections::archive(&mut out, i, p, now);
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// `MIRRORNAME (ARCHIVE)`, the archive being `default` for ftpsync.conf.
fn title_of(a: &ArchiveStatus) -> String {
    let archive = if a.archive.is_empty() {
        "default"
    } else {
        &a.archive
    };
    match &a.mirrorname {
        Some(m) => format!("{m} ({archive})"),
        None => archive.to_string(),
    }
}

/// HTML-escaped text: safe in element content and in quoted attribute values. Control
/// characters (but tab and newline) become U+FFFD: a trace may hold anything.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `2026-12-07 04:09:12 UTC`.
fn time_text(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// A `<time>` element (machine-readable datetime, the text as [`time_text`]).
fn time_html(t: i64) -> String {
    time_element(t, time_text(t))
}

/// [`time_html`] without ` UTC`, for tables whose header says it.
fn time_cell(t: i64) -> String {
    let text = time_text(t);
    let short = text.strip_suffix(" UTC").unwrap_or(&text).to_string();
    time_element(t, short)
}

fn time_element(t: i64, text: String) -> String {
    let iso = time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .ok()
        })
        .unwrap_or_default();
    format!("<time datetime=\"{iso}\">{text}</time>")
}

/// A duration or age: `45s`, `12m`, `3h05m`, `2d04h`; a negative one (clocks apart) keeps
/// its sign.
fn span(secs: i64) -> String {
    if secs < 0 {
        format!("-{}", super::human_age(secs.saturating_neg()))
    } else {
        super::human_age(secs)
    }
}

/// Seconds with a fraction, as ssh sessions are timed: `0.4s`, `12.3s`, then as [`span`].
fn span_f(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        span(secs as i64)
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The badge of a health: symbol and word, the colour a third sign only.
fn health_badge(h: Health) -> String {
    let (class, sym, word) = match h {
        Health::Ok => ("ok", "✔", "ok"),
        Health::Failed => ("failed", "✖", "failed"),
        Health::Stale => ("stale", "⚠", "stale"),
        Health::Never => ("never", "∅", "never synced"),
        Health::Unknown => ("unknown", "?", "unknown"),
    };
    format!("<span class=\"badge {class}\"><span class=\"sym\" aria-hidden=\"true\">{sym}</span> {word}</span>")
}

const CSS: &str = r#"
:root{--blue:#0072B2;--blue-bg:#e1eef8;--blue-ink:#004a75;--orange:#D55E00;--orange-bg:#fbe5d8;
--orange-ink:#8a3300;--yellow:#E69F00;--yellow-bg:#fdf1d6;--yellow-ink:#6b4a00;--grey:#6b6b6b;
--grey-bg:#eeeeee;--rule:#d0d0d0;--ink:#1a1a1a}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1400px;padding:0 1rem 2rem;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);background:#fff}
h1{font-size:1.5rem;margin:1rem 0 .25rem}
h2{font-size:1.3rem;margin:0 0 .5rem;display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}
h3{font-size:1.05rem;margin:1.25rem 0 .4rem}
.generated,.note{color:var(--grey);margin:.25rem 0}
section.archive{border-top:3px solid var(--rule);margin-top:1.5rem;padding-top:1rem}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%}
table{border-collapse:collapse;font-size:.88rem;white-space:nowrap}
th,td{border-bottom:1px solid var(--rule);padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f6f6;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.wrap{white-space:normal;min-width:9rem;max-width:20rem}
tr.failed td{background:var(--orange-bg)}
tr.failed td.result,.res.failed{color:var(--orange-ink);font-weight:600}
.res.ok{color:var(--blue-ink)}
.res.warn{color:var(--yellow-ink);font-weight:600}
.res.none{color:var(--grey)}
.badge{display:inline-block;border:2px solid;border-radius:1rem;padding:0 .6rem;font-size:.9rem;font-weight:600;white-space:nowrap}
.badge.ok{color:var(--blue-ink);background:var(--blue-bg);border-color:var(--blue)}
.badge.failed{color:var(--orange-ink);background:var(--orange-bg);border-color:var(--orange)}
.badge.stale{color:var(--yellow-ink);background:var(--yellow-bg);border-color:var(--yellow)}
.badge.never,.badge.unknown{color:#333;background:var(--grey-bg);border-color:var(--grey)}
.badge.busy{color:var(--blue-ink);background:#fff;border-color:var(--blue);border-style:dashed}
.problem{border-left:4px solid var(--orange);background:var(--orange-bg);padding:.3rem .6rem;margin:.25rem 0}
dl.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(16rem,1fr));gap:.25rem 1.5rem;margin:.5rem 0}
dl.facts div{border-bottom:1px dotted var(--rule);padding:.15rem 0}
dt{font-size:.8rem;color:var(--grey);text-transform:uppercase;letter-spacing:.03em}
dd{margin:0;overflow-wrap:anywhere}
code{font-family:"DejaVu Sans Mono",monospace;font-size:.85em;overflow-wrap:anywhere}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,32rem),1fr));gap:1rem}
figure{margin:0}
figcaption{font-weight:600;margin-bottom:.25rem}
svg.chart{width:100%;height:auto;max-width:720px;display:block;background:#fff}
svg.chart .axis{stroke:#333;stroke-width:1}
svg.chart .grid{stroke:#e4e4e4;stroke-width:1}
svg.chart text{font-size:12px;fill:#333;font-family:system-ui,"DejaVu Sans",sans-serif}
svg.chart text.title{font-size:12px;fill:#555}
svg.chart .line{fill:none;stroke:var(--blue);stroke-opacity:.45;stroke-width:1.5}
svg.chart circle.ok{fill:var(--blue);stroke:#fff;stroke-width:1}
svg.chart circle.failed{fill:var(--orange);stroke:#fff;stroke-width:1}
svg.chart circle.unknown{fill:#fff;stroke:var(--grey);stroke-width:1.5;stroke-dasharray:2 1.5}
svg.chart .cross{stroke:#fff;stroke-width:1.8;pointer-events:none}
svg.chart .empty{font-size:14px;fill:var(--grey)}
.legend{font-size:.85rem;color:#333;margin:.2rem 0 0;display:flex;flex-wrap:wrap;gap:.1rem 1rem}
.legend>span{white-space:nowrap}
.key-ok{color:var(--blue)}.key-failed{color:var(--orange)}.key-unknown{color:var(--grey)}
ol.chain,ol.timeline{margin:.25rem 0;padding-left:1.6rem}
ol.chain li,ol.timeline li{margin:.15rem 0}
ol.chain li.us{font-weight:600}
.delta{color:var(--grey);font-variant-numeric:tabular-nums}
@media (max-width:600px){body{font-size:14px;padding:0 .5rem 1rem}h2{font-size:1.15rem}}
@media print{body{max-width:none;font-size:10pt;padding:0}.scroll{overflow:visible}
table{white-space:normal;font-size:8.5pt}section.archive{break-before:page;border-top:none}
section.archive:first-of-type{break-before:auto}figure,tr,li{break-inside:avoid}
tr.failed td,.badge,.problem{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"#;

#[cfg(test)]
mod tests;
