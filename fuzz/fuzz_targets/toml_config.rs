//! ftpsync.toml loading and the settings built from it: errors are fine, panics are not.
//! (The bash form is not fuzzed: it runs bash on the file, which is the operator's own.)
#![no_main]

use archvsync::common::config;
use archvsync::common::layout::Layout;
use archvsync::settings::archive::{ArchiveSettings, KEYS};
use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// One per-process directory, one file in it, rewritten for every input.
fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("archvsync-fuzz-toml.{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join("x.toml")
    })
}

fuzz_target!(|data: &[u8]| {
    let path = path();
    std::fs::write(path, data).expect("write temp file");
    let Ok(raw) = config::load(path, KEYS, &[]) else {
        return;
    };
    let layout = Layout::build(None, None, false, Path::new("/nonexistent"));
    let _ = ArchiveSettings::from_raw(raw, &layout, "ftpsync".to_string(), "", None);
});
