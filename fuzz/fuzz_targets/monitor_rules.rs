//! check-mirror's readers of what a mirror's web server sends: trace files as Debian's two
//! monitors read them, the rules over them, the trace directory's listing, and dates
//! (a trace's first line, Last-Modified). Never panic, never overflow; a listed name is
//! one plain path component.
#![no_main]

use archvsync::report::monitor::{fetch, rules};
use archvsync::common::dates::{self, TraceDateReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let now = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    let redirector = rules::read_as_redirector(&text).ok();
    let status = rules::read_as_mirror_status(&text).ok();
    if let Some(t) = &redirector {
        let _ = rules::redirector_rules(t, Some(t));
    }
    if let Some(t) = &status {
        let _ = rules::age_rule(t, t, now);
    }
    let _ = rules::trace_rules("site trace", &Ok(text.to_string()), now);
    let first = text.lines().next().unwrap_or_default();
    for reader in [TraceDateReader::MirrorStatus, TraceDateReader::HttpRedirector] {
        let _ = dates::parse_trace_date(first, reader);
    }
    let _ = rules::marker_rule(
        "Archive-Update-in-Progress",
        &rules::MarkerAnswer::Present(Some(first.to_string())),
        now,
    );
    for name in fetch::trace_names(&text, "http://m.example.org/debian/project/trace/") {
        assert!(!name.is_empty() && !name.contains('/'), "{name:?}");
        assert!(!name.bytes().all(|b| b == b'.'), "{name:?}");
    }
    let _ = fetch::host_of(&text);
});
