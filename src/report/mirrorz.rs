//! `status --mirrorz`: the archives as a `mirrorz.json`, the document a mirror site
//! publishes to join the MirrorZ federation of mirror sites. The format is MirrorZ's
//! "Data Format v1.7" (github.com/mirrorz-org/mirrorz, README.md, section "Data Format
//! v1.7" and its "Notes"): `site` (only `url` and `abbr` required, `url` without a
//! trailing slash), `info` (may be `[]`), and `mirrors`, one per archive here, whose
//! `status` is one main status letter with an optional Unix timestamp (`S` success, `Y`
//! syncing, `F` failed, `U` unknown, ...) followed by auxiliary ones (`O`: the last success,
//! only beside syncing or failed).

use super::ArchiveStatus;
use crate::common::history::Record;
use crate::common::kinds::RunResult;
use crate::settings::archive::ArchiveSettings;
use serde::Serialize;

pub const VERSION: f64 = 1.7;

#[derive(Debug, Clone, Serialize)]
pub struct Mirrorz {
    pub version: f64,
    pub site: Site,
    /// The category view's entries (ISO images and the like): an archive has none.
    pub info: Vec<serde_json::Value>,
    pub mirrors: Vec<Mirror>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Site {
    pub url: String,
    pub abbr: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mirror {
    pub cname: String,
    pub desc: String,
    pub url: String,
    pub status: String,
    pub help: String,
    pub upstream: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
}

/// The document for `archives` (each with its settings, when its config loaded), in their
/// order. The site is the first archive's: its MIRROR_URL's scheme and host, and MIRRORNAME;
/// without a MIRROR_URL anywhere, `https://MIRRORNAME`.
pub fn document(archives: &[(&ArchiveStatus, Option<&ArchiveSettings>)]) -> Mirrorz {
    let settings: Vec<&ArchiveSettings> = archives.iter().filter_map(|(_, s)| *s).collect();
    let name = settings
        .first()
        .map(|s| s.mirrorname.clone())
        .unwrap_or_else(crate::common::host::fqdn);
    let site_url = settings
        .iter()
        .find_map(|s| s.mirror_url.as_deref().and_then(split_url))
        .map(|(origin, _)| origin)
        .unwrap_or_else(|| format!("https://{name}"));
    let mirrors = archives
        .iter()
        .map(|(a, s)| {
            let cname = if a.archive.is_empty() {
                "debian".to_string()
            } else {
                a.archive.clone()
            };
            let url = match s.and_then(|s| s.mirror_url.as_deref()).and_then(split_url) {
                // The format's relative form: a path on the site, no trailing slash.
                Some((origin, path)) if origin == site_url && !path.is_empty() => path,
                Some((origin, path)) => format!("{origin}{path}"),
                None => format!("/{cname}"),
            };
            Mirror {
                url,
                status: status(a),
                desc: String::new(),
                help: String::new(),
                upstream: s.map(|s| without_user(&s.rsync_source)).unwrap_or_default(),
                size: None,
                cname,
            }
        })
        .collect();
    Mirrorz {
        version: VERSION,
        site: Site {
            url: site_url,
            abbr: name.clone(),
            name,
        },
        info: Vec::new(),
        mirrors,
    }
}

/// `http[s]://HOST[:PORT]` and the path after it without its trailing slashes (`/debian`,
/// or empty for the top), of an http(s) URL.
fn split_url(url: &str) -> Option<(String, String)> {
    if !crate::common::http::is_http_url(url) {
        return None;
    }
    let (scheme, rest) = url.split_once("://")?;
    let (host, path) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if host.is_empty() {
        return None;
    }
    let path = path.split(['?', '#']).next().unwrap_or_default();
    Some((
        format!("{scheme}://{host}"),
        path.trim_end_matches('/').to_string(),
    ))
}

/// The upstream as the public may see it: the login name is our business.
fn without_user(source: &str) -> String {
    if let Some(rest) = source.strip_prefix("rsync://") {
        let (auth, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
        return format!("rsync://{host}/{path}");
    }
    match source.split_once(':') {
        Some((auth, rest)) if !auth.contains('/') => {
            let host = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
            format!("{host}:{rest}")
        }
        _ => source.to_string(),
    }
}

/// The format's status of one archive: `Y` since the running sync took its lock, else the
/// last run's `S` (with the end of the last success) or `F` (with the end of the failed
/// run), `O` with the last success beside a `Y` or an `F`; `U` when no run is known. The
/// state record says it; the history stands in for a record that cannot be read.
pub fn status(a: &ArchiveStatus) -> String {
    let runs = || {
        a.history.iter().rev().filter_map(|r| match r {
            Record::Run(r) => Some(r),
            Record::Push(_) => None,
        })
    };
    let last_run = a
        .last_run
        .as_ref()
        .map(|r| (r.result, r.ended))
        .or_else(|| runs().next().map(|r| (r.result, r.ended)));
    let last_success = a.last_success.as_ref().map(|r| r.ended).or_else(|| {
        runs()
            .find(|r| r.result == RunResult::Success)
            .map(|r| r.ended)
    });
    let old_success = || {
        last_success
            .map(|t| stamp('O', Some(t)))
            .unwrap_or_default()
    };
    if let Some(p) = &a.in_progress {
        return stamp('Y', p.since) + &old_success();
    }
    match last_run {
        None => "U".to_string(),
        Some((RunResult::Success, ended)) => stamp('S', last_success.or(Some(ended))),
        Some((_, ended)) => stamp('F', Some(ended)) + &old_success(),
    }
}

/// A status letter and its timestamp, left out when there is none a reader could take
/// (the format's timestamps are digits only).
fn stamp(letter: char, t: Option<i64>) -> String {
    match t.filter(|t| *t >= 0) {
        Some(t) => format!("{letter}{t}"),
        None => letter.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::history::RunRecord;
    use crate::common::state::SyncRun;
    use crate::report::{Health, InProgress};

    fn archive() -> ArchiveStatus {
        ArchiveStatus::bare("ftpsync".into(), String::new(), Health::Never, None)
    }

    fn run(result: RunResult, ended: i64) -> SyncRun {
        SyncRun {
            started: ended - 10,
            ended,
            result,
            ..Default::default()
        }
    }

    #[test]
    fn statuses() {
        let mut a = archive();
        assert_eq!(status(&a), "U");
        a.last_run = Some(run(RunResult::Success, 200));
        a.last_success = a.last_run.clone();
        assert_eq!(status(&a), "S200");
        a.last_run = Some(run(RunResult::Failure, 300));
        assert_eq!(status(&a), "F300O200");
        a.in_progress = Some(InProgress {
            pid: "1".into(),
            since: Some(400),
        });
        assert_eq!(status(&a), "Y400O200");
        a.in_progress = Some(InProgress {
            pid: "1".into(),
            since: None,
        });
        assert_eq!(status(&a), "YO200");
        a.in_progress = None;
        a.last_success = None;
        assert_eq!(status(&a), "F300", "failed, never a success");
        // An unreadable state record: the history says it.
        let mut a = archive();
        a.history = vec![
            Record::Run(RunRecord {
                ended: 50,
                result: RunResult::Success,
                ..Default::default()
            }),
            Record::Run(RunRecord {
                ended: 60,
                result: RunResult::Failure,
                ..Default::default()
            }),
        ];
        assert_eq!(status(&a), "F60O50");
    }

    #[test]
    fn urls_and_upstreams() {
        assert_eq!(
            split_url("https://ftp.example.org/debian/"),
            Some(("https://ftp.example.org".into(), "/debian".into()))
        );
        assert_eq!(
            split_url("http://h:8080"),
            Some(("http://h:8080".into(), String::new()))
        );
        assert_eq!(
            split_url("http://h/a/b?x=/y"),
            Some(("http://h".into(), "/a/b".into()))
        );
        assert_eq!(split_url("ftp://h/debian"), None);
        assert_eq!(split_url("https:///debian"), None);
        assert_eq!(without_user("bob@up.example::debian"), "up.example::debian");
        assert_eq!(
            without_user("rsync://bob@up.example:8873/debian/"),
            "rsync://up.example:8873/debian/"
        );
        assert_eq!(without_user("up.example::debian"), "up.example::debian");
        assert_eq!(without_user("/srv/up/"), "/srv/up/");
    }
}
