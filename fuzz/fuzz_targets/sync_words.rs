//! The `sync:` words an upstream sends through SSH_ORIGINAL_COMMAND, plus argv words.
//! Input: bytes; up to the first NUL is the ssh command (raw bytes, as sshd passes them),
//! the rest (split on NUL, lossy UTF-8) are argv words. Nothing may panic, the report stays
//! bounded, and the archive name must sanitize to a safe file name component.
#![no_main]

use archvsync::common::config::sanitize_name;
use archvsync::ftpsync::words::SyncRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (ssh, argv) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    // An empty ssh part stands for "SSH_ORIGINAL_COMMAND unset".
    let ssh = (!ssh.is_empty()).then_some(ssh);
    let argv = String::from_utf8_lossy(argv);
    let words: Vec<&str> = argv.split('\0').filter(|w| !w.is_empty()).collect();
    let r = SyncRequest::parse(ssh, words.iter().copied());

    // Every word was either understood or ignored; never lost or invented.
    let given = ssh
        .into_iter()
        .flat_map(|c| c.split(u8::is_ascii_whitespace))
        .filter(|w| !w.is_empty())
        .count()
        + words.len();
    assert!(r.ignored_count + r.invalid_count <= given);
    assert!(r.ignored.len() <= r.ignored_count && r.invalid.len() <= r.invalid_count);
    // However many words came, the report is at most two short lines.
    let report = r.ignored_report();
    assert!(report.len() <= 2);
    assert!(report.iter().all(|l| l.len() < 2000 && !l.contains('\n')));
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
    // The config name derived from it (ArchiveSettings::load_raw) must stay one path component.
    if !name.is_empty() {
        let cfg = sanitize_name(&format!("ftpsync-{name}"));
        assert!(cfg.starts_with("ftpsync-") && !cfg.contains('/'));
        assert_ne!(cfg, "..");
    }
});
