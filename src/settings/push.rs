//! runmirrors' typed settings: runmirrors.conf plus the original's defaults (SPEC §3, §7).

use super::{Core, Refusal, Refused, WEEK};
use crate::common::config::{self, Kind, RawConfig};
use crate::common::layout::{self, Layout};
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
    // The rsync daemon downstreams pull from (super::rsyncd).
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
    /// The keys every config has; `core.name` is `runmirrors` or `runmirrors-NAME`.
    pub core: Core,
    /// Absolute: a relative KEYFILE is relative to $HOME, as in the original.
    pub keyfile: PathBuf,
    pub keyfile_configured: String,
    /// None: no mirror file anywhere, so nothing to push.
    pub mirrors: Option<PathBuf>,
    pub ssh_opts: Vec<String>,
    pub pusharchive: String,
    pub pushdelay: u64,
    /// Triggers in connection setup at once; 0 is no bound.
    pub concurrency: usize,
    pub timeout: u64,
    /// PUSH_FAST_KEX: ask for a faster key exchange than ssh's default (see
    /// `runmirrors::ssh::fast_kex`, which fills in `kex`).
    pub fast_kex: bool,
    /// The KexAlgorithms list triggers ask for, or `None` for ssh's choice; set by
    /// `runmirrors::load_settings`, which asks ssh once per run.
    pub kex: Option<String>,
    pub hooks: [Option<String>; 3],
    /// The rsync daemon the downstreams pull from (RSYNCD_*).
    pub rsyncd: super::rsyncd::Rsyncd,
    pub warnings: Vec<String>,
}

impl Settings {
    /// The archive's state record, shared with ftpsync (`ftpsync[-NAME].state.json`).
    pub fn state_path(&self) -> PathBuf {
        crate::common::state::path(
            &self.core.logdir,
            &self.core.name.replacen("runmirrors", "ftpsync", 1),
        )
    }

    pub fn load(layout: &Layout, conf: &str) -> Result<Settings, Refusal> {
        Settings::load_explained(layout, conf).map_err(|r| r.refusal)
    }

    /// [`Settings::load`], and on a refusal the config's warnings found until then.
    pub fn load_explained(layout: &Layout, conf: &str) -> Result<Settings, Refused> {
        let name = if conf.is_empty() {
            "runmirrors".to_string()
        } else {
            config::sanitize_name(&format!("runmirrors-{conf}"))
        };
        let Some(path) = config::find(&layout.confdirs, &name) else {
            return Err(Refusal {
                code: config::EX_CONFIG,
                message: format!("Can't read config file {name}.conf!"),
            }
            .into());
        };
        let prelude = layout.config_prelude(&name, conf);
        let mut c = config::load(&path, KEYS, &prelude).map_err(Refusal::from)?;
        Settings::typed(&mut c, layout, &name, conf)
            .map_err(|refusal| Refused::of(refusal, &mut c, layout, &name))
    }

    fn typed(
        c: &mut RawConfig,
        layout: &Layout,
        name: &str,
        conf: &str,
    ) -> Result<Settings, Refusal> {
        let core = Core::load(c, layout, name)?;
        let keyfile_configured = c.string_or("KEYFILE", ".ssh/pushmirror");
        let keyfile = layout::home().join(&keyfile_configured);
        let mirrors = match c.string("MIRRORS") {
            Some(m) => Some(PathBuf::from(m)),
            None => config::find_exact(&layout.confdirs, &format!("{name}.mirror")),
        };
        let concurrency = c.u64_in("PUSHCONCURRENCY", DEFAULT_CONCURRENCY, 0..=MAX_CONCURRENCY)?;
        let timeout = c.u64_in("PUSHTIMEOUT", DEFAULT_TIMEOUT, 1..=WEEK)?;
        let pushdelay = c.u64_in("PUSHDELAY", 600, 0..=WEEK)?;
        let rsyncd = super::rsyncd::Rsyncd::from_config(c, name, conf)?;
        Ok(Settings {
            core,
            keyfile,
            keyfile_configured,
            mirrors,
            ssh_opts: c.words_or("SSH_OPTS", "-o StrictHostKeyChecking=no"),
            pusharchive: c.string("PUSHARCHIVE").unwrap_or_else(|| conf.to_string()),
            pushdelay,
            concurrency: usize::try_from(concurrency).unwrap_or(usize::MAX),
            timeout,
            fast_kex: c.bool_or("PUSH_FAST_KEX", true),
            kex: None,
            hooks: [c.string("HOOK1"), c.string("HOOK2"), c.string("HOOK3")],
            rsyncd,
            warnings: std::mem::take(&mut c.warnings),
        })
    }
}
