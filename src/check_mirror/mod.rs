//! `archvsync check-mirror [URL...]`: a mirror as Debian's monitors see it, checked by
//! `report::monitor` (the traces fetched over HTTP(S) and judged by the rules of
//! mirror-status and the http-redirector). This is the command: its options, the table
//! or `--json`, and the exit status, a Nagios check's: 0 OK, 1 WARNING,
//! 2 CRITICAL, 3 UNKNOWN (nothing to check). Without a URL the mirror's own public URL
//! (MIRROR_URL in its ftpsync config) is checked, with MIRRORNAME as the site.

use crate::common::http::is_http_url;
use crate::common::layout::Layout;
use crate::report::monitor::fetch::Fetcher;
use crate::report::monitor::rules::Level;
use crate::report::monitor::{check, Report};
use crate::report::worst_exit;
use crate::settings::archive::ArchiveSettings;
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
    /// [`crate::report::monitor::rules::TWO_STAGE_SUITES`] the mirror carries.
    pub suite: Option<String>,
    pub json: bool,
    pub timeout: Duration,
    /// CA directory or file for HTTPS; default the config's RSYNC_SSL_CAPATH, or
    /// /etc/ssl/certs.
    pub ca: Option<PathBuf>,
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
        let s = match ArchiveSettings::load(layout, &archive, None) {
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
