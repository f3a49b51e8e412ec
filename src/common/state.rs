//! The state record of an archive: what the last runs did, for `archvsync status` and the
//! Prometheus metrics. One JSON file per archive, `LOGDIR/ftpsync[-ARCHIVE].state.json`,
//! written by ftpsync at the end of every run and by runmirrors' follower for every
//! downstream. Writers take an flock on a sidecar file and replace the record atomically,
//! so concurrent writers never lose each other's updates.

use super::kinds::{DownstreamOutcome, PushKind, RunResult, Stage, SyncKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::OpenOptions;
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
    pub result: RunResult,
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
    /// How the last stage synced (absent in records of versions without the journal, and
    /// for runs that synced nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_kind: Option<SyncKind>,
    /// Why it was a full sync (`first`, `gap`, `due`, ...: see the README).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_sync_reason: Option<String>,
    /// Why the sync was not (or not only) driven by the upstream's archive metadata
    /// (`first`, `tree`, `no-listing`, `unverified`, ...: see the README).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_sync_reason: Option<String>,
    /// Paths a journal or index sync looked at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_paths: Option<u64>,
    /// The stages that ran over the journal's (or the index diff's) lists to the end
    /// (`stage1`, `stage2`): a sync whose stage fell back to a full walk lacks it here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub journal_stages: Vec<String>,
}

/// One runmirrors run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PushRun {
    pub started: i64,
    pub ended: i64,
    pub kind: PushKind,
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
    pub stage: Stage,
    pub words: Vec<String>,
    pub outcome: DownstreamOutcome,
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
        matches!(
            self.outcome,
            DownstreamOutcome::Delivered | DownstreamOutcome::Accepted
        ) && self.finished_exit_status != Some(255)
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
    read(path).ok().flatten()
}

/// The record; `Ok(None)` when there is none yet, `Err` when the file exists but cannot be
/// read or does not parse (with the reason).
pub fn read(path: &Path) -> Result<Option<State>, String> {
    match std::fs::read(path) {
        Ok(data) => serde_json::from_slice(&data)
            .map(Some)
            .map_err(|e| format!("it does not parse ({e})")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("it cannot be read ({e})")),
    }
}

/// Read, change and write the record under an exclusive lock. A record that does not
/// parse is kept aside (see [`update_noting`]); the warning goes to stderr.
pub fn update(path: &Path, change: impl FnOnce(&mut State)) -> std::io::Result<()> {
    update_noting(path, change, |w| eprintln!("{w}"))
}

/// [`update`], with its warnings handed to `note` (ftpsync puts them in its log). A record
/// that does not parse is renamed to `PATH.corrupt-TIMESTAMP` and a new one started: it is
/// never silently overwritten (it holds `last_success`, which the operator may want back),
/// and never left in place to fail every later update. A record that cannot be read for
/// another reason (permissions, I/O) is an error: writing a fresh one over it would lose it.
pub fn update_noting(
    path: &Path,
    change: impl FnOnce(&mut State),
    note: impl FnOnce(String),
) -> std::io::Result<()> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(PathBuf::from(lock_path))?;
    lock.lock()?;
    let mut state = match std::fs::read(path) {
        Ok(data) => match serde_json::from_slice(&data) {
            Ok(s) => s,
            Err(e) => {
                let aside = keep_aside(path)?;
                note(format!(
                    "warning: the state record {} does not parse ({e}); it was kept aside as {} and a new record started",
                    path.display(),
                    aside.display()
                ));
                State::default()
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
        Err(e) => return Err(e),
    };
    state.schema = SCHEMA;
    change(&mut state);
    let mut json = serde_json::to_vec_pretty(&state).map_err(std::io::Error::other)?;
    json.push(b'\n');
    super::atomic::write(path, &json)
}

/// Rename `path` to `path.corrupt-YYYYMMDDTHHMMSSZ` (with `-N` added should that name be
/// taken: never over an earlier one) and return the new name.
fn keep_aside(path: &Path) -> std::io::Result<PathBuf> {
    let t = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    for n in 0..100u32 {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".corrupt-{stamp}"));
        if n > 0 {
            name.push(format!("-{n}"));
        }
        let aside = PathBuf::from(name);
        if std::fs::symlink_metadata(&aside).is_err() {
            std::fs::rename(path, &aside)?;
            return Ok(aside);
        }
    }
    Err(std::io::Error::other(format!(
        "{}: too many corrupt copies kept aside already",
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as the string-typed versions wrote it reads into the enums and is written
    /// back byte for byte.
    #[test]
    fn records_of_earlier_versions_round_trip_unchanged() {
        let old = r#"{
  "schema": 1,
  "name": "ftpsync",
  "mirrorname": "hub.example",
  "last_run": {
    "started": 1700000000,
    "ended": 1700000100,
    "trigger": "ssh",
    "pushed_from": "192.0.2.1",
    "request": "all",
    "result": "failure",
    "exit_status": 3,
    "stage1_seconds": 90,
    "stage2_seconds": 0,
    "bytes_received": 12345,
    "archive_serial": "2026120101",
    "passes": 1,
    "uip_retries": 0,
    "dry_run": false
  },
  "last_success": null,
  "last_push": {
    "started": 1700000000,
    "ended": 1700000010,
    "kind": "stage2",
    "from_ftpsync": true,
    "triggers": 3,
    "delivered": 1,
    "failed": 1,
    "not_sent": [
      "late"
    ],
    "interrupted": "SIGTERM"
  },
  "downstreams": {
    "a": {
      "host": "a.example",
      "stage": "stage1",
      "words": [
        "sync:archive:",
        "sync:stage1"
      ],
      "outcome": "accepted",
      "exit_status": null,
      "duration_seconds": 0.5,
      "at": 1700000001,
      "finished_exit_status": 0,
      "finished_seconds": 20.0
    },
    "b": {
      "host": "b.example",
      "stage": "all",
      "words": [],
      "outcome": "not_sent",
      "exit_status": null,
      "duration_seconds": 0.0,
      "at": 1700000002,
      "finished_exit_status": null,
      "finished_seconds": null
    }
  }
}"#;
        let st: State = serde_json::from_str(old).unwrap();
        assert_eq!(st.last_run.as_ref().unwrap().result, RunResult::Failure);
        assert_eq!(st.downstreams["b"].outcome, DownstreamOutcome::NotSent);
        assert_eq!(serde_json::to_string_pretty(&st).unwrap(), old);
    }

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

    #[test]
    fn a_corrupt_record_is_kept_aside_and_an_unreadable_one_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let p = path(d.path(), "ftpsync");
        std::fs::write(&p, "{not json").unwrap();
        assert!(read(&p).is_err());
        let mut notes = Vec::new();
        update_noting(&p, |s| s.name = "ftpsync".into(), |w| notes.push(w)).unwrap();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(load(&p).unwrap().name, "ftpsync");
        let aside: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
            .collect();
        assert_eq!(aside.len(), 1);
        assert_eq!(std::fs::read(aside[0].path()).unwrap(), b"{not json");
        // Twice in the same second: the first copy is not overwritten.
        std::fs::write(&p, "{again").unwrap();
        update(&p, |_| {}).unwrap();
        let n = std::fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
            .count();
        assert_eq!(n, 2);
        // A directory where the record should be cannot be read: an error, not a reset.
        let q = path(d.path(), "other");
        std::fs::create_dir(&q).unwrap();
        assert!(update(&q, |_| {}).is_err());
        assert!(q.is_dir());
    }
}
