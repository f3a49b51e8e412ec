//! The history of an archive: one JSON line per ftpsync run and per push trigger, in
//! `LOGDIR/NAME.history.jsonl` beside the state record (which keeps only the last of each).
//! What the status page draws its table, charts and timelines from.
//!
//! Append-only and bounded (HISTORY_DAYS, HISTORY_ENTRIES): a writer appends one whole line
//! with one `write`, under an flock on `NAME.history.jsonl.lock`, and when the file has
//! grown a quarter past its bound it is rewritten (temp file, rename) with the newest
//! records only. A run killed mid-write leaves at most a line without its newline, which
//! readers skip and the next writer ends first; a killed rewrite leaves the old file.

use super::kinds::{DownstreamOutcome, RunResult, Stage, SyncKind};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One record of the history.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Run(RunRecord),
    Push(PushRecord),
}

impl Record {
    /// When it happened (a run's end, a trigger's sending), Unix seconds.
    pub fn at(&self) -> i64 {
        match self {
            Record::Run(r) => r.ended,
            Record::Push(p) => p.at,
        }
    }
}

/// One ftpsync run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    /// Unix seconds.
    pub started: i64,
    pub ended: i64,
    pub result: RunResult,
    pub exit_status: u8,
    /// `all`, `stage1`, `stage2`, with `+mhop` when asked.
    pub request: String,
    /// How it synced, and why not by the journal or the index (as the state record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_kind: Option<SyncKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_sync_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_sync_reason: Option<String>,
    /// Paths a journal or index sync listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<u64>,
    /// Files and links rsync changed or deleted (from LOG_RSYNC), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_changed: Option<u64>,
    pub bytes_received: u64,
    pub stage1_seconds: u64,
    pub stage2_seconds: u64,
    /// Our archive serial after the run (project/trace/master).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_serial: Option<String>,
    /// The master trace's `Date:` after the run, Unix seconds: when the archive we now
    /// serve was made. `ended` minus it is the run's lag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_date: Option<i64>,
}

impl RunRecord {
    /// Seconds between the archive's making and the end of the run that brought it.
    pub fn lag_seconds(&self) -> Option<i64> {
        self.master_date.map(|m| self.ended - m)
    }
}

/// One push trigger to one downstream, when its session ended (or was left to run on).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PushRecord {
    /// When the trigger was sent, Unix seconds.
    pub at: i64,
    /// The runmirrors.mirror name of the downstream.
    pub downstream: String,
    pub host: String,
    pub stage: Stage,
    pub outcome: DownstreamOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<i32>,
    /// Until ssh ended (the trigger delivered, or given up).
    pub duration_seconds: f64,
    /// For a session left to run on: how it ended, when the follower saw it end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_exit_status: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_seconds: Option<f64>,
}

/// How much history is kept: records newer than `days`, at most `entries` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub days: u64,
    pub entries: u64,
}

pub const DAYS_RANGE: std::ops::RangeInclusive<u64> = 1..=3660;
pub const ENTRIES_RANGE: std::ops::RangeInclusive<u64> = 10..=1_000_000;
pub const DEFAULT: Bounds = Bounds {
    days: 14,
    entries: 5000,
};

pub fn path(logdir: &Path, name: &str) -> PathBuf {
    logdir.join(format!("{name}.history.jsonl"))
}
