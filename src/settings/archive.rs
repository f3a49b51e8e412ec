//! An archive's typed settings: its ftpsync.conf plus the original's defaults (SPEC §3).
//!
//! Longer than the ~600 lines a file keeps to, on purpose: every key of ftpsync.conf, with
//! its default and bounds, is read in one place, so a reader finds each in one try.

use super::{Core, Refusal, Refused, WEEK};
use crate::common::config::{self, Kind, RawConfig};
use crate::common::history;
use crate::common::host;
use crate::common::layout::Layout;
use crate::common::rsync::{self, Transport};
use crate::common::tls::SslMethod;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Every key an ftpsync config may set. Anything else gets a warning.
pub const KEYS: &[(&str, Kind)] = &[
    ("MIRRORNAME", Kind::Str),
    ("TO", Kind::Str),
    ("MAILTO", Kind::Str),
    ("HUB", Kind::Bool),
    ("RSYNC_HOST", Kind::Str),
    ("RSYNC_PATH", Kind::Str),
    ("RSYNC_USER", Kind::Str),
    ("RSYNC_PASSWORD", Kind::Str),
    ("RSYNC_SOURCE", Kind::Str),
    ("RSYNC_TRANSPORT", Kind::Str),
    ("RSYNC_SSL", Kind::Bool),
    ("RSYNC_SSL_PORT", Kind::Str),
    ("RSYNC_SSL_CAPATH", Kind::Str),
    ("RSYNC_SSL_METHOD", Kind::Str),
    ("RSYNC_PROXY", Kind::Str),
    ("ARCH_INCLUDE", Kind::List),
    ("ARCH_EXCLUDE", Kind::List),
    ("EXCLUDE", Kind::List),
    ("LOGDIR", Kind::Str),
    ("LOCKDIR", Kind::Str),
    ("LOG", Kind::Str),
    ("LOG_RSYNC", Kind::Str),
    ("LOG_RSYNC_ERROR", Kind::Str),
    ("ERRORSONLY", Kind::Bool),
    ("FULLLOGS", Kind::Bool),
    ("LOGROTATE", Kind::Int),
    ("LOCKTIMEOUT", Kind::Int),
    ("UIPSLEEP", Kind::Int),
    ("UIPRETRIES", Kind::Int),
    ("TRACEHOST", Kind::Str),
    ("RSYNC", Kind::List),
    ("RSYNC_EXTRA", Kind::List),
    ("RSYNC_BW", Kind::Str),
    ("RSYNC_OPTIONS", Kind::List),
    ("RSYNC_OPTIONS1", Kind::List),
    ("RSYNC_OPTIONS2", Kind::List),
    ("CALLBACKUSER", Kind::Str),
    ("CALLBACKHOST", Kind::Str),
    ("CALLBACKKEY", Kind::Str),
    ("CALLBACKTIMEOUT", Kind::Int),
    ("HOOKTIMEOUT", Kind::Int),
    ("HOOK1", Kind::Str),
    ("HOOK2", Kind::Str),
    ("HOOK3", Kind::Str),
    ("HOOK4", Kind::Str),
    ("HOOK5", Kind::Str),
    ("INFO_MAINTAINER", Kind::Str),
    ("INFO_SPONSOR", Kind::Str),
    ("INFO_COUNTRY", Kind::Str),
    ("INFO_LOCATION", Kind::Str),
    ("INFO_THROUGHPUT", Kind::Str),
    ("INFO_TRIGGER", Kind::Str),
    ("PROGRAM", Kind::Str),
    ("SENDMAIL", Kind::Str),
    ("MAILTIMEOUT", Kind::Int),
    ("RSYNC_SSH_OPTS", Kind::List),
    ("CHECK_UPSTREAM", Kind::Str),
    ("UPSTREAM_TRACE_URL", Kind::Str),
    ("CHECK_TIMEOUT", Kind::Int),
    ("METRICS_FILE", Kind::Str),
    ("STATUS_HTML", Kind::Str),
    ("MIRROR_URL", Kind::Str),
    ("ALLOW_EMPTY_UPSTREAM", Kind::Bool),
    ("JOURNAL", Kind::Bool),
    ("FULL_SYNC_INTERVAL", Kind::Int),
    ("INDEX_SYNC", Kind::Bool),
    ("JOURNAL_MAX_ENTRIES", Kind::Int),
    ("JOURNAL_MAX_BYTES", Kind::Int),
    ("HISTORY_DAYS", Kind::Int),
    ("HISTORY_ENTRIES", Kind::Int),
    // Set by the original before it sources the config; configs refer to them.
    ("BASEDIR", Kind::Str),
    ("BINDIR", Kind::Str),
    ("NAME", Kind::Str),
    ("ARCHIVE", Kind::Str),
];

/// The ranges of the number keys, documented in ftpsync.conf.sample.
pub const LOCKTIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 0..=WEEK;
pub const UIPSLEEP_RANGE: std::ops::RangeInclusive<u64> = 0..=WEEK;
pub const UIPRETRIES_RANGE: std::ops::RangeInclusive<u64> = 0..=1000;
/// At least 1: rsync's `--timeout=0` means no timeout at all.
pub const CHECK_TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 1..=WEEK;
pub const PORT_RANGE: std::ops::RangeInclusive<u64> = 1..=65535;
pub const CALLBACK_TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 1..=WEEK;
pub const HOOK_TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 1..=WEEK;
/// 0 makes every sync a full one; a month at most.
pub const FULL_SYNC_INTERVAL_RANGE: std::ops::RangeInclusive<u64> = 0..=31 * 86400;
pub const JOURNAL_MAX_ENTRIES_RANGE: std::ops::RangeInclusive<u64> = 1..=100_000;
/// At least room for a header; at most 1 GiB, which every downstream fetches.
pub const JOURNAL_MAX_BYTES_RANGE: std::ops::RangeInclusive<u64> = 4096..=1 << 30;

/// The change journal's keys (see `ftpsync::journal`).
#[derive(Debug, Clone)]
pub struct JournalKeys {
    /// JOURNAL: record and publish what each sync changed, and sync by the upstream's.
    pub enabled: bool,
    /// FULL_SYNC_INTERVAL: seconds after which the next sync is a full one again.
    pub full_sync_interval: u64,
    /// INDEX_SYNC: without a journal to sync by, derive the change set from the upstream's
    /// archive metadata (see `ftpsync::index`).
    pub index_sync: bool,
    pub max_entries: u64,
    pub max_bytes: u64,
}

/// Seconds the callback's ssh may take (CALLBACKTIMEOUT) unless configured otherwise. The
/// upstream's side only notes the call; ssh's own ConnectTimeout (45 s) and keepalives
/// (3 x 45 s) cover a dead network, this covers a remote command that never returns.
pub const DEFAULT_CALLBACK_TIMEOUT: u64 = 600;

/// CHECK_UPSTREAM: how ftpsync-cron learns the upstream's archive serial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckUpstream {
    /// The upstream's trace file over HTTP(S) (UPSTREAM_TRACE_URL, or one made of RSYNC_HOST).
    Http,
    /// `project/trace/master` with rsync, the way the sync reaches the upstream.
    Rsync,
    /// Anything else, as written: ftpsync-cron reports it (logged and mailed) when it runs.
    Unknown(String),
}

impl CheckUpstream {
    pub fn parse(s: &str) -> CheckUpstream {
        match s {
            "http" => CheckUpstream::Http,
            "rsync" => CheckUpstream::Rsync,
            other => CheckUpstream::Unknown(other.to_string()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ArchiveSettings {
    /// The keys every config has; `core.name` is `ftpsync` or `ftpsync-ARCHIVE`.
    pub core: Core,
    pub archive: String,
    pub mirrorname: String,
    pub to: PathBuf,
    pub hub: bool,
    pub rsync_host: Option<String>,
    pub rsync_path: String,
    pub rsync_source: String,
    pub rsync_password: Option<String>,
    pub rsync_proxy: Option<String>,
    pub transport: Transport,
    pub ssl_port: String,
    pub ssl_capath: String,
    pub ssl_method: SslMethod,
    pub arch_include: Vec<String>,
    pub arch_exclude: Vec<String>,
    pub exclude: Vec<String>,
    pub log_rsync: PathBuf,
    pub log_rsync_error: PathBuf,
    pub errorsonly: bool,
    pub fulllogs: bool,
    pub locktimeout: u64,
    pub uipsleep: u64,
    pub uipretries: u64,
    pub tracehost: String,
    pub rsync: Vec<String>,
    pub rsync_extra: Vec<String>,
    pub rsync_bw: String,
    pub rsync_options: Vec<String>,
    pub rsync_options1: Vec<String>,
    pub rsync_options2: Vec<String>,
    pub callbackuser: String,
    pub callbackhost: String,
    pub callbackkey: String,
    pub hooks: [Option<String>; 5],
    /// How long each hook may run before it is killed (HOOKTIMEOUT).
    pub hook_timeout: std::time::Duration,
    /// How long the callback's ssh may run before it is killed (CALLBACKTIMEOUT).
    pub callback_timeout: std::time::Duration,
    pub info_maintainer: Option<String>,
    pub info_sponsor: Option<String>,
    pub info_country: Option<String>,
    pub info_location: Option<String>,
    pub info_throughput: Option<String>,
    pub info_trigger: Option<String>,
    /// ftpsync-cron: how the upstream's serial is fetched.
    pub check_upstream: CheckUpstream,
    pub upstream_trace_url: Option<String>,
    pub check_timeout: u64,
    /// node_exporter textfile to rewrite after every run.
    pub metrics_file: Option<PathBuf>,
    /// The status page to rewrite after every run (and `status --downstreams`).
    pub status_html: Option<PathBuf>,
    /// Our own public URL (the directory holding project/trace/), for check-mirror.
    pub mirror_url: Option<String>,
    /// Let stage 2 run (and delete) even when the upstream has no `project/trace/master`
    /// while we do: the empty-upstream rail is off.
    pub allow_empty_upstream: bool,
    pub journal: JournalKeys,
    /// HISTORY_DAYS, HISTORY_ENTRIES: how much of the run and push history
    /// (`LOGDIR/NAME.history.jsonl`) is kept for the status page.
    pub history: history::Bounds,
    /// `ftpsync --dry-run`: rsync gets `--dry-run`; no trace files, hooks, callback or push.
    pub dry_run: bool,
    pub warnings: Vec<String>,
}

impl ArchiveSettings {
    /// Find and load `ftpsync[-ARCHIVE]`, as the original's `read_config`.
    pub fn load(
        layout: &Layout,
        archive: &str,
        trigger: Option<String>,
    ) -> Result<ArchiveSettings, Refusal> {
        ArchiveSettings::load_explained(layout, archive, trigger).map_err(|r| r.refusal)
    }

    /// [`ArchiveSettings::load`], and on a refusal the config's warnings found until then: what a
    /// run reports (a typo'd key is often why it was refused).
    pub fn load_explained(
        layout: &Layout,
        archive: &str,
        trigger: Option<String>,
    ) -> Result<ArchiveSettings, Refused> {
        let (mut raw, name) = ArchiveSettings::load_raw(layout, archive)?;
        // Before anything else runs (even the `rsync --version` probe): a TO that rsync
        // --delete must never be pointed at.
        if let Err(refusal) = super::to_guard::refuse_dangerous_to(&raw) {
            return Err(Refused::of(refusal, &mut raw, layout, &name));
        }
        let secret_warning = password_file_warning(&raw);
        let mut s = ArchiveSettings::from_raw(raw, layout, name, archive, trigger)?;
        s.warnings.extend(secret_warning);
        Ok(s)
    }

    /// The first half of [`ArchiveSettings::load`]: find the file and source it (exit 78 when it is
    /// missing or does not load), without applying defaults. Also the config's name.
    pub fn load_raw(layout: &Layout, archive: &str) -> Result<(RawConfig, String), Refusal> {
        ArchiveSettings::load_raw_in(layout, archive, None)
    }

    /// [`ArchiveSettings::load_raw`], sourcing in `fixed` instead of the caller's environment.
    pub fn load_raw_in(
        layout: &Layout,
        archive: &str,
        fixed: Option<&config::FixedEnv>,
    ) -> Result<(RawConfig, String), Refusal> {
        let name = if archive.is_empty() {
            "ftpsync".to_string()
        } else {
            config::sanitize_name(&format!("ftpsync-{archive}"))
        };
        let Some(path) = config::find(&layout.confdirs, &name) else {
            return Err(Refusal {
                code: config::EX_CONFIG,
                message: format!(
                    "Can't read config file {name}.conf (searched {})!",
                    layout.searched()
                ),
            });
        };
        let prelude = layout.config_prelude(&name, archive);
        let raw = config::load_in(&path, KEYS, &prelude, fixed)?;
        Ok((raw, name))
    }

    /// Apply the defaults to a loaded config. A refusal keeps the warnings found before it.
    pub fn from_raw(
        mut c: RawConfig,
        layout: &Layout,
        name: String,
        archive: &str,
        trigger: Option<String>,
    ) -> Result<ArchiveSettings, Refused> {
        ArchiveSettings::typed(&mut c, layout, name.clone(), archive, trigger)
            .map_err(|refusal| Refused::of(refusal, &mut c, layout, &name))
    }

    fn typed(
        c: &mut RawConfig,
        layout: &Layout,
        name: String,
        archive: &str,
        trigger: Option<String>,
    ) -> Result<ArchiveSettings, Refusal> {
        let refuse = |message: String| Refusal { code: 1, message };
        let core = Core::load(c, layout, &name)?;
        let rsync_host = c.string("RSYNC_HOST");
        let rsync_source = match c.string("RSYNC_SOURCE") {
            Some(s) => {
                // The source is used as written; a user it does not name is not added.
                if let Some(user) = c.string("RSYNC_USER").filter(|_| !source_has_user(&s)) {
                    let advice = match source_with_user(&s, &user) {
                        Some(fixed) => format!("names no user, so rsync logs in as the local user; write the user into it ({fixed})"),
                        None => "is a local path, which needs no user".to_string(),
                    };
                    let msg = format!(
                        "{}: warning: RSYNC_USER={user} is not used: RSYNC_SOURCE={s} {advice}",
                        c.location("RSYNC_USER"),
                    );
                    c.warnings.push(msg);
                }
                s
            }
            None => {
                // Exit 1, as the original's `${RSYNC_HOST:?...}` did.
                let Some(host) = rsync_host.clone() else {
                    return Err(refuse(format!(
                        "{}: Missing a host to mirror from, please set RSYNC_HOST (or RSYNC_SOURCE)",
                        c.path.display()
                    )));
                };
                let path = c.string_or("RSYNC_PATH", "debian");
                match c.string("RSYNC_USER") {
                    Some(user) => format!("{user}@{host}::{path}"),
                    None => format!("{host}::{path}"),
                }
            }
        };
        let ssl = c.bool_or("RSYNC_SSL", false);
        let transport_name = c.string_or("RSYNC_TRANSPORT", if ssl { "ssl" } else { "undefined" });
        let transport = match transport_name.as_str() {
            "undefined" => Transport::Undefined,
            "ssh" => Transport::ssh(c.words("RSYNC_SSH_OPTS").as_deref()),
            "ssl" => Transport::ssl(),
            other => {
                return Err(refuse(format!(
                    "{}: Unknown rsync transport configured ({other})",
                    c.location("RSYNC_TRANSPORT")
                )))
            }
        };
        let arch_include = c.words("ARCH_INCLUDE").unwrap_or_default();
        let arch_exclude = c.words("ARCH_EXCLUDE").unwrap_or_default();
        if !arch_include.is_empty() && !arch_exclude.is_empty() {
            return Err(refuse(format!(
                "{}: ARCH_EXCLUDE and ARCH_INCLUDE are mutually exclusive.  Set only one.",
                c.path.display()
            )));
        }
        let rsync = c.words_or("RSYNC", "rsync");
        let rsync_options = match c.words("RSYNC_OPTIONS") {
            Some(w) => w,
            // Only ask rsync its protocol when we need the default: it costs a process.
            None => rsync::default_options(&rsync)
                .split_whitespace()
                .map(str::to_string)
                .collect(),
        };
        let hostname_default = || host::fqdn();
        // Both become fields of the space-separated `_hierarchy` line; MIRRORNAME also names
        // the trace file and the lock files in TO.
        let mirrorname = c.name(
            "MIRRORNAME",
            "names the trace file and the lock files in TO and is a field of project/trace/_hierarchy",
        )?;
        let tracehost = c.name("TRACEHOST", "is a field of project/trace/_hierarchy")?;
        let ssl_port = c.u64_in("RSYNC_SSL_PORT", 1873, PORT_RANGE)?;
        let logdir = core.logdir.clone();
        let mirror_url = c.string("MIRROR_URL");
        if let Some(u) = mirror_url
            .as_deref()
            .filter(|u| !crate::common::http::is_http_url(u))
        {
            let msg = format!(
                "{}: warning: MIRROR_URL={u} is not an http:// or https:// URL; check-mirror cannot use it",
                c.location("MIRROR_URL")
            );
            c.warnings.push(msg);
        }
        let s = ArchiveSettings {
            archive: archive.to_string(),
            mirrorname: mirrorname.unwrap_or_else(hostname_default),
            to: PathBuf::from(c.string_or("TO", "/srv/mirrors/debian/")),
            hub: c.bool_or("HUB", false),
            rsync_host,
            rsync_path: c.string_or("RSYNC_PATH", "debian"),
            rsync_source,
            rsync_password: c.string("RSYNC_PASSWORD"),
            rsync_proxy: c.string("RSYNC_PROXY"),
            transport,
            ssl_port: ssl_port.to_string(),
            ssl_capath: c.string_or("RSYNC_SSL_CAPATH", "/etc/ssl/certs"),
            ssl_method: SslMethod::parse(&c.string_or("RSYNC_SSL_METHOD", "stunnel")),
            arch_include,
            arch_exclude,
            exclude: c.words("EXCLUDE").unwrap_or_default(),
            log_rsync: c
                .string("LOG_RSYNC")
                .map(PathBuf::from)
                .unwrap_or_else(|| logdir.join(format!("rsync-{name}.log"))),
            log_rsync_error: c
                .string("LOG_RSYNC_ERROR")
                .map(PathBuf::from)
                .unwrap_or_else(|| logdir.join(format!("rsync-{name}.error"))),
            errorsonly: c.bool_or("ERRORSONLY", true),
            fulllogs: c.bool_or("FULLLOGS", false),
            locktimeout: c.u64_in("LOCKTIMEOUT", 3600, LOCKTIMEOUT_RANGE)?,
            uipsleep: c.u64_in("UIPSLEEP", 1200, UIPSLEEP_RANGE)?,
            uipretries: c.u64_in("UIPRETRIES", 3, UIPRETRIES_RANGE)?,
            tracehost: tracehost.unwrap_or_else(hostname_default),
            rsync,
            rsync_extra: c.words("RSYNC_EXTRA").unwrap_or_default(),
            rsync_bw: c.string_or("RSYNC_BW", "0"),
            rsync_options,
            rsync_options1: c.words_or("RSYNC_OPTIONS1", rsync::DEFAULT_OPTIONS1),
            rsync_options2: c.words_or("RSYNC_OPTIONS2", rsync::DEFAULT_OPTIONS2),
            callbackuser: c.string_or("CALLBACKUSER", "archvsync"),
            callbackhost: c.string_or("CALLBACKHOST", "none"),
            callbackkey: c.string_or("CALLBACKKEY", "none"),
            hooks: [
                c.string("HOOK1"),
                c.string("HOOK2"),
                c.string("HOOK3"),
                c.string("HOOK4"),
                c.string("HOOK5"),
            ],
            hook_timeout: std::time::Duration::from_secs(c.u64_in(
                "HOOKTIMEOUT",
                crate::common::hooks::DEFAULT_TIMEOUT_SECS,
                HOOK_TIMEOUT_RANGE,
            )?),
            callback_timeout: std::time::Duration::from_secs(c.u64_in(
                "CALLBACKTIMEOUT",
                DEFAULT_CALLBACK_TIMEOUT,
                CALLBACK_TIMEOUT_RANGE,
            )?),
            info_maintainer: c.string("INFO_MAINTAINER"),
            info_sponsor: c.string("INFO_SPONSOR"),
            info_country: c.string("INFO_COUNTRY"),
            info_location: c.string("INFO_LOCATION"),
            info_throughput: c.string("INFO_THROUGHPUT"),
            // -T and SSH_ORIGINAL_COMMAND decide; a config may still set it.
            info_trigger: trigger.or_else(|| c.string("INFO_TRIGGER")),
            check_upstream: CheckUpstream::parse(&c.string_or("CHECK_UPSTREAM", "http")),
            upstream_trace_url: c.string("UPSTREAM_TRACE_URL"),
            check_timeout: c.u64_in("CHECK_TIMEOUT", 60, CHECK_TIMEOUT_RANGE)?,
            metrics_file: c.string("METRICS_FILE").map(PathBuf::from),
            status_html: c.string("STATUS_HTML").map(PathBuf::from),
            mirror_url,
            allow_empty_upstream: c.bool_or("ALLOW_EMPTY_UPSTREAM", false),
            journal: JournalKeys {
                enabled: c.bool_or("JOURNAL", true),
                index_sync: c.bool_or("INDEX_SYNC", true),
                full_sync_interval: c.u64_in(
                    "FULL_SYNC_INTERVAL",
                    86400,
                    FULL_SYNC_INTERVAL_RANGE,
                )?,
                max_entries: c.u64_in("JOURNAL_MAX_ENTRIES", 128, JOURNAL_MAX_ENTRIES_RANGE)?,
                max_bytes: c.u64_in("JOURNAL_MAX_BYTES", 16 << 20, JOURNAL_MAX_BYTES_RANGE)?,
            },
            history: history_bounds(c)?,
            dry_run: false,
            warnings: Vec::new(),
            core,
        };
        Ok(ArchiveSettings {
            warnings: std::mem::take(&mut c.warnings),
            ..s
        })
    }

    pub fn lock_name(&self) -> String {
        format!("Archive-Update-in-Progress-{}", self.mirrorname)
    }

    /// The lock that keeps the next run of this archive out until this one has finished its
    /// exit path (state, metrics, mail, log rotation), also after the lock file in TO is gone
    /// (see `run::sync`). Beside the logs and the state record it protects.
    pub fn run_lock_path(&self) -> PathBuf {
        self.core
            .logdir
            .join(format!("{}.run.lock", self.core.name))
    }

    pub fn update_required_name(&self) -> String {
        format!("Archive-Update-Required-{}", self.mirrorname)
    }

    pub fn trace_name(&self) -> String {
        format!("{}/{}", crate::common::trace::TRACEDIR, self.mirrorname)
    }

    pub fn trace_stage1_name(&self) -> String {
        format!("{}-stage1", self.trace_name())
    }

    /// What every rsync of this archive gets in its environment (see [`rsync::Env`]).
    pub fn rsync_env(&self) -> rsync::Env {
        rsync::Env {
            password: self.rsync_password.clone(),
            proxy: self.rsync_proxy.clone(),
            tunnel: match self.transport {
                Transport::Ssl(_) => vec![
                    ("RSYNC_SSL_PORT", self.ssl_port.clone()),
                    ("RSYNC_SSL_CAPATH", self.ssl_capath.clone()),
                    ("RSYNC_SSL_METHOD", self.ssl_method.as_str().to_string()),
                ],
                _ => vec![],
            },
        }
    }

    /// TO as rsync gets it: exactly as configured (a trailing slash matters to rsync).
    pub fn to_arg(&self) -> String {
        self.to.to_string_lossy().into_owned()
    }

    /// The files in TO that are ours, relative to it: rsync neither fetches nor deletes them.
    /// With JOURNAL, our change journal too (the upstream's is fetched on its own).
    pub fn own_files(&self) -> Vec<String> {
        let mut own = vec![
            self.lock_name(),
            self.update_required_name(),
            self.trace_name(),
            self.trace_stage1_name(),
            crate::common::trace::HIERARCHY.to_string(),
            crate::common::trace::TRACELIST.to_string(),
        ];
        if self.journal.enabled {
            own.push(crate::common::trace::JOURNAL.to_string());
        }
        own
    }

    /// The full rsync command lines of stage 1 and stage 2, as a run executes (and logs)
    /// them. With JOURNAL, stage 1 leaves the suite alias links to stage 2. `check-config` prints the same words, so what it shows is what a run does.
    pub fn stage_commands(&self) -> (Vec<String>, Vec<String>) {
        let own_files = self.own_files();
        let common = rsync::common_words(&rsync::RsyncSettings {
            rsync: &self.rsync,
            log_rsync: &self.log_rsync,
            own_files: &own_files,
            extra: &self.rsync_extra,
            bwlimit: &self.rsync_bw,
            options: &self.rsync_options,
            exclude: &self.exclude,
            transport: &self.transport,
            arch_include: &self.arch_include,
            arch_exclude: &self.arch_exclude,
        });
        let to = self.to_arg();
        let stage = |options: &[String]| {
            let options = if self.journal.enabled {
                rsync::itemized(options)
            } else {
                options.to_vec()
            };
            rsync::stage_words(&common, &options, self.dry_run, &self.rsync_source, &to)
        };
        let options1 = if self.journal.enabled {
            rsync::aliases_to_stage2(&self.rsync_options1)
        } else {
            self.rsync_options1.clone()
        };
        (stage(&options1), stage(&self.rsync_options2))
    }
}

/// HISTORY_DAYS and HISTORY_ENTRIES of a loaded ftpsync config; runmirrors reads them from
/// the archive's config too, since it appends to the same history.
pub fn history_bounds(c: &RawConfig) -> Result<history::Bounds, config::ConfigError> {
    Ok(history::Bounds {
        days: c.u64_in("HISTORY_DAYS", history::DEFAULT.days, history::DAYS_RANGE)?,
        entries: c.u64_in(
            "HISTORY_ENTRIES",
            history::DEFAULT.entries,
            history::ENTRIES_RANGE,
        )?,
    })
}

/// The one rule for config files holding a password: a file that sets RSYNC_PASSWORD must
/// not be readable by group or others. Its line and mode when it breaks the rule.
pub fn readable_password_file(path: &Path) -> Option<(usize, u32)> {
    let md = std::fs::metadata(path).ok()?;
    if md.mode() & 0o044 == 0 {
        return None;
    }
    let text = std::fs::read(path).ok()?;
    let text = String::from_utf8_lossy(&text);
    let (i, _) = text.lines().enumerate().find(|(_, l)| {
        let l = l.trim_start();
        !l.starts_with('#') && l.contains("RSYNC_PASSWORD")
    })?;
    Some((i + 1, md.mode() & 0o7777))
}

/// The message for [`readable_password_file`], after `FILE:LINE: ` and the kind.
pub fn readable_password_message(mode: u32) -> String {
    format!("this file sets RSYNC_PASSWORD and is readable by group or others (mode {mode:o}); chmod 600 it")
}

/// A config file that sets RSYNC_PASSWORD and that group or others may read.
pub fn password_file_warning(raw: &RawConfig) -> Option<String> {
    let (line, mode) = readable_password_file(&raw.path)?;
    Some(format!(
        "{}:{line}: warning: {}",
        raw.path.display(),
        readable_password_message(mode)
    ))
}

/// Whether an rsync source names the user it logs in as: `user@host::module`,
/// `rsync://user@host[:port]/module`, `user@host:path` (ssh). A local path names none.
pub fn source_has_user(source: &str) -> bool {
    let host_part = match source.strip_prefix("rsync://") {
        Some(rest) => rest.split('/').next().unwrap_or_default(),
        // `host::module` or `host:path`; a `/` before any `:` makes it a local path.
        None => match source.split_once(':') {
            Some((host, _)) if !host.contains('/') => host,
            _ => return false,
        },
    };
    host_part.contains('@')
}

/// `source` as it would read with `user` in it, for the warning's suggestion; `None` for a
/// local path.
fn source_with_user(source: &str, user: &str) -> Option<String> {
    match source.strip_prefix("rsync://") {
        Some(rest) => Some(format!("rsync://{user}@{rest}")),
        None if source
            .split_once(':')
            .is_some_and(|(h, _)| !h.contains('/')) =>
        {
            Some(format!("{user}@{source}"))
        }
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_with_and_without_a_user() {
        for s in [
            "bob@up.example::debian",
            "rsync://bob@up.example:8873/debian/",
            "bob@up.example:/srv/debian/",
        ] {
            assert!(source_has_user(s), "{s}");
        }
        for s in [
            "up.example::debian",
            "rsync://up.example:8873/debian/",
            "rsync://up.example/debian@x/",
            "up.example:/srv/debian/",
            "/srv/upstream/debian/",
            "./a:b@c",
        ] {
            assert!(!source_has_user(s), "{s}");
        }
        assert_eq!(
            source_with_user("rsync://up:8873/debian/", "bob").as_deref(),
            Some("rsync://bob@up:8873/debian/")
        );
        assert_eq!(
            source_with_user("up::debian", "bob").as_deref(),
            Some("bob@up::debian")
        );
        assert_eq!(source_with_user("/srv/up/", "bob"), None);
    }
}
