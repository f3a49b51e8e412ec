//! The stage-1 barrier of staged and mhop mirrors.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// The staged mirrors that still owe us their stage 1. Stage 2 goes out to all of them the
/// moment the set is empty: waiters are woken by the last arrival, not by polling.
pub struct StageBarrier {
    tx: watch::Sender<(BTreeSet<String>, bool)>,
    reported: AtomicBool,
}

impl StageBarrier {
    pub fn new(pending: BTreeSet<String>) -> StageBarrier {
        let open = pending.is_empty();
        StageBarrier {
            tx: watch::Sender::new((pending, open)),
            reported: AtomicBool::new(false),
        }
    }

    pub fn arrive(&self, name: &str) {
        self.tx.send_modify(|(pending, open)| {
            pending.remove(name);
            if pending.is_empty() {
                *open = true;
            }
        });
    }

    pub fn open(&self) {
        self.tx.send_modify(|(_, open)| *open = true);
    }

    /// Resolves when the barrier is open.
    pub async fn opened(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|(_, open)| *open).await;
    }

    /// True when every staged mirror arrived; false when `timeout` passed first. As in the
    /// original, one waiter's timeout opens the barrier for all of them.
    pub async fn wait(&self, timeout: Duration) -> bool {
        if tokio::time::timeout(timeout, self.opened()).await.is_err() {
            self.open();
        }
        self.missing().is_empty()
    }

    /// Every waiter sees a timeout; the first to ask reports the missing mirrors.
    pub fn claim_report(&self) -> bool {
        !self.reported.swap(true, Ordering::SeqCst)
    }

    pub fn missing(&self) -> Vec<String> {
        self.tx.borrow().0.iter().cloned().collect()
    }
}
