//! The change journal's readers of outside input: the upstream's journal file (fetched from
//! the upstream, parsed before anything trusts it), the rsync log lines a sync records, and
//! the rule words the planner evaluates. Never panic; what parses must render back to the
//! same bytes, and every path it names stays inside the tree.
#![no_main]

use archvsync::ftpsync::journal::{filter, format, record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(j) = format::Journal::parse(data) {
        assert_eq!(j.render(), data, "a parsed journal renders back byte for byte");
        for e in &j.entries {
            for p in e.paths.keys() {
                assert!(format::check_path(p).is_ok());
            }
        }
    }
    for line in data.split(|&b| b == b'\n') {
        let _ = record::parse_line(line);
    }
    // Not under a real tree: names are only looked up (lstat, readlink), never touched.
    let _ = record::changes(data, std::path::Path::new("/nonexistent-fuzz-tree"));
    let text = String::from_utf8_lossy(data);
    let words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    if let Ok(rules) = filter::Rules::from_words(&words) {
        let mut cache = Default::default();
        for w in &words {
            let _ = rules.reaches(w.as_bytes(), false, &mut cache);
        }
    }
    if data.len() < 64 {
        let (p, t) = data.split_at(data.len() / 2);
        let _ = filter::wildmatch(p, t);
    }
});
