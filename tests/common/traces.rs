//! Trace files (SPEC §5) and the date formats they carry, host names.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Debug)]
pub struct Trace {
    pub first_line: String,
    pub fields: Vec<(String, String)>,
    pub raw: String,
}

impl Trace {
    pub fn parse(text: &str) -> Trace {
        let mut lines = text.lines();
        let first_line = lines.next().unwrap_or("").to_string();
        let mut fields = Vec::new();
        for l in lines {
            if l.is_empty() {
                continue;
            }
            let (k, v) = l
                .split_once(": ")
                .or_else(|| l.split_once(':'))
                .unwrap_or_else(|| panic!("trace line without a colon: {l:?}\n{text}"));
            fields.push((k.to_string(), v.to_string()));
        }
        Trace {
            first_line,
            fields,
            raw: text.to_string(),
        }
    }
    pub fn read(path: &Path) -> Trace {
        let t = fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read trace {}: {e}", path.display()));
        Trace::parse(&t)
    }
    pub fn get(&self, key: &str) -> Option<&str> {
        let mut it = self.fields.iter().filter(|(k, _)| k == key);
        let first = it.next().map(|(_, v)| v.as_str());
        assert!(
            it.next().is_none(),
            "key {key:?} appears more than once in trace:\n{}",
            self.raw
        );
        first
    }
    pub fn req(&self, key: &str) -> &str {
        self.get(key)
            .unwrap_or_else(|| panic!("trace lacks {key:?}:\n{}", self.raw))
    }
    pub fn num(&self, key: &str) -> u64 {
        let v = self.req(key);
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("trace {key:?} is not a number: {v:?}\n{}", self.raw))
    }
    pub fn keys(&self) -> Vec<&str> {
        self.fields.iter().map(|(k, _)| k.as_str()).collect()
    }
    /// Whitespace-separated words of a field.
    pub fn words(&self, key: &str) -> Vec<String> {
        self.req(key)
            .split_whitespace()
            .map(|s| s.to_string())
            .collect()
    }
}

/// The trace keys of SPEC §5, in order.
pub const TRACE_KEY_ORDER: &[&str] = &[
    "Date",
    "Date-Started",
    "Archive serial",
    "Used ftpsync version",
    "Creator",
    "Running on host",
    "Maintainer",
    "Sponsor",
    "Country",
    "Location",
    "Throughput",
    "Trigger",
    "Architectures",
    "Architectures-Configuration",
    "Upstream-mirror",
    "Rsync-Transport",
    "Total bytes received in rsync",
    "Total time spent in stage1 rsync",
    "Total time spent in stage2 rsync",
    "Total time spent in rsync",
    "Average rate",
];

/// Assert that all keys are known and appear in SPEC order.
pub fn assert_trace_key_order(t: &Trace) {
    let mut last = 0usize;
    for k in t.keys() {
        let pos = TRACE_KEY_ORDER
            .iter()
            .position(|o| *o == k)
            .unwrap_or_else(|| panic!("unexpected trace key {k:?}:\n{}", t.raw));
        assert!(
            pos >= last,
            "trace key {k:?} out of order (SPEC §5 order {TRACE_KEY_ORDER:?}):\n{}",
            t.raw
        );
        last = pos;
    }
}

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn weekday_of(days: i64) -> &'static str {
    WEEKDAYS[days.rem_euclid(7) as usize]
}

fn parse_hms(s: &str) -> Result<i64, String> {
    let p: Vec<&str> = s.split(':').collect();
    if p.len() != 3
        || p.iter()
            .any(|x| x.len() != 2 || !x.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("bad time {s:?}"));
    }
    let h: i64 = p[0].parse().unwrap();
    let m: i64 = p[1].parse().unwrap();
    let sec: i64 = p[2].parse().unwrap();
    if h > 23 || m > 59 || sec > 60 {
        return Err(format!("bad time {s:?}"));
    }
    Ok(h * 3600 + m * 60 + sec)
}

/// Parse `date -u` output in the POSIX locale (`%a %b %e %H:%M:%S UTC %Y`), e.g.
/// `Sat Nov 21 10:21:32 UTC 2026` or `Sun Nov  1 10:21:32 UTC 2026`. Returns epoch seconds.
pub fn parse_date_u(s: &str) -> Result<i64, String> {
    let b = s.as_bytes();
    if b.len() != 28 {
        return Err(format!("{s:?}: expected 28 characters like `date -u`"));
    }
    let wd = &s[0..3];
    let mon = &s[4..7];
    let day = &s[8..10];
    if b[3] != b' ' || b[7] != b' ' || b[10] != b' ' || &s[19..24] != " UTC " {
        return Err(format!("{s:?}: not in `date -u` format"));
    }
    let m = MONTHS
        .iter()
        .position(|x| *x == mon)
        .ok_or_else(|| format!("{s:?}: bad month"))? as i64
        + 1;
    let d: i64 = day
        .trim_start()
        .parse()
        .map_err(|_| format!("{s:?}: bad day"))?;
    if d < 10 && b[8] != b' ' {
        return Err(format!("{s:?}: day must be space-padded like %e"));
    }
    let y: i64 = s[24..28].parse().map_err(|_| format!("{s:?}: bad year"))?;
    let secs = parse_hms(&s[11..19])?;
    let days = days_from_civil(y, m, d);
    if weekday_of(days) != wd {
        return Err(format!("{s:?}: weekday does not match the date"));
    }
    Ok(days * 86400 + secs)
}

/// Parse an RFC 2822 date as `date -u -R` prints it: `Sat, 21 Nov 2026 10:21:32 +0000`.
pub fn parse_rfc2822_utc(s: &str) -> Result<i64, String> {
    let (wd, rest) = s
        .split_once(", ")
        .ok_or_else(|| format!("{s:?}: no weekday"))?;
    let parts: Vec<&str> = rest.split(' ').collect();
    if parts.len() != 5 {
        return Err(format!("{s:?}: expected `DD Mon YYYY HH:MM:SS +0000`"));
    }
    if parts[0].len() != 2 {
        return Err(format!("{s:?}: day should be two digits like `date -R`"));
    }
    let d: i64 = parts[0].parse().map_err(|_| format!("{s:?}: bad day"))?;
    let m = MONTHS
        .iter()
        .position(|x| *x == parts[1])
        .ok_or_else(|| format!("{s:?}: bad month"))? as i64
        + 1;
    let y: i64 = parts[2].parse().map_err(|_| format!("{s:?}: bad year"))?;
    if parts[2].len() != 4 {
        return Err(format!("{s:?}: bad year"));
    }
    let secs = parse_hms(parts[3])?;
    if parts[4] != "+0000" {
        return Err(format!("{s:?}: zone should be +0000 (UTC)"));
    }
    let days = days_from_civil(y, m, d);
    if weekday_of(days) != wd {
        return Err(format!("{s:?}: weekday does not match the date"));
    }
    Ok(days * 86400 + secs)
}

pub fn now_epoch() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Output of `hostname -f` (what TRACEHOST defaults to).
pub fn hostname_f() -> String {
    let o = Command::new("hostname").arg("-f").output().unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Short host name as the logs and mail subjects use it.
pub fn short_hostname() -> String {
    let o = Command::new("hostname").output().unwrap();
    let h = String::from_utf8_lossy(&o.stdout).trim().to_string();
    h.split('.').next().unwrap().to_string()
}

/// Days since the epoch of the (proleptic Gregorian) civil date.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}
