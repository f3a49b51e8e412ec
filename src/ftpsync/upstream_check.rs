//! The empty-upstream rail: the question whether the upstream still has its master trace,
//! asked while stage 1 runs and judged before stage 2 (see README, Threat model).

use super::run::{Run, Stop, CHECK_MARGIN_SECS, MASTER_TRACE};
use crate::common::process::{self, Outcome};
use crate::common::rsync;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// The upstream master-trace question, asked while stage 1 runs, through
/// [`process::run_tied_within`] (tied to us, with a deadline). Dropping it (the run ended
/// before the answer was judged) stops the check: no child outlives its run.
pub(super) struct UpstreamCheck {
    source: String,
    prog: String,
    /// Where its stderr goes.
    err_file: PathBuf,
    stop: process::Canceller,
    task: tokio::task::JoinHandle<std::io::Result<Outcome>>,
}

impl Drop for UpstreamCheck {
    fn drop(&mut self) {
        // run_within stops the child's group; should the runtime end first, kill_on_drop
        // and the parent-death signal still take the child along.
        self.stop.fire(libc::SIGTERM);
        let _ = std::fs::remove_file(&self.err_file);
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
        // A file of its own: stage 1's rsync writes LOG_RSYNC_ERROR meanwhile, and what this
        // check says must not be mistaken for that (or the other way round). Appended to
        // LOG_RSYNC_ERROR once judged.
        let mut err_file = s.log_rsync_error.clone().into_os_string();
        err_file.push(".upstream-check");
        let err_file = PathBuf::from(err_file);
        let _ = std::fs::remove_file(&err_file);
        if let Err(e) = process::output_to(&mut cmd, &err_file) {
            self.log.log(format!(
                "cannot open {} for the upstream check's errors: {e}",
                err_file.display()
            ));
        }
        cmd.stdout(Stdio::null());
        let limit = Duration::from_secs(s.check_timeout.max(1) + CHECK_MARGIN_SECS);
        let (stop, stopped) = process::Cancel::manual();
        let task =
            tokio::spawn(async move { process::run_tied_within(cmd, &stopped, Some(limit)).await });
        Some(UpstreamCheck {
            source: source.clone(),
            prog,
            err_file,
            stop,
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
        let status = match out {
            Ok(Ok(Outcome::Exited(status))) => status,
            Ok(Ok(Outcome::TimedOut(limit))) => {
                self.log.log(format!(
                    "Checking the upstream's {MASTER_TRACE} took longer than {}s and was stopped; going on with stage2",
                    limit.as_secs()
                ));
                return Ok(());
            }
            // Only its own canceller, fired when the check is dropped, interrupts it.
            Ok(Ok(Outcome::Interrupted(_))) => return Ok(()),
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
        let stderr = take_errors(&check.err_file, &s.log_rsync_error);
        let code = process::shell_code(&status);
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

/// What the check wrote to `path`, which is then removed, its text appended to `log` (the
/// rsync error log, where the stages' errors are).
fn take_errors(path: &Path, log: &Path) -> String {
    let data = std::fs::read(path).unwrap_or_default();
    let _ = std::fs::remove_file(path);
    if !data.iter().all(u8::is_ascii_whitespace) {
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &data));
    }
    String::from_utf8_lossy(&data).into_owned()
}
