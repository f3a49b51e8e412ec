//! One runmirrors run: every trigger started at once (up to PUSHCONCURRENCY at a time), the
//! stage-1 barrier of staged/mhop mirrors, DELAY lines, hooks, logs and the summary.

use super::mirrorlist::{Entry, Target};
use super::settings::Settings;
use super::ssh::{self, PushKind, Stage};
use super::trigger::{self, DetachOptions, Outcome, TriggerResult};
use crate::common::hooks::{self, HookResult};
use crate::common::host;
use crate::common::log::Logger;
use crate::common::mail::Mail;
use crate::common::process::Cancel;
use crate::common::state;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// The staged mirrors that still owe us their stage 1. Stage 2 goes out to all of them the
/// moment the set is empty: waiters are woken by the last arrival, not by polling.
pub struct StageBarrier {
    tx: watch::Sender<(BTreeSet<String>, bool)>,
    reported: std::sync::atomic::AtomicBool,
}

impl StageBarrier {
    pub fn new(pending: BTreeSet<String>) -> StageBarrier {
        let open = pending.is_empty();
        StageBarrier {
            tx: watch::Sender::new((pending, open)),
            reported: std::sync::atomic::AtomicBool::new(false),
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

    /// True when every staged mirror arrived; false when `timeout` passed first. As in the
    /// original, one waiter's timeout opens the barrier for all of them.
    pub async fn wait(&self, timeout: Duration) -> bool {
        let mut rx = self.tx.subscribe();
        let opened = tokio::time::timeout(timeout, rx.wait_for(|(_, open)| *open)).await;
        if opened.is_err() {
            self.tx.send_modify(|(_, open)| *open = true);
        }
        self.missing().is_empty()
    }

    /// Every waiter sees a timeout; the first to ask reports the missing mirrors.
    pub fn claim_report(&self) -> bool {
        !self
            .reported
            .swap(true, std::sync::atomic::Ordering::SeqCst)
    }

    pub fn missing(&self) -> Vec<String> {
        self.tx.borrow().0.iter().cloned().collect()
    }
}

pub struct Pusher {
    pub s: Arc<Settings>,
    pub kind: PushKind,
    pub from_ftpsync: bool,
    pub log: Arc<Logger>,
    pub cancel: Cancel,
    sem: Arc<Semaphore>,
    barrier: Arc<StageBarrier>,
    results: Arc<Mutex<Vec<(String, Stage, TriggerResult)>>>,
}

impl Pusher {
    pub fn new(
        s: Settings,
        kind: PushKind,
        from_ftpsync: bool,
        log: Logger,
        cancel: Cancel,
        entries: &[Entry],
    ) -> Pusher {
        let staged: BTreeSet<String> = if kind == PushKind::Stage2 {
            BTreeSet::new()
        } else {
            entries
                .iter()
                .filter_map(|e| match e {
                    Entry::Mirror(t) if t.kind.is_staged() => Some(t.name.clone()),
                    _ => None,
                })
                .collect()
        };
        Pusher {
            sem: Arc::new(Semaphore::new(s.concurrency)),
            s: Arc::new(s),
            kind,
            from_ftpsync,
            log: Arc::new(log),
            cancel,
            barrier: Arc::new(StageBarrier::new(staged)),
            results: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Log and mail a one-line error report (the original's `error`).
    pub fn error(&self, msg: &str) {
        error(&self.s, &self.log, msg);
    }

    pub async fn run(&self, entries: Vec<Entry>) {
        let started = state::now();
        self.log.log(format!(
            "Pushing leaf mirrors. Inside ftpsync: {}. Pushkind: {}",
            self.from_ftpsync,
            self.kind.as_str()
        ));
        self.hook(1).await;
        let mut tasks = JoinSet::new();
        for entry in entries {
            if self.cancel.signal().is_some() {
                break;
            }
            match entry {
                Entry::Delay {
                    seconds,
                    stage1: false,
                    ..
                } => {
                    self.log
                        .log(format!("Delay of {seconds} requested, sleeping"));
                    let _ = self.cancel.sleep(Duration::from_secs(seconds)).await;
                }
                Entry::Delay {
                    seconds,
                    stage1: true,
                    ..
                } => {
                    self.log.log(format!(
                        "Delay of {seconds} or until staging is finished requested"
                    ));
                    if self.barrier.wait(Duration::from_secs(seconds)).await {
                        self.log.log("Staged delay finished");
                    } else {
                        self.log.log(format!(
                            "Staged delay ran into timeout of {seconds} seconds"
                        ));
                    }
                }
                Entry::Skipped { name, host, .. } => {
                    self.log.log(format!(
                        "Trigger {name}: {host} have wrong scheme, ignoring"
                    ));
                }
                Entry::Mirror(t) => {
                    // Called for an mhop push from within ftpsync, only staged mirrors take part:
                    // our upstream waits for their stage 1 and will send us stage 2.
                    if self.from_ftpsync && self.kind == PushKind::Mhop && !t.kind.is_staged() {
                        continue;
                    }
                    self.log.log(format!("Trigger {}", t.name));
                    tasks.spawn(self.mirror_task(t.clone()));
                    self.log.log(format!("Trigger for {} done", t.name));
                    self.hook(2).await;
                }
            }
        }
        while tasks.join_next().await.is_some() {}
        self.summary(started);
        self.hook(3).await;
        self.log.log("Mirrorpush done");
    }

    async fn hook(&self, nr: u8) {
        let cmd = self.s.hooks[usize::from(nr - 1)].as_deref();
        if let HookResult::Failed(rc) = hooks::run_hook(nr, cmd, &self.log, &self.cancel).await {
            self.error(&format!("Back from hook {nr}, got returncode {rc}"));
        }
    }

    /// Everything one mirror line asks for, as a task of its own.
    fn mirror_task(&self, t: Target) -> impl std::future::Future<Output = ()> + Send + 'static {
        let s = Arc::clone(&self.s);
        let log = Arc::clone(&self.log);
        let sem = Arc::clone(&self.sem);
        let barrier = Arc::clone(&self.barrier);
        let results = Arc::clone(&self.results);
        let cancel = self.cancel.clone();
        let kind = self.kind;
        let from_ftpsync = self.from_ftpsync;
        async move {
            let ctx = TriggerCtx {
                s: &s,
                log: &log,
                sem: &sem,
                results: &results,
                cancel: &cancel,
                kind,
            };
            if !t.kind.is_staged() {
                ctx.trigger(&t, Stage::All).await;
                return;
            }
            if kind != PushKind::Stage2 {
                ctx.trigger(&t, Stage::Stage1).await;
                barrier.arrive(&t.name);
                if !barrier.wait(Duration::from_secs(s.pushdelay)).await {
                    let missing = barrier.missing();
                    log.log(format!(
                        "Failed to wait for all other mirrors ({} of them missing), continuing",
                        missing.len()
                    ));
                    if barrier.claim_report() {
                        for m in &missing {
                            error(&s, &log, &format!(
                                "Missing stage1 of {m} after waiting for more than {} seconds, continuing",
                                s.pushdelay
                            ));
                        }
                    }
                }
                if from_ftpsync && kind == PushKind::Mhop {
                    return;
                }
            }
            ctx.trigger(&t, Stage::Stage2).await;
        }
    }

    fn summary(&self, started: i64) {
        let results = self.results.lock().map(|r| r.clone()).unwrap_or_default();
        let delivered = results.iter().filter(|(_, _, r)| r.delivered()).count() as u64;
        let push = state::PushRun {
            started,
            ended: state::now(),
            kind: self.kind.as_str().into(),
            from_ftpsync: self.from_ftpsync,
            triggers: results.len() as u64,
            delivered,
            failed: results.len() as u64 - delivered,
        };
        if let Err(e) = state::update(&self.s.state_path(), |st| st.last_push = Some(push)) {
            self.log.log(format!("cannot write the state record: {e}"));
        }
        let failed: Vec<String> = results
            .iter()
            .filter(|(_, _, r)| !r.delivered())
            .map(|(n, st, r)| format!("{n} ({}: {})", st.label(), r.describe()))
            .collect();
        self.log.log(format!(
            "Summary: {} triggers sent, {} delivered, {} failed{}{}",
            results.len(),
            results.len() - failed.len(),
            failed.len(),
            if failed.is_empty() { "" } else { ": " },
            failed.join(", ")
        ));
    }
}

/// Log and mail a one-line error report (the original's `error`).
pub fn error(s: &Settings, log: &Logger, msg: &str) {
    log.log(msg);
    if s.mailto.is_empty() {
        return;
    }
    let mail = Mail {
        subject: format!("[{}@{}] ERROR: {msg}", s.program, host::short()),
        to: s.mailto.clone(),
        bodies: vec![msg.to_string()],
        attachments: vec![],
    };
    if let Err(e) = mail.send(&s.sendmail) {
        log.log(format!("No mail could be sent: {e}"));
    }
}

struct TriggerCtx<'a> {
    s: &'a Settings,
    log: &'a Logger,
    sem: &'a Semaphore,
    results: &'a Mutex<Vec<(String, Stage, TriggerResult)>>,
    cancel: &'a Cancel,
    kind: PushKind,
}

impl TriggerCtx<'_> {
    /// One ssh trigger. Stage 1 is waited for: its end is the downstream's stage 1 being
    /// done. `all` and stage 2 are detached: we only wait until the downstream accepted.
    async fn trigger(&self, t: &Target, stage: Stage) {
        let s = self.s;
        let words = ssh::words(t, &s.pusharchive, self.kind, stage);
        let detach = stage != Stage::Stage1;
        let args = ssh::args(t, &s.ssh_opts, &s.keyfile, detach, &words);
        let mirror_log_path = s.logdir.join(format!("{}.log", t.name));
        let mirror_log = Logger::open(&mirror_log_path, &s.program);
        let label = stage.label();
        let timeout = Duration::from_secs(s.timeout);

        // PUSHCONCURRENCY bounds the detached triggers, which hold a slot only until the
        // downstream accepts. A stage 1 lasts as long as the downstream's stage 1 and the
        // barrier needs every one of them, so stage 1s all start at once, as in the original.
        let _permit = if detach {
            match self.sem.acquire().await {
                Ok(p) => Some(p),
                Err(_) => return,
            }
        } else {
            None
        };
        mirror_log.log(format!("Sending {label} trigger: {}", words.join(" ")));
        let sent_at = state::now();
        let result = if detach {
            trigger::detached(
                &args,
                &DetachOptions {
                    mirror_log: &mirror_log_path,
                    label,
                    program: &s.program,
                    timeout,
                    mailto: &s.mailto,
                    sendmail: &s.sendmail,
                    state: &s.state_path(),
                    name: &t.name,
                },
            )
            .await
        } else {
            let r = trigger::waited(&args, &mirror_log, timeout, self.cancel).await;
            mirror_log.log(format!("{label} trigger: {}", r.describe()));
            r
        };
        if result.delivered() {
            self.log
                .log(format!("{label} trigger succeeded: {}", t.host));
        } else {
            let why = match &result.outcome {
                Outcome::TimedOut => format!("timed out after {} s", s.timeout),
                _ => result.describe(),
            };
            error(
                s,
                self.log,
                &format!("{label} trigger failed: {} ({why})", t.host),
            );
        }
        let record = state::Downstream {
            host: t.host.clone(),
            stage: match stage {
                Stage::All => "all",
                Stage::Stage1 => "stage1",
                Stage::Stage2 => "stage2",
            }
            .into(),
            words: words.clone(),
            outcome: match &result.outcome {
                Outcome::Exited(255) | Outcome::Failed(_) | Outcome::Interrupted(_) => "failed",
                Outcome::Exited(_) => "delivered",
                Outcome::Accepted => "accepted",
                Outcome::TimedOut => "timeout",
            }
            .into(),
            exit_status: match result.outcome {
                Outcome::Exited(c) => Some(c),
                _ => None,
            },
            duration_seconds: (result.secs * 1000.0).round() / 1000.0,
            at: sent_at,
            finished_exit_status: None,
            finished_seconds: None,
        };
        if let Err(e) = state::update(&s.state_path(), |st| {
            st.downstreams.insert(t.name.clone(), record);
        }) {
            self.log.log(format!("cannot write the state record: {e}"));
        }
        if let Ok(mut r) = self.results.lock() {
            r.push((t.name.clone(), stage, result));
        }
    }
}
