//! Running one trigger: ssh to the downstream, either waited for (a stage 1, whose end is
//! the downstream's stage 1 being done) or detached (handed to a supervisor process that
//! returns as soon as the downstream accepted the push, see supervisor.rs).

use crate::common::log::Logger;
use crate::common::process::{self, Cancel};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;
use tokio::process::Command;

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// ssh ended with this status (the remote command's, or 255 for ssh's own failure).
    Exited(i32),
    /// The downstream authenticated us and started its command; a supervisor follows it.
    Accepted,
    TimedOut,
    Failed(String),
    Interrupted(i32),
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
            Outcome::Interrupted(s) => format!("interrupted by signal {s}"),
        }
    }
}

pub const SSH: &str = "ssh";

/// Run ssh and wait for it, at most `timeout`.
pub async fn waited(
    ssh_args: &[String],
    mirror_log: &Logger,
    timeout: Duration,
    cancel: &Cancel,
) -> TriggerResult {
    let start = Instant::now();
    let mut cmd = Command::new(SSH);
    cmd.args(ssh_args).stdin(Stdio::null());
    if let Err(e) = process::output_to(&mut cmd, mirror_log.path()) {
        mirror_log.log(format!("cannot send ssh's output to this log: {e}"));
    }
    let outcome = match tokio::time::timeout(timeout, process::run(cmd, cancel)).await {
        Ok(Ok(process::Outcome::Exited(st))) => Outcome::Exited(process::shell_code(&st)),
        Ok(Ok(process::Outcome::Interrupted(sig))) => Outcome::Interrupted(sig),
        Ok(Err(e)) => Outcome::Failed(e.to_string()),
        // Dropping the future kills ssh (kill_on_drop).
        Err(_) => Outcome::TimedOut,
    };
    TriggerResult {
        outcome,
        secs: start.elapsed().as_secs_f64(),
    }
}

/// What the supervisor needs besides ssh's arguments.
pub struct DetachOptions<'a> {
    pub mirror_log: &'a Path,
    pub label: &'a str,
    pub program: &'a str,
    pub timeout: Duration,
    pub mailto: &'a [String],
    pub sendmail: &'a Path,
    /// Where the supervisor records the final outcome, and under which downstream name.
    pub state: &'a Path,
    pub name: &'a str,
}

/// Start a supervisor (this binary, `push-trigger`) in its own session and wait only for
/// its first line: accepted, or how it failed. The supervisor outlives us and records the
/// trigger's final outcome in the mirror's log.
pub async fn detached(ssh_args: &[String], o: &DetachOptions<'_>) -> TriggerResult {
    let start = Instant::now();
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            return TriggerResult {
                outcome: Outcome::Failed(format!("cannot find our own binary: {e}")),
                secs: 0.0,
            }
        }
    };
    let mut cmd = Command::new(exe);
    cmd.arg("push-trigger")
        .arg("--log")
        .arg(o.mirror_log)
        .arg("--label")
        .arg(o.label)
        .arg("--program")
        .arg(o.program)
        .arg("--timeout")
        .arg(o.timeout.as_secs().to_string())
        .arg("--sendmail")
        .arg(o.sendmail)
        .arg("--state")
        .arg(o.state)
        .arg("--name")
        .arg(o.name);
    for m in o.mailto {
        cmd.arg("--mailto").arg(m);
    }
    cmd.arg("--").args(ssh_args);
    // No descriptor of ours may stay open in the supervisor: under sshd, an inherited pipe
    // would keep our upstream's ssh session open until the downstream's sync ends.
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(o.mirror_log)
    {
        Ok(f) => {
            cmd.stderr(f);
        }
        Err(_) => {
            cmd.stderr(Stdio::null());
        }
    }
    // SAFETY: setsid() is async-signal-safe; it detaches the supervisor from our session
    // and process group so that signals meant for us do not reach it.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return TriggerResult {
                outcome: Outcome::Failed(format!("cannot start the supervisor: {e}")),
                secs: start.elapsed().as_secs_f64(),
            }
        }
    };
    let Some(stdout) = child.stdout.take() else {
        return TriggerResult {
            outcome: Outcome::Failed("no pipe to the supervisor".into()),
            secs: start.elapsed().as_secs_f64(),
        };
    };
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(stdout);
    // The supervisor enforces the timeout itself; the margin only guards against it hanging.
    let read = tokio::time::timeout(
        o.timeout + Duration::from_secs(10),
        reader.read_line(&mut line),
    )
    .await;
    let secs = start.elapsed().as_secs_f64();
    let outcome = match read {
        Ok(Ok(n)) if n > 0 => parse_report(&line),
        Ok(_) => Outcome::Failed("the supervisor ended without a report".into()),
        Err(_) => Outcome::TimedOut,
    };
    // A supervisor that answered quickly (failure) is reaped now; one that goes on with
    // the session is left to run: the child handle is dropped, not killed.
    if !matches!(outcome, Outcome::Accepted) {
        let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    }
    TriggerResult { outcome, secs }
}

/// The supervisor's one-line report on its stdout.
pub fn report_line(o: &Outcome) -> String {
    match o {
        Outcome::Accepted => "accepted\n".into(),
        Outcome::Exited(c) => format!("exit {c}\n"),
        Outcome::TimedOut => "timeout\n".into(),
        Outcome::Failed(e) => format!("failed {}\n", e.replace('\n', " ")),
        Outcome::Interrupted(s) => format!("signal {s}\n"),
    }
}

fn parse_report(line: &str) -> Outcome {
    let line = line.trim_end();
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    match word {
        "accepted" => Outcome::Accepted,
        "exit" => rest
            .parse()
            .map(Outcome::Exited)
            .unwrap_or(Outcome::Failed(line.into())),
        "timeout" => Outcome::TimedOut,
        "signal" => rest
            .parse()
            .map(Outcome::Interrupted)
            .unwrap_or(Outcome::Failed(line.into())),
        _ => Outcome::Failed(rest.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip() {
        for o in [
            Outcome::Accepted,
            Outcome::Exited(255),
            Outcome::TimedOut,
            Outcome::Failed("no ssh".into()),
            Outcome::Interrupted(15),
        ] {
            assert_eq!(parse_report(&report_line(&o)), o);
        }
    }

    #[test]
    fn delivered_means_reached_the_downstream() {
        let r = |outcome| TriggerResult { outcome, secs: 0.0 };
        assert!(r(Outcome::Exited(0)).delivered());
        assert!(r(Outcome::Exited(1)).delivered());
        assert!(r(Outcome::Accepted).delivered());
        assert!(!r(Outcome::Exited(255)).delivered());
        assert!(!r(Outcome::TimedOut).delivered());
    }
}
