//! The rules Debian's two monitors judge a mirror by, applied to what was fetched. No I/O
//! here: every function takes the answers and gives verdicts.
//!
//! - mirror-status (dmt, mirror-master.debian.org/status): a trace's first line must parse
//!   with `strptime` as `%a %b %d %H:%M:%S UTC %Y` (or `GMT`); later lines are `Key: value`
//!   where they have a colon and are otherwise ignored. A mirror's age is scored +5 up to
//!   4 h, +1 up to 12 h, 0 up to 24 h, -5 up to 48 h and -30 beyond. It also records when
//!   `Archive-Update-in-Progress-SITE` and `Archive-Update-Required-SITE` were last
//!   modified (404 or 403: not there).
//! - http-redirector (deb.debian.org's older redirector, `Mirror::Trace` and `check.pl`):
//!   a trace is read up to 1024 bytes, its first line must match
//!   `^\w{3}\s+\w{3}\s+\d{1,2}\s+(\d{2}:){2}\d{2}\s+(UTC|GMT)\s+\d{4}$` and every other
//!   line `^([\w -]+):(.*)$` (else the whole trace is rejected); the site trace must not be
//!   older than the master trace; `Used ftpsync version: N` must be digits only (and at
//!   least 80387, not 80486) or the mirror runs a "bad ftpsync"; `Architectures` must list
//!   `source` (or `FULL`); and a HEAD of `dists/sid/Release` with `If-Unmodified-Since`
//!   set to the master trace's date must not answer 412, which would mean the mirror
//!   served the new Release before its master trace: no two-stage sync. A mirror without
//!   sid is asked for a suite it carries instead (see [`TWO_STAGE_SUITES`]).
//!
//! A rule that could not be tested (the two-stage test on a mirror that carries none of
//! the suites asked for) says so and does not turn the verdict: its level stays ok for
//! the worst-of, and it reads `untested`.
//!
//! Longer than the ~600 lines a file keeps to, on purpose: one function per rule of the two
//! monitors, each with the monitor's own wording, beside the tests that pin it (a fifth of
//! the file).

use crate::common::dates::{self, TraceDateReader};
use crate::report::human_age as age_words;
use serde::ser::{Serialize, SerializeStruct, Serializer};
use time::OffsetDateTime;

/// The redirector reads no more of a trace than this; a longer one is rejected.
pub const REDIRECTOR_TRACE_LIMIT: usize = 1024;
/// The oldest `Used ftpsync version` the redirector takes for a good ftpsync, and the one
/// release it refuses.
pub const MIN_FTPSYNC_VERSION: u64 = 80387;
pub const BAD_FTPSYNC_VERSION: u64 = 80486;

pub const MIRROR_STATUS: &str = "mirror-status";
pub const HTTP_REDIRECTOR: &str = "http-redirector";

/// A rule's verdict, and a whole check's (its worst rule).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warning,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }

    /// `text` in the level's colour (green, yellow, red) when `colour`.
    pub fn paint(self, text: String, colour: bool) -> String {
        let code = match self {
            Level::Ok => "32",
            Level::Warning => "33",
            Level::Error => "31",
        };
        if colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text
        }
    }

    /// Nagios: 0 OK, 1 WARNING, 2 CRITICAL.
    pub fn exit_code(self) -> u8 {
        match self {
            Level::Ok => 0,
            Level::Warning => 1,
            Level::Error => 2,
        }
    }
}

/// One rule's judgement.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub monitor: &'static str,
    pub rule: &'static str,
    /// Ok when the rule could not be tested, so the worst-of ignores it.
    pub level: Level,
    /// False when the rule could not be applied at all (the reason says why).
    pub tested: bool,
    pub reason: String,
}

impl Verdict {
    /// `ok`, `warning`, `error`, or `untested`: a rule not applied reads as neither a pass
    /// nor a problem.
    pub fn level_str(&self) -> &'static str {
        if self.tested {
            self.level.as_str()
        } else {
            "untested"
        }
    }
}

impl Serialize for Verdict {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Verdict", 4)?;
        st.serialize_field("monitor", self.monitor)?;
        st.serialize_field("rule", self.rule)?;
        st.serialize_field("level", self.level_str())?;
        st.serialize_field("reason", &self.reason)?;
        st.end()
    }
}

pub fn verdict(monitor: &'static str, rule: &'static str, level: Level, reason: String) -> Verdict {
    Verdict {
        monitor,
        rule,
        level,
        tested: true,
        reason,
    }
}

fn untested(monitor: &'static str, rule: &'static str, reason: String) -> Verdict {
    Verdict {
        monitor,
        rule,
        level: Level::Ok,
        tested: false,
        reason,
    }
}

/// A trace file as the redirector reads it.
#[derive(Debug, Clone)]
pub struct RedirectorTrace {
    pub date: OffsetDateTime,
    /// The `Used ftpsync version` line whole, or a second line without a colon (how other
    /// sync tools name themselves), or empty.
    pub software: String,
    pub architectures: Option<String>,
}

/// `Mirror::Trace::from_string`, with the reason when it says no.
pub fn read_as_redirector(text: &str) -> Result<RedirectorTrace, String> {
    if text.len() > REDIRECTOR_TRACE_LIMIT {
        return Err(format!(
            "{} bytes: the redirector reads at most {REDIRECTOR_TRACE_LIMIT} and rejects a longer trace",
            text.len()
        ));
    }
    // Perl's split drops trailing empty fields.
    let mut lines: Vec<&str> = text.split('\n').collect();
    while lines.last() == Some(&"") {
        lines.pop();
    }
    let Some((first, rest)) = lines.split_first() else {
        return Err("empty".into());
    };
    let date = dates::parse_trace_date(first, TraceDateReader::HttpRedirector)
        .map_err(|e| format!("first line: {e}"))?;
    let mut software = String::new();
    let mut rest = rest;
    if let Some((second, after)) = rest.split_first() {
        if !second.contains(':') {
            software = second.to_string();
            rest = after;
        }
    }
    let mut architectures = None;
    for line in rest {
        let Some((key, value)) = line
            .split_once(':')
            .filter(|(k, _)| !k.is_empty() && k.bytes().all(is_key_byte))
        else {
            return Err(format!(
                "line {line:?} is not `Key: value` (^([\\w -]+):(.*)$)"
            ));
        };
        match key {
            "Architectures" => architectures = Some(value.to_string()),
            "Used ftpsync version" => software = line.to_string(),
            _ => {}
        }
    }
    Ok(RedirectorTrace {
        date,
        software,
        architectures,
    })
}

/// Perl's `[\w -]` on the bytes of a trace (no Unicode semantics for byte strings).
fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b' ' || b == b'-'
}

/// Perl's `m/\bWORD\b/`.
fn has_word(text: &str, word: &str) -> bool {
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    text.match_indices(word).any(|(i, _)| {
        !is_word(text[..i].chars().next_back()) && !is_word(text[i + word.len()..].chars().next())
    })
}

/// A trace file as mirror-status reads it: the date of its first line, `Archive serial`.
#[derive(Debug, Clone)]
pub struct StatusTrace {
    pub date: OffsetDateTime,
    pub serial: Option<String>,
}

pub fn read_as_mirror_status(text: &str) -> Result<StatusTrace, String> {
    let first = text.split('\n').next().unwrap_or_default();
    let date = dates::parse_trace_date(first, TraceDateReader::MirrorStatus)
        .map_err(|e| format!("Invalid tracefile: first line {e}"))?;
    let serial = text.split('\n').skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("archive serial")
            .then(|| v.trim().to_string())
    });
    Ok(StatusTrace { date, serial })
}

/// A trace fetched (or not): the body, or why there is none.
pub type Fetched = Result<String, String>;

/// The fetch and parse rules of one trace, for both monitors.
pub fn trace_rules(
    rule: &'static str,
    fetched: &Fetched,
    now: OffsetDateTime,
) -> (Vec<Verdict>, Option<StatusTrace>, Option<RedirectorTrace>) {
    let text = match fetched {
        Ok(t) => t,
        Err(e) => {
            return (
                vec![
                    verdict(MIRROR_STATUS, rule, Level::Error, e.clone()),
                    verdict(
                        HTTP_REDIRECTOR,
                        rule,
                        Level::Error,
                        format!("bad {rule} ({e})"),
                    ),
                ],
                None,
                None,
            )
        }
    };
    let mut out = Vec::new();
    let status = match read_as_mirror_status(text) {
        Ok(t) => {
            out.push(verdict(
                MIRROR_STATUS,
                rule,
                Level::Ok,
                format!(
                    "{} ({} ago), archive serial {}",
                    dates::date_u(t.date),
                    age_words((now - t.date).whole_seconds()),
                    t.serial.as_deref().unwrap_or("none")
                ),
            ));
            Some(t)
        }
        Err(e) => {
            out.push(verdict(MIRROR_STATUS, rule, Level::Error, e));
            None
        }
    };
    let redirector = match read_as_redirector(text) {
        Ok(t) => {
            out.push(verdict(
                HTTP_REDIRECTOR,
                rule,
                Level::Ok,
                format!("parses ({} bytes)", text.len()),
            ));
            Some(t)
        }
        Err(e) => {
            out.push(verdict(
                HTTP_REDIRECTOR,
                rule,
                Level::Error,
                format!("bad {rule} (parse error: {e})"),
            ));
            None
        }
    };
    (out, status, redirector)
}

/// mirror-status' score for a mirror of this age, in seconds.
pub fn score_age(age: i64) -> (Level, &'static str) {
    const H: i64 = 3600;
    match age {
        a if a <= 4 * H => (Level::Ok, "+5, at most 4 h"),
        a if a <= 12 * H => (Level::Ok, "+1, at most 12 h"),
        a if a <= 24 * H => (Level::Warning, "0, more than 12 h"),
        a if a <= 48 * H => (Level::Warning, "-5, more than 24 h"),
        _ => (Level::Error, "-30, more than 48 h: stale"),
    }
}

/// The mirror's age: mirror-status counts how long the version it serves (its master
/// trace) has been superseded, from its history of ftp-master's traces. One check has no
/// history, so it takes the older of the two traces: the content is at least as old as
/// the master trace, and a site trace older than that means no sync has finished since.
pub fn age_rule(master: &StatusTrace, site: &StatusTrace, now: OffsetDateTime) -> (Verdict, i64) {
    let (oldest, which) = if site.date < master.date {
        (site.date, "site trace")
    } else {
        (master.date, "master trace")
    };
    let age = (now - oldest).whole_seconds();
    let v = if age < -3600 {
        verdict(
            MIRROR_STATUS,
            "age",
            Level::Warning,
            format!(
                "the {which} is dated {} in the future: is a clock wrong?",
                age_words(-age)
            ),
        )
    } else {
        let (level, score) = score_age(age.max(0));
        verdict(
            MIRROR_STATUS,
            "age",
            level,
            format!("{} (the {which}): {score}", age_words(age.max(0))),
        )
    };
    (v, age)
}

/// What a GET of `Archive-Update-in-Progress-SITE` (or `-Required-`) answered.
#[derive(Debug, Clone)]
pub enum MarkerAnswer {
    /// 404 or 403.
    Absent,
    /// 200, with the Last-Modified value if there was one.
    Present(Option<String>),
    /// Another status, or no answer: why.
    Failed(String),
}

/// How long a sync may take before a marker left there is worth a look.
const MARKER_OK: i64 = 4 * 3600;
const MARKER_STALE: i64 = 48 * 3600;

pub fn marker_rule(rule: &'static str, answer: &MarkerAnswer, now: OffsetDateTime) -> Verdict {
    let (level, reason) = match answer {
        MarkerAnswer::Absent => (Level::Ok, "not there: no sync under way".to_string()),
        MarkerAnswer::Failed(e) => (Level::Error, e.clone()),
        MarkerAnswer::Present(None) => (
            Level::Warning,
            "there, without a Last-Modified header: its age is unknown".to_string(),
        ),
        MarkerAnswer::Present(Some(lm)) => match dates::parse_http_date(lm) {
            None => (Level::Error, format!("Invalid Last-Modified value {lm}")),
            Some(t) => {
                let age = (now - t).whole_seconds().max(0);
                let level = match age {
                    a if a <= MARKER_OK => Level::Ok,
                    a if a <= MARKER_STALE => Level::Warning,
                    _ => Level::Error,
                };
                let why = match level {
                    Level::Ok => "a sync is under way",
                    _ => "a sync this long has hung, or the file was left behind",
                };
                (level, format!("there for {} ({why})", age_words(age)))
            }
        },
    };
    verdict(MIRROR_STATUS, rule, level, reason)
}

/// The redirector's rules on the site trace (given it parsed), and the master's date.
pub fn redirector_rules(site: &RedirectorTrace, master: Option<&RedirectorTrace>) -> Vec<Verdict> {
    let mut out = Vec::new();
    if let Some(m) = master {
        let (level, lead) = if site.date < m.date {
            (Level::Error, "old site trace: ")
        } else {
            (Level::Ok, "")
        };
        out.push(verdict(
            HTTP_REDIRECTOR,
            "site trace not older than master",
            level,
            format!(
                "{lead}{} is {}older than the master trace's {}",
                dates::date_u(site.date),
                if level == Level::Ok { "not " } else { "" },
                dates::date_u(m.date)
            ),
        ));
    }
    out.push(ftpsync_version_rule(&site.software));
    out.push(match &site.architectures {
        None => verdict(
            HTTP_REDIRECTOR,
            "architectures",
            Level::Warning,
            "no Architectures line: the redirector cannot tell what the mirror carries".into(),
        ),
        Some(a) if has_word(a, "source") || has_word(a, "FULL") => verdict(
            HTTP_REDIRECTOR,
            "architectures",
            Level::Ok,
            format!("Architectures: {} lists source", a.trim()),
        ),
        Some(a) => verdict(
            HTTP_REDIRECTOR,
            "architectures",
            Level::Error,
            format!(
                "no sources (det. from trace file): Architectures: {} does not list source",
                a.trim()
            ),
        ),
    });
    out
}

/// `uses_ftpsync` and `good_ftpsync` of `Mirror::Trace`.
fn ftpsync_version_rule(software: &str) -> Verdict {
    let rule = "ftpsync version";
    if software.starts_with("Used ftpsync-pushrsync") {
        return verdict(HTTP_REDIRECTOR, rule, Level::Ok, software.to_string());
    }
    if let Some(v) = software.strip_prefix("Used ftpsync version: ") {
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
            return match v.parse::<u64>() {
                Ok(n) if n >= MIN_FTPSYNC_VERSION && n != BAD_FTPSYNC_VERSION => {
                    verdict(HTTP_REDIRECTOR, rule, Level::Ok, format!("{n}, a good ftpsync"))
                }
                _ => verdict(
                    HTTP_REDIRECTOR,
                    rule,
                    Level::Error,
                    format!("old ftpsync: {v} (wanted at least {MIN_FTPSYNC_VERSION}, not {BAD_FTPSYNC_VERSION})"),
                ),
            };
        }
        return verdict(
            HTTP_REDIRECTOR,
            rule,
            Level::Error,
            format!(
                "old ftpsync: {software:?} is not digits only (^Used ftpsync version: ([0-9]+)$), so the redirector assumes no InRelease, i18n or Archive-Update-in-Progress support"
            ),
        );
    }
    if let Some(v) = software.strip_prefix("DMS sync dms-") {
        let good = !v.is_empty()
            && v.chars().all(|c| c.is_alphanumeric() || "._-".contains(c))
            && v >= "0.1";
        let level = if good { Level::Ok } else { Level::Error };
        return verdict(HTTP_REDIRECTOR, rule, level, software.to_string());
    }
    verdict(
        HTTP_REDIRECTOR,
        rule,
        Level::Warning,
        "no Used ftpsync version line: the redirector notes the mirror does not use ftpsync".into(),
    )
}

/// The suites the two-stage test asks for, in this order, when `--suite` names none: the
/// first one the mirror has is tested. sid first, as the redirector asks (a mirror with
/// sid costs one HEAD, as before). The test shows a mirror that took a new Release before
/// its master trace only while that Release is newer than the trace, so the suites whose
/// Release changes most often come first: unstable, testing, stable, oldstable, then the
/// same in debian-security, then codenames for mirrors that carry the suites without the
/// alias links. Each try is the test itself (the same HEAD, answered 404 where the suite
/// is not), so a fixed list needs no other kind of request and no directory listing,
/// which many servers do not give; it costs at most one HEAD per name (see
/// [`suite_absent`]), and the search stops once it has taken one timeout's time. The
/// codenames age with Debian's releases; the aliases do not.
pub const TWO_STAGE_SUITES: &[&str] = &[
    "sid",
    "unstable",
    "testing",
    "stable",
    "oldstable",
    "testing-security",
    "stable-security",
    "oldstable-security",
    "forky",
    "trixie",
    "bookworm",
    "forky-security",
    "trixie-security",
    "bookworm-security",
];

/// An answer that says the mirror has no such suite: the next one is asked for. Any
/// other answer (a 403, a failed request) ends the search, which would only meet it again.
pub fn suite_absent(answer: &Result<u16, String>) -> bool {
    matches!(answer, Ok(404) | Ok(410))
}

/// One HEAD of `dists/SUITE/Release` with If-Unmodified-Since, and what it answered.
#[derive(Debug, Clone)]
pub struct Probe {
    pub suite: String,
    pub url: String,
    pub answer: Result<u16, String>,
}

/// Which suites were asked for, and why the asking stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuiteSearch {
    /// `--suite`: that one only.
    Given,
    /// [`TWO_STAGE_SUITES`], until one was there or the list ended.
    Known,
    /// [`TWO_STAGE_SUITES`], stopped when this many seconds (the timeout) had passed.
    OutOfTime(u64),
}

/// The two-stage test, from the HEADs made (the last one decides).
pub fn two_stage_rule(probes: &[Probe], since: &str, search: SuiteSearch) -> Verdict {
    let rule = "two-stage sync";
    let Some(last) = probes.last() else {
        return untested(
            HTTP_REDIRECTOR,
            rule,
            "not tested: no suite asked for".into(),
        );
    };
    let url = &last.url;
    match &last.answer {
        // 500: a server that cannot evaluate the header; the redirector lets it pass.
        Ok(200) | Ok(500) => {
            let how = match probes.split_last() {
                Some((_, missing)) if !missing.is_empty() => format!(
                    "; {} tested, as the mirror has no {}",
                    last.suite,
                    missing
                        .iter()
                        .map(|p| p.suite.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                _ => String::new(),
            };
            verdict(
                HTTP_REDIRECTOR,
                rule,
                Level::Ok,
                format!("{url} is not newer than the master trace ({since}){how}"),
            )
        }
        Ok(412) => verdict(
            HTTP_REDIRECTOR,
            rule,
            Level::Error,
            format!(
                "doesn't perform 2stages sync: {url} is newer than the master trace ({since}): the mirror served new Release files before its master trace (HTTP 412)"
            ),
        ),
        // A suite the operator named (a typo, a suite dropped by the mirror) would otherwise
        // leave the rule untested for ever without anyone noticing.
        a if suite_absent(a) && search == SuiteSearch::Given => verdict(
            HTTP_REDIRECTOR,
            rule,
            Level::Warning,
            format!(
                "HEAD {url} answered HTTP {}: the mirror does not carry {}, which --suite names",
                a.as_ref().map_or(0, |c| *c),
                last.suite
            ),
        ),
        a if suite_absent(a) => {
            let why = match search {
                // Taken by the arm above; here for completeness.
                SuiteSearch::Given => format!("the mirror does not carry {}", last.suite),
                SuiteSearch::Known => format!(
                    "the mirror carries none of {} (HEAD dists/SUITE/Release answered HTTP 404 or 410): name one with --suite",
                    TWO_STAGE_SUITES.join(", ")
                ),
                SuiteSearch::OutOfTime(secs) => format!(
                    "no suite found in {secs} s ({} answered HTTP 404 or 410): name one with --suite",
                    probes
                        .iter()
                        .map(|p| p.suite.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            untested(HTTP_REDIRECTOR, rule, format!("not tested: {why}"))
        }
        Ok(code) => untested(
            HTTP_REDIRECTOR,
            rule,
            format!("not tested: HEAD {url} answered HTTP {code}"),
        ),
        Err(e) => untested(HTTP_REDIRECTOR, rule, format!("not tested: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const TRACE: &str = "Tue Dec  1 09:00:00 UTC 2026\nDate: Tue, 01 Dec 2026 09:00:00 +0000\n\
        Archive serial: 2026120101\nUsed ftpsync version: 20180513\nCreator: archvsync 0.1.0\n\
        Architectures: all amd64 source \n";

    #[test]
    fn a_good_trace_passes_both() {
        let t = read_as_redirector(TRACE).unwrap();
        assert_eq!(t.date, datetime!(2026-12-01 09:00:00 UTC));
        assert_eq!(t.software, "Used ftpsync version: 20180513");
        let s = read_as_mirror_status(TRACE).unwrap();
        assert_eq!(s.serial.as_deref(), Some("2026120101"));
        let v = redirector_rules(&t, Some(&t));
        assert!(v.iter().all(|v| v.level == Level::Ok), "{v:?}");
    }

    #[test]
    fn the_redirector_rejects_what_it_cannot_read() {
        let long = format!("{TRACE}{}", "X-Padding: x\n".repeat(80));
        assert!(read_as_redirector(&long).unwrap_err().contains("1024"));
        let blank = TRACE.replace("Creator", "\nCreator");
        assert!(read_as_redirector(&blank).unwrap_err().contains("\"\""));
        let colonless = format!("{TRACE}just words\n");
        assert!(read_as_redirector(&colonless).is_err());
        // ... which mirror-status ignores.
        assert!(read_as_mirror_status(&colonless).is_ok());
        // The second line may name the software without a colon.
        let dms = "Tue Dec  1 09:00:00 UTC 2026\nDMS sync dms-0.2\nArchitectures: FULL\n";
        let t = read_as_redirector(dms).unwrap();
        assert!(redirector_rules(&t, None)
            .iter()
            .all(|v| v.level == Level::Ok));
    }

    #[test]
    fn version_lines() {
        for (line, level) in [
            ("Used ftpsync version: 20180513", Level::Ok),
            ("Used ftpsync version: 80387", Level::Ok),
            ("Used ftpsync version: 80486", Level::Error),
            ("Used ftpsync version: 80386", Level::Error),
            ("Used ftpsync version: 20180513-archvsync", Level::Error),
            ("Used ftpsync version: 0.1.0 (archvsync)", Level::Error),
            ("Used ftpsync version: 20180513 ", Level::Error),
            ("", Level::Warning),
        ] {
            assert_eq!(ftpsync_version_rule(line).level, level, "{line:?}");
        }
    }

    #[test]
    fn source_as_a_word() {
        assert!(has_word(" all amd64 source ", "source"));
        assert!(has_word("GUESSED:{ source amd64}", "source"));
        assert!(!has_word(" all amd64 sourceful", "source"));
        assert!(!has_word(" all amd64 ", "source"));
    }

    #[test]
    fn ages_are_scored_like_mirror_status() {
        let h = 3600;
        let level = |a| score_age(a).0;
        assert_eq!(level(4 * h), Level::Ok);
        assert_eq!(level(12 * h), Level::Ok);
        assert_eq!(level(12 * h + 1), Level::Warning);
        assert_eq!(level(48 * h), Level::Warning);
        assert_eq!(level(48 * h + 1), Level::Error);
        let now = datetime!(2026-12-01 12:00:00 UTC);
        let m = read_as_mirror_status(TRACE).unwrap();
        let mut old = m.clone();
        old.date = datetime!(2026-11-28 12:00:00 UTC);
        let (v, age) = age_rule(&m, &old, now);
        assert_eq!((v.level, age), (Level::Error, 3 * 86400));
        assert!(v.reason.contains("site trace"), "{v:?}");
    }

    #[test]
    fn marker_answers() {
        let now = datetime!(2026-12-01 12:00:00 UTC);
        let lm = |s: &str| MarkerAnswer::Present(Some(s.to_string()));
        assert_eq!(
            marker_rule("x", &MarkerAnswer::Absent, now).level,
            Level::Ok
        );
        assert_eq!(
            marker_rule("x", &lm("Tue, 01 Dec 2026 11:00:00 GMT"), now).level,
            Level::Ok
        );
        assert_eq!(
            marker_rule("x", &lm("Mon, 30 Nov 2026 11:00:00 GMT"), now).level,
            Level::Warning
        );
        assert_eq!(marker_rule("x", &lm("yesterday"), now).level, Level::Error);
    }

    #[test]
    fn two_stage_answers() {
        let since = "Tue, 01 Dec 2026 09:00:00 GMT";
        let probe = |suite: &str, answer: Result<u16, String>| Probe {
            suite: suite.to_string(),
            url: format!("u/dists/{suite}/Release"),
            answer,
        };
        let judge = |probes: &[Probe], search| {
            let v = two_stage_rule(probes, since, search);
            (v.level_str(), v.reason)
        };
        let known = SuiteSearch::Known;
        assert_eq!(judge(&[probe("sid", Ok(200))], known).0, "ok");
        assert_eq!(judge(&[probe("sid", Ok(500))], known).0, "ok");
        assert_eq!(judge(&[probe("sid", Ok(412))], known).0, "error");
        // The suite found decides, either way; the reason says how it was found.
        let (level, why) = judge(&[probe("sid", Ok(404)), probe("testing", Ok(200))], known);
        assert_eq!(level, "ok");
        assert!(
            why.ends_with("; testing tested, as the mirror has no sid"),
            "{why}"
        );
        let found_broken = [probe("sid", Ok(404)), probe("trixie", Ok(412))];
        assert_eq!(judge(&found_broken, known).0, "error");
        // A suite named with --suite that is not there is the operator's to fix.
        let v = two_stage_rule(&[probe("sid", Ok(404))], since, SuiteSearch::Given);
        assert_eq!((v.level, v.tested), (Level::Warning, true), "{v:?}");
        assert!(v.reason.contains("does not carry sid, which --suite names"));
        // What cannot be tested does not turn the verdict.
        for (probes, search, words) in [
            (
                vec![probe("bookworm", Ok(410))],
                known,
                "carries none of sid, unstable",
            ),
            (
                vec![probe("sid", Ok(404)), probe("unstable", Ok(404))],
                SuiteSearch::OutOfTime(30),
                "no suite found in 30 s (sid, unstable answered",
            ),
            (vec![probe("sid", Ok(403))], known, "answered HTTP 403"),
            (
                vec![probe("sid", Err("no answer".into()))],
                known,
                "no answer",
            ),
            (vec![], known, "no suite"),
        ] {
            let v = two_stage_rule(&probes, since, search);
            assert_eq!((v.level, v.tested), (Level::Ok, false), "{v:?}");
            assert!(v.reason.starts_with("not tested: "), "{v:?}");
            assert!(v.reason.contains(words), "{words}: {v:?}");
            let json = serde_json::to_value(&v).unwrap();
            assert_eq!(json["level"], "untested");
        }
        assert!(suite_absent(&Ok(404)) && suite_absent(&Ok(410)));
        assert!(!suite_absent(&Ok(403)) && !suite_absent(&Err("x".into())));
        assert_eq!(TWO_STAGE_SUITES[0], "sid");
    }
}
