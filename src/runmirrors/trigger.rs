//! Sending one trigger: ssh to the downstream, until it accepted the push (authenticated
//! us: accept.rs tells) or failed. ssh goes on as the downstream's own sync; the
//! [`Session`] handed back waits for its end.

use super::accept::{Acceptance, Watch};
use crate::common::kinds::DownstreamOutcome;
use crate::common::log::Logger;
use crate::common::process::{self, Cancel};
use crate::common::ssh::{self, SSH};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// ssh ended with this status before we learnt it was accepted: 255 is ssh's own
    /// failure; anything else came from the downstream.
    Exited(i32),
    /// The downstream authenticated us; the session runs on (or has ended since).
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

/// Runs `ssh ARGS` until the downstream accepted, ssh returned, `deadline` passed or
/// `cancel` fired; on acceptance also hands back the session, still running or just ended.
/// ssh's output goes to the mirror's log, as the original's `tee -a`.
pub async fn send(
    args: &[String],
    mirror_log: &Logger,
    deadline: Instant,
    cancel: &Cancel,
    acceptance: &Acceptance,
) -> (TriggerResult, Option<Session>) {
    let start = Instant::now();
    // A mirror line or SSH_OPTS with a LocalCommand of its own keeps it: that trigger is
    // known to be accepted only when its ssh returns.
    let watch = if ssh::sets_local_command(args) {
        None
    } else {
        match acceptance.watch() {
            Ok(w) => Some(w),
            Err(e) => {
                mirror_log.log(format!(
                    "cannot watch for the downstream's acceptance (the trigger counts once ssh returns): {e}"
                ));
                None
            }
        }
    };
    let mut cmd = Command::new(SSH);
    if let Some(w) = &watch {
        cmd.args(ssh::on_accept(w.path()));
        // The LocalCommand's shell: a plain one, without the login shell's start-up files.
        cmd.env("SHELL", "/bin/sh");
    }
    // Its own process group: stopping it also stops a ProxyCommand it started.
    cmd.args(args).stdin(Stdio::null()).process_group(0);
    if let Err(e) = process::output_to(&mut cmd, mirror_log.path()) {
        mirror_log.log(format!("cannot send ssh's output to this log: {e}"));
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let r = TriggerResult {
                outcome: Outcome::Failed(format!("cannot run {SSH}: {e}")),
                secs: start.elapsed().as_secs_f64(),
            };
            return (r, None);
        }
    };
    let pid = child.id().unwrap_or(0);
    let accepted = async {
        match &watch {
            Some(w) => w.accepted().await,
            None => std::future::pending().await,
        }
    };
    let outcome = tokio::select! {
        biased;
        r = accepted => match r {
            Ok(()) => Outcome::Accepted,
            Err(e) => {
                process::stop_group(&mut child, pid, STOP_GRACE).await;
                Outcome::Failed(format!("lost the watch for acceptance: {e}"))
            }
        },
        st = child.wait() => match st {
            // A session that ended at once was accepted all the same, when it said so.
            Ok(_) if watch.as_ref().is_some_and(Watch::signalled) => Outcome::Accepted,
            Ok(st) => Outcome::Exited(process::shell_code(&st)),
            Err(e) => Outcome::Failed(e.to_string()),
        },
        _ = tokio::time::sleep_until(deadline.into()) => {
            process::stop_group(&mut child, pid, STOP_GRACE).await;
            Outcome::TimedOut
        }
        sig = cancel.fired() => {
            process::stop_group(&mut child, pid, STOP_GRACE).await;
            Outcome::Dropped(sig)
        }
    };
    let session = match outcome {
        Outcome::Accepted => Some(Session { child, pid }),
        _ => None,
    };
    let r = TriggerResult {
        outcome,
        secs: start.elapsed().as_secs_f64(),
    };
    (r, session)
}

/// An accepted trigger's ssh, carrying the downstream's sync: our child until it ends.
pub struct Session {
    child: Child,
    pid: u32,
}

impl Session {
    /// Waits for the end: the exit status as a shell reports it (the downstream command's,
    /// or 255 for ssh's own failure), None when it could not be learnt.
    pub async fn ended(&mut self) -> Option<i32> {
        self.child
            .wait()
            .await
            .ok()
            .map(|st| process::shell_code(&st))
    }

    /// Stops the session (it ran past PUSHTIMEOUT): SIGTERM to its process group, SIGKILL
    /// after a grace period.
    pub async fn stop(&mut self) {
        process::stop_group(&mut self.child, self.pid, STOP_GRACE).await;
    }
}

/// A trigger's ssh gets this long between SIGTERM to its group and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

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
