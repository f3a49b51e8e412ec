//! Date formats the mirror network parses: `date -u` (first trace line), `date -R`
//! (RFC 2822 trace fields) and the syslog-like stamp of log lines.

use std::sync::OnceLock;
use time::format_description::well_known::Rfc2822;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

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
    }
}
