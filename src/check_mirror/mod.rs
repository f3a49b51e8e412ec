//! `archvsync check-mirror [URL...]`: a mirror as Debian's monitors see it. The traces
//! (`project/trace/master` and the site's own) are fetched over HTTP(S) and judged by the
//! rules of mirror-status and the http-redirector (see `rules`); each rule says ok,
//! warning or error, and why, or that it could not be tested (which leaves the verdict
//! alone). The exit status is a Nagios check's: 0 OK, 1 WARNING,
//! 2 CRITICAL, 3 UNKNOWN (nothing to check). Without a URL the mirror's own public URL
//! (MIRROR_URL in its ftpsync config) is checked, with MIRRORNAME as the site.
//!
//! `downstreams` runs the same check for `status --downstreams`.

pub mod downstreams;
pub mod fetch;
pub mod rules;

use crate::common::dates;
use crate::common::http::is_http_url;
use crate::common::layout::Layout;
use crate::settings::archive::Settings;
use fetch::Fetcher;
use rules::{Level, Verdict, HTTP_REDIRECTOR, MIRROR_STATUS};
use serde::Serialize;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;
use time::OffsetDateTime;

/// Seconds each request may take; Debian's checkers allow 10 and 30.
pub const DEFAULT_TIMEOUT: u64 = 30;
/// Where HTTPS servers' certificates are verified against when no config says otherwise.
pub const DEFAULT_CA: &str = "/etc/ssl/certs";

/// UNKNOWN: nothing could be checked (no URL, no usable config).
pub const EX_UNKNOWN: u8 = 3;
const EX_USAGE: u8 = 64;

#[derive(Debug, Clone)]
pub struct Options {
    /// Mirrors to check (the directory holding `project/trace/`); none: MIRROR_URL.
    pub urls: Vec<String>,
    /// The site's trace file name; found from the listing when not given.
    pub site: Option<String>,
    /// Which ftpsync config gives MIRROR_URL (`ftpsync-ARCHIVE.conf`).
    pub archive: Option<String>,
    /// The suite the two-stage test asks for; none: the first of
    /// [`rules::TWO_STAGE_SUITES`] the mirror carries.
    pub suite: Option<String>,
    pub json: bool,
    pub timeout: Duration,
    /// CA directory or file for HTTPS; default the config's RSYNC_SSL_CAPATH, or
    /// /etc/ssl/certs.
    pub ca: Option<PathBuf>,
}

/// A trace as found: where, its date (Unix seconds) and archive serial.
#[derive(Debug, Clone, Serialize)]
pub struct TraceSummary {
    pub url: String,
    pub date: Option<i64>,
    pub serial: Option<String>,
}

/// One mirror's check, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub url: String,
    pub site: Option<String>,
    /// How the site was found (`--site`, the listing, `_hierarchy`, the config).
    pub site_from: Option<String>,
    /// The worst level of the rules.
    pub status: Level,
    pub master: Option<TraceSummary>,
    pub site_trace: Option<TraceSummary>,
    /// The mirror's age as scored (the older of its two traces), in seconds.
    pub age_seconds: Option<i64>,
    pub rules: Vec<Verdict>,
}

impl Report {
    /// The first rule that is not ok, in words, for one-line summaries.
    pub fn problem(&self) -> Option<String> {
        self.rules
            .iter()
            .filter(|v| v.level == self.status && v.level != Level::Ok)
            .map(|v| format!("{} {}: {}", v.monitor, v.rule, v.reason))
            .next()
    }
}

/// The URL of a mirror's top directory, ending in `/`.
fn base_url(url: &str) -> String {
    if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    }
}

/// Check one mirror. `site`: the trace file's name and how it was chosen, if known;
/// `suite`: the two-stage test's (`--suite`), if given.
pub fn check(
    f: &Fetcher,
    url: &str,
    site: Option<(String, String)>,
    suite: Option<&str>,
    now: OffsetDateTime,
) -> Report {
    let base = base_url(url);
    let mut report = Report {
        url: base.clone(),
        site: None,
        site_from: None,
        status: Level::Ok,
        master: None,
        site_trace: None,
        age_seconds: None,
        rules: Vec::new(),
    };
    let master_url = format!("{base}project/trace/master");
    let master_answer = f.get(&master_url);
    let unreachable = master_answer.is_err();
    let master_fetched: rules::Fetched = master_answer.and_then(|a| {
        if a.status == 200 {
            Ok(a.body)
        } else {
            Err(format!(
                "HTTP {} for {master_url}: is {base} the top of a Debian archive, where project/trace/ is?",
                a.status
            ))
        }
    });
    let (mut verdicts, master_status, master_redir) =
        rules::trace_rules("master trace", &master_fetched, now);
    report.master = Some(TraceSummary {
        url: master_url,
        date: master_status.as_ref().map(|t| t.date.unix_timestamp()),
        serial: master_status.as_ref().and_then(|t| t.serial.clone()),
    });
    if unreachable {
        // Every other request would fail the same way: one clear error is enough.
        report.rules = verdicts;
        report.status = Level::Error;
        return report;
    }

    let site = match site {
        Some(s) => Ok(s),
        None => fetch::find_site(f, &base).map(|(s, how)| (s, how.to_string())),
    };
    let (site_status, site_redir) = match site {
        Err(why) => {
            for monitor in [MIRROR_STATUS, HTTP_REDIRECTOR] {
                verdicts.push(rules::verdict(
                    monitor,
                    "site trace",
                    Level::Error,
                    why.clone(),
                ));
            }
            (None, None)
        }
        Ok((name, how)) => {
            let site_url = format!("{base}project/trace/{name}");
            let fetched = f.get_ok(&site_url);
            let (v, status, redir) = rules::trace_rules("site trace", &fetched, now);
            verdicts.extend(v);
            report.site_trace = Some(TraceSummary {
                url: site_url,
                date: status.as_ref().map(|t| t.date.unix_timestamp()),
                serial: status.as_ref().and_then(|t| t.serial.clone()),
            });
            for (rule, file) in [
                ("Archive-Update-in-Progress", "Archive-Update-in-Progress"),
                ("Archive-Update-Required", "Archive-Update-Required"),
            ] {
                let marker_url = format!("{base}{file}-{name}");
                let answer = match f.get(&marker_url) {
                    Ok(a) if a.status == 404 || a.status == 403 => rules::MarkerAnswer::Absent,
                    Ok(a) if a.status == 200 => rules::MarkerAnswer::Present(a.last_modified),
                    Ok(a) => {
                        rules::MarkerAnswer::Failed(format!("HTTP {} for {marker_url}", a.status))
                    }
                    Err(e) => rules::MarkerAnswer::Failed(e),
                };
                verdicts.push(rules::marker_rule(rule, &answer, now));
            }
            report.site = Some(name);
            report.site_from = Some(how);
            (status, redir)
        }
    };

    if let (Some(m), Some(s)) = (&master_status, &site_status) {
        let (v, age) = rules::age_rule(m, s, now);
        verdicts.push(v);
        report.age_seconds = Some(age);
    }
    if let Some(s) = &site_redir {
        verdicts.extend(rules::redirector_rules(s, master_redir.as_ref()));
    }
    if let Some(m) = &master_redir {
        let since = dates::http_date(m.date);
        let (probes, search) = fetch::two_stage_probes(f, &base, suite, &since);
        verdicts.push(rules::two_stage_rule(&probes, &since, search));
    }
    // mirror-status' rules first, each monitor's in the order they were made.
    verdicts.sort_by_key(|v| v.monitor != MIRROR_STATUS);
    report.status = verdicts.iter().map(|v| v.level).max().unwrap_or(Level::Ok);
    report.rules = verdicts;
    report
}

/// An age in words, `-` when unknown.
pub fn age_words_or_dash(secs: Option<i64>) -> String {
    secs.map_or_else(|| "-".to_string(), crate::report::human_age)
}

/// The exit status of several checks: CRITICAL over UNKNOWN over WARNING over OK.
pub fn worst_exit(codes: impl IntoIterator<Item = u8>) -> u8 {
    let codes: Vec<u8> = codes.into_iter().collect();
    [2, EX_UNKNOWN, 1]
        .into_iter()
        .find(|c| codes.contains(c))
        .unwrap_or(0)
}

/// A table of the rules, one block per mirror.
pub fn render(reports: &[Report], colour: bool) -> String {
    let paint = |l: Level, text: String| l.paint(text, colour);
    let mut out = String::new();
    for r in reports {
        let site = match (&r.site, &r.site_from) {
            (Some(s), Some(how)) => format!(" (site {s}, from {how})"),
            _ => String::new(),
        };
        out.push_str(&format!(
            "{}{site}: {}\n",
            r.url,
            paint(r.status, r.status.as_str().to_uppercase())
        ));
        let w_monitor = r.rules.iter().map(|v| v.monitor.len()).max().unwrap_or(0);
        let w_rule = r.rules.iter().map(|v| v.rule.len()).max().unwrap_or(0);
        for v in &r.rules {
            let level = format!("{:<8}", v.level_str());
            out.push_str(&format!(
                "  {}  {:<w_monitor$}  {:<w_rule$}  {}\n",
                if v.tested {
                    paint(v.level, level)
                } else {
                    level
                },
                v.monitor,
                v.rule,
                v.reason
            ));
        }
    }
    out
}

pub fn main(layout: &Layout, opts: Options) -> u8 {
    let mut targets: Vec<(String, Option<(String, String)>)> = Vec::new();
    let mut ca = opts.ca.clone();
    let given_site = opts.site.clone().map(|s| (s, "--site".to_string()));
    if opts.urls.is_empty() {
        let archive = opts.archive.clone().unwrap_or_default();
        let s = match Settings::load(layout, &archive, None) {
            Ok(s) => s,
            Err(refusal) => {
                eprintln!("check-mirror: no URL given, and {}", refusal.message);
                return EX_UNKNOWN;
            }
        };
        let Some(url) = s.mirror_url.clone() else {
            eprintln!(
                "check-mirror: no URL given, and MIRROR_URL is not set in {}",
                s.core.config_path.display()
            );
            return EX_UNKNOWN;
        };
        ca = ca.or_else(|| Some(PathBuf::from(&s.ssl_capath)));
        let site = given_site.or_else(|| {
            Some((
                s.mirrorname.clone(),
                format!("MIRRORNAME in {}", s.core.config_path.display()),
            ))
        });
        targets.push((url, site));
    } else {
        for url in &opts.urls {
            targets.push((url.clone(), given_site.clone()));
        }
    }
    if let Some((bad, _)) = targets.iter().find(|(u, _)| !is_http_url(u)) {
        eprintln!("check-mirror: {bad:?} is not an http:// or https:// URL");
        return EX_USAGE;
    }
    let https = targets.iter().any(|(u, _)| u.starts_with("https://"));
    let ca = ca.unwrap_or_else(|| PathBuf::from(DEFAULT_CA));
    let f = match Fetcher::new(opts.timeout, https.then_some(ca.as_path())) {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "check-mirror: cannot load the CA certificates {}: {e}",
                ca.display()
            );
            return EX_UNKNOWN;
        }
    };
    let now = OffsetDateTime::now_utc();
    let reports: Vec<Report> = targets
        .into_iter()
        .map(|(url, site)| check(&f, &url, site, opts.suite.as_deref(), now))
        .collect();
    if opts.json {
        match serde_json::to_string_pretty(&reports) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("check-mirror: cannot render JSON: {e}");
                return EX_UNKNOWN;
            }
        }
    } else {
        print!("{}", render(&reports, std::io::stdout().is_terminal()));
    }
    worst_exit(reports.iter().map(|r| r.status.exit_code()))
}
