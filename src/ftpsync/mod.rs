//! `ftpsync`: sync this mirror from its upstream (SPEC §2, §4).
//!
//! `words` parses the `sync:` words, `settings` turns the config into typed settings,
//! `run` is one sync run under the lock.

mod callback;
mod exit;
pub mod progress;
pub mod run;
pub mod settings;
mod upstream_check;
pub mod words;

use crate::cli::FtpsyncArgs;
use crate::common::layout::Layout;
use settings::Settings;
use std::os::unix::ffi::OsStrExt;
use words::SyncRequest;

/// Entry point for `ftpsync` and `archvsync ftpsync`. Returns the exit status.
pub fn main(layout: &Layout, mut args: FtpsyncArgs) -> u8 {
    // `--dry-run` may also follow the words on the command line (never from ssh).
    let before = args.words.len();
    args.words.retain(|w| w != "--dry-run");
    args.dry_run |= args.words.len() != before;
    // Bytes, not a String: sshd passes on whatever the upstream sent (see words.rs).
    let ssh_command = std::env::var_os("SSH_ORIGINAL_COMMAND").filter(|s| !s.is_empty());
    let trigger = args
        .trigger
        .clone()
        .or_else(|| ssh_command.as_ref().map(|_| "ssh".to_string()));
    let request = SyncRequest::parse(
        ssh_command.as_ref().map(|c| c.as_bytes()),
        args.words.iter().map(String::as_str),
    );
    for line in request.ignored_report() {
        println!("{line}");
    }

    let mut settings = match Settings::load(layout, request.archive_name(), trigger) {
        Ok(s) => s,
        Err(refusal) => {
            eprintln!("{}", refusal.message);
            return refusal.code;
        }
    };
    for w in &settings.warnings {
        eprintln!("{w}");
    }
    settings.dry_run = args.dry_run;

    crate::common::process::block_on(run::sync(layout, settings, request))
}
