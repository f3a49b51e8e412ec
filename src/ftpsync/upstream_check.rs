//! The empty-upstream rail: the question whether the upstream still has its master trace,
//! asked while stage 1 runs and judged before stage 2 (see README, Threat model).

use super::run::{Run, Stop, CHECK_MARGIN_SECS, MASTER_TRACE};
use crate::common::process;
use crate::common::rsync;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// How the upstream check ended.
enum CheckEnd {
    Answered(std::process::Output),
    /// Killed at its deadline.
    TimedOut(Duration),
}

/// The upstream master-trace question, asked while stage 1 runs. Dropping it (the run ended
/// before the answer was judged) kills the check at once: no child outlives its run.
pub(super) struct UpstreamCheck {
    source: String,
    prog: String,
    pid: Option<u32>,
    task: tokio::task::JoinHandle<std::io::Result<CheckEnd>>,
}

impl Drop for UpstreamCheck {
    fn drop(&mut self) {
        // Not finished means not reaped (the task ends in the poll that reaps the child, and
        // nothing else runs on this single-threaded runtime meanwhile): the pid is still it.
        if !self.task.is_finished() {
            if let Some(pid) = self.pid {
                process::kill_group(pid, libc::SIGKILL);
            }
        }
        self.task.abort();
    }
}

impl Run {
    /// The classic accident: an upstream that lost its tree (or its master trace), which stage
    /// 2's `--delete` would faithfully copy, wiping ours. If we have `project/trace/master`,
    /// ask the upstream whether it still has it (`rsync --list-only`). The question is asked
    /// while stage 1 runs, so it costs no wall time; its answer is judged before stage 2.
    /// ALLOW_EMPTY_UPSTREAM=true turns it off.
    pub(super) fn start_upstream_check(&self) -> Option<UpstreamCheck> {
        if !self.upstream_check_wanted() {
            return None;
        }
        let s = &self.s;
        let source = &s.rsync_source;
        let target = if source.ends_with('/') {
            format!("{source}{MASTER_TRACE}")
        } else {
            format!("{source}/{MASTER_TRACE}")
        };
        let words = rsync::probe_words(
            &s.rsync,
            &s.rsync_extra,
            s.check_timeout,
            &s.transport,
            rsync::Probe::ListOnly { source: &target },
        );
        self.log
            .log(format!("Checking the upstream: {}", rsync::display(&words)));
        let mut cmd = Command::from(rsync::command(&words, &s.rsync_env())?);
        let prog = words.first().cloned().unwrap_or_default();
        cmd.stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        // Tied to us like the stages' rsync (a SIGKILLed ftpsync takes it along), and with
        // a hard deadline of its own, counted from now.
        process::tie_to_us(cmd.as_std_mut());
        let limit = Duration::from_secs(s.check_timeout.max(1) + CHECK_MARGIN_SECS);
        let child = cmd.spawn();
        let pid = child.as_ref().ok().and_then(|c| c.id());
        let task = tokio::spawn(async move {
            let child = child?;
            let pid = child.id();
            let mut waiting = Box::pin(child.wait_with_output());
            tokio::select! {
                out = &mut waiting => out.map(CheckEnd::Answered),
                _ = tokio::time::sleep(limit) => {
                    // Still unreaped (its wait is pending): the group is still its own.
                    if let Some(pid) = pid {
                        process::kill_group(pid, libc::SIGKILL);
                    }
                    Ok(CheckEnd::TimedOut(limit))
                }
            }
        });
        Some(UpstreamCheck {
            source: source.clone(),
            prog: prog.clone(),
            pid,
            task,
        })
    }

    fn upstream_check_wanted(&self) -> bool {
        let s = &self.s;
        !s.dry_run && !s.allow_empty_upstream && self.path(MASTER_TRACE).is_file()
    }

    /// Judge the answer (starting the question now if it was not asked yet, unless the
    /// journal fetch of this pass answered it): refuse stage 2 (exit 4, tree untouched) when
    /// the upstream says the master trace does not exist.
    pub(super) async fn judge_upstream_check(
        &self,
        pending: Option<UpstreamCheck>,
    ) -> Result<(), Stop> {
        let s = &self.s;
        let fetched = self.journal.borrow_mut().upstream_master.take();
        if let (None, Some(has), true) = (&pending, fetched, self.upstream_check_wanted()) {
            self.log.log(format!(
                "Checked the upstream with the journal fetch: it has {}{MASTER_TRACE}",
                if has { "" } else { "no " }
            ));
            return if has {
                Ok(())
            } else {
                Err(self.refuse_empty_upstream(&s.rsync_source))
            };
        }
        let Some(mut check) = pending.or_else(|| self.start_upstream_check()) else {
            return Ok(());
        };
        let prog = check.prog.clone();
        // Bounded: the check is killed at its own deadline (start_upstream_check).
        let out = tokio::select! {
            out = &mut check.task => out,
            sig = self.cancel.fired() => return Err(self.interrupted(sig)),
        };
        let out = match out {
            Ok(Ok(CheckEnd::Answered(out))) => out,
            Ok(Ok(CheckEnd::TimedOut(limit))) => {
                self.log.log(format!(
                    "Checking the upstream's {MASTER_TRACE} took longer than {}s and was stopped; going on with stage2",
                    limit.as_secs()
                ));
                return Ok(());
            }
            Ok(Err(e)) => {
                self.log.log(format!(
                    "Cannot check the upstream's {MASTER_TRACE} ({prog}: {e}); going on with stage2"
                ));
                return Ok(());
            }
            Err(e) => {
                self.log.log(format!(
                    "Cannot check the upstream's {MASTER_TRACE} ({e}); going on with stage2"
                ));
                return Ok(());
            }
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !stderr.trim().is_empty() {
            let _ = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&s.log_rsync_error)
                .and_then(|mut f| std::io::Write::write_all(&mut f, stderr.as_bytes()));
        }
        let code = process::shell_code(&out.status);
        if code == 0 {
            return Ok(());
        }
        if code == 23 && stderr.contains("No such file or directory") {
            return Err(self.refuse_empty_upstream(&check.source));
        }
        self.log.log(format!(
            "Cannot check the upstream's {MASTER_TRACE} (rsync exit {code}); going on with stage2"
        ));
        Ok(())
    }

    fn refuse_empty_upstream(&self, source: &str) -> Stop {
        self.error(&format!(
            "Upstream {source} has no {MASTER_TRACE} but our mirror has one: the upstream looks empty or broken, and stage2 (rsync --delete) would wipe our tree. Refusing stage2, nothing was deleted. Set ALLOW_EMPTY_UPSTREAM=true in {} to sync anyway",
            self.s.core.config_path.display()
        ));
        Stop(4)
    }
}
