//! The state record of an archive: what the last runs did, for `archvsync status` and the
//! Prometheus metrics. One JSON file per archive, `LOGDIR/ftpsync[-ARCHIVE].state.json`,
//! written by ftpsync at the end of every run and by runmirrors' follower for every
//! downstream. Writers take an flock on a sidecar file and replace the record atomically,
//! so concurrent writers never lose each other's updates.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub schema: u32,
    /// `ftpsync` or `ftpsync-ARCHIVE`.
    pub name: String,
    pub mirrorname: String,
    pub last_run: Option<SyncRun>,
    pub last_success: Option<SyncRun>,
    pub last_push: Option<PushRun>,
    #[serde(default)]
    pub downstreams: BTreeMap<String, Downstream>,
}

/// One ftpsync run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SyncRun {
    /// Unix seconds.
    pub started: i64,
    pub ended: i64,
    pub trigger: Option<String>,
    /// First word of SSH_CONNECTION: who pushed us.
    pub pushed_from: Option<String>,
    /// `all`, `stage1`, `stage2`, with `+mhop` when asked.
    pub request: String,
    /// `success` or `failure`.
    pub result: String,
    pub exit_status: u8,
    pub stage1_seconds: u64,
    pub stage2_seconds: u64,
    pub bytes_received: u64,
    /// Our archive serial after the run (from project/trace/master), if any.
    pub archive_serial: Option<String>,
    /// Passes of the sync loop (more than one when pushes arrived during the run).
    pub passes: u64,
    pub uip_retries: u64,
    #[serde(default)]
    pub dry_run: bool,
}

/// One runmirrors run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PushRun {
    pub started: i64,
    pub ended: i64,
    pub kind: String,
    pub from_ftpsync: bool,
    pub triggers: u64,
    pub delivered: u64,
    pub failed: u64,
    /// Mirrors this push did not send a trigger to (it was stopped, or runmirrors died
    /// before handing them over); the next push sends them.
    #[serde(default)]
    pub not_sent: Vec<String>,
    /// Why the push ended early: the signal that stopped it, or `runmirrors ended early`.
    #[serde(default)]
    pub interrupted: Option<String>,
}

/// The last trigger sent to one downstream.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Downstream {
    pub host: String,
    /// `all`, `stage1` or `stage2`.
    pub stage: String,
    pub words: Vec<String>,
    /// `delivered` (ssh ended, not 255), `accepted` (session running in the background, or
    /// done), `failed` (ssh 255 or not started), `timeout`, `dropped` (stopped while the
    /// connection was being set up) or `not_sent` (the push was stopped before this one).
    pub outcome: String,
    /// ssh's exit status when it ended while we waited.
    pub exit_status: Option<i32>,
    pub duration_seconds: f64,
    /// Unix seconds when the trigger was sent.
    pub at: i64,
    /// For a detached trigger: the session's final exit status and total duration,
    /// recorded by its supervisor.
    pub finished_exit_status: Option<i32>,
    pub finished_seconds: Option<f64>,
}

impl Downstream {
    pub fn ok(&self) -> bool {
        matches!(self.outcome.as_str(), "delivered" | "accepted")
            && self.finished_exit_status != Some(255)
    }
}

pub fn path(logdir: &Path, name: &str) -> PathBuf {
    logdir.join(format!("{name}.state.json"))
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The record, or None when there is none yet (or it cannot be read).
pub fn load(path: &Path) -> Option<State> {
    let data = std::fs::read(path).ok()?;
    serde_json::from_slice(&data).ok()
}

/// Read, change and write the record under an exclusive lock.
pub fn update(path: &Path, change: impl FnOnce(&mut State)) -> std::io::Result<()> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(PathBuf::from(lock_path))?;
    lock.lock()?;
    let mut state = load(path).unwrap_or_default();
    state.schema = SCHEMA;
    change(&mut state);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = std::fs::File::create(&tmp)?;
        let json = serde_json::to_vec_pretty(&state).map_err(std::io::Error::other)?;
        f.write_all(&json)?;
        f.write_all(b"\n")?;
    }
    std::fs::rename(&tmp, path)
}

/// Write `data` to `path` atomically (a `.new` file renamed over it).
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_updates_are_not_lost() {
        let d = tempfile::tempdir().unwrap();
        let p = path(d.path(), "ftpsync");
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let p = p.clone();
                std::thread::spawn(move || {
                    update(&p, |s| {
                        s.downstreams.insert(format!("m{i}"), Downstream::default());
                    })
                    .unwrap()
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = load(&p).unwrap();
        assert_eq!(s.downstreams.len(), 8);
        assert_eq!(s.schema, SCHEMA);
    }
}
