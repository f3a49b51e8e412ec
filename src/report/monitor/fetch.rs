//! What a monitor check (check-mirror, status --downstreams) asks a mirror's web server:
//! GETs of trace files and markers, the trace directory's listing, and the two-stage HEADs.
//! Every request is bounded by one timeout.

use super::rules::{self, Probe, SuiteSearch};
use crate::common::http;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

/// More than any trace needs (the redirector reads 1024 bytes); a listing of a big trace
/// directory still fits.
const BODY_LIMIT: u64 = 1 << 20;

pub struct Fetcher {
    agent: ureq::Agent,
    timeout: Duration,
}

/// A status and what came with it.
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub last_modified: Option<String>,
}

impl Fetcher {
    /// `ca` verifies HTTPS servers (a hashed CA directory or a CA file).
    pub fn new(timeout: Duration, ca: Option<&Path>) -> Result<Fetcher, String> {
        let agent = http::agent(
            timeout,
            concat!("archvsync-check-mirror/", env!("CARGO_PKG_VERSION")),
            ca,
            true,
        )?;
        Ok(Fetcher { agent, timeout })
    }

    /// GET `url`: any status is an answer; no answer at all is the error, in words.
    pub fn get(&self, url: &str) -> Result<Answer, String> {
        let mut resp = self
            .agent
            .get(url)
            .call()
            .map_err(|e| format!("cannot fetch {url}: {}", http::describe(&e, self.timeout)))?;
        let status = resp.status().as_u16();
        let last_modified = resp
            .headers()
            .get("last-modified")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut data = Vec::new();
        resp.body_mut()
            .as_reader()
            .take(BODY_LIMIT)
            .read_to_end(&mut data)
            .map_err(|e| format!("cannot read {url}: {e}"))?;
        Ok(Answer {
            status,
            // mirror-status decodes UTF-8, else Latin-1; either way every ASCII byte stays.
            body: String::from_utf8_lossy(&data).into_owned(),
            last_modified,
        })
    }

    /// GET `url` and want a 200: the body, or why not.
    pub fn get_ok(&self, url: &str) -> Result<String, String> {
        let a = self.get(url)?;
        if a.status == 200 {
            Ok(a.body)
        } else {
            Err(format!("HTTP {} for {url}", describe_status(a.status)))
        }
    }

    /// HEAD `url` with one extra header: the status.
    pub fn head(&self, url: &str, header: (&str, &str)) -> Result<u16, String> {
        self.agent
            .head(url)
            .header(header.0, header.1)
            .call()
            .map(|r| r.status().as_u16())
            .map_err(|e| format!("cannot fetch {url}: {}", http::describe(&e, self.timeout)))
    }
}

/// The two-stage HEADs of `base`'s `dists/SUITE/Release`, If-Unmodified-Since `since`:
/// `suite` alone when given, else [`rules::TWO_STAGE_SUITES`] in order until one is there.
/// The search starts no new HEAD once one timeout's time has passed, so a slow server
/// that answers every one with 404 costs at most about twice the timeout.
pub fn two_stage_probes(
    f: &Fetcher,
    base: &str,
    suite: Option<&str>,
    since: &str,
) -> (Vec<Probe>, SuiteSearch) {
    let probe = |suite: &str| {
        let url = format!("{base}dists/{suite}/Release");
        let answer = f.head(&url, ("If-Unmodified-Since", since));
        Probe {
            suite: suite.to_string(),
            url,
            answer,
        }
    };
    if let Some(s) = suite {
        return (vec![probe(s)], SuiteSearch::Given);
    }
    let start = Instant::now();
    let mut probes = Vec::new();
    for s in rules::TWO_STAGE_SUITES {
        if !probes.is_empty() && start.elapsed() >= f.timeout {
            return (probes, SuiteSearch::OutOfTime(f.timeout.as_secs()));
        }
        let p = probe(s);
        let absent = rules::suite_absent(&p.answer);
        probes.push(p);
        if !absent {
            break;
        }
    }
    (probes, SuiteSearch::Known)
}

fn describe_status(code: u16) -> String {
    let reason = match code {
        301 | 302 | 303 | 307 | 308 => "redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        410 => "Gone",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    };
    if reason.is_empty() {
        code.to_string()
    } else {
        format!("{code} {reason}")
    }
}

/// The trace files a directory listing (an HTML index) links to, as mirror-status takes
/// them: links into the directory itself whose names are `[A-Za-z0-9._-]`, without those
/// starting with `_` (ftpsync's own lists) or ending in `-stage1` or `.new`. Sorted, once.
pub fn trace_names(listing: &str, tracedir: &str) -> Vec<String> {
    let (dir_origin, dir_path) = split_url(tracedir);
    let mut names = std::collections::BTreeSet::new();
    let lower = listing.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("href=") {
        let start = from + i + 5;
        from = start;
        let rest = &listing[start..];
        let (quote, rest) = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => (Some(q), &rest[1..]),
            _ => (None, rest),
        };
        let end = rest
            .find(|c: char| match quote {
                Some(q) => c == q,
                None => c.is_whitespace() || c == '>',
            })
            .unwrap_or(rest.len());
        let link = &rest[..end];
        // Absolute links (some servers write them) are taken back to relative ones.
        let relative = if link.contains("://") {
            let (origin, path) = split_url(link);
            if origin != dir_origin {
                continue;
            }
            path.strip_prefix(dir_path).map(str::to_string)
        } else if link.starts_with('/') {
            link.strip_prefix(dir_path).map(str::to_string)
        } else {
            Some(link.to_string())
        };
        let Some(name) = relative else { continue };
        let plain = !name.is_empty()
            && !name.bytes().all(|b| b == b'.')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if plain && !name.starts_with('_') && !name.ends_with("-stage1") && !name.ends_with(".new")
        {
            names.insert(name);
        }
    }
    names.into_iter().collect()
}

/// `scheme://host[:port]` and the path (`/` when there is none).
fn split_url(url: &str) -> (&str, &str) {
    let after = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after..].find('/') {
        Some(i) => url.split_at(after + i),
        None => (url, "/"),
    }
}

/// The host of an http(s) URL, without user or port.
pub fn host_of(url: &str) -> &str {
    let (origin, _) = split_url(url);
    let hostport = origin.rsplit('@').next().unwrap_or(origin);
    let hostport = hostport.split_once("://").map_or(hostport, |(_, h)| h);
    if let Some(inner) = hostport.strip_prefix('[') {
        return inner.split(']').next().unwrap_or(inner);
    }
    hostport.split(':').next().unwrap_or(hostport)
}

/// Which trace file is the site's, and how that was found.
pub fn find_site(f: &Fetcher, base: &str) -> Result<(String, &'static str), String> {
    let tracedir = format!("{base}project/trace/");
    let listing = f.get_ok(&tracedir).map(|l| trace_names(&l, &tracedir));
    // ftpsync writes its own line last into _hierarchy: "TRACEFILE MIRRORNAME HOST UPSTREAM".
    let hierarchy = f
        .get_ok(&format!("{tracedir}_hierarchy"))
        .ok()
        .and_then(|h| {
            crate::common::trace::last_hierarchy_line(&h)
                .first()
                .map(|f| f.to_string())
        });
    let host = host_of(base).to_string();
    match listing {
        Ok(names) => {
            let candidates: Vec<&String> = names.iter().filter(|n| *n != "master").collect();
            if candidates.contains(&&host) {
                return Ok((host, "the host name, listed in project/trace/"));
            }
            if let Some(h) = hierarchy.filter(|h| candidates.contains(&h)) {
                return Ok((h, "the last line of project/trace/_hierarchy"));
            }
            match candidates[..] {
                [only] => Ok((
                    only.clone(),
                    "the only trace in project/trace/ besides master",
                )),
                [] => Err(format!(
                    "{tracedir} lists no trace file besides master: give --site"
                )),
                _ => Err(format!(
                    "cannot tell which trace in {tracedir} is the site's ({}): give --site",
                    candidates
                        .iter()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        }
        Err(why) => {
            tracing::debug!("no listing: {why}");
            match hierarchy {
                Some(h) => Ok((h, "the last line of project/trace/_hierarchy")),
                None => Ok((
                    host,
                    "the host name (project/trace/ has no listing: give --site if it is wrong)",
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_of_nginx_and_apache() {
        let nginx = r#"<html><head><title>Index of /debian/project/trace/</title></head>
<body><h1>Index of /debian/project/trace/</h1><hr><pre><a href="../">../</a>
<a href="_hierarchy">_hierarchy</a>        01-Dec-2026 09:00  120
<a href="_traces">_traces</a>
<a href="master">master</a>
<a href="mirror.example.org">mirror.example.org</a>
<a href="mirror.example.org-stage1">mirror.example.org-stage1</a>
<a href="up.example.org">up.example.org</a>
<a href="x.new">x.new</a>
<a href="sub/">sub/</a>
</pre><hr></body></html>"#;
        let dir = "http://m.example.org/debian/project/trace/";
        assert_eq!(
            trace_names(nginx, dir),
            vec!["master", "mirror.example.org", "up.example.org"]
        );
        let apache = r#"<tr><td><a href="?C=N;O=D">Name</a></td></tr>
<tr><td><a href="/debian/project/">Parent Directory</a></td></tr>
<tr><td><a HREF='/debian/project/trace/master'>master</a></td></tr>
<tr><td><a href="http://m.example.org/debian/project/trace/ftp.example.org">f</a></td></tr>
<tr><td><a href="http://elsewhere.example/debian/project/trace/evil">e</a></td></tr>"#;
        assert_eq!(trace_names(apache, dir), vec!["ftp.example.org", "master"]);
    }

    #[test]
    fn hosts() {
        assert_eq!(host_of("http://m.example.org/debian/"), "m.example.org");
        assert_eq!(host_of("https://u@m.example.org:8443/"), "m.example.org");
        assert_eq!(host_of("http://[::1]:8080/debian/"), "::1");
        assert_eq!(host_of("http://127.0.0.1:80"), "127.0.0.1");
    }
}
