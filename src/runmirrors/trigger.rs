//! Sending one trigger: `ssh -f` to the downstream, until it accepted the push (ssh
//! authenticated and went to the background) or failed. The session that goes on is then
//! the downstream's own sync; orphans.rs finds it and tells when it ends.

use super::orphans::{Orphans, Session};
use crate::common::kinds::DownstreamOutcome;
use crate::common::log::Logger;
use crate::common::process::{self, Cancel};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::Command;

pub const SSH: &str = "ssh";

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// ssh ended with this status before going to the background: 255 is ssh's own
    /// failure; anything else came from the downstream.
    Exited(i32),
    /// The downstream authenticated us and the session runs in the background.
    Accepted,
    TimedOut,
    Failed(String),
    /// We were stopped by this signal while the connection was being set up.
    Dropped(i32),
}

#[derive(Debug, Clone)]
pub struct TriggerResult {
    pub outcome: Outcome,
    pub secs: f64,
}

impl TriggerResult {
    /// The push reached the downstream. Any exit status but ssh's own 255 counts: a
    /// downstream that answers "lock held" (1) has queued the push.
    pub fn delivered(&self) -> bool {
        matches!(self.outcome, Outcome::Accepted)
            || matches!(self.outcome, Outcome::Exited(c) if c != 255)
    }

    pub fn describe(&self) -> String {
        match &self.outcome {
            Outcome::Exited(c) => format!("exit status {c} after {:.2} s", self.secs),
            Outcome::Accepted => format!("accepted after {:.2} s", self.secs),
            Outcome::TimedOut => format!("timed out after {:.0} s", self.secs),
            Outcome::Failed(e) => format!("could not run: {e}"),
            Outcome::Dropped(s) => format!("dropped while connecting (signal {s})"),
        }
    }

    /// The name of the outcome in the state record and `status --json`.
    pub fn delivery(&self) -> DownstreamOutcome {
        match self.outcome {
            Outcome::Exited(255) | Outcome::Failed(_) => DownstreamOutcome::Failed,
            Outcome::Exited(_) => DownstreamOutcome::Delivered,
            Outcome::Accepted => DownstreamOutcome::Accepted,
            Outcome::TimedOut => DownstreamOutcome::Timeout,
            Outcome::Dropped(_) => DownstreamOutcome::Dropped,
        }
    }
}

/// Runs `ssh ARGS` (which carry `-f`) until it returns, `deadline` passes or `cancel`
/// fires; on acceptance also hands back the backgrounded session, if it can be found.
/// ssh's output goes to the mirror's log, as the original's `tee -a`.
pub async fn send(
    args: &[String],
    mirror_log: &Logger,
    deadline: Instant,
    cancel: &Cancel,
    orphans: &Orphans,
) -> (TriggerResult, Option<Session>) {
    let start = Instant::now();
    let program = orphans.program(SSH);
    let mut cmd = Command::new(&program.path);
    cmd.arg0(SSH);
    // Its own process group: stopping it also stops a ProxyCommand it started. The
    // backgrounded half leaves the group (daemon(3) makes a new session).
    cmd.args(args).stdin(Stdio::null()).process_group(0);
    if let Err(e) = process::output_to(&mut cmd, mirror_log.path()) {
        mirror_log.log(format!("cannot send ssh's output to this log: {e}"));
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            orphans.done_with(&program);
            let r = TriggerResult {
                outcome: Outcome::Failed(format!("cannot run {SSH}: {e}")),
                secs: start.elapsed().as_secs_f64(),
            };
            return (r, None);
        }
    };
    let pid = child.id().unwrap_or(0);
    orphans.started(pid);
    let outcome = tokio::select! {
        st = child.wait() => match st {
            Ok(st) => match process::shell_code(&st) {
                0 => Outcome::Accepted,
                c => Outcome::Exited(c),
            },
            Err(e) => Outcome::Failed(e.to_string()),
        },
        _ = tokio::time::sleep_until(deadline.into()) => {
            stop(&mut child, pid).await;
            Outcome::TimedOut
        }
        sig = cancel.fired() => {
            stop(&mut child, pid).await;
            Outcome::Dropped(sig)
        }
    };
    orphans.reaped(pid);
    orphans.done_with(&program);
    let session = match outcome {
        Outcome::Accepted => orphans.claim(&program, args),
        _ => None,
    };
    let r = TriggerResult {
        outcome,
        secs: start.elapsed().as_secs_f64(),
    };
    (r, session)
}

async fn stop(child: &mut tokio::process::Child, pid: u32) {
    process::kill_group(pid, libc::SIGTERM);
    if tokio::time::timeout(Duration::from_secs(2), child.wait())
        .await
        .is_err()
    {
        process::kill_group(pid, libc::SIGKILL);
        let _ = child.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_means_reached_the_downstream() {
        let r = |outcome| TriggerResult { outcome, secs: 0.0 };
        assert!(r(Outcome::Exited(0)).delivered());
        assert!(r(Outcome::Exited(1)).delivered());
        assert!(r(Outcome::Accepted).delivered());
        assert!(!r(Outcome::Exited(255)).delivered());
        assert!(!r(Outcome::TimedOut).delivered());
        assert!(!r(Outcome::Dropped(15)).delivered());
        assert_eq!(
            r(Outcome::Exited(255)).delivery(),
            DownstreamOutcome::Failed
        );
        assert_eq!(
            r(Outcome::Dropped(15)).delivery(),
            DownstreamOutcome::Dropped
        );
    }
}
