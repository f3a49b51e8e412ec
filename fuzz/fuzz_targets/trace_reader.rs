//! Readers of text that comes from upstream: trace file fields (the trace is fetched from the
//! upstream mirror) and the rsync log statistics. Never panic, never overflow.
#![no_main]

use archvsync::common::{rsync, trace};
use archvsync::ftpsync::progress;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for key in [
        "Archive serial",
        "Date",
        "Total time spent in stage1 rsync",
        "Creator",
        "Running on host",
    ] {
        if let Some(v) = trace::field(&text, key) {
            assert!(!v.is_empty());
            assert!(!v.contains('\n'));
        }
    }
    // Debug assertions are on in fuzz builds: an overflowing sum panics here.
    let _ = rsync::bytes_received(&text);
    // The progress line's reader of the same log, line by line (file names come from the
    // upstream, escaped by rsync).
    for line in text.lines() {
        let _ = progress::parse_line(line);
    }
});
