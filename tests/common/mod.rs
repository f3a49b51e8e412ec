//! Shared harness for the integration tests, one module per concern. Everything a test
//! names as `common::NAME` is re-exported here; the push side stays under `common::sshd`,
//! the TLS side under `common::tls`, the HTTP server under `common::http` and the delay
//! proxy under `common::delay`.
//!
//! - [`mirror`]: the mirror under test ([`Mirror`]: the classic `$B/{bin,etc,log}` layout,
//!   its [`Conf`], runs with a clean environment and their diagnostics), hook and wrapper
//!   scripts that hold or steer a run.
//! - [`archives`]: [`build_archive`], a small Debian-like tree (v1 / v2), and [`Upstream`],
//!   one served by its own rsync daemon.
//! - [`dinstall`]: a generated archive laid out like Debian's real one (zzz-dists, by-hash,
//!   Release with uncompressed variants, installer, extrafiles, ls-lR.gz) and changed by
//!   seeded "dinstall" rounds (reached through `common::dinstall`; benches/debian_archive.rs
//!   includes it alone).
//! - [`daemons`]: [`start_on_free_port`], the one start-and-retry loop of every throwaway
//!   daemon, and [`RsyncDaemon`].
//! - [`trees`]: tree snapshots and comparisons.
//! - [`filters`]: the filter oracle, an rsync filter-rule evaluator written from the SPEC
//!   text, independently of src/.
//! - [`traces`]: trace-file parsing, date formats, host names.
//! - [`mail`]: the one sendmail recorder.
//! - [`process`]: root and `nobody`, bounded waits, /proc, signals.
//! - [`files`]: temp dirs (prefix `archvsync-test-`), scripts, reads.
//! - [`text`]: quoting, and cuts for failure messages that cannot panic ([`tail`]).
//! - [`sshd`]: keys and throwaway sshds with forced commands; [`push`]: downstream mirrors
//!   wired into push trees (both reached through `common::sshd`).
//! - [`tls`]: rsync-ssl-tunnel's other end: a throwaway CA, stunnel, direct tunnel runs.
//! - [`http`]: a tiny HTTP server; [`delay`]: a TCP proxy that delays every chunk.
//! - [`setup_commands`]: the setup commands run to their end, what they print, the files
//!   they leave and their modes (reached through `common::setup_commands`).
//! - [`users`]: throwaway system accounts (useradd/userdel) for what only a real non-root
//!   account shows (reached through `common::users`).
//! - [`browser`]: headless Chromium: a page's DOM as the browser built it, and screenshots
//!   (reached through `common::browser`).
//!
//! Every wait loop here is bounded in time.
#![allow(dead_code)]

pub mod archives;
pub mod browser;
pub mod daemons;
pub mod delay;
pub mod dinstall;
pub mod files;
pub mod filters;
pub mod http;
pub mod mail;
pub mod mirror;
pub mod nginx;
pub mod process;
pub mod push;
pub mod setup_commands;
pub mod sshd;
pub mod text;
pub mod tls;
pub mod traces;
pub mod trees;
pub mod users;

// Each test binary uses its own part of these; the rest is not an unused import.
#[allow(unused_imports)]
pub use {
    archives::*, daemons::*, files::*, filters::*, mail::*, mirror::*, process::*, text::*,
    traces::*, trees::*,
};
