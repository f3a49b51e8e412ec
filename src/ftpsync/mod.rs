//! `ftpsync`: sync this mirror from its upstream (SPEC §2, §4).
//!
//! `words` parses the `sync:` words (the config becomes typed settings in
//! `crate::settings::archive`), `run` is one sync run under the lock, `stage` one rsync
//! stage, `journal` the change journal, `exit` the exit path.

mod callback;
mod exit;
pub mod index;
pub mod journal;
pub mod progress;
pub mod run;
mod stage;

mod upstream_check;
pub mod words;

use crate::common::layout::Layout;
use crate::settings::archive::ArchiveSettings;
use std::os::unix::ffi::OsStrExt;
use words::SyncRequest;

/// What one ftpsync run is asked to do, however it was started.
pub struct Invocation {
    /// `-T`, or `ssh` when the words came over ssh, or `cron`.
    pub trigger: Option<String>,
    /// SSH_ORIGINAL_COMMAND as sshd passed it on: bytes, whatever the upstream sent.
    pub ssh_command: Option<std::ffi::OsString>,
    /// Words from our own command line; they win over the upstream's.
    pub words: Vec<String>,
    pub dry_run: bool,
}

/// Entry point for `ftpsync` and `archvsync ftpsync`. Returns the exit status.
/// What `ftpsync` was asked for on its command line.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-T TRIGGER`.
    pub trigger: Option<String>,
    /// The `sync:` words (and a `--dry-run` that followed them).
    pub words: Vec<String>,
    pub dry_run: bool,
}

pub fn main(layout: &Layout, mut args: Options) -> u8 {
    // `--dry-run` may also follow the words on the command line (never from ssh).
    let before = args.words.len();
    args.words.retain(|w| w != "--dry-run");
    args.dry_run |= args.words.len() != before;
    let ssh_command = std::env::var_os("SSH_ORIGINAL_COMMAND").filter(|s| !s.is_empty());
    let trigger = args
        .trigger
        .clone()
        .or_else(|| ssh_command.as_ref().map(|_| "ssh".to_string()));
    start(
        layout,
        Invocation {
            trigger,
            ssh_command,
            words: args.words,
            dry_run: args.dry_run,
        },
    )
}

/// One run for `inv`: parse the words, load the config, sync. Shared by `main` and by
/// ftpsync-cron, which starts runs of its own (and has no upstream's words to read).
pub fn start(layout: &Layout, inv: Invocation) -> u8 {
    let request = SyncRequest::parse(
        inv.ssh_command.as_ref().map(|c| c.as_bytes()),
        inv.words.iter().map(String::as_str),
    );
    for line in request.ignored_report() {
        println!("{line}");
    }

    let mut settings =
        match ArchiveSettings::load_explained(layout, request.archive_name(), inv.trigger) {
            Ok(s) => s,
            Err(refused) => return refused.report(),
        };
    for w in &settings.warnings {
        eprintln!("{w}");
    }
    settings.dry_run = inv.dry_run;

    crate::common::process::block_on(run::sync(layout, settings, request))
}
