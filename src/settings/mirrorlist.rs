//! The `runmirrors.mirror` file: who we push, and how (SPEC §7). This is the only place its
//! lines are parsed. A bad line is an error for that line alone: the caller reports it and
//! still pushes every other mirror.
//!
//! archvsync adds one kind of line, `http SHORTNAME URL [SITE]`: where the mirror named
//! SHORTNAME serves the archive over HTTP(S), for `status --downstreams`. Debian's
//! runmirrors reads it as a mirror whose URL has another scheme than ssh+ftpsync, logs
//! "have wrong scheme, ignoring" and pushes nothing for it, so one file serves both.

use crate::common::ssh;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorType {
    /// One push, `sync:all`.
    All,
    /// `sync:stage1`, wait for every staged mirror's stage 1, then `sync:stage2`.
    Staged,
    /// As staged, and the mirror passes stage 1 on to its own downstreams (`sync:mhop`).
    Mhop,
}

impl MirrorType {
    pub fn is_staged(self) -> bool {
        matches!(self, MirrorType::Staged | MirrorType::Mhop)
    }

    /// The TYPE field of a mirror line.
    pub fn parse(s: &str) -> Option<MirrorType> {
        match s {
            "all" => Some(MirrorType::All),
            "staged" => Some(MirrorType::Staged),
            "mhop" => Some(MirrorType::Mhop),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MirrorType::All => "all",
            MirrorType::Staged => "staged",
            MirrorType::Mhop => "mhop",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub line: usize,
    pub kind: MirrorType,
    pub name: String,
    pub host: String,
    pub user: String,
    pub port: Option<u16>,
    /// A per-mirror key file (`2 /path/key`); None means the configured KEYFILE.
    pub keyfile: Option<PathBuf>,
    /// Raw ssh options given on the line (`-p 2222 -o ...`).
    pub ssh_options: Vec<String>,
    /// A per-mirror archive from an `ssh+ftpsync://.../ARCHIVE` URL.
    pub archive: Option<String>,
    /// Where the mirror serves the archive over HTTP(S), from its `http` line.
    pub http: Option<HttpUrl>,
}

impl ssh::Downstream for Target {
    fn user(&self) -> &str {
        &self.user
    }
    fn host(&self) -> &str {
        &self.host
    }
    fn port(&self) -> Option<u16> {
        self.port
    }
    fn keyfile(&self) -> Option<&Path> {
        self.keyfile.as_deref()
    }
    fn ssh_options(&self) -> &[String] {
        &self.ssh_options
    }
    fn archive(&self) -> Option<&str> {
        self.archive.as_deref()
    }
    fn is_mhop(&self) -> bool {
        self.kind == MirrorType::Mhop
    }
}

/// An `http SHORTNAME URL [SITE]` line: the mirror's public URL (the archive's top, where
/// `project/trace/` is) and, when given, the name of its trace file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub line: usize,
    pub url: String,
    pub site: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Mirror(Target),
    /// `DELAY [SECONDS] [stage1]`: sleep, or with `stage1` wait at most that long for the
    /// staged mirrors' stage 1.
    Delay {
        line: usize,
        seconds: u64,
        stage1: bool,
    },
    /// A URL with another scheme than ssh+ftpsync: skipped, with a log line (as the original).
    Skipped {
        line: usize,
        name: String,
        host: String,
    },
}

/// An error for one line, with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

pub fn read(path: &Path) -> std::io::Result<(Vec<Entry>, Vec<LineError>)> {
    let data = std::fs::read(path)?;
    Ok(parse(&String::from_utf8_lossy(&data)))
}

pub fn parse(text: &str) -> (Vec<Entry>, Vec<LineError>) {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    let mut urls: Vec<(String, HttpUrl)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let parsed = if fields(trimmed, 1).0.first() == Some(&"http") {
            parse_http(line, trimmed).map(|u| urls.push(u))
        } else {
            parse_line(line, trimmed).map(|e| entries.push(e))
        };
        if let Err(message) = parsed {
            errors.push(LineError { line, message });
        }
    }
    // An `http` line may come before or after its mirror's line.
    for (name, url) in urls {
        let target = entries.iter_mut().find_map(|e| match e {
            Entry::Mirror(t) if t.name == name => Some(t),
            _ => None,
        });
        let message = match target {
            None => format!("http line for {name:?}, which no mirror line names"),
            Some(t) => match &t.http {
                Some(first) => format!(
                    "a second http line for {name:?} (the first is line {})",
                    first.line
                ),
                None => {
                    t.http = Some(url);
                    continue;
                }
            },
        };
        errors.push(LineError {
            line: url.line,
            message,
        });
    }
    errors.sort_by_key(|e| e.line);
    (entries, errors)
}

/// `http SHORTNAME URL [SITE]`.
fn parse_http(line: usize, s: &str) -> Result<(String, HttpUrl), String> {
    let f: Vec<&str> = s.split_whitespace().collect();
    let (name, url, site) = match f[..] {
        [_, name, url] => (name, url, None),
        [_, name, url, site] => (name, url, Some(site)),
        _ => return Err("an http line is `http SHORTNAME URL [SITE]`".into()),
    };
    if !crate::common::http::is_http_url(url) {
        return Err(format!("{url:?} is not an http:// or https:// URL"));
    }
    let rest = url.split_once("://").map_or("", |(_, r)| r);
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("no host in URL {url:?}"));
    }
    if let Some(site) = site.filter(|x| x.contains('/') || x.starts_with('.')) {
        return Err(format!("{site:?} cannot name a trace file"));
    }
    Ok((
        name.to_string(),
        HttpUrl {
            line,
            url: url.to_string(),
            site: site.map(str::to_string),
        },
    ))
}

/// Splits off the first `n` white-space separated fields; the rest of the line stays whole
/// (the original's `read A B C D REST`).
fn fields(s: &str, n: usize) -> (Vec<&str>, &str) {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while out.len() < n && !rest.is_empty() {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        out.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    (out, rest)
}

fn parse_line(line: usize, s: &str) -> Result<Entry, String> {
    let (f, rest) = fields(s, 4);
    let typ = f[0];
    if typ == "DELAY" {
        let mut seconds = 600;
        if let Some(n) = f.get(1) {
            seconds = n
                .parse()
                .map_err(|_| format!("DELAY wants a number of seconds, not {n:?}"))?;
        }
        let stage1 = match f.get(2) {
            None => false,
            Some(&"stage1") => true,
            Some(other) => {
                return Err(format!(
                    "DELAY takes `stage1` or nothing after the seconds, not {other:?}"
                ))
            }
        };
        if f.len() > 3 || !rest.is_empty() {
            return Err("DELAY has too many fields".into());
        }
        return Ok(Entry::Delay {
            line,
            seconds,
            stage1,
        });
    }
    let Some(kind) = MirrorType::parse(typ) else {
        return Err(format!(
            "unknown mirror type {typ:?} (expected all, staged, mhop or DELAY)"
        ));
    };
    let name = f
        .get(1)
        .ok_or("a mirror line needs TYPE SHORTNAME HOSTNAME USER")?
        .to_string();
    if name.contains('/') || name.starts_with('.') {
        return Err(format!("mirror name {name:?} cannot name a log file"));
    }
    let host = f
        .get(2)
        .ok_or("a mirror line needs a HOSTNAME")?
        .to_string();
    let mut target = Target {
        line,
        kind,
        name,
        host: host.clone(),
        user: String::new(),
        port: None,
        keyfile: None,
        ssh_options: Vec::new(),
        archive: None,
        http: None,
    };

    if let Some((scheme, after)) = host.split_once("://") {
        if scheme != "ssh+ftpsync" {
            return Ok(Entry::Skipped {
                line,
                name: target.name,
                host,
            });
        }
        let (auth, path) = match after.find('/') {
            Some(i) => (&after[..i], Some(&after[i..])),
            None => (after, None),
        };
        let (user, hostport) = match auth.rsplit_once('@') {
            Some((u, h)) => (u, h),
            None => ("", auth),
        };
        let (h, port) = split_port(hostport)?;
        if h.is_empty() {
            return Err(format!("no host in URL {host:?}"));
        }
        target.user = user.to_string();
        target.host = h.to_string();
        target.port = port;
        target.archive = path.map(|p| p.trim_start_matches('/').to_string());
        // Anything after the URL: raw ssh options, as on a classic line.
        let extra = [f.get(3).copied().unwrap_or(""), rest].join(" ");
        if !extra.trim().is_empty() {
            target.ssh_options = shell_words::split(extra.trim())
                .map_err(|e| format!("cannot split the ssh options: {e}"))?;
        }
        return Ok(Entry::Mirror(target));
    }

    target.user = f
        .get(3)
        .ok_or("a mirror line needs TYPE SHORTNAME HOSTNAME USER")?
        .to_string();
    if rest.starts_with('-') {
        target.ssh_options =
            shell_words::split(rest).map_err(|e| format!("cannot split the ssh options: {e}"))?;
    } else if let Some(proto) = rest.chars().next() {
        match proto {
            '2' => {}
            '1' => return Err("ssh protocol 1 is not supported by OpenSSH any more".into()),
            _ => {
                return Err(format!(
                    "I don't know what is configured for mirror {}: {rest:?} is neither ssh options (starting with -) nor a protocol (1 or 2) with a key file",
                    target.name
                ))
            }
        }
        let key = rest[1..].trim();
        if !key.is_empty() {
            target.keyfile = Some(PathBuf::from(key));
        }
    }
    Ok(Entry::Mirror(target))
}

fn split_port(hostport: &str) -> Result<(&str, Option<u16>), String> {
    // [v6::addr]:port or host:port
    if let Some(inner) = hostport.strip_prefix('[') {
        let (addr, after) = inner
            .split_once(']')
            .ok_or_else(|| format!("unclosed [ in {hostport:?}"))?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((addr, Some(parse_port(p)?))),
            None if after.is_empty() => Ok((addr, None)),
            None => Err(format!("bad host {hostport:?}")),
        };
    }
    match hostport.split_once(':') {
        Some((h, p)) => Ok((h, Some(parse_port(p)?))),
        None => Ok((hostport, None)),
    }
}

fn parse_port(p: &str) -> Result<u16, String> {
    p.parse().map_err(|_| format!("bad port {p:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::kinds::{PushKind, Stage};
    use crate::common::ssh::{args, words};

    fn one(s: &str) -> Entry {
        let (e, errs) = parse(s);
        assert!(errs.is_empty(), "{errs:?}");
        e.into_iter().next().unwrap()
    }

    #[test]
    fn classic_lines() {
        let Entry::Mirror(t) = one("all eu ftp.example.org archvsync") else {
            panic!()
        };
        assert_eq!(
            (t.kind, t.name.as_str(), t.host.as_str(), t.user.as_str()),
            (MirrorType::All, "eu", "ftp.example.org", "archvsync")
        );
        let Entry::Mirror(t) = one("staged us us.example.org mirror 2 /home/m/.ssh/us") else {
            panic!()
        };
        assert_eq!(t.keyfile, Some(PathBuf::from("/home/m/.ssh/us")));
        let Entry::Mirror(t) =
            one("mhop hub hub.example.org m -p 2222 -o 'ProxyCommand=ssh -W %h:%p jump'")
        else {
            panic!()
        };
        assert_eq!(
            t.ssh_options,
            vec!["-p", "2222", "-o", "ProxyCommand=ssh -W %h:%p jump"]
        );
        assert_eq!(t.kind, MirrorType::Mhop);
    }

    #[test]
    fn url_lines() {
        let Entry::Mirror(t) = one("staged x ssh+ftpsync://mirror@[::1]:2022/debian-security")
        else {
            panic!()
        };
        assert_eq!(
            (t.user.as_str(), t.host.as_str(), t.port),
            ("mirror", "::1", Some(2022))
        );
        assert_eq!(t.archive.as_deref(), Some("debian-security"));
        let Entry::Mirror(t) = one("all x ssh+ftpsync://m@h.example") else {
            panic!()
        };
        assert_eq!(
            (t.host.as_str(), t.port, t.archive.clone()),
            ("h.example", None, None)
        );
        assert!(matches!(one("all x rsync://h/"), Entry::Skipped { .. }));
    }

    #[test]
    fn delays() {
        assert_eq!(
            one("DELAY"),
            Entry::Delay {
                line: 1,
                seconds: 600,
                stage1: false
            }
        );
        assert_eq!(
            one("DELAY 30 stage1"),
            Entry::Delay {
                line: 1,
                seconds: 30,
                stage1: true
            }
        );
    }

    #[test]
    fn bad_lines_are_reported_and_the_rest_kept() {
        let (e, errs) = parse("# c\n\nall ok h u\nbogus x y\nall\nDELAY soon\nstaged s h u 7\nall ../x h u\nall k h u 1\nmhop m h u -o 'unclosed\nall last h u\n");
        assert_eq!(e.len(), 2, "{e:?}");
        let lines: Vec<usize> = errs.iter().map(|x| x.line).collect();
        assert_eq!(lines, vec![4, 5, 6, 7, 8, 9, 10]);
        assert!(errs[0].message.contains("unknown mirror type \"bogus\""));
    }

    #[test]
    fn http_lines_give_their_mirror_a_url() {
        let (e, errs) = parse(
            "http eu https://eu.example.org/debian/\n\
             all eu eu.example.org m\n\
             staged us us.example.org m\n\
             http us http://us.example.org/debian/ us-mirror\n",
        );
        assert!(errs.is_empty(), "{errs:?}");
        let urls: Vec<Option<HttpUrl>> = e
            .iter()
            .map(|e| match e {
                Entry::Mirror(t) => t.http.clone(),
                _ => panic!("{e:?}"),
            })
            .collect();
        assert_eq!(
            urls,
            vec![
                Some(HttpUrl {
                    line: 1,
                    url: "https://eu.example.org/debian/".into(),
                    site: None
                }),
                Some(HttpUrl {
                    line: 4,
                    url: "http://us.example.org/debian/".into(),
                    site: Some("us-mirror".into())
                }),
            ]
        );
        let (e, errs) = parse(
            "all eu h m\nhttp nobody http://x/\nhttp eu ftp://x/\nhttp eu http://x/\n\
             http eu http://y/\nhttp eu\nhttp eu http:///path\nhttp eu http://x/ ../t\n",
        );
        assert_eq!(e.len(), 1);
        let lines: Vec<usize> = errs.iter().map(|x| x.line).collect();
        assert_eq!(lines, vec![2, 3, 5, 6, 7, 8], "{errs:?}");
        assert!(errs[2].message.contains("the first is line 4"), "{errs:?}");
    }

    #[test]
    fn every_example_of_the_sample_file_parses() {
        let sample = include_str!("../../runmirrors.mirror.sample");
        let examples: String = sample
            .lines()
            .filter(|l| l.starts_with('#') && !l.starts_with("##"))
            .map(|l| format!("{}\n", &l[1..]))
            .collect();
        let (entries, errors) = parse(&examples);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(entries.len(), 11);
    }

    fn target(line: &str) -> Target {
        match parse(line).0.remove(0) {
            Entry::Mirror(t) => t,
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn the_most_specific_options_come_first() {
        let t = target("mhop m h.example archvsync -o Compression=yes -o ConnectTimeout=5");
        let w = words(&t, "security", PushKind::Mhop, Stage::Stage1);
        assert_eq!(w, vec!["sync:archive:security", "sync:mhop", "sync:stage1"]);
        let opts = vec!["-o".to_string(), "StrictHostKeyChecking=no".to_string()];
        let a = args(&t, &opts, Path::new("/k/push"), None, &w);
        assert_eq!(
            a.join(" "),
            "-o user=archvsync -o Compression=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=no \
             -i /k/push -o BatchMode=yes -o ServerAliveInterval=45 -o ConnectTimeout=45 \
             -o PasswordAuthentication=no -n h.example sync:archive:security sync:mhop sync:stage1"
        );
        // ssh keeps the first value: the line's ConnectTimeout=5 is the one in force.
        let first = a
            .iter()
            .position(|w| w.starts_with("ConnectTimeout="))
            .unwrap();
        assert_eq!(a[first], "ConnectTimeout=5");
    }

    #[test]
    fn url_port_archive_and_own_key() {
        let t = target("all x ssh+ftpsync://u@h:2200/ports");
        let w = words(&t, "", PushKind::All, Stage::All);
        assert_eq!(w, vec!["sync:archive:ports", "sync:all"]);
        let a = args(&t, &[], Path::new("/k"), None, &w);
        assert!(a
            .join(" ")
            .starts_with("-o user=u -p 2200 -i /k -o BatchMode=yes"));
        assert!(a.join(" ").ends_with("-n h sync:archive:ports sync:all"));
        let t = target("staged y h u 2 /keys/y");
        let a = args(&t, &[], Path::new("/k"), None, &[]);
        assert!(a.join(" ").contains("-i /keys/y -o BatchMode=yes"));
        // sync:mhop only goes to mhop mirrors, and only for an mhop push.
        assert_eq!(
            words(&t, "", PushKind::Mhop, Stage::Stage1),
            vec!["sync:archive:", "sync:stage1"]
        );
    }

    #[test]
    fn the_kex_preference_comes_after_the_operators_options() {
        let t = target("all m h u -o KexAlgorithms=sntrup761x25519-sha512@openssh.com");
        let a = args(&t, &[], Path::new("/k"), Some("curve25519-sha256,x"), &[]);
        let first = a
            .iter()
            .position(|w| w.starts_with("KexAlgorithms="))
            .unwrap();
        assert_eq!(a[first], "KexAlgorithms=sntrup761x25519-sha512@openssh.com");
        assert!(a.contains(&"KexAlgorithms=curve25519-sha256,x".to_string()));
    }
}
