//! One runmirrors run, the side that reads the mirror list: hooks, DELAY lines, the order
//! of the triggers, and the summary. The triggers themselves are sent and followed by the
//! push follower (follower.rs), a process of its own that survives us; this side hands it
//! each trigger, waits until every one was delivered or failed, and returns.

use super::protocol::{self, Delivery, FromFollower, Setup, ToFollower};
use crate::common::hooks::{self, HookResult};
use crate::common::kinds::{PushKind, Stage};
use crate::common::log::Logger;
use crate::common::mail::Outbox;
use crate::common::process::{self, Cancel};
use crate::common::system;
use crate::settings::mirrorlist::Entry;
use crate::settings::push::{job, Job, PushSettings};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, Command};
use tokio::sync::mpsc;

pub struct Pusher {
    pub s: Arc<PushSettings>,
    pub kind: PushKind,
    pub from_ftpsync: bool,
    pub log: Arc<Logger>,
    pub cancel: Cancel,
    pub outbox: Arc<Outbox>,
}

/// runmirrors' end of the conversation with its follower.
struct Link {
    pid: u32,
    stdin: ChildStdin,
    events: mpsc::UnboundedReceiver<FromFollower>,
    deliveries: Vec<Delivery>,
    barrier_open: bool,
}

impl Link {
    async fn start(s: &PushSettings, setup: Setup) -> std::io::Result<Link> {
        let exe = std::env::current_exe()?;
        let mut cmd = Command::new(exe);
        cmd.arg("push-follower")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        // Its own complaints (it logs everything else itself) go to runmirrors.log. No
        // descriptor of ours may stay open in it: under sshd, an inherited one would keep
        // our upstream's ssh session open until the last downstream's sync ended.
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&s.core.log)
        {
            Ok(f) => cmd.stderr(f),
            Err(_) => cmd.stderr(Stdio::null()),
        };
        system::new_session_on_spawn(&mut cmd);
        let mut child = cmd.spawn()?;
        let pid = child.id().unwrap_or(0);
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(std::io::Error::other("no pipes to the follower"));
        };
        // The follower outlives us by design: the handle is let go, not killed. While we
        // run, tokio reaps it should it end.
        drop(child);
        stdin
            .write_all(protocol::line(&ToFollower::Setup(Box::new(setup))).as_bytes())
            .await?;
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                if let Ok(ev) = serde_json::from_str::<FromFollower>(&l) {
                    if tx.send(ev).is_err() {
                        break;
                    }
                }
            }
        });
        Ok(Link {
            pid,
            stdin,
            events,
            deliveries: Vec::new(),
            barrier_open: false,
        })
    }

    async fn send(&mut self, msg: &ToFollower) -> std::io::Result<()> {
        self.stdin.write_all(protocol::line(msg).as_bytes()).await
    }

    /// The next event, with deliveries and the barrier noted; None once the follower is gone.
    async fn next(&mut self) -> Option<FromFollower> {
        let ev = self.events.recv().await?;
        match &ev {
            FromFollower::Delivery(d) => self.deliveries.push(d.clone()),
            FromFollower::Barrier { .. } => self.barrier_open = true,
            _ => {}
        }
        Some(ev)
    }
}

impl Pusher {
    /// Log and mail a one-line error report (the original's `error`), without waiting for
    /// sendmail.
    pub fn error(&self, msg: &str) {
        error(&self.s, &self.log, &self.outbox, msg);
    }

    /// Runs the push; the exit status (0, or 128+N when stopped by signal N).
    pub async fn run(&self, entries: Vec<Entry>) -> u8 {
        self.log.log(format!(
            "Pushing leaf mirrors. Inside ftpsync: {}. Pushkind: {}",
            self.from_ftpsync,
            self.kind.as_str()
        ));
        let mut link = None;
        let outcome = {
            let body = self.body(&entries, &mut link);
            tokio::pin!(body);
            tokio::select! {
                r = &mut body => r,
                sig = self.cancel.fired() => Err(sig),
            }
        };
        match outcome {
            Ok(()) => {
                if let Some(l) = &link {
                    self.summary(&l.deliveries);
                }
                self.hook(3).await;
                self.log.log("Mirrorpush done");
                0
            }
            Err(sig) => {
                if let Some(l) = &mut link {
                    self.interrupt(l, sig).await;
                } else {
                    self.log.log(format!(
                        "Interrupted by {}, stopping",
                        process::signal_name(sig)
                    ));
                }
                self.log.log("Mirrorpush done");
                128 + sig as u8
            }
        }
    }

    async fn body(&self, entries: &[Entry], link: &mut Option<Link>) -> Result<(), i32> {
        self.hook(1).await;
        let jobs: Vec<Option<Job>> = entries
            .iter()
            .map(|e| match e {
                Entry::Mirror(t) => job(t, &self.s, self.kind, self.from_ftpsync),
                _ => None,
            })
            .collect();
        let plan: Vec<String> = jobs.iter().flatten().map(|j| j.name.clone()).collect();
        let staged: Vec<String> = jobs
            .iter()
            .flatten()
            .filter(|j| j.stages.iter().any(|st| st.stage == Stage::Stage1))
            .map(|j| j.name.clone())
            .collect();
        if !plan.is_empty() {
            *link = self.start_follower(plan, staged).await;
            if link.is_none() {
                return Ok(());
            }
        }
        for (entry, job) in entries.iter().zip(jobs) {
            match entry {
                Entry::Delay {
                    seconds,
                    stage1: false,
                    ..
                } => {
                    self.log
                        .log(format!("Delay of {seconds} requested, sleeping"));
                    self.cancel.sleep(Duration::from_secs(*seconds)).await?;
                }
                Entry::Delay {
                    seconds,
                    stage1: true,
                    ..
                } => {
                    self.log.log(format!(
                        "Delay of {seconds} or until staging is finished requested"
                    ));
                    if self.staged_delay(link.as_mut(), *seconds).await {
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
                Entry::Mirror(_) => {
                    let (Some(job), Some(l)) = (job, link.as_mut()) else {
                        continue;
                    };
                    self.log.log(format!("Trigger {}", job.name));
                    let name = job.name.clone();
                    if let Err(e) = l.send(&ToFollower::Trigger(job)).await {
                        self.error(&format!(
                            "the push follower is gone ({e}): {name} was not pushed"
                        ));
                        continue;
                    }
                    self.log.log(format!("Trigger for {name} done"));
                    self.hook(2).await;
                }
            }
        }
        let Some(l) = link.as_mut() else {
            return Ok(());
        };
        let _ = l.send(&ToFollower::End).await;
        loop {
            match l.next().await {
                Some(FromFollower::Done) => return Ok(()),
                Some(_) => {}
                None => {
                    self.error("the push follower ended before every trigger was delivered; see runmirrors.log");
                    return Ok(());
                }
            }
        }
    }

    /// Starts the follower and waits until it holds the push lock.
    async fn start_follower(&self, plan: Vec<String>, staged: Vec<String>) -> Option<Link> {
        let s = &self.s;
        let setup = Setup {
            program: s.core.program.clone(),
            log: s.core.log.clone(),
            logdir: s.core.logdir.clone(),
            lock: s.core.lockdir.join(format!("{}.lock", s.core.name)),
            state: s.state_path(),
            history: Some(s.history_path()),
            history_days: s.history.days,
            history_entries: s.history.entries,
            mailto: s.core.mailto.clone(),
            sendmail: s.core.sendmail.clone(),
            mail_timeout: s.core.mail_timeout.as_secs(),
            timeout: s.timeout,
            pushdelay: s.pushdelay,
            concurrency: s.concurrency,
            kind: self.kind,
            from_ftpsync: self.from_ftpsync,
            plan,
            staged,
        };
        let lock = setup.lock.clone();
        let mut link = match Link::start(s, setup).await {
            Ok(l) => l,
            Err(e) => {
                self.error(&format!(
                    "cannot start the push follower: {e}; nothing was pushed"
                ));
                return None;
            }
        };
        self.log.log(format!(
            "Follower {} sends and follows the triggers of this push",
            link.pid
        ));
        loop {
            match link.next().await {
                Some(FromFollower::Ready) => return Some(link),
                Some(FromFollower::Waiting { pid }) => self.log.log(format!(
                    "Another push of {} is under way (pid {pid}, lock {}): waiting for it to finish",
                    s.core.name,
                    lock.display()
                )),
                Some(_) => {}
                None => {
                    self.error("the push follower ended before it was ready; see runmirrors.log");
                    return None;
                }
            }
        }
    }

    /// `DELAY N stage1`: wait at most N seconds for the staged mirrors' stage 1. True when
    /// they all finished.
    async fn staged_delay(&self, link: Option<&mut Link>, seconds: u64) -> bool {
        let Some(l) = link else {
            return true;
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        let mut timed_out = false;
        while !l.barrier_open {
            tokio::select! {
                ev = l.next() => {
                    if ev.is_none() {
                        return false;
                    }
                }
                _ = tokio::time::sleep_until(deadline), if !timed_out => {
                    // As in the original, one waiter's timeout opens the barrier for all.
                    timed_out = true;
                    let _ = l.send(&ToFollower::OpenBarrier).await;
                }
            }
        }
        !timed_out
    }

    /// We got `sig`: the follower sends nothing more and drops connections being set up;
    /// accepted sessions are the downstreams' own syncs and it follows them on.
    async fn interrupt(&self, l: &mut Link, sig: i32) {
        let _ = l.send(&ToFollower::Cancel(sig)).await;
        let answer = tokio::time::timeout(Duration::from_millis(1500), async {
            loop {
                match l.next().await {
                    Some(FromFollower::Cancelled { not_sent, dropped }) => {
                        return Some((not_sent, dropped))
                    }
                    Some(_) => {}
                    None => return None,
                }
            }
        })
        .await
        .ok()
        .flatten();
        let name = process::signal_name(sig);
        match answer {
            Some((not_sent, dropped)) => {
                let list = |v: &[String]| {
                    if v.is_empty() {
                        "none".to_string()
                    } else {
                        v.join(", ")
                    }
                };
                self.error(&format!(
                    "Interrupted by {name}, stopping: not sent: {}; dropped while connecting: {}; accepted triggers are followed to their end by the follower",
                    list(&not_sent),
                    list(&dropped)
                ));
            }
            None => self.error(&format!(
                "Interrupted by {name}, stopping; the follower did not confirm in time (see runmirrors.log)"
            )),
        }
    }

    async fn hook(&self, nr: u8) {
        let cmd = self.s.hooks[usize::from(nr - 1)].as_deref();
        if let HookResult::Failed(rc) = hooks::run_hook(nr, cmd, &self.log, &self.cancel).await {
            self.error(&format!("Back from hook {nr}, got returncode {rc}"));
        }
    }

    fn summary(&self, deliveries: &[Delivery]) {
        let failed: Vec<String> = deliveries
            .iter()
            .filter(|d| !d.delivered)
            .map(|d| format!("{} ({}: {})", d.name, d.stage.label(), d.describe))
            .collect();
        self.log.log(format!(
            "Summary: {} triggers sent, {} delivered, {} failed{}{}",
            deliveries.len(),
            deliveries.len() - failed.len(),
            failed.len(),
            if failed.is_empty() { "" } else { ": " },
            failed.join(", ")
        ));
    }
}

/// Log and mail a one-line error report (the original's `error`).
pub fn error(s: &PushSettings, log: &Arc<Logger>, outbox: &Outbox, msg: &str) {
    outbox.error(log, &s.core.program, &s.core.mailto, msg, vec![]);
}
