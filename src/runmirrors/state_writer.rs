//! The follower's writes to the state record: in order, batched (one rewrite of the record
//! for every burst of changes), off the runtime's thread, so that a slow disk or a record
//! locked by ftpsync delays no trigger and no barrier.

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

pub async fn write_state(
    path: std::path::PathBuf,
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
        let r = tokio::task::spawn_blocking(move || {
            if changes.is_empty() {
                return Ok(());
            }
            state::update(&p, |st| {
                for c in changes {
                    apply(st, c);
                }
            })
        })
        .await;
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log.log(format!("cannot write the state record: {e}")),
            Err(e) => log.log(format!("cannot write the state record: {e}")),
        }
        for f in flushes {
            let _ = f.send(());
        }
    }
}

fn apply(st: &mut state::State, c: StateChange) {
    match c {
        StateChange::Sent(name, d) => {
            st.downstreams.insert(name, d);
        }
        StateChange::Finished {
            name,
            exit,
            secs,
            timed_out,
        } => {
            if let Some(d) = st.downstreams.get_mut(&name) {
                d.finished_exit_status = exit;
                d.finished_seconds = Some(round_ms(secs));
                if timed_out {
                    d.outcome = DownstreamOutcome::Timeout;
                }
            }
        }
        StateChange::Push(p) => st.last_push = Some(p),
        StateChange::NotSent(name) => {
            let d = st.downstreams.entry(name).or_default();
            d.outcome = DownstreamOutcome::NotSent;
            d.at = state::now();
            d.exit_status = None;
            d.finished_exit_status = None;
            d.finished_seconds = None;
        }
        StateChange::Flush(_) => {}
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
