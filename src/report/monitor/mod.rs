//! A mirror as Debian's monitors see them: its traces (`project/trace/master` and the
//! site's own), the markers and the two-stage HEAD are fetched over HTTP(S) (`fetch`) and
//! judged by the rules of mirror-status and the http-redirector (`rules`, no I/O). Each
//! rule says ok, warning or error, and why, or that it could not be tested (which leaves
//! the verdict alone). The `check-mirror` command and `status --downstreams` both check
//! a mirror with [`check`].

pub mod fetch;
pub mod rules;

use crate::common::dates;
use fetch::Fetcher;
use rules::{Level, Verdict, HTTP_REDIRECTOR, MIRROR_STATUS};
use serde::Serialize;
use time::OffsetDateTime;

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
    let master_url = format!("{base}{}", crate::common::trace::MASTER);
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
