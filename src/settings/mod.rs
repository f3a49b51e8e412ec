//! The settings core: configs turned into typed settings, shared by every command.
//!
//! `archive` is an archive's ftpsync.conf (read by ftpsync, ftpsync-cron, status and
//! check-config), `push` its runmirrors.conf (with `rsyncd`, the rsync daemon our
//! downstreams pull from). What both have — the refusal a bad config
//! gives, the bounds of number keys, the keys they share (MAILTO and its LOGNAME/USER
//! fallback, LOGDIR, LOCKDIR, LOG, LOGROTATE, SENDMAIL, MAILTIMEOUT, PROGRAM) — is here, once.

pub mod archive;
pub mod push;
pub mod rsyncd;
pub mod to_guard;

pub use to_guard::discover;

use crate::common::config::{self, ConfigError, RawConfig};
use crate::common::layout::Layout;
use crate::common::mail::DEFAULT_SENDMAIL;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

/// A week in seconds: the upper bound of every timeout and sleep. Anything longer is a
/// typo, and unbounded values overflow the arithmetic done on them.
pub const WEEK: u64 = 7 * 24 * 3600;

/// The ranges of the number keys, documented in the sample configs.
pub const LOGROTATE_RANGE: RangeInclusive<u64> = 0..=1000;
pub const MAIL_TIMEOUT_RANGE: RangeInclusive<u64> = 1..=WEEK;

/// A problem that ends the run before it starts, with the exit status the original used.
#[derive(Debug)]
pub struct Refusal {
    pub code: u8,
    pub message: String,
}

impl From<ConfigError> for Refusal {
    fn from(e: ConfigError) -> Self {
        Refusal {
            code: config::EX_CONFIG,
            message: e.0,
        }
    }
}

/// A refusal with what was known of the config when it came, for a run to report.
#[derive(Debug)]
pub struct Refused {
    pub refusal: Refusal,
    /// The warnings about the config found up to the refusal. They may well be its reason
    /// (`RSYNC_HOTS=` and then no host), so they are said before it.
    pub warnings: Vec<String>,
}

impl From<Refusal> for Refused {
    fn from(refusal: Refusal) -> Self {
        Refused {
            refusal,
            warnings: Vec::new(),
        }
    }
}

/// The keys every command's config has, with the original's defaults.
#[derive(Debug, Clone)]
pub struct Core {
    pub config_path: PathBuf,
    /// The config's name (`ftpsync-security`, `runmirrors`): names the logs.
    pub name: String,
    pub program: String,
    pub mailto: Vec<String>,
    pub logdir: PathBuf,
    pub lockdir: PathBuf,
    pub log: PathBuf,
    pub logrotate: u64,
    pub sendmail: PathBuf,
    /// How long sendmail may take before it is killed and the failure logged (MAILTIMEOUT).
    pub mail_timeout: Duration,
}

impl Core {
    pub fn load(c: &mut RawConfig, layout: &Layout, name: &str) -> Result<Core, Refusal> {
        let logdir = c
            .string("LOGDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| layout.logdir.clone());
        // Unset MAILTO mails the user running us, as the original's ${MAILTO:-$LOGNAME}.
        let mailto = if c.is_set("MAILTO") {
            c.string("MAILTO")
        } else {
            std::env::var("LOGNAME")
                .ok()
                .or_else(|| std::env::var("USER").ok())
        };
        Ok(Core {
            config_path: c.path.clone(),
            name: name.to_string(),
            program: c.string_or("PROGRAM", name),
            mailto: mailto
                .map(|m| m.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
            lockdir: c
                .string("LOCKDIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| layout.lockdir.clone()),
            log: c
                .string("LOG")
                .map(PathBuf::from)
                .unwrap_or_else(|| logdir.join(format!("{name}.log"))),
            logdir,
            logrotate: c.u64_in("LOGROTATE", 14, LOGROTATE_RANGE)?,
            sendmail: PathBuf::from(c.string_or("SENDMAIL", DEFAULT_SENDMAIL)),
            mail_timeout: Duration::from_secs(c.u64_in(
                "MAILTIMEOUT",
                crate::common::mail::DEFAULT_TIMEOUT_SECS,
                MAIL_TIMEOUT_RANGE,
            )?),
        })
    }
}
