//! Date formats the mirror network parses: `date -u` (first trace line), `date -R`
//! (RFC 2822 trace fields), HTTP dates (Last-Modified, If-Unmodified-Since) and the
//! syslog-like stamp of log lines.

use std::sync::OnceLock;
use time::format_description::well_known::Rfc2822;
use time::macros::format_description;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

static LOCAL_OFFSET: OnceLock<UtcOffset> = OnceLock::new();

/// Must be called while the process is still single-threaded: the `time` crate refuses to
/// read the local zone once other threads exist.
pub fn init_local_offset() {
    let off = UtcOffset::current_local_offset().unwrap_or(UtcOffset::UTC);
    let _ = LOCAL_OFFSET.set(off);
}

pub fn now_local() -> OffsetDateTime {
    OffsetDateTime::now_utc().to_offset(*LOCAL_OFFSET.get().unwrap_or(&UtcOffset::UTC))
}

/// `LC_ALL=POSIX date -u`, e.g. `Sat Nov  1 10:21:32 UTC 2026`.
pub fn date_u(t: OffsetDateTime) -> String {
    let fmt = format_description!(
        "[weekday repr:short] [month repr:short] [day padding:space] [hour]:[minute]:[second] UTC [year]"
    );
    t.to_offset(UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_else(|_| String::from("unknown"))
}

/// `LC_ALL=POSIX date -u -R`, e.g. `Sat, 01 Nov 2026 10:21:32 +0000`.
pub fn rfc2822_utc(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(&Rfc2822)
        .unwrap_or_else(|_| String::from("unknown"))
}

/// `date +"%b %d %H:%M:%S"` in local time, the stamp of every log line.
pub fn log_stamp(t: OffsetDateTime) -> String {
    let fmt = format_description!("[month repr:short] [day] [hour]:[minute]:[second]");
    t.format(&fmt).unwrap_or_default()
}

/// Whose reading of a trace file's first line: Debian's two monitors differ in details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceDateReader {
    /// mirror-status (dmt): Python's `strptime` with `%a %b %d %H:%M:%S UTC %Y` or the same
    /// with `GMT`: names and zone in any case, 1 or 2 digits for day and time fields.
    MirrorStatus,
    /// http-redirector (`Mirror::Trace`): `^\w{3}\s+\w{3}\s+\d{1,2}\s+(\d{2}:){2}\d{2}\s+
    /// (UTC|GMT)\s+\d{4}$`, then `Date::Parse`: two-digit time fields, the zone in upper case.
    HttpRedirector,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn digits(s: &str, min: usize, max: usize) -> Option<u32> {
    (s.len() >= min && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// The first line of a trace file (`date -u`, e.g. `Sun Nov  1 09:05:07 UTC 2026`) as
/// `reader` accepts it. Neither checks that the weekday fits the date, and neither allows
/// white space before or after the date, so neither do we.
pub fn parse_trace_date(line: &str, reader: TraceDateReader) -> Result<OffsetDateTime, String> {
    let redirector = reader == TraceDateReader::HttpRedirector;
    let bad = |why: &str| Err(format!("{line:?} is not a `date -u` date ({why})"));
    if line.trim() != line || line.is_empty() {
        return bad("white space around it, or empty");
    }
    let f: Vec<&str> = line.split_whitespace().collect();
    let [wd, mon, day, hms, zone, year] = f[..] else {
        return bad("not six fields: WEEKDAY MONTH DAY HH:MM:SS UTC YEAR");
    };
    if !WEEKDAYS.contains(&wd.to_ascii_lowercase().as_str()) {
        return bad("no weekday");
    }
    let Some(month) = MONTHS
        .iter()
        .position(|m| *m == mon.to_ascii_lowercase())
        .and_then(|i| Month::try_from(i as u8 + 1).ok())
    else {
        return bad("no month");
    };
    let zone_ok = if redirector {
        zone == "UTC" || zone == "GMT"
    } else {
        zone.eq_ignore_ascii_case("UTC") || zone.eq_ignore_ascii_case("GMT")
    };
    if !zone_ok {
        return bad("the zone is not UTC or GMT");
    }
    let min_digits = if redirector { 2 } else { 1 };
    let hms: Vec<&str> = hms.split(':').collect();
    let [h, m, s] = hms[..] else {
        return bad("the time is not HH:MM:SS");
    };
    let (Some(h), Some(m), Some(s)) = (
        digits(h, min_digits, 2),
        digits(m, min_digits, 2),
        digits(s, min_digits, 2),
    ) else {
        return bad("the time is not HH:MM:SS");
    };
    let (Some(day), Some(year)) = (digits(day, 1, 2), digits(year, 4, 4)) else {
        return bad("day or year are not numbers");
    };
    let date = Date::from_calendar_date(year as i32, month, day as u8)
        .map_err(|e| format!("{line:?}: {e}"))?;
    let time = Time::from_hms(h as u8, m as u8, s as u8).map_err(|e| format!("{line:?}: {e}"))?;
    Ok(PrimitiveDateTime::new(date, time).assume_utc())
}

/// A `date -R` date as trace files' `Date:` field holds it, e.g. `Sun, 01 Nov 2026 09:05:07
/// +0000` (any numeric zone, or GMT/UTC; the weekday optional and not checked).
pub fn parse_rfc2822(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    let rest = s.split_once(", ").map_or(s, |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let [day, mon, year, hms, zone] = f[..] else {
        return None;
    };
    let utc = parse_trace_date(
        &format!("Mon {mon} {day} {hms} UTC {year}"),
        TraceDateReader::MirrorStatus,
    )
    .ok()?;
    if zone.eq_ignore_ascii_case("GMT") || zone.eq_ignore_ascii_case("UTC") {
        return Some(utc);
    }
    let (sign, hhmm) = match zone.split_at_checked(1)? {
        ("+", d) => (1, d),
        ("-", d) => (-1, d),
        _ => return None,
    };
    let minutes = digits(hhmm.get(..2)?, 2, 2)? * 60 + digits(hhmm.get(2..)?, 2, 2)?;
    if hhmm.len() != 4 || minutes >= 24 * 60 {
        return None;
    }
    // The wall time was `minutes` ahead of UTC (behind, for a minus).
    Some(utc - time::Duration::minutes(sign * i64::from(minutes)))
}

/// An HTTP date (RFC 9110 IMF-fixdate), e.g. `Sun, 01 Nov 2026 09:05:07 GMT`: what
/// If-Unmodified-Since carries and Last-Modified answers.
pub fn http_date(t: OffsetDateTime) -> String {
    let fmt = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.to_offset(UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_else(|_| String::from("unknown"))
}

/// A Last-Modified value as mirror-status reads it (`%a, %d %b %Y %H:%M:%S %Z`, the zone
/// GMT or UTC).
pub fn parse_http_date(s: &str) -> Option<OffsetDateTime> {
    let (_weekday, rest) = s.trim().split_once(", ")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let [day, mon, year, hms, zone] = f[..] else {
        return None;
    };
    if !(zone.eq_ignore_ascii_case("GMT") || zone.eq_ignore_ascii_case("UTC")) {
        return None;
    }
    // The same fields as a trace's first line, in another order.
    parse_trace_date(
        &format!("Mon {mon} {day} {hms} UTC {year}"),
        TraceDateReader::MirrorStatus,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats_match_coreutils() {
        let t = datetime!(2026-11-01 09:05:07 UTC);
        assert_eq!(date_u(t), "Sun Nov  1 09:05:07 UTC 2026");
        assert_eq!(rfc2822_utc(t), "Sun, 01 Nov 2026 09:05:07 +0000");
        assert_eq!(log_stamp(t), "Nov 01 09:05:07");
        assert_eq!(http_date(t), "Sun, 01 Nov 2026 09:05:07 GMT");
        assert_eq!(parse_http_date(&http_date(t)), Some(t));
        assert_eq!(parse_rfc2822(&rfc2822_utc(t)), Some(t));
        assert_eq!(
            parse_rfc2822("Sun, 01 Nov 2026 10:35:07 +0130"),
            Some(t),
            "a zone east of UTC is ahead of it"
        );
        assert_eq!(parse_rfc2822("01 Nov 2026 04:05:07 -0500"), Some(t));
        assert_eq!(parse_rfc2822("Sun, 01 Nov 2026 09:05:07 GMT"), Some(t));
        for bad in [
            "",
            "Sun, 01 Nov 2026 09:05:07",
            "Sun, 01 Nov 2026 09:05:07 +00",
            "Sun, 01 Nov 2026 09:05:07 +2400",
            "Sun, 01 Nov 2026 09:05:07 CET",
            "Sun, 32 Nov 2026 09:05:07 +0000",
        ] {
            assert_eq!(parse_rfc2822(bad), None, "{bad}");
        }
    }

    #[test]
    fn trace_dates_as_each_monitor_reads_them() {
        use TraceDateReader::*;
        let t = datetime!(2026-11-01 09:05:07 UTC);
        for reader in [MirrorStatus, HttpRedirector] {
            assert_eq!(parse_trace_date(&date_u(t), reader), Ok(t));
            assert_eq!(
                parse_trace_date("Sun Nov 01 09:05:07 GMT 2026", reader),
                Ok(t)
            );
            // ftpsync before 2012 wrote GMT; the weekday is not checked by either.
            assert_eq!(
                parse_trace_date("Tue Oct 30 03:25:38 GMT 2012", reader),
                Ok(datetime!(2012-10-30 03:25:38 UTC))
            );
            for bad in [
                "",
                " Sun Nov  1 09:05:07 UTC 2026",
                "Sun Nov  1 09:05:07 UTC 2026\r",
                "Sun Nov  1 09:05:07 CET 2026",
                "Sun Nov  1 09:05:07 +0000 2026",
                "Sun, 01 Nov 2026 09:05:07 +0000",
                "Sun Nov 31 09:05:07 UTC 2026",
                "Sun Nov  1 24:05:07 UTC 2026",
                "Sun Nox  1 09:05:07 UTC 2026",
                "Sun Nov  1 09:05:07 UTC 26",
            ] {
                assert!(parse_trace_date(bad, reader).is_err(), "{reader:?} {bad:?}");
            }
        }
        // Where they differ: Python's strptime ignores case and takes 1-digit fields.
        assert_eq!(
            parse_trace_date("sun nov  1 9:5:7 utc 2026", MirrorStatus),
            Ok(t)
        );
        assert!(parse_trace_date("sun nov  1 9:5:7 utc 2026", HttpRedirector).is_err());
        assert!(parse_trace_date("Sun Nov  1 09:05:07 utc 2026", HttpRedirector).is_err());
    }
}
