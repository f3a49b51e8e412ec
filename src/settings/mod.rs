//! The settings core: configs turned into typed settings, shared by every command.
//!
//! `archive` is an archive's ftpsync.conf (read by ftpsync, ftpsync-cron, status and
//! check-config), `push` its runmirrors.conf (with `rsyncd`, the rsync daemon our
//! downstreams pull from). What both have — the refusal a bad config
//! gives, the bounds of number keys, the keys they share (MAILTO and its LOGNAME/USER
//! fallback, LOGDIR, LOCKDIR, LOG, LOGROTATE, SENDMAIL, MAILTIMEOUT, PROGRAM) — is here, once.

pub mod archive;
pub mod mirrorlist;
pub mod push;
pub mod rsyncd;
pub mod rsyncd_secrets;
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
    /// The log the run would have written, when a config was loaded to say where. A missing
    /// config names none: its name may come from a pusher's `sync:archive:` word, and
    /// every such word must not leave a log file of its own. Boxed to keep the `Result` of
    /// every load small (clippy's result_large_err).
    pub log: Option<Box<LogPlace>>,
}

impl From<Refusal> for Refused {
    fn from(refusal: Refusal) -> Self {
        Refused {
            refusal,
            warnings: Vec::new(),
            log: None,
        }
    }
}

impl Refused {
    /// `refusal` of the loaded config `c`, with its warnings so far and its log.
    pub fn of(refusal: Refusal, c: &mut RawConfig, layout: &Layout, name: &str) -> Refused {
        Refused {
            refusal,
            warnings: std::mem::take(&mut c.warnings),
            log: Some(Box::new(LogPlace::of(c, layout, name).in_run_dir(layout))),
        }
    }

    /// Say it, the warnings first: on stderr (by hand, over ssh, in cron's mail) and in the
    /// run's log, where someone whose run cron starts looks. Returns the exit status.
    pub fn report(&self) -> u8 {
        for w in &self.warnings {
            eprintln!("{w}");
        }
        eprintln!("{}", self.refusal.message);
        if let Some(place) = &self.log {
            place.append(&self.warnings, &self.refusal.message);
        }
        self.refusal.code
    }
}

/// Where a run logs: LOGDIR, and in it LOG with lines tagged PROGRAM.
#[derive(Debug, Clone)]
pub struct LogPlace {
    pub logdir: PathBuf,
    pub log: PathBuf,
    pub program: String,
    /// The config's name (`ftpsync-security`), which the log's name comes from.
    pub name: String,
}

impl LogPlace {
    /// As [`Core::load`] reads them; these keys have no refusal of their own, so the place is
    /// known however the rest of the config fares.
    fn of(c: &RawConfig, layout: &Layout, name: &str) -> LogPlace {
        let logdir = c
            .string("LOGDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| layout.logdir.clone());
        LogPlace {
            log: c
                .string("LOG")
                .map(PathBuf::from)
                .unwrap_or_else(|| logdir.join(format!("{name}.log"))),
            logdir,
            program: c.string_or("PROGRAM", name),
            name: name.to_string(),
        }
    }

    /// Relative paths as the run reads them: from BASEDIR in the classic layout (the run
    /// works there), from where we are otherwise. A refusal may come before the run went
    /// there, and must not make a log directory wherever it was started.
    pub fn in_run_dir(self, layout: &Layout) -> LogPlace {
        match (&layout.basedir, layout.classic) {
            (Some(b), true) => LogPlace {
                logdir: b.join(&self.logdir),
                log: b.join(&self.log),
                ..self
            },
            _ => self,
        }
    }

    /// Append a refused run's lines, LOGDIR made as a run makes it. Not rotated: the next
    /// run's exit path carries them into its own rotated log. A log that cannot be written
    /// is left at that: stderr has the lines.
    pub fn append(&self, warnings: &[String], refusal: &str) {
        if std::fs::create_dir_all(&self.logdir).is_err() {
            return;
        }
        if let Some(log) = crate::common::log::Logger::open_quiet(&self.log, &self.program) {
            for w in warnings {
                log.log(w);
            }
            log.log(refusal);
        }
    }
}

impl From<&Core> for LogPlace {
    fn from(core: &Core) -> LogPlace {
        LogPlace {
            logdir: core.logdir.clone(),
            log: core.log.clone(),
            program: core.program.clone(),
            name: core.name.clone(),
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
        let LogPlace {
            logdir,
            log,
            program,
            ..
        } = LogPlace::of(c, layout, name);
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
            program,
            mailto: mailto
                .map(|m| m.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
            lockdir: c
                .string("LOCKDIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| layout.lockdir.clone()),
            log,
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
