//! `archvsync push-follower`: the one process per push that sends the triggers and follows
//! them to their end.
//!
//! runmirrors (or a hub's ftpsync) starts it in a session of its own and hands it the plan
//! and then each trigger (protocol.rs). It starts every trigger at once, runs the stage-1
//! barrier and sends stage 2, reports each delivery back, and says when every trigger was
//! delivered or failed — then runmirrors returns, and with it the ssh session of our own
//! upstream. The follower stays, the parent of every trigger's ssh, until the last
//! downstream's sync ended, and records each final exit status and duration in the
//! mirror's log and the state record. Everything it waits on is an event: ssh's exit, its
//! word that the downstream accepted (accept.rs), a timer, a line from runmirrors.
//!
//! It outlives a runmirrors killed with SIGKILL: what was handed to it is finished (stage 2
//! of staged mirrors included), what was never handed over is logged, mailed and recorded as
//! not sent. A Cancel from runmirrors (it got SIGTERM) stops what is not yet sent and drops
//! connections still being set up; accepted sessions are the downstreams' own syncs and are
//! followed on. A signal to the follower itself stops it at once, sessions left running.
//!
//! Longer than the ~600 lines a file keeps to, on purpose: the follower is one event loop
//! (spawns, acceptances, exits, the barrier, deadlines and signals on one select), which
//! reads best whole; the pieces it drives live beside it (trigger.rs, accept.rs, barrier.rs,
//! state_writer.rs).

use super::accept::Acceptance;
use super::barrier::StageBarrier;
use super::protocol::{self, Delivery, FromFollower, Setup, ToFollower};
use super::state_writer::{record, round_ms, write_state, HistoryFile, StateChange};
use super::trigger::{self, Outcome, Session, TriggerResult};
use crate::common::kinds::{DownstreamOutcome, Stage};
use crate::common::log::Logger;
use crate::common::mail::Outbox;
use crate::common::process::{self, Cancel, Canceller};
use crate::common::{history, state, system};
use crate::settings::push::{Job, StageJob};
use std::collections::BTreeSet;
use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};
use tokio::task::JoinSet;

pub fn main() -> u8 {
    system::raise_open_files_limit();
    process::block_on(run())
}

#[derive(Default)]
struct Tally {
    /// Jobs handed over whose last trigger is not yet delivered or failed.
    outstanding: usize,
    handed: BTreeSet<String>,
    deliveries: Vec<Delivery>,
    not_sent: Vec<String>,
    dropped: Vec<String>,
}

struct Follower {
    setup: Setup,
    log: Arc<Logger>,
    outbox: Outbox,
    acceptance: Acceptance,
    barrier: StageBarrier,
    cancel: Cancel,
    /// Set when runmirrors asked us to stop; a cancel without it is a signal to us.
    cancel_asked: AtomicBool,
    sem: Option<Semaphore>,
    events: mpsc::UnboundedSender<Out>,
    state: mpsc::UnboundedSender<StateChange>,
    tally: Mutex<Tally>,
    settled: Notify,
}

async fn run() -> u8 {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let setup = match lines.next_line().await {
        Ok(Some(l)) => match serde_json::from_str::<ToFollower>(&l) {
            Ok(ToFollower::Setup(s)) => *s,
            _ => {
                eprintln!("push-follower: the first line must be the setup: {l}");
                return 2;
            }
        },
        _ => return 2,
    };
    let (canceller, cancel) = Cancel::manual();
    let _ = canceller.on_signals();
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    tokio::spawn(write_events(events_rx));
    let (state_tx, state_rx) = mpsc::unbounded_channel();
    let log = Arc::new(Logger::open(&setup.log, &setup.program));
    let history = setup.history.clone().map(|path| HistoryFile {
        path,
        // Out of range only in a setup not made by runmirrors: the defaults then.
        bounds: history::Bounds {
            days: Some(setup.history_days)
                .filter(|d| history::DAYS_RANGE.contains(d))
                .unwrap_or(history::DEFAULT.days),
            entries: Some(setup.history_entries)
                .filter(|e| history::ENTRIES_RANGE.contains(e))
                .unwrap_or(history::DEFAULT.entries),
        },
    });
    tokio::spawn(write_state(
        setup.state.clone(),
        history,
        state_rx,
        log.clone(),
    ));
    let f = Arc::new(Follower {
        outbox: Outbox::new(&setup.sendmail, Duration::from_secs(setup.mail_timeout)),
        acceptance: Acceptance::new(),
        barrier: StageBarrier::new(setup.staged.iter().cloned().collect()),
        cancel,
        cancel_asked: AtomicBool::new(false),
        sem: (setup.concurrency > 0).then(|| Semaphore::new(setup.concurrency)),
        events: events_tx,
        state: state_tx,
        tally: Mutex::default(),
        settled: Notify::new(),
        log,
        setup,
    });
    let started = state::now();
    {
        // runmirrors' `DELAY N stage1` lines wait for this.
        let f = f.clone();
        tokio::spawn(async move {
            f.barrier.opened().await;
            f.emit(FromFollower::Barrier {
                missing: f.barrier.missing(),
            });
        });
    }

    let Some(lock) = f.lock(&mut lines, &canceller).await else {
        return f.finish(1).await;
    };
    f.emit(FromFollower::Ready);

    let mut jobs = JoinSet::new();
    let mut ended = false;
    let mut stdin_open = true;
    let mut runmirrors_gone = false;
    loop {
        tokio::select! {
            line = lines.next_line(), if stdin_open => match line {
                Ok(Some(l)) => match serde_json::from_str::<ToFollower>(&l) {
                    Ok(ToFollower::Trigger(job)) => {
                        if let Ok(mut t) = f.tally.lock() {
                            t.outstanding += 1;
                            t.handed.insert(job.name.clone());
                        }
                        jobs.spawn(f.clone().job(job));
                    }
                    Ok(ToFollower::OpenBarrier) => f.barrier.open(),
                    Ok(ToFollower::End) => ended = true,
                    Ok(ToFollower::Cancel(sig)) => {
                        f.cancel_asked.store(true, Ordering::SeqCst);
                        canceller.fire(sig);
                    }
                    Ok(ToFollower::Setup(_)) | Err(_) => {
                        f.log.log(format!("push-follower: ignoring a line it does not understand: {l}"));
                    }
                },
                _ => {
                    stdin_open = false;
                    if !ended {
                        runmirrors_gone = true;
                    }
                }
            },
            _ = f.settled.notified(), if ended || runmirrors_gone || f.cancel.signal().is_some() => {}
        }
        let settled = f.tally.lock().map(|t| t.outstanding == 0).unwrap_or(true);
        if settled && (ended || runmirrors_gone || f.cancel.signal().is_some()) {
            break;
        }
    }
    // Every trigger is delivered, failed or not sent: the push is over for runmirrors.
    drop(lock);
    f.push_over(started, runmirrors_gone);

    let stopped_by_signal = f.cancel.signal().is_some() && !f.cancel_asked.load(Ordering::SeqCst);
    if !stopped_by_signal {
        // The accepted sessions are the downstreams' syncs: see them to their end.
        while jobs.join_next().await.is_some() {}
    } else {
        f.log.log(format!(
            "push-follower stopped by {}: sessions still running are no longer followed",
            process::signal_name(f.cancel.signal().unwrap_or(0))
        ));
    }
    let code = if stopped_by_signal {
        128 + f.cancel.signal().unwrap_or(0) as u8
    } else {
        0
    };
    f.finish(code).await
}

/// What goes to runmirrors, in order.
enum Out {
    Event(FromFollower),
    Flush(oneshot::Sender<()>),
}

async fn write_events(mut rx: mpsc::UnboundedReceiver<Out>) {
    let mut out = tokio::io::stdout();
    let mut gone = false;
    while let Some(o) = rx.recv().await {
        match o {
            // runmirrors may be gone (done, or killed): we go on without telling anyone.
            Out::Event(ev) if !gone => {
                let l = protocol::line(&ev);
                gone = out.write_all(l.as_bytes()).await.is_err() || out.flush().await.is_err();
            }
            Out::Event(_) => {}
            Out::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

impl Follower {
    fn emit(&self, ev: FromFollower) {
        let _ = self.events.send(Out::Event(ev));
    }

    fn error(&self, msg: &str, attachments: Vec<std::path::PathBuf>) {
        let s = &self.setup;
        self.outbox
            .error(&self.log, &s.program, &s.mailto, msg, attachments);
    }

    /// One push per name at a time: wait for the lock while another push holds it.
    async fn lock(
        &self,
        lines: &mut tokio::io::Lines<BufReader<tokio::io::Stdin>>,
        canceller: &Canceller,
    ) -> Option<File> {
        let path = self.setup.lock.clone();
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) => {
                self.error(
                    &format!("cannot open the push lock {}: {e}", path.display()),
                    vec![],
                );
                return None;
            }
        };
        let file = match file.try_lock() {
            Ok(()) => file,
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut pid = std::fs::read_to_string(&path).unwrap_or_default();
                if pid.trim().is_empty() {
                    // The holder locks first and writes its pid just after.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    pid = std::fs::read_to_string(&path).unwrap_or_default();
                }
                self.emit(FromFollower::Waiting {
                    pid: pid.trim().to_string(),
                });
                let waiting = tokio::task::spawn_blocking(move || file.lock().map(|()| file));
                tokio::pin!(waiting);
                loop {
                    tokio::select! {
                        r = &mut waiting => match r {
                            Ok(Ok(f)) => break f,
                            Ok(Err(e)) => {
                                self.error(&format!("cannot take the push lock {}: {e}", path.display()), vec![]);
                                return None;
                            }
                            Err(_) => return None,
                        },
                        line = lines.next_line() => match line {
                            Ok(Some(l)) => {
                                if let Ok(ToFollower::Cancel(sig)) = serde_json::from_str::<ToFollower>(&l) {
                                    self.cancel_asked.store(true, Ordering::SeqCst);
                                    canceller.fire(sig);
                                    self.emit(FromFollower::Cancelled { not_sent: self.setup.plan.clone(), dropped: vec![] });
                                    return None;
                                }
                            }
                            // runmirrors is gone before anything was handed to us.
                            _ => return None,
                        },
                        _ = self.cancel.fired() => return None,
                    }
                }
            }
            Err(std::fs::TryLockError::Error(e)) => {
                self.error(
                    &format!("cannot take the push lock {}: {e}", path.display()),
                    vec![],
                );
                return None;
            }
        };
        let _ = file.set_len(0);
        let _ =
            std::io::Write::write_all(&mut &file, format!("{}\n", std::process::id()).as_bytes());
        Some(file)
    }

    fn settle_one(&self) {
        if let Ok(mut t) = self.tally.lock() {
            t.outstanding = t.outstanding.saturating_sub(1);
        }
        self.settled.notify_one();
    }

    fn not_sent(&self, job: &Job, st: &StageJob, mlog: &Logger, why: &str) {
        mlog.log(format!("{} trigger not sent: {why}", st.stage.label()));
        if let Ok(mut t) = self.tally.lock() {
            t.not_sent.push(job.name.clone());
        }
        let _ = self.state.send(StateChange::Sent(
            job.name.clone(),
            record(job, st, DownstreamOutcome::NotSent, state::now()),
        ));
    }

    /// Everything one mirror line asks for, as a task of its own.
    async fn job(self: Arc<Self>, job: Job) {
        let mlog = Logger::open(
            &self.setup.logdir.join(format!("{}.log", job.name)),
            &self.setup.program,
        );
        let mut settled = false;
        for (i, st) in job.stages.iter().enumerate() {
            let last = i + 1 == job.stages.len();
            if let Some(sig) = self.cancel.signal() {
                self.not_sent(
                    &job,
                    st,
                    &mlog,
                    &format!("the push was stopped by {}", process::signal_name(sig)),
                );
                break;
            }
            let (result, session, deadline) = match self.send(&job, st, &mlog).await {
                Some(r) => r,
                None => break,
            };
            if st.stage == Stage::Stage1 {
                // Stage 1 is done when its session ends: that is the downstream's stage 1.
                let result = if let Some(s) = session {
                    let (code, timed_out) = self.follow(&job, st, &mlog, s, deadline).await;
                    TriggerResult {
                        outcome: match code {
                            _ if timed_out => Outcome::TimedOut,
                            Some(c) => Outcome::Exited(c),
                            // Accepted, and ended with a status we could not learn.
                            None => Outcome::Accepted,
                        },
                        secs: since(deadline, self.setup.timeout),
                    }
                } else {
                    result
                };
                self.report(&job, st, &result);
                self.barrier.arrive(&job.name);
                let waited = tokio::select! {
                    complete = self.barrier.wait(Duration::from_secs(self.setup.pushdelay)) => Some(complete),
                    _ = self.cancel.fired() => None,
                };
                if waited == Some(false) {
                    self.report_missing();
                }
                continue;
            }
            self.report(&job, st, &result);
            if last {
                settled = true;
                self.settle_one();
            }
            if let Some(s) = session {
                self.follow(&job, st, &mlog, s, deadline).await;
            }
        }
        if !settled {
            self.settle_one();
        }
    }

    /// PUSHDELAY ran out before every staged mirror finished stage 1.
    fn report_missing(&self) {
        let missing = self.barrier.missing();
        self.log.log(format!(
            "Failed to wait for all other mirrors ({} of them missing), continuing",
            missing.len()
        ));
        if self.barrier.claim_report() {
            for m in &missing {
                self.error(
                    &format!(
                        "Missing stage1 of {m} after waiting for more than {} seconds, continuing",
                        self.setup.pushdelay
                    ),
                    vec![],
                );
            }
        }
    }

    /// Sends one stage's trigger: None when it was never sent (stopped first).
    async fn send(
        &self,
        job: &Job,
        st: &StageJob,
        mlog: &Logger,
    ) -> Option<(TriggerResult, Option<Session>, Instant)> {
        // PUSHCONCURRENCY, when set, bounds the connections being set up; a slot is free
        // again as soon as the downstream accepted.
        let _permit = match &self.sem {
            Some(sem) => tokio::select! {
                p = sem.acquire() => p.ok(),
                sig = self.cancel.fired() => {
                    self.not_sent(job, st, mlog, &format!("the push was stopped by {}", process::signal_name(sig)));
                    return None;
                }
            },
            None => None,
        };
        mlog.log(format!(
            "Sending {} trigger: {}",
            st.stage.label(),
            st.words.join(" ")
        ));
        let deadline = Instant::now() + Duration::from_secs(self.setup.timeout);
        let at = state::now();
        let (result, session) =
            trigger::send(&st.args, mlog, deadline, &self.cancel, &self.acceptance).await;
        let mut d = record(job, st, result.delivery(), at);
        d.exit_status = match result.outcome {
            Outcome::Exited(c) => Some(c),
            _ => None,
        };
        d.duration_seconds = round_ms(result.secs);
        let _ = self.state.send(StateChange::Sent(job.name.clone(), d));
        match &result.outcome {
            Outcome::Accepted => mlog.log(format!(
                "{} trigger accepted after {:.2} s",
                st.stage.label(),
                result.secs
            )),
            Outcome::Dropped(_) => {
                if let Ok(mut t) = self.tally.lock() {
                    t.dropped.push(job.name.clone());
                }
                mlog.log(format!(
                    "{} trigger: {}",
                    st.stage.label(),
                    result.describe()
                ));
            }
            _ => mlog.log(format!(
                "{} trigger: {}",
                st.stage.label(),
                result.describe()
            )),
        }
        Some((result, session, deadline))
    }

    /// runmirrors.log's line for a trigger, the error mail of a failed one, and the
    /// delivery report to runmirrors.
    fn report(&self, job: &Job, st: &StageJob, result: &TriggerResult) {
        let label = st.stage.label();
        if result.delivered() {
            self.log
                .log(format!("{label} trigger succeeded: {}", job.host));
        } else if !matches!(result.outcome, Outcome::Dropped(_)) {
            let why = match &result.outcome {
                Outcome::TimedOut => format!("timed out after {} s", self.setup.timeout),
                _ => result.describe(),
            };
            self.error(
                &format!("{label} trigger failed: {} ({why})", job.host),
                vec![],
            );
        }
        let d = Delivery {
            name: job.name.clone(),
            stage: st.stage,
            delivered: result.delivered(),
            describe: result.describe(),
        };
        if let Ok(mut t) = self.tally.lock() {
            t.deliveries.push(d.clone());
        }
        self.emit(FromFollower::Delivery(d));
    }

    /// Waits for an accepted session to end (the downstream's command finished), at most
    /// until `deadline`: its exit status, and whether it was killed for running too long.
    async fn follow(
        &self,
        job: &Job,
        st: &StageJob,
        mlog: &Logger,
        mut s: Session,
        deadline: Instant,
    ) -> (Option<i32>, bool) {
        let label = st.stage.label();
        let timeout = self.setup.timeout;
        let (code, timed_out) = tokio::select! {
            c = s.ended() => (c, false),
            _ = tokio::time::sleep_until(deadline.into()) => {
                s.stop().await;
                (None, true)
            }
        };
        let secs = since(deadline, timeout);
        let _ = self.state.send(StateChange::Finished {
            name: job.name.clone(),
            exit: code,
            secs,
            timed_out,
        });
        let mirror_log = self.setup.logdir.join(format!("{}.log", job.name));
        match (code, timed_out) {
            (_, true) => {
                mlog.log(format!("{label} trigger timed out after {secs:.0} s"));
                self.error(
                    &format!("{label} trigger timed out: {}", job.host),
                    vec![mirror_log],
                );
            }
            (Some(c), false) => {
                mlog.log(format!(
                    "{label} trigger finished: exit status {c} after {secs:.2} s"
                ));
                if c == 255 {
                    self.error(
                        &format!("{label} trigger failed: {}", job.host),
                        vec![mirror_log],
                    );
                }
            }
            (None, false) => mlog.log(format!(
                "{label} trigger finished after {secs:.2} s (exit status unknown)"
            )),
        }
        (code, timed_out)
    }

    /// The push phase is over: say so to runmirrors and record it.
    fn push_over(&self, started: i64, runmirrors_gone: bool) {
        let t = match self.tally.lock() {
            Ok(t) => t,
            Err(_) => return,
        };
        let never: Vec<String> = self
            .setup
            .plan
            .iter()
            .filter(|n| !t.handed.contains(*n))
            .cloned()
            .collect();
        let mut not_sent = t.not_sent.clone();
        not_sent.extend(never.iter().cloned());
        for n in &never {
            let _ = self.state.send(StateChange::NotSent(n.clone()));
        }
        if runmirrors_gone && !never.is_empty() {
            self.error(
                &format!(
                    "runmirrors ended before it handed over every trigger; not pushed: {} (the next push sends them)",
                    never.join(", ")
                ),
                vec![],
            );
        }
        let delivered = t.deliveries.iter().filter(|d| d.delivered).count() as u64;
        let interrupted = match self.cancel.signal() {
            Some(sig) => Some(process::signal_name(sig).to_string()),
            None if runmirrors_gone => Some("runmirrors ended early".to_string()),
            None => None,
        };
        let _ = self.state.send(StateChange::Push(state::PushRun {
            started,
            ended: state::now(),
            kind: self.setup.kind,
            from_ftpsync: self.setup.from_ftpsync,
            triggers: t.deliveries.len() as u64,
            delivered,
            failed: t.deliveries.len() as u64 - delivered,
            not_sent: not_sent.clone(),
            interrupted,
        }));
        if self.cancel.signal().is_some() {
            self.emit(FromFollower::Cancelled {
                not_sent,
                dropped: t.dropped.clone(),
            });
        } else {
            self.emit(FromFollower::Done);
        }
    }

    /// Waits until the mails, the state record and the events are out, then says goodbye.
    async fn finish(&self, code: u8) -> u8 {
        self.outbox.flush().await;
        let (tx, rx) = oneshot::channel();
        if self.state.send(StateChange::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
        let (tx, rx) = oneshot::channel();
        if self.events.send(Out::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
        let followed = self.tally.lock().map(|t| t.deliveries.len()).unwrap_or(0);
        self.log.log(format!(
            "push-follower done: {followed} triggers followed, CPU {} ms, peak RSS {} kB",
            system::cpu_time().as_millis(),
            system::peak_rss_kib().unwrap_or(0)
        ));
        code
    }
}

/// Seconds since a trigger started, from its deadline and PUSHTIMEOUT.
fn since(deadline: Instant, timeout: u64) -> f64 {
    deadline
        .checked_sub(Duration::from_secs(timeout))
        .map(|start| start.elapsed().as_secs_f64())
        .unwrap_or(0.0)
}
