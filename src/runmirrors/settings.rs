//! runmirrors' typed settings: runmirrors.conf plus the original's defaults (SPEC §3, §7).

use crate::common::config::{self, Kind};
use crate::common::layout::{self, Layout};
use crate::common::mail::DEFAULT_SENDMAIL;
use crate::ftpsync::settings::{Refusal, LOGROTATE_RANGE, MAIL_TIMEOUT_RANGE, WEEK};
use std::path::PathBuf;

pub const KEYS: &[(&str, Kind)] = &[
    ("MAILTO", Kind::Str),
    ("KEYFILE", Kind::Str),
    ("LOG", Kind::Str),
    ("LOGDIR", Kind::Str),
    ("LOCKDIR", Kind::Str),
    ("LOGROTATE", Kind::Int),
    ("MIRRORS", Kind::Str),
    ("SSH_OPTS", Kind::List),
    ("PUSHARCHIVE", Kind::Str),
    ("PUSHDELAY", Kind::Int),
    ("PUSHCONCURRENCY", Kind::Int),
    ("PUSHTIMEOUT", Kind::Int),
    ("HOOK1", Kind::Str),
    ("HOOK2", Kind::Str),
    ("HOOK3", Kind::Str),
    ("SENDMAIL", Kind::Str),
    ("MAILTIMEOUT", Kind::Int),
    ("PUSH_FAST_KEX", Kind::Bool),
    // The rsync daemon downstreams pull from (crate::downstream::settings).
    ("RSYNCD_SECRETS", Kind::Str),
    ("RSYNCD_MODULE", Kind::Str),
    ("RSYNCD_HOST", Kind::Str),
    ("RSYNCD_PORT", Kind::Int),
    ("PROGRAM", Kind::Str),
    ("BASEDIR", Kind::Str),
    ("BINDIR", Kind::Str),
    ("NAME", Kind::Str),
    ("ARCHIVE", Kind::Str),
];

/// 0: no bound, every trigger of a run starts connecting at once (as the original).
pub const DEFAULT_CONCURRENCY: u64 = 0;
pub const DEFAULT_TIMEOUT: u64 = 3600;
/// Beyond this a PUSHCONCURRENCY is a typo, not a plan.
pub const MAX_CONCURRENCY: u64 = 100_000;

#[derive(Debug, Clone)]
pub struct Settings {
    pub config_path: PathBuf,
    /// `runmirrors` or `runmirrors-NAME`.
    pub name: String,
    pub program: String,
    pub mailto: Vec<String>,
    /// Absolute: a relative KEYFILE is relative to $HOME, as in the original.
    pub keyfile: PathBuf,
    pub keyfile_configured: String,
    pub logdir: PathBuf,
    pub lockdir: PathBuf,
    pub log: PathBuf,
    pub logrotate: u64,
    /// None: no mirror file anywhere, so nothing to push.
    pub mirrors: Option<PathBuf>,
    pub ssh_opts: Vec<String>,
    pub pusharchive: String,
    pub pushdelay: u64,
    /// Triggers in connection setup at once; 0 is no bound.
    pub concurrency: usize,
    pub timeout: u64,
    /// How long sendmail may take before it is killed (MAILTIMEOUT).
    pub mail_timeout: u64,
    /// The KexAlgorithms list triggers ask for (see `ssh::fast_kex`), or ssh's choice.
    pub kex: Option<String>,
    pub hooks: [Option<String>; 3],
    pub sendmail: PathBuf,
    /// The rsync daemon the downstreams pull from (RSYNCD_*).
    pub rsyncd: crate::downstream::settings::Rsyncd,
    pub warnings: Vec<String>,
}

impl Settings {
    /// The archive's state record, shared with ftpsync (`ftpsync[-NAME].state.json`).
    pub fn state_path(&self) -> PathBuf {
        crate::common::state::path(
            &self.logdir,
            &self.name.replacen("runmirrors", "ftpsync", 1),
        )
    }

    pub fn load(layout: &Layout, conf: &str) -> Result<Settings, Refusal> {
        let name = if conf.is_empty() {
            "runmirrors".to_string()
        } else {
            config::sanitize_name(&format!("runmirrors-{conf}"))
        };
        let Some(path) = config::find(&layout.confdirs, &name) else {
            return Err(Refusal {
                code: config::EX_CONFIG,
                message: format!("Can't read config file {name}.conf!"),
            });
        };
        let prelude = layout.config_prelude(&name, conf);
        let mut c = config::load(&path, KEYS, &prelude)?;
        let logdir = c
            .string("LOGDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| layout.logdir.clone());
        let mailto = if c.is_set("MAILTO") {
            c.string("MAILTO")
        } else {
            std::env::var("LOGNAME")
                .ok()
                .or_else(|| std::env::var("USER").ok())
        };
        let keyfile_configured = c.string_or("KEYFILE", ".ssh/pushmirror");
        let keyfile = layout::home().join(&keyfile_configured);
        let mirrors = match c.string("MIRRORS") {
            Some(m) => Some(PathBuf::from(m)),
            None => config::find_exact(&layout.confdirs, &format!("{name}.mirror")),
        };
        let concurrency = c.u64_in("PUSHCONCURRENCY", DEFAULT_CONCURRENCY, 0..=MAX_CONCURRENCY)?;
        let timeout = c.u64_in("PUSHTIMEOUT", DEFAULT_TIMEOUT, 1..=WEEK)?;
        let pushdelay = c.u64_in("PUSHDELAY", 600, 0..=WEEK)?;
        let mail_timeout = c.u64_in(
            "MAILTIMEOUT",
            crate::common::mail::DEFAULT_TIMEOUT_SECS,
            MAIL_TIMEOUT_RANGE,
        )?;
        let logrotate = c.u64_in("LOGROTATE", 14, LOGROTATE_RANGE)?;
        let rsyncd = crate::downstream::settings::Rsyncd::from_config(&c, &name, conf)?;
        Ok(Settings {
            config_path: c.path.clone(),
            program: c.string_or("PROGRAM", &name),
            mailto: mailto
                .map(|m| m.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
            keyfile,
            keyfile_configured,
            lockdir: c
                .string("LOCKDIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| layout.lockdir.clone()),
            log: c
                .string("LOG")
                .map(PathBuf::from)
                .unwrap_or_else(|| logdir.join(format!("{name}.log"))),
            logdir,
            logrotate,
            mirrors,
            ssh_opts: c.words_or("SSH_OPTS", "-o StrictHostKeyChecking=no"),
            pusharchive: c.string("PUSHARCHIVE").unwrap_or_else(|| conf.to_string()),
            pushdelay,
            concurrency: usize::try_from(concurrency).unwrap_or(usize::MAX),
            timeout,
            mail_timeout,
            kex: if c.bool_or("PUSH_FAST_KEX", true) {
                super::ssh::fast_kex()
            } else {
                None
            },
            hooks: [c.string("HOOK1"), c.string("HOOK2"), c.string("HOOK3")],
            sendmail: PathBuf::from(c.string_or("SENDMAIL", DEFAULT_SENDMAIL)),
            rsyncd,
            warnings: std::mem::take(&mut c.warnings),
            name,
        })
    }
}
