//! runmirrors' typed settings: runmirrors.conf plus the original's defaults (SPEC §3, §7),
//! and what they make of a mirror line: the stages it gets and their ssh words ([`job`]),
//! the same for a push and for check-config.

use super::mirrorlist::Target;
use super::{Core, Refusal, Refused, WEEK};
use crate::common::config::{self, Kind, RawConfig};
use crate::common::history;
use crate::common::kinds::{PushKind, Stage};
use crate::common::layout::{self, Layout};
use crate::common::ssh;
use serde::{Deserialize, Serialize};
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
pub struct PushSettings {
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
    /// `common::ssh::fast_kex`, which fills in `kex`).
    pub fast_kex: bool,
    /// The KexAlgorithms list triggers ask for, or `None` for ssh's choice; set by
    /// [`PushSettings::load_for_push`], which asks ssh once per run.
    pub kex: Option<String>,
    pub hooks: [Option<String>; 3],
    /// The rsync daemon the downstreams pull from (RSYNCD_*).
    pub rsyncd: super::rsyncd::Rsyncd,
    /// How much history the archive keeps: HISTORY_DAYS and HISTORY_ENTRIES of its
    /// ftpsync config, which shares the history file; set by
    /// [`PushSettings::load_for_push`], the defaults until then.
    pub history: history::Bounds,
    pub warnings: Vec<String>,
}

impl PushSettings {
    /// The archive's state record, shared with ftpsync (`ftpsync[-NAME].state.json`).
    pub fn state_path(&self) -> PathBuf {
        crate::common::state::path(
            &self.core.logdir,
            &self.core.name.replacen("runmirrors", "ftpsync", 1),
        )
    }

    /// The archive's history (`ftpsync[-NAME].history.jsonl`), shared with ftpsync too.
    pub fn history_path(&self) -> PathBuf {
        history::path(
            &self.core.logdir,
            &self.core.name.replacen("runmirrors", "ftpsync", 1),
        )
    }

    pub fn load(layout: &Layout, conf: &str) -> Result<PushSettings, Refusal> {
        PushSettings::load_explained(layout, conf).map_err(|r| r.refusal)
    }

    /// runmirrors[-NAME].conf as a push uses it: loaded, and the key exchange the triggers
    /// ask for settled (ssh is asked once, here). A refusal comes with the warnings found
    /// before it.
    pub fn load_for_push(layout: &Layout, conf: &str) -> Result<PushSettings, Refused> {
        let mut s = PushSettings::load_explained(layout, conf)?;
        if s.fast_kex {
            s.kex = ssh::fast_kex();
        }
        s.history = archive_history_bounds(layout, conf, &mut s.warnings);
        Ok(s)
    }

    /// [`PushSettings::load`], and on a refusal the config's warnings found until then.
    pub fn load_explained(layout: &Layout, conf: &str) -> Result<PushSettings, Refused> {
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
        PushSettings::typed(&mut c, layout, &name, conf)
            .map_err(|refusal| Refused::of(refusal, &mut c, layout, &name))
    }

    fn typed(
        c: &mut RawConfig,
        layout: &Layout,
        name: &str,
        conf: &str,
    ) -> Result<PushSettings, Refusal> {
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
        Ok(PushSettings {
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
            history: history::DEFAULT,
            warnings: std::mem::take(&mut c.warnings),
        })
    }
}

/// HISTORY_DAYS and HISTORY_ENTRIES of the ftpsync config of the archive runmirrors-`conf`
/// pushes for, so that the two writers of its history bound it alike. A pusher without that
/// config (one that only pushes) keeps the defaults; a value out of range there is the
/// ftpsync run's to refuse, and here a warning.
fn archive_history_bounds(
    layout: &Layout,
    conf: &str,
    warnings: &mut Vec<String>,
) -> history::Bounds {
    let Ok((raw, _)) = super::archive::ArchiveSettings::load_raw(layout, conf) else {
        return history::DEFAULT;
    };
    super::archive::history_bounds(&raw).unwrap_or_else(|e| {
        warnings.push(format!(
            "warning: {e}; runmirrors keeps the history to HISTORY_DAYS={} and HISTORY_ENTRIES={}",
            history::DEFAULT.days,
            history::DEFAULT.entries
        ));
        history::DEFAULT
    })
}

/// What a push without a mirror list says. With HUB=true (or by hand) downstreams were
/// meant to hear of the sync, so it is a warning, not a note.
pub fn no_mirror_list(name: &str, searched: &str, hub: bool) -> String {
    if hub {
        format!(
            "HUB=true but there is no {name}.mirror (searched {searched}): there is nothing to push, so no downstream hears of this sync; list them there (`archvsync downstream add` does) or set HUB=false"
        )
    } else {
        format!("there is no {name}.mirror (searched {searched}): there is nothing to push")
    }
}

/// One trigger to send in one or two stages (stage 1, the barrier, stage 2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub name: String,
    pub host: String,
    pub stages: Vec<StageJob>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageJob {
    pub stage: Stage,
    /// What the downstream's forced command sees in SSH_ORIGINAL_COMMAND.
    pub words: Vec<String>,
    /// ssh's arguments, without the program and the acceptance watch.
    pub args: Vec<String>,
}

/// The stages a mirror line gets for a push of `kind`, with their words and ssh arguments
/// (what the follower gives ssh, less the acceptance watch), or None when this push leaves
/// the mirror out: called for
/// an mhop push from within ftpsync, only staged mirrors take part (our upstream waits for
/// their stage 1 and sends us stage 2), and they get stage 1 only.
pub fn job(t: &Target, s: &PushSettings, kind: PushKind, from_ftpsync: bool) -> Option<Job> {
    let mhop_from_ftpsync = from_ftpsync && kind == PushKind::Mhop;
    let stages: &[Stage] = if !t.kind.is_staged() {
        if mhop_from_ftpsync {
            return None;
        }
        &[Stage::All]
    } else if kind == PushKind::Stage2 {
        &[Stage::Stage2]
    } else if mhop_from_ftpsync {
        &[Stage::Stage1]
    } else {
        &[Stage::Stage1, Stage::Stage2]
    };
    Some(Job {
        name: t.name.clone(),
        host: t.host.clone(),
        stages: stages
            .iter()
            .map(|&stage| {
                let words = ssh::words(t, &s.pusharchive, kind, stage);
                StageJob {
                    stage,
                    args: ssh::args(t, &s.ssh_opts, &s.keyfile, s.kex.as_deref(), &words),
                    words,
                }
            })
            .collect(),
    })
}
