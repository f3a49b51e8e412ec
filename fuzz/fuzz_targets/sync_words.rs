//! The `sync:` words an upstream sends through SSH_ORIGINAL_COMMAND, plus argv words.
//! Input: bytes, lossy UTF-8; up to the first NUL is the ssh command, the rest (split on
//! NUL) are argv words. Nothing may panic, and the archive name must sanitize to a safe
//! file name component.
#![no_main]

use archvsync::common::config::sanitize_name;
use archvsync::ftpsync::words::SyncRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (ssh, argv) = match text.split_once('\0') {
        Some((s, rest)) => (s, rest),
        None => (text.as_ref(), ""),
    };
    // An empty ssh part stands for "SSH_ORIGINAL_COMMAND unset".
    let ssh = (!ssh.is_empty()).then_some(ssh);
    let words: Vec<&str> = argv.split('\0').filter(|w| !w.is_empty()).collect();
    let r = SyncRequest::parse(ssh, words.iter().copied());

    // Every word was either understood or ignored; never lost or invented.
    let understood = ssh
        .into_iter()
        .flat_map(str::split_whitespace)
        .chain(words.iter().copied())
        .count();
    assert!(r.ignored.len() <= understood);
    // Whatever was asked, at least one stage runs.
    assert!(r.does_stage1() || r.does_stage2());

    let name = r.archive_name();
    let safe = sanitize_name(name);
    assert!(!safe.contains('/'), "{safe:?}");
    assert!(
        safe.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')),
        "{safe:?}"
    );
    // The config name derived from it (Settings::load_raw) must stay one path component.
    if !name.is_empty() {
        let cfg = sanitize_name(&format!("ftpsync-{name}"));
        assert!(cfg.starts_with("ftpsync-") && !cfg.contains('/'));
        assert_ne!(cfg, "..");
    }
});
