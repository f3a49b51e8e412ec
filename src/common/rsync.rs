//! Assembling rsync invocations (SPEC §4) and judging rsync's exit codes.
//!
//! Every word rsync gets is added in this file, in the original's order, so the log line
//! "Running stage1: ..." can be compared with a run of the original word for word; so is
//! everything it gets in its environment ([`Env`]: password, proxy, the TLS tunnel's
//! settings), for the stages, the upstream check and ftpsync-cron alike.
//!
//! Longer than the ~600 lines a file keeps to, on purpose: it is the one place every rsync
//! word and its environment is made (the README's where-to-look promise), and its unit tests,
//! a quarter of it, compare whole command lines with the original's.

use std::path::Path;
use std::process::{Command, Stdio};

pub const DEFAULT_OPTIONS: &str = "-prltvHSB8192 --safe-links --chmod=D755,F644 --timeout 120 --stats --no-human-readable --no-inc-recursive";
pub const DEFAULT_OPTIONS_OLD: &str =
    "-prltvHSB8192 --safe-links --timeout 120 --stats --no-human-readable --no-inc-recursive";
pub const DEFAULT_OPTIONS1: &str = "--include=*.diff/ --include=by-hash/ --exclude=*.diff/Index --exclude=Contents* --exclude=Packages* --exclude=Sources* --exclude=Release* --exclude=InRelease --exclude=i18n/* --exclude=dep11/* --exclude=installer-*/current --exclude=ls-lR*";
pub const DEFAULT_OPTIONS2: &str =
    "--max-delete=40000 --delay-updates --delete --delete-delay --delete-excluded";

/// `--chmod` needs protocol 31 on both ends; the original leaves it out for older rsyncs.
pub fn protocol_version(rsync: &[String]) -> Option<u32> {
    let (prog, rest) = rsync.split_first()?;
    let out = Command::new(prog)
        .args(rest)
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    while let Some(w) = words.next() {
        if w == "protocol" && words.next() == Some("version") {
            return words.next()?.trim_end_matches(',').parse().ok();
        }
    }
    None
}

pub fn default_options(rsync: &[String]) -> &'static str {
    match protocol_version(rsync) {
        Some(p) if p < 31 => DEFAULT_OPTIONS_OLD,
        _ => DEFAULT_OPTIONS,
    }
}

/// How the original's `RSYNC_TRANSPORT` maps onto `-e`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Undefined,
    /// `-e "ssh [RSYNC_SSH_OPTS]"`: the rsync daemon reached over ssh.
    Ssh(String),
    /// `-e "<program> rsync-ssl-tunnel"`, the program being this binary.
    Ssl(String),
}

impl Transport {
    /// RSYNC_TRANSPORT=ssh: ssh with RSYNC_SSH_OPTS, when set, as one `-e` value.
    pub fn ssh(opts: Option<&[String]>) -> Transport {
        Transport::Ssh(match opts {
            Some(opts) => format!("{} {}", super::ssh::SSH, quote_for_e(opts)),
            None => super::ssh::SSH.to_string(),
        })
    }

    /// RSYNC_TRANSPORT=ssl: this very binary in its tunnel role.
    pub fn ssl() -> Transport {
        let exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "archvsync".into());
        Transport::Ssl(quote_for_e(&[exe, "rsync-ssl-tunnel".into()]))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Transport::Undefined => "undefined",
            Transport::Ssh(_) => "ssh",
            Transport::Ssl(_) => "ssl",
        }
    }
}

/// What an rsync of ours is given besides its words. The password travels here only: never
/// in argv, never in a log line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    pub password: Option<String>,
    pub proxy: Option<String>,
    /// RSYNC_SSL_PORT, RSYNC_SSL_CAPATH, RSYNC_SSL_METHOD for the tunnel rsync starts as `-e`
    /// (it passes its environment on); empty unless the transport is ssl.
    pub tunnel: Vec<(&'static str, String)>,
}

impl Env {
    pub fn apply(&self, cmd: &mut Command) {
        if let Some(pw) = &self.password {
            cmd.env("RSYNC_PASSWORD", pw);
        }
        if let Some(proxy) = &self.proxy {
            cmd.env("RSYNC_PROXY", proxy);
        }
        cmd.envs(self.tunnel.iter().map(|(k, v)| (k, v)));
    }
}

/// `words` as a command (stdin from /dev/null) with `env` applied; `None` for no words (an
/// empty RSYNC).
pub fn command(words: &[String], env: &Env) -> Option<Command> {
    let (prog, args) = words.split_first()?;
    let mut cmd = Command::new(prog);
    cmd.args(args).stdin(Stdio::null());
    env.apply(&mut cmd);
    Some(cmd)
}

/// A question to the upstream about one file, asked the way the sync reaches it (same
/// RSYNC, transport and [`Env`]) but without the sync's filters and options.
pub enum Probe<'a> {
    /// `--list-only SOURCE`: does the file exist (ftpsync's empty-upstream check).
    ListOnly { source: &'a str },
    /// `--quiet SOURCE DEST`: fetch it (ftpsync-cron's serial check).
    Fetch { source: &'a str, dest: &'a str },
    /// Fetch the files named in `list` (NUL-separated, relative to SOURCE) into `dest`, an
    /// empty directory, skipping any the source lacks, a link as a link, with the copies in `basis` (the
    /// last fetch) as the delta basis, and always comparing contents, so a file rewritten
    /// within a second at the same size is not missed (the upstream's change journal).
    /// What is in `dest` afterwards came from this fetch.
    Files {
        source: &'a str,
        list: &'a Path,
        dest: &'a str,
        basis: &'a Path,
    },
    /// Fetch what `rules` (rsync filter words, `--include=`/`--exclude=`) select of SOURCE,
    /// recursively, into `dest`, links as links, with the files under `basis` (our tree) as
    /// the delta basis: an unchanged file is copied locally, not sent (the upstream's Release
    /// files, `ls-lR.gz`, `extrafiles` for the index-driven sync).
    Tree {
        source: &'a str,
        rules: &'a [String],
        dest: &'a str,
        basis: &'a Path,
    },
}

/// The words of `probe`: RSYNC, `extra` (RSYNC_EXTRA where the caller passes it), the probe's
/// flags, `--no-motd`, the timeout, the transport, then source (and destination).
pub fn probe_words(
    rsync: &[String],
    extra: &[String],
    timeout_secs: u64,
    transport: &Transport,
    probe: Probe,
) -> Vec<String> {
    let mut w: Vec<String> = rsync.to_vec();
    w.extend(extra.iter().cloned());
    let timeout = format!("--timeout={}", timeout_secs.max(1));
    match probe {
        Probe::ListOnly { source } => {
            w.extend(["--list-only".into(), "--no-motd".into(), timeout]);
            w.extend(transport_words(transport));
            w.push(source.to_string());
        }
        Probe::Fetch { source, dest } => {
            w.extend(["--no-motd".into(), "--quiet".into(), timeout]);
            w.extend(transport_words(transport));
            w.push(source.to_string());
            w.push(dest.to_string());
        }
        Probe::Files {
            source,
            list,
            dest,
            basis,
        } => {
            w.extend(fetch_words("--ignore-times", timeout, transport));
            // The upstream's times: a stage may then take the copy instead of a transfer.
            w.push("--times".into());
            w.extend(files_from(list));
            w.push("--ignore-missing-args".into());
            w.extend(basis_source_dest(basis, source, dest));
        }
        Probe::Tree {
            source,
            rules,
            dest,
            basis,
        } => {
            w.extend(fetch_words("--recursive", timeout, transport));
            w.push("--times".into());
            w.extend(rules.iter().cloned());
            w.extend(basis_source_dest(basis, source, dest));
        }
    }
    w
}

/// A fetch's words before its file selection: quiet, `how` (what it compares or walks),
/// links as links. Links come along as links (as stage 1 copies them, --safe-links
/// included): without --links rsync skips one silently, so an upstream whose master trace
/// is a link would look as if it had none.
fn fetch_words(how: &str, timeout: String, transport: &Transport) -> Vec<String> {
    let mut w: Vec<String> = ["--no-motd", "--quiet", how, "--links", "--safe-links"]
        .map(String::from)
        .into();
    w.push(timeout);
    w.extend(transport_words(transport));
    w
}

/// A fetch's last words: our copies as the delta basis, then source and destination.
fn basis_source_dest(basis: &Path, source: &str, dest: &str) -> [String; 3] {
    [
        format!("--copy-dest={}", basis.to_string_lossy()),
        source.to_string(),
        dest.to_string(),
    ]
}

fn files_from(list: &Path) -> [String; 2] {
    [
        format!("--files-from={}", list.to_string_lossy()),
        "--from0".into(),
    ]
}

/// A stage's command ([`stage_words`]) narrowed to the names in `list` (a journal sync):
/// rsync looks at those names only, descending into none (`--no-recursive`; a name ending in
/// `/` has its contents compared one level deep, and the stage's `--delete` applies there).
/// A listed name the source lacks is skipped. Never `--delete-missing-args`: the hardened
/// file-list reader of rsync 3.4 (and of distributions' security updates of older ones)
/// refuses the mode-0 entries it sends (journal/plan.rs deletes through `DIR/` instead).
pub fn files_from_words(stage: &[String], list: &Path) -> Vec<String> {
    let mut w = stage.to_vec();
    let at = w.len().saturating_sub(2);
    let mut narrowing = files_from(list).to_vec();
    narrowing.push("--no-recursive".into());
    narrowing.push("--ignore-missing-args".into());
    w.splice(at..at, narrowing);
    w
}

/// A stage's words with `--copy-dest=DIR` before source and destination: a file the
/// index sync already fetched into DIR (with the upstream's size and time) is copied from
/// there instead of sent again. Left out where the stage has a basis option of its own
/// (rsync refuses to mix --copy-dest with --compare-dest or --link-dest). rsync logs such a
/// local copy only when it itemizes twice (`cf` under `-ii`), so an itemizing stage (the
/// journal reads its log) itemizes twice: it then logs each listed name, changed or not,
/// and the journal names a few unchanged paths more, never one less.
pub fn with_fetched_basis(stage: &[String], dir: &Path) -> Vec<String> {
    let mut w = stage.to_vec();
    if w.iter().any(|x| {
        ["--compare-dest", "--link-dest", "--copy-dest"]
            .iter()
            .any(|o| x.starts_with(o))
    }) {
        return w;
    }
    let at = w.len().saturating_sub(2);
    w.insert(at, format!("--copy-dest={}", dir.to_string_lossy()));
    if w.iter().any(|x| x == "--itemize-changes") {
        w.insert(at, "--itemize-changes".into());
    }
    w
}

/// Everything the command line is made of. Word lists are already split.
#[derive(Debug, Clone)]
pub struct RsyncSettings<'a> {
    pub rsync: &'a [String],
    pub log_rsync: &'a Path,
    /// Paths relative to TO that rsync must neither touch nor delete.
    pub own_files: &'a [String],
    pub extra: &'a [String],
    pub bwlimit: &'a str,
    pub options: &'a [String],
    pub exclude: &'a [String],
    pub transport: &'a Transport,
    pub arch_include: &'a [String],
    pub arch_exclude: &'a [String],
}

/// The words shared by both stages, up to and including the architecture filters.
pub fn common_words(s: &RsyncSettings) -> Vec<String> {
    let mut w: Vec<String> = s.rsync.to_vec();
    w.push("--quiet".into());
    w.push("--log-file".into());
    w.push(s.log_rsync.to_string_lossy().into_owned());
    for f in s.own_files {
        w.push(format!("--filter=exclude_/{f}"));
        w.push(format!("--filter=protect_/{f}"));
    }
    // Trace files of every mirror up the chain travel, whatever EXCLUDE says.
    for f in [
        "--filter=include_/project/",
        "--filter=protect_/project/",
        "--filter=include_/project/trace/",
        "--filter=protect_/project/trace/",
        "--filter=include_/project/trace/*",
    ] {
        w.push(f.into());
    }
    w.extend(s.extra.iter().cloned());
    w.push(format!("--bwlimit={}", s.bwlimit));
    w.extend(s.options.iter().cloned());
    w.extend(s.exclude.iter().cloned());
    // rsync --delay-updates leaves this directory unreadable upstream; never fetch it.
    w.push("--exclude=.~tmp~/".into());
    w.extend(transport_words(s.transport));
    w.extend(arch_filters(s.arch_include, s.arch_exclude));
    w
}

/// Joins words into one `-e` value. rsync splits that on spaces and honours quotes, so
/// only words that need it are quoted (and `-o BatchMode=yes` stays readable in logs).
/// rsync's splitting is not a shell's: inside quotes a doubled quote stands for itself and
/// a backslash is an ordinary character, so `it's` is `'it''s'` (the shell's `'\''` makes
/// rsync refuse the command: "Missing trailing-' in remote-shell command").
pub fn quote_for_e(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            if !w.is_empty() && !w.contains(|c: char| c.is_whitespace() || "'\"".contains(c)) {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', "''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `-e PROGRAM` for the transport, nothing for a plain rsync daemon or local path.
pub fn transport_words(t: &Transport) -> Vec<String> {
    match t {
        Transport::Undefined => vec![],
        Transport::Ssh(e) | Transport::Ssl(e) => vec!["-e".into(), e.clone()],
    }
}

/// A stage's options when the change journal reads LOG_RSYNC: rsync logs a change of
/// attributes only (a file's mode, a link's time) when it itemizes on stdout too; under
/// --quiet that prints nothing. Last, so that it wins.
pub fn itemized(stage_options: &[String]) -> Vec<String> {
    let mut options = stage_options.to_vec();
    options.push("--itemize-changes".into());
    options
}

/// Stage 1's options, but for the links directly under `dists/` (suite aliases such as
/// `testing -> forky`, and `sid -> ../zzz-dists/sid`), which are left to stage 2 with the
/// Release files: moved in stage 1, an alias leads to a suite whose Release has not
/// arrived, for the length of the sync. A real directory there (an Ubuntu suite) is still
/// walked. rsync takes the first rule that matches, so these come last and change nothing
/// an earlier rule decides.
pub fn aliases_to_stage2(stage1_options: &[String]) -> Vec<String> {
    let mut options = stage1_options.to_vec();
    options.push("--include=/dists/*/".into());
    options.push("--exclude=/dists/*".into());
    options
}

/// A stage's full command: the common words, the stage's options, `--dry-run` for
/// `ftpsync --dry-run` (right after the stage options), source and target.
pub fn stage_words(
    common: &[String],
    stage_options: &[String],
    dry_run: bool,
    source: &str,
    to: &str,
) -> Vec<String> {
    let mut w = common.to_vec();
    w.extend(stage_options.iter().cloned());
    if dry_run {
        w.push("--dry-run".into());
    }
    w.push(source.to_string());
    w.push(to.to_string());
    w
}

fn arch_rules(action: &str, arch: &str) -> Vec<String> {
    let patterns: Vec<String> = if arch == "source" {
        vec![
            "/dists/**/source/".into(),
            "/pool/**/*.tar.*".into(),
            "/pool/**/*.diff.*".into(),
            "/pool/**/*.dsc".into(),
        ]
    } else {
        vec![
            format!("/dists/**/binary-{arch}/"),
            format!("/dists/**/installer-{arch}/"),
            format!("/dists/**/Contents-{arch}.gz"),
            format!("/dists/**/Contents-udeb-{arch}.gz"),
            format!("/dists/**/Contents-{arch}.diff/"),
            format!("/indices/**/arch-{arch}.files"),
            format!("/indices/**/arch-{arch}.list.gz"),
            format!("/pool/**/*_{arch}.deb"),
            format!("/pool/**/*_{arch}.udeb"),
            format!("/pool/**/*_{arch}.changes"),
        ]
    };
    patterns
        .into_iter()
        .map(|p| format!("--filter={action}_{p}"))
        .collect()
}

/// ARCH_EXCLUDE: drop the listed architectures, keep everything else.
/// ARCH_INCLUDE: keep the listed ones (and `all` with any binary one), drop the rest.
/// The caller has already refused configs that set both.
pub fn arch_filters(include: &[String], exclude: &[String]) -> Vec<String> {
    let mut w = Vec::new();
    if !exclude.is_empty() {
        for a in exclude {
            w.extend(arch_rules("exclude", a));
        }
        w.extend(arch_rules("include", "*"));
        w.extend(arch_rules("include", "source"));
    } else if !include.is_empty() {
        for a in include {
            w.extend(arch_rules("include", a));
        }
        if include.iter().any(|a| a != "source") {
            w.extend(arch_rules("include", "all"));
        }
        w.extend(arch_rules("exclude", "*"));
        w.extend(arch_rules("exclude", "source"));
    }
    w
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Success,
    /// 23 (partial transfer) and 30 (timeout) are forgiven when another push is pending:
    /// the pass it causes will fetch what was missed.
    RetryableIfPushed,
    Failure,
}

pub fn classify(code: i32) -> Verdict {
    match code {
        0 | 24 => Verdict::Success,
        23 | 30 => Verdict::RetryableIfPushed,
        _ => Verdict::Failure,
    }
}

/// Sum of "received M bytes" over the rsync log's summary lines.
pub fn bytes_received(log_rsync_text: &str) -> u64 {
    log_rsync_text
        .lines()
        .filter_map(|l| {
            let idx = l.find("sent ")?;
            let rest = &l[idx..];
            // "sent N bytes  received M bytes ..." (two spaces, as rsync prints it)
            let mut parts = rest.split(' ');
            if parts.next()? != "sent" {
                return None;
            }
            parts.next()?.parse::<u64>().ok()?;
            if parts.next()? != "bytes" || !parts.next()?.is_empty() || parts.next()? != "received"
            {
                return None;
            }
            let m = parts.next()?.parse::<u64>().ok()?;
            (parts.next()? == "bytes").then_some(m)
        })
        // Saturating: the log is rsync's output and may hold any numbers; an overflowing
        // `sum()` panicked in debug builds (found by fuzz/fuzz_targets/trace_reader.rs).
        .fold(0u64, u64::saturating_add)
}

/// The message of a LOG_RSYNC line: what follows its `YYYY/MM/DD HH:MM:SS [PID] ` prefix
/// (rsync's `--log-file` format), or `None` when the line does not start with one.
pub fn log_message(line: &[u8]) -> Option<&[u8]> {
    let date = line.get(..20)?;
    let shape = b"dddd/dd/dd dd:dd:dd ";
    let ok = date.iter().zip(shape).all(|(c, s)| {
        if *s == b'd' {
            c.is_ascii_digit()
        } else {
            c == s
        }
    });
    let rest = line[20..].strip_prefix(b"[")?;
    let close = rest.iter().position(|&b| b == b']')?;
    if !ok || close == 0 || !rest[..close].iter().all(u8::is_ascii_digit) {
        return None;
    }
    rest[close + 1..].strip_prefix(b" ")
}

/// A name as rsync writes it in its log and itemized output: unprintable bytes (and a
/// backslash that would read as an escape) are `\#ooo`, three octal digits.
pub fn unescape_log_name(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len());
    let mut i = 0;
    while i < name.len() {
        if name[i] == b'\\' && name.get(i + 1) == Some(&b'#') {
            let value = name
                .get(i + 2..i + 5)
                .filter(|o| o.iter().all(|d| (b'0'..=b'7').contains(d)))
                .map(|o| o.iter().fold(0u32, |v, d| v * 8 + u32::from(d - b'0')))
                .and_then(|v| u8::try_from(v).ok());
            if let Some(v) = value {
                out.push(v);
                i += 5;
                continue;
            }
        }
        out.push(name[i]);
        i += 1;
    }
    out
}

/// Longest line of rsync's error output quoted in a message (log line, mail, stderr).
pub const ERROR_LINE_MAX: usize = 300;

/// The last `n` non-empty lines of rsync's error output `text`, each cut at
/// [`ERROR_LINE_MAX`] characters and with control characters (a `\r` of a progress line, a
/// terminal escape) shown as spaces: the reason rsync gives, fit for one log line, without a
/// flood.
pub fn last_lines(text: &[u8], n: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(text);
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            let clean: String = l
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            let clean = clean.trim();
            match clean.char_indices().nth(ERROR_LINE_MAX) {
                Some((i, _)) => format!("{}...", &clean[..i]),
                None => clean.to_string(),
            }
        })
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// Words for a log line (the password never reaches argv, so printing them is safe). A word
/// with white space in it, such as the `-e` program, is quoted so that it reads as one.
pub fn display(words: &[String]) -> String {
    quote_for_e(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_are_bounded_and_clean() {
        let long = "x".repeat(1000);
        let text = format!("one\n\ntwo\r\n\x1b[1mthree\n{long}\n");
        let l = last_lines(text.as_bytes(), 3);
        assert_eq!(l.len(), 3);
        assert_eq!(l[0], "two");
        assert_eq!(l[1], "[1mthree");
        assert_eq!(l[2].chars().count(), ERROR_LINE_MAX + 3);
        assert!(last_lines(b"", 5).is_empty());
        assert_eq!(
            last_lines(b"\xff\xfe bad\n", 5),
            vec!["\u{fffd}\u{fffd} bad"]
        );
    }

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn command_line_order_matches_the_original() {
        let rsync = v("rsync");
        let own = v("Archive-Update-in-Progress-m project/trace/m");
        let opts = v("-prltvHSB8192 --stats");
        let excl = v("--exclude=foo");
        let extra = v("--ipv4");
        let t = Transport::Ssh("ssh".into());
        let s = RsyncSettings {
            rsync: &rsync,
            log_rsync: Path::new("/l/rsync-ftpsync.log"),
            own_files: &own,
            extra: &extra,
            bwlimit: "0",
            options: &opts,
            exclude: &excl,
            transport: &t,
            arch_include: &[],
            arch_exclude: &[],
        };
        let common = common_words(&s);
        let w = stage_words(&common, &v("--delete"), false, "h::debian", "/m/");
        assert_eq!(
            w.join(" "),
            "rsync --quiet --log-file /l/rsync-ftpsync.log \
             --filter=exclude_/Archive-Update-in-Progress-m --filter=protect_/Archive-Update-in-Progress-m \
             --filter=exclude_/project/trace/m --filter=protect_/project/trace/m \
             --filter=include_/project/ --filter=protect_/project/ --filter=include_/project/trace/ \
             --filter=protect_/project/trace/ --filter=include_/project/trace/* \
             --ipv4 --bwlimit=0 -prltvHSB8192 --stats --exclude=foo --exclude=.~tmp~/ -e ssh \
             --delete h::debian /m/"
        );
        let w = stage_words(&common, &v("--delete"), true, "h::debian", "/m/");
        assert_eq!(
            w[w.len() - 4..].join(" "),
            "--delete --dry-run h::debian /m/"
        );
        let j = files_from_words(&w, Path::new("/l/s2.list"));
        assert_eq!(
            j[w.len() - 4..].join(" "),
            "--delete --dry-run --files-from=/l/s2.list --from0 --no-recursive --ignore-missing-args h::debian /m/"
        );
        // Refused by the hardened file-list reader of rsync 3.4 and security updates.
        assert!(!j.iter().any(|w| w == "--delete-missing-args"));
        let f = probe_words(
            &v("rsync"),
            &[],
            5,
            &Transport::Undefined,
            Probe::Files {
                source: "h::debian",
                list: Path::new("/l/fetch.list"),
                dest: "/l/upstream/",
                basis: Path::new("/l/upstream.last"),
            },
        );
        assert!(!f.iter().any(|w| w == "--delete-missing-args"));
        // A master trace that is a link comes along as one, an unsafe one not at all.
        assert!(f.iter().any(|w| w == "--links") && f.iter().any(|w| w == "--safe-links"));
        assert_eq!(
            f[f.len() - 6..].join(" "),
            "--files-from=/l/fetch.list --from0 --ignore-missing-args --copy-dest=/l/upstream.last h::debian /l/upstream/"
        );
    }

    #[test]
    fn arch_include_adds_all_and_excludes_the_rest() {
        let w = arch_filters(&v("amd64"), &[]);
        assert_eq!(w[0], "--filter=include_/dists/**/binary-amd64/");
        assert!(w.contains(&"--filter=include_/pool/**/*_all.deb".to_string()));
        assert!(w.contains(&"--filter=exclude_/pool/**/*_*.deb".to_string()));
        assert_eq!(w.last().unwrap(), "--filter=exclude_/pool/**/*.dsc");
        assert_eq!(w.len(), 10 + 10 + 10 + 4);
        let w = arch_filters(&v("source"), &[]);
        assert!(!w.iter().any(|x| x.contains("_all.deb")));
    }

    #[test]
    fn arch_exclude_keeps_the_rest() {
        let w = arch_filters(&[], &v("i386 source"));
        assert_eq!(w[0], "--filter=exclude_/dists/**/binary-i386/");
        assert_eq!(w[10], "--filter=exclude_/dists/**/source/");
        assert_eq!(w[14], "--filter=include_/dists/**/binary-*/");
        assert_eq!(w.last().unwrap(), "--filter=include_/pool/**/*.dsc");
    }

    #[test]
    fn e_values_quote_only_what_needs_it() {
        let w = v("-p 2222 -o BatchMode=yes");
        assert_eq!(quote_for_e(&w), "-p 2222 -o BatchMode=yes");
        let w = vec![
            "-o".to_string(),
            "ProxyCommand=nc %h 22".to_string(),
            "it's".to_string(),
        ];
        assert_eq!(quote_for_e(&w), "-o 'ProxyCommand=nc %h 22' 'it''s'");
    }

    /// The split is rsync's own: the real rsync gets an `-e` value and runs the remote
    /// shell with exactly the words we quoted (a recording script stands in for ssh).
    #[test]
    fn rsync_splits_an_e_value_back_into_the_words() {
        let d = tempfile::tempdir().unwrap();
        let rec = d.path().join("rec");
        let out = d.path().join("args");
        std::fs::write(
            &rec,
            format!(
                "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done > '{}'\nexit 1\n",
                out.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&rec, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let words: Vec<String> = ["it's", "a b", "q\"x", "back\\slash", "", "-o", "X=1"]
            .iter()
            .map(|w| w.to_string())
            .collect();
        let e = format!("{} {}", rec.display(), quote_for_e(&words));
        let _ = std::process::Command::new("rsync")
            .args(["-e", &e, "/dev/null", "somehost:/x"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("rsync runs (scripts/setup-deps installs it)");
        let got = std::fs::read(&out).expect("rsync ran the remote shell");
        let got: Vec<String> = got
            .split(|&b| b == 0)
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        assert_eq!(got[..words.len()], words[..], "{e}");
        assert_eq!(got[words.len()], "somehost");
    }

    #[test]
    fn log_names_are_unescaped() {
        assert_eq!(unescape_log_name(b"a\\#012b"), b"a\nb");
        assert_eq!(
            unescape_log_name(b"back\\#134#012slash"),
            b"back\\#012slash"
        );
        assert_eq!(
            unescape_log_name(b"x\\#777 \\#01 \\#"),
            b"x\\#777 \\#01 \\#"
        );
        assert_eq!(
            unescape_log_name("caf\u{e9}".as_bytes()),
            "caf\u{e9}".as_bytes()
        );
    }

    #[test]
    fn exit_codes() {
        assert_eq!(classify(0), Verdict::Success);
        assert_eq!(classify(24), Verdict::Success);
        assert_eq!(classify(23), Verdict::RetryableIfPushed);
        assert_eq!(classify(30), Verdict::RetryableIfPushed);
        assert_eq!(classify(12), Verdict::Failure);
    }

    #[test]
    fn sums_received_bytes() {
        let log = "2026/11/21 10:00:00 [12] sent 1,234 bytes\n\
                   2026/11/21 10:00:00 [12] sent 100 bytes  received 2000 bytes  total size 9\n\
                   sent 5 bytes  received 30 bytes  1.00 bytes/sec\n";
        assert_eq!(bytes_received(log), 2030);
    }

    #[test]
    fn received_bytes_saturate_instead_of_overflowing() {
        // Regression (fuzz target trace_reader): two huge counts overflowed the sum.
        let log = "sent 1 bytes  received 18446744073709551615 bytes  x\n\
                   sent 1 bytes  received 18446744073709551615 bytes  x\n";
        assert_eq!(bytes_received(log), u64::MAX);
    }
}
