//! The mirror's health as a run leaves it: what `status` shows and what METRICS_FILE holds.
//! One model ([`ArchiveStatus`], gathered from the settings, the state record, the trace
//! files and the lock files), its Prometheus rendering and its status page (`html`); ftpsync
//! writes the metrics and the page with it after each run, `status` prints it.

pub mod downstream_health;
pub mod html;
pub mod mirrorz;
pub mod monitor;
pub mod prometheus;

use crate::common::history;
use crate::common::kinds::RunResult;
use crate::common::lock;
use crate::common::state::{self, State};
use crate::common::trace;
use crate::settings::archive::ArchiveSettings;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// Debian's mirror checker calls a mirror stale two days after the master trace.
pub const DEFAULT_MAX_AGE: u64 = 2 * 86400;

/// `90m`, `36h`, `2d`, `45s` or plain seconds.
pub fn parse_age(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('s') => (&s[..s.len() - 1], 1),
        Some('m') => (&s[..s.len() - 1], 60),
        Some('h') => (&s[..s.len() - 1], 3600),
        Some('d') => (&s[..s.len() - 1], 86400),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("{s:?} is not an age like 90m, 36h, 2d or a number of seconds"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Ok,
    Failed,
    Stale,
    Never,
    Unknown,
}

impl Health {
    pub fn exit_code(self) -> u8 {
        match self {
            Health::Ok => 0,
            Health::Failed | Health::Stale => 2,
            Health::Never | Health::Unknown => 3,
        }
    }
}

/// The exit status of several Nagios checks: CRITICAL (2) over UNKNOWN (3) over WARNING
/// (1) over OK.
pub fn worst_exit(codes: impl IntoIterator<Item = u8>) -> u8 {
    let codes: Vec<u8> = codes.into_iter().collect();
    [2, 3, 1]
        .into_iter()
        .find(|c| codes.contains(c))
        .unwrap_or(0)
}

#[derive(Debug, Clone, Serialize)]
pub struct Serials {
    pub ours: Option<String>,
    pub master: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InProgress {
    pub pid: String,
    /// Unix seconds: when the lock was taken (its mtime).
    pub since: Option<i64>,
}

/// One archive, as `status --json` prints it (documented in the README).
#[derive(Debug, Clone, Serialize)]
pub struct ArchiveStatus {
    /// `ftpsync` or `ftpsync-ARCHIVE`.
    pub name: String,
    pub archive: String,
    pub config: Option<PathBuf>,
    pub mirrorname: Option<String>,
    pub to: Option<PathBuf>,
    pub health: Health,
    /// Why the health is not ok, in words.
    pub problem: Option<String>,
    pub last_success_age_seconds: Option<i64>,
    pub serial: Serials,
    pub in_progress: Option<InProgress>,
    pub last_run: Option<state::SyncRun>,
    pub last_success: Option<state::SyncRun>,
    pub last_push: Option<state::PushRun>,
    pub downstreams: std::collections::BTreeMap<String, state::Downstream>,
    /// The last `status --downstreams` checks of the downstreams with an http line (the
    /// field's name is the `status --json` key the README documents).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downstream_checks: Option<downstream_health::Record>,
    /// The runs and triggers of the last HISTORY_DAYS, oldest first (the status page's).
    pub history: Vec<history::Record>,
}

impl ArchiveStatus {
    /// An archive of which nothing is known but its names, its health and why.
    pub fn bare(name: String, archive: String, health: Health, problem: Option<String>) -> Self {
        ArchiveStatus {
            name,
            archive,
            config: None,
            mirrorname: None,
            to: None,
            health,
            problem,
            last_success_age_seconds: None,
            serial: Serials {
                ours: None,
                master: None,
            },
            in_progress: None,
            last_run: None,
            last_success: None,
            last_push: None,
            downstreams: Default::default(),
            downstream_checks: None,
            history: Vec::new(),
        }
    }
}

/// Gather everything about one archive from its settings, state record, trace and lock.
pub fn gather(s: &ArchiveSettings, max_age: u64) -> ArchiveStatus {
    let state_path = state::path(&s.core.logdir, &s.core.name);
    // A record that does not parse is not "no run yet": say so (the next run keeps it aside).
    let (st, unreadable): (Option<State>, Option<String>) = match state::read(&state_path) {
        Ok(st) => (st, None),
        Err(why) => (
            None,
            Some(format!("the state record {}: {why}", state_path.display())),
        ),
    };
    let lock_path = s.to.join(s.lock_name());
    let in_progress =
        lock::holder(&lock_path, Duration::from_secs(s.locktimeout)).map(|pid| InProgress {
            pid,
            since: std::fs::metadata(&lock_path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .and_then(|d| i64::try_from(d.as_secs()).ok()),
        });
    let serial = Serials {
        ours: trace::read_field(&s.to.join(s.trace_name()), "Archive serial"),
        master: trace::read_field(&s.to.join(trace::MASTER), "Archive serial"),
    };
    let now = state::now();
    let last_run = st.as_ref().and_then(|x| x.last_run.clone());
    let last_success = st.as_ref().and_then(|x| x.last_success.clone());
    let age = last_success.as_ref().map(|r| now - r.ended);
    let (health, problem) = match (&last_run, age) {
        (None, _) if unreadable.is_some() => (Health::Unknown, unreadable),
        (None, _) => (Health::Never, Some("no run recorded yet".to_string())),
        (Some(r), _) if r.result != RunResult::Success => (
            Health::Failed,
            Some(format!(
                "the last run failed with exit status {}",
                r.exit_status
            )),
        ),
        (Some(_), Some(a)) if a > i64::try_from(max_age).unwrap_or(i64::MAX) => (
            Health::Stale,
            Some(format!("the last success is {} old", human_age(a))),
        ),
        _ => (Health::Ok, None),
    };
    ArchiveStatus {
        name: s.core.name.clone(),
        archive: s.archive.clone(),
        config: Some(s.core.config_path.clone()),
        mirrorname: Some(s.mirrorname.clone()),
        to: Some(s.to.clone()),
        health,
        problem,
        last_success_age_seconds: age,
        serial,
        in_progress,
        last_run,
        last_success,
        last_push: st.as_ref().and_then(|x| x.last_push.clone()),
        downstreams: st.map(|x| x.downstreams).unwrap_or_default(),
        downstream_checks: downstream_health::recorded(s),
        history: history::read_since(
            &history::path(&s.core.logdir, &s.core.name),
            now.saturating_sub(s.history.max_age()),
        ),
    }
}

pub fn human_age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86399 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(parse_age("2d").unwrap(), 172800);
        assert_eq!(parse_age("90m").unwrap(), 5400);
        assert_eq!(parse_age("36h").unwrap(), 129600);
        assert_eq!(parse_age("15").unwrap(), 15);
        assert!(parse_age("soon").is_err());
        assert!(parse_age("99999999999999999999d").is_err());
        assert!(parse_age("999999999999999999d").is_err());
    }
}
