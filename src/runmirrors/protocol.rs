//! What runmirrors and its follower say to each other: one JSON object per line, runmirrors
//! to the follower on its stdin, the follower's answers on its stdout.
//!
//! The follower is told everything it needs up front ([`Setup`], with the whole plan), so
//! that when runmirrors dies without a word (SIGKILL, OOM) the follower still knows what
//! was handed to it and what was never sent, and finishes or reports it.

use crate::common::kinds::{PushKind, Stage};
use crate::settings::push::Job;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The first line: the run's settings and plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Setup {
    /// Log line prefix (`PROGRAM[pid]:`) and mail subjects.
    pub program: String,
    /// runmirrors.log: the follower adds each trigger's outcome to it.
    pub log: PathBuf,
    /// Where each mirror's own log `SHORTNAME.log` goes.
    pub logdir: PathBuf,
    /// The push lock, `LOCKDIR/runmirrors[-NAME].lock`: one push per name at a time.
    pub lock: PathBuf,
    /// The archive's state record.
    pub state: PathBuf,
    /// The archive's history, and how much of it is kept (its ftpsync config's
    /// HISTORY_DAYS and HISTORY_ENTRIES). A setup without them writes no history.
    #[serde(default)]
    pub history: Option<PathBuf>,
    #[serde(default)]
    pub history_days: u64,
    #[serde(default)]
    pub history_entries: u64,
    pub mailto: Vec<String>,
    pub sendmail: PathBuf,
    pub mail_timeout: u64,
    /// PUSHTIMEOUT: seconds one trigger may take, setup and session, before it is killed.
    pub timeout: u64,
    /// PUSHDELAY: seconds the staged mirrors wait for each other's stage 1.
    pub pushdelay: u64,
    /// PUSHCONCURRENCY: triggers in connection setup at once; 0 is no bound.
    pub concurrency: usize,
    /// The push kind, and whether ftpsync runs us: for the state record.
    pub kind: PushKind,
    pub from_ftpsync: bool,
    /// Every mirror this run will hand over, in order.
    pub plan: Vec<String>,
    /// The staged mirrors whose stage 1 the barrier waits for.
    pub staged: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToFollower {
    Setup(Box<Setup>),
    Trigger(Job),
    /// A `DELAY N stage1` line ran out: stage 2 goes to every staged mirror now.
    OpenBarrier,
    /// Every trigger has been handed over.
    End,
    /// runmirrors got this signal: send nothing more, drop connections still being set up.
    Cancel(i32),
}

/// How one trigger reached (or did not reach) its downstream.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Delivery {
    pub name: String,
    pub stage: Stage,
    pub delivered: bool,
    /// For the summary: `exit status 1 after 0.42 s`, `timed out after 3600 s`, ...
    pub describe: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum FromFollower {
    /// Another push of the same name holds the lock; we wait for it.
    Waiting {
        pid: String,
    },
    /// We hold the lock: triggers may come.
    Ready,
    Delivery(Delivery),
    /// The stage-1 barrier opened; `missing` did not finish stage 1 in time.
    Barrier {
        missing: Vec<String>,
    },
    /// Every trigger handed over was delivered or failed.
    Done,
    /// After a Cancel: what was never sent, and the connections dropped while being set up.
    Cancelled {
        not_sent: Vec<String>,
        dropped: Vec<String>,
    },
}

pub fn line<T: Serialize>(msg: &T) -> String {
    let mut s = serde_json::to_string(msg).unwrap_or_else(|_| "null".into());
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::push::StageJob;

    #[test]
    fn messages_round_trip() {
        let m = ToFollower::Trigger(Job {
            name: "m1".into(),
            host: "h".into(),
            stages: vec![StageJob {
                stage: Stage::Stage1,
                words: vec!["sync:archive:".into(), "sync:stage1".into()],
                args: vec!["-f".into(), "-n".into(), "h".into()],
            }],
        });
        let l = line(&m);
        assert!(l.ends_with('\n') && !l.trim_end().contains('\n'));
        let back: ToFollower = serde_json::from_str(&l).unwrap();
        assert!(matches!(back, ToFollower::Trigger(j) if j.stages[0].stage == Stage::Stage1));
        let e = FromFollower::Cancelled {
            not_sent: vec!["a".into()],
            dropped: vec![],
        };
        assert_eq!(serde_json::from_str::<FromFollower>(&line(&e)).unwrap(), e);
    }
}
