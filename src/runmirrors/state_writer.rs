//! The follower's writes to the state record: in order, batched (one rewrite of the record
//! for every burst of changes), off the runtime's thread, so that a slow disk or a record
//! locked by ftpsync delays no trigger and no barrier. Each trigger also goes to the
//! archive's history, once, in the same batch: when its ssh ended, or for a session the
//! downstream accepted, when the follower saw that session end (so the record says how it
//! ended). A follower killed while such sessions run leaves them out of the history; the
//! state record still shows them as accepted.

use crate::common::history::{self, PushRecord, Record};
use crate::common::kinds::DownstreamOutcome;
use crate::common::log::Logger;
use crate::common::state;
use crate::settings::push::{Job, StageJob};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// A change to the state record. They are applied in order, batched: one rewrite of the
/// record for every burst of changes, off the runtime's thread.
pub enum StateChange {
    /// Everything before this was written: tell the sender.
    Flush(oneshot::Sender<()>),
    Sent(String, state::Downstream),
    Finished {
        name: String,
        exit: Option<i32>,
        secs: f64,
        timed_out: bool,
    },
    Push(state::PushRun),
    /// This push never sent anything to the mirror: its record says so until a push does.
    NotSent(String),
}

/// Where the follower writes the archive's history, and how much of it is kept.
#[derive(Debug, Clone)]
pub struct HistoryFile {
    pub path: std::path::PathBuf,
    pub bounds: history::Bounds,
}

pub async fn write_state(
    path: std::path::PathBuf,
    history: Option<HistoryFile>,
    mut rx: mpsc::UnboundedReceiver<StateChange>,
    log: Arc<Logger>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(c) = rx.try_recv() {
            batch.push(c);
        }
        let mut changes = Vec::new();
        let mut flushes = Vec::new();
        for c in batch {
            match c {
                StateChange::Flush(tx) => flushes.push(tx),
                c => changes.push(c),
            }
        }
        let p = path.clone();
        let h = history.clone();
        let r = tokio::task::spawn_blocking(move || {
            if changes.is_empty() {
                return (Ok(()), Ok(()));
            }
            let mut records = Vec::new();
            let written = state::update(&p, |st| {
                for c in changes {
                    records.extend(apply(st, c).map(Record::Push));
                }
            });
            let appended = match &h {
                Some(h) => history::append_all(&h.path, &records, h.bounds),
                None => Ok(()),
            };
            (written, appended)
        })
        .await;
        match r {
            Ok((written, appended)) => {
                if let Err(e) = written {
                    log.log(format!("cannot write the state record: {e}"));
                }
                if let (Err(e), Some(h)) = (appended, &history) {
                    log.log(format!(
                        "cannot add to the history {}: {e}",
                        h.path.display()
                    ));
                }
            }
            Err(e) => log.log(format!("cannot write the state record: {e}")),
        }
        for f in flushes {
            let _ = f.send(());
        }
    }
}

/// Applies one change to the state record; the history's record of a trigger whose end it
/// tells, if it does.
fn apply(st: &mut state::State, c: StateChange) -> Option<PushRecord> {
    match c {
        StateChange::Sent(name, d) => {
            // An accepted session runs on: its record waits for its end (Finished).
            let ended =
                (d.outcome != DownstreamOutcome::Accepted).then(|| PushRecord::of(&name, &d));
            st.downstreams.insert(name, d);
            ended
        }
        StateChange::Finished {
            name,
            exit,
            secs,
            timed_out,
        } => {
            let d = st.downstreams.get_mut(&name)?;
            d.finished_exit_status = exit;
            d.finished_seconds = Some(round_ms(secs));
            if timed_out {
                d.outcome = DownstreamOutcome::Timeout;
            }
            Some(PushRecord::of(&name, d))
        }
        StateChange::Push(p) => {
            st.last_push = Some(p);
            None
        }
        StateChange::NotSent(name) => {
            let d = st.downstreams.entry(name.clone()).or_default();
            d.outcome = DownstreamOutcome::NotSent;
            d.at = state::now();
            d.exit_status = None;
            d.finished_exit_status = None;
            d.finished_seconds = None;
            Some(PushRecord::of(&name, d))
        }
        StateChange::Flush(_) => None,
    }
}

/// The state record of one trigger sent (or not) at `at`.
pub fn record(job: &Job, st: &StageJob, outcome: DownstreamOutcome, at: i64) -> state::Downstream {
    state::Downstream {
        host: job.host.clone(),
        stage: st.stage,
        words: st.words.clone(),
        outcome,
        at,
        ..Default::default()
    }
}

pub fn round_ms(secs: f64) -> f64 {
    (secs * 1000.0).round() / 1000.0
}
