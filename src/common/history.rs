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
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
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

impl RunRecord {
    /// The history's record of a run, from its state record and what only the history
    /// keeps.
    pub fn of(
        run: &super::state::SyncRun,
        files_changed: Option<u64>,
        master_date: Option<i64>,
    ) -> RunRecord {
        RunRecord {
            started: run.started,
            ended: run.ended,
            result: run.result,
            exit_status: run.exit_status,
            request: run.request.clone(),
            sync_kind: run.sync_kind,
            full_sync_reason: run.full_sync_reason.clone(),
            index_sync_reason: run.index_sync_reason.clone(),
            paths: run.journal_paths,
            files_changed,
            bytes_received: run.bytes_received,
            stage1_seconds: run.stage1_seconds,
            stage2_seconds: run.stage2_seconds,
            archive_serial: run.archive_serial.clone(),
            master_date,
        }
    }
}

impl PushRecord {
    /// The history's record of the trigger the state record keeps for downstream `name`.
    pub fn of(name: &str, d: &super::state::Downstream) -> PushRecord {
        PushRecord {
            at: d.at,
            downstream: name.to_string(),
            host: d.host.clone(),
            stage: d.stage,
            outcome: d.outcome,
            exit_status: d.exit_status,
            duration_seconds: d.duration_seconds,
            finished_exit_status: d.finished_exit_status,
            finished_seconds: d.finished_seconds,
        }
    }
}

impl Bounds {
    /// Seconds a record is kept, as a count the clock can be compared with.
    pub fn max_age(self) -> i64 {
        i64::try_from(self.days.saturating_mul(86400)).unwrap_or(i64::MAX)
    }
}

/// The flock beside the history that every writer holds while it appends or rewrites: a
/// sidecar file, because the rewrite replaces the history file itself.
fn lock(path: &Path) -> std::io::Result<File> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(PathBuf::from(lock_path))?;
    lock.lock()?;
    Ok(lock)
}

/// Add `record` to the history at `path` and keep it within `bounds`.
pub fn append(path: &Path, record: &Record, bounds: Bounds) -> std::io::Result<()> {
    append_all(path, std::slice::from_ref(record), bounds)
}

/// [`append`] for several records at once (one lock, one look at the bounds): runmirrors'
/// follower writes a burst of triggers so.
pub fn append_all(path: &Path, records: &[Record], bounds: Bounds) -> std::io::Result<()> {
    append_at(path, records, bounds, super::state::now())
}

fn append_at(path: &Path, records: &[Record], bounds: Bounds, now: i64) -> std::io::Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let _lock = lock(path)?;
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)?;
    let len = f.metadata()?.len();
    let mut data = Vec::new();
    if len > 0 {
        let mut last = [0u8];
        f.read_exact_at(&mut last, len - 1)?;
        // A writer killed mid-line left it without its end: end it, so that our record
        // starts a line of its own and the cut one stays a single line readers skip.
        if last[0] != b'\n' {
            data.push(b'\n');
        }
    }
    for r in records {
        serde_json::to_writer(&mut data, r).map_err(std::io::Error::other)?;
        data.push(b'\n');
    }
    // One write of whole lines: a reader sees each record whole or not at all, and a kill
    // can cut only the last.
    f.write_all(&data)?;
    drop(f);
    let text = std::fs::read(path)?;
    if over_bounds(&text, bounds, now) {
        let kept = keep(parse(&text), bounds, now);
        let mut out = Vec::new();
        for r in &kept {
            serde_json::to_writer(&mut out, r).map_err(std::io::Error::other)?;
            out.push(b'\n');
        }
        super::atomic::write(path, &out)?;
    }
    Ok(())
}

/// Whether the history has grown a quarter past its entries, or holds a record a day past
/// its days: the rewrite is done only then, so that an append costs one read, not a
/// rewrite. The first record that parses stands for the oldest (records are appended as
/// they end, so the file is in time order but for sessions that ran long).
fn over_bounds(text: &[u8], bounds: Bounds, now: i64) -> bool {
    let lines = text.iter().filter(|&&b| b == b'\n').count() as u64;
    if lines > bounds.entries.saturating_add(bounds.entries / 4) {
        return true;
    }
    let oldest = text
        .split(|&b| b == b'\n')
        .find_map(|l| serde_json::from_slice::<Record>(l).ok());
    oldest.is_some_and(|r| now.saturating_sub(r.at()) > bounds.max_age().saturating_add(86400))
}

/// What a rewrite keeps: the records newer than `days`, the newest `entries` of them.
fn keep(records: Vec<Record>, bounds: Bounds, now: i64) -> Vec<Record> {
    let mut kept: Vec<Record> = records
        .into_iter()
        .filter(|r| now.saturating_sub(r.at()) < bounds.max_age())
        .collect();
    let entries = usize::try_from(bounds.entries).unwrap_or(usize::MAX);
    if kept.len() > entries {
        kept.drain(..kept.len() - entries);
    }
    kept
}

/// Every line that is a whole record, in order: a line cut by a killed writer, or anything
/// else that does not parse, is left out.
fn parse(text: &[u8]) -> Vec<Record> {
    text.split(|&b| b == b'\n')
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect()
}

/// The history at `path`, in file order (oldest first); empty when there is none or it
/// cannot be read (the history is what the page draws, never what a run depends on).
pub fn read(path: &Path) -> Vec<Record> {
    std::fs::read(path).map(|t| parse(&t)).unwrap_or_default()
}

/// The records at or after `since` (Unix seconds), oldest first.
pub fn read_since(path: &Path, since: i64) -> Vec<Record> {
    let mut all = read(path);
    all.retain(|r| r.at() >= since);
    all
}

/// The newest `limit` records, oldest first.
pub fn read_recent(path: &Path, limit: usize) -> Vec<Record> {
    let mut all = read(path);
    if all.len() > limit {
        all.drain(..all.len() - limit);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::kinds::{DownstreamOutcome, RunResult, Stage};

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86400;

    fn run(ended: i64) -> Record {
        Record::Run(RunRecord {
            started: ended - 60,
            ended,
            result: RunResult::Success,
            request: "all".into(),
            bytes_received: 1234,
            master_date: Some(ended - 600),
            ..Default::default()
        })
    }

    fn push(at: i64, name: &str) -> Record {
        Record::Push(PushRecord {
            at,
            downstream: name.into(),
            host: format!("{name}.example"),
            stage: Stage::All,
            outcome: DownstreamOutcome::Delivered,
            exit_status: Some(0),
            duration_seconds: 1.25,
            finished_exit_status: None,
            finished_seconds: None,
        })
    }

    /// Every line of the file, and whether it parses.
    fn lines(path: &Path) -> Vec<(String, bool)> {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.is_empty() || text.ends_with('\n'), "{text:?}");
        text.lines()
            .map(|l| (l.to_string(), serde_json::from_str::<Record>(l).is_ok()))
            .collect()
    }

    #[test]
    fn records_read_back_in_order_and_a_missing_history_is_empty() {
        let d = tempfile::tempdir().unwrap();
        let p = path(d.path(), "ftpsync");
        assert!(read(&p).is_empty());
        let written = vec![run(NOW - 100), push(NOW - 50, "leaf"), run(NOW)];
        for r in &written {
            append_at(&p, std::slice::from_ref(r), DEFAULT, NOW).unwrap();
        }
        assert_eq!(read(&p), written);
        assert_eq!(read_since(&p, NOW - 50), written[1..]);
        assert_eq!(read_recent(&p, 1), written[2..]);
        assert_eq!(read_recent(&p, 10), written);
        assert!(d.path().join("ftpsync.history.jsonl.lock").exists());
    }

    #[test]
    fn the_entries_bound_keeps_the_newest_within_a_quarter() {
        let d = tempfile::tempdir().unwrap();
        let p = path(d.path(), "ftpsync");
        let b = Bounds {
            days: 14,
            entries: 10,
        };
        let mut most = 0;
        for i in 0..40 {
            append_at(&p, &[run(NOW - 1000 + i)], b, NOW).unwrap();
            let n = lines(&p).len();
            most = most.max(n);
        }
        assert_eq!(most, 12, "grows to entries + entries/4, no further");
        let all = read(&p);
        assert!((10..=12).contains(&all.len()), "{}", all.len());
        assert_eq!(all.last(), Some(&run(NOW - 1000 + 39)));
        // Kept in order, none missing between the oldest kept and the newest.
        let ends: Vec<i64> = all.iter().map(Record::at).collect();
        let first = ends[0];
        assert_eq!(ends, (first..=NOW - 1000 + 39).collect::<Vec<_>>());
    }

    #[test]
    fn records_older_than_the_days_bound_are_dropped() {
        let d = tempfile::tempdir().unwrap();
        let p = path(d.path(), "ftpsync");
        let b = Bounds {
            days: 3,
            entries: 100,
        };
        // Written over five days; the clock of each append is the record's own time.
        for day in 0..5 {
            let t = NOW - (4 - day) * DAY;
            append_at(&p, &[run(t), push(t + 1, "leaf")], b, t + 2).unwrap();
        }
        // Four days in, the oldest was a day past the bound: the rewrite kept what is
        // younger than three days, and nothing else.
        let want: Vec<Record> = (2..5)
            .flat_map(|day| {
                let t = NOW - (4 - day) * DAY;
                [run(t), push(t + 1, "leaf")]
            })
            .collect();
        assert_eq!(read(&p), want);
        // Not due again until the oldest is a day past the bound once more.
        append_at(&p, &[run(NOW + 3)], b, NOW + DAY + 3).unwrap();
        assert_eq!(read(&p).len(), want.len() + 1);
        // A week later, everything older than three days is gone in one rewrite.
        append_at(&p, &[run(NOW + 7 * DAY)], b, NOW + 7 * DAY).unwrap();
        assert_eq!(read(&p), vec![run(NOW + 7 * DAY)]);
    }

    #[test]
    fn a_line_cut_by_a_killed_writer_is_skipped_and_the_next_record_starts_its_own_line() {
        let d = tempfile::tempdir().unwrap();
        let p = path(d.path(), "ftpsync");
        append_at(&p, &[run(NOW - 10)], DEFAULT, NOW).unwrap();
        // What a writer killed in the middle of its write leaves: half a line, no newline.
        let whole = serde_json::to_string(&run(NOW - 5)).unwrap();
        let half = &whole[..whole.len() / 2];
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(half.as_bytes()).unwrap();
        drop(f);
        assert_eq!(read(&p), vec![run(NOW - 10)], "the cut line is skipped");
        append_at(&p, &[run(NOW)], DEFAULT, NOW).unwrap();
        assert_eq!(read(&p), vec![run(NOW - 10), run(NOW)]);
        let l = lines(&p);
        assert_eq!(l.len(), 3, "{l:?}");
        assert_eq!(l[1], (half.to_string(), false));
        assert!(l[0].1 && l[2].1, "{l:?}");
        // Garbage between records costs nothing either.
        std::fs::write(
            &p,
            format!(
                "not json\n{}\n{{\"type\":\"run\"}}\n\n",
                serde_json::to_string(&run(NOW)).unwrap()
            ),
        )
        .unwrap();
        assert_eq!(read(&p), vec![run(NOW)]);
    }

    #[test]
    fn concurrent_writers_leave_only_whole_records() {
        let d = tempfile::tempdir().unwrap();
        let p = path(d.path(), "ftpsync");
        let b = Bounds {
            days: 14,
            entries: 150,
        };
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let p = p.clone();
                std::thread::spawn(move || {
                    for i in 0..100 {
                        let r = if w % 2 == 0 {
                            run(NOW - 1000 + i)
                        } else {
                            push(NOW - 1000 + i, &format!("d{w}-{i}"))
                        };
                        append_at(&p, &[r], b, NOW).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let l = lines(&p);
        assert!(l.iter().all(|(_, ok)| *ok), "{l:?}");
        // 400 written, bounded to 150 and a quarter; the last rewrite kept the newest 150.
        assert!((150..=187).contains(&l.len()), "{}", l.len());
        assert!(!d.path().join("ftpsync.history.jsonl.new").exists());
    }
}
