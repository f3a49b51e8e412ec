//! The runmirrors.mirror file parser: never panics; every mirror has a usable log name;
//! every error points at a line of the text.
#![no_main]

use archvsync::settings::mirrorlist::{parse, Entry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // As mirrorlist::read does.
    let text = String::from_utf8_lossy(data);
    let (entries, errors) = parse(&text);
    let lines = text.lines().count();
    for e in &entries {
        match e {
            Entry::Mirror(t) => {
                assert!(!t.name.is_empty());
                assert!(!t.name.contains('/'), "{:?}", t.name);
                assert!(!t.name.starts_with('.'), "{:?}", t.name);
                assert!(t.line >= 1 && t.line <= lines);
            }
            Entry::Delay { line, .. } | Entry::Skipped { line, .. } => {
                assert!(*line >= 1 && *line <= lines);
            }
        }
    }
    for err in &errors {
        assert!(err.line >= 1 && err.line <= lines, "{err:?} of {lines}");
        assert!(!err.message.is_empty());
    }
    assert!(entries.len() + errors.len() <= lines);
});
