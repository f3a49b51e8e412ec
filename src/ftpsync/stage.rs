//! One rsync stage: run it (tied to the run, its output to LOG_RSYNC_ERROR, a progress
//! line when asked), and judge its exit code as the original's check_rsync did, with
//! rsync's own last words in the failure's message.

use super::run::{Run, Stop};
use crate::common::process::{self, Outcome};
use crate::common::rsync::{self, Verdict};
use std::path::Path;
use tokio::process::Command;

/// Lines of rsync's error output quoted when a stage fails.
const RSYNC_ERROR_LINES: usize = 5;
/// How much of the end of rsync's error log is read for them.
const RSYNC_ERROR_TAIL: u64 = 16 * 1024;

impl Run {
    /// The original's check_rsync for sync step `step`, with the exit status a failure maps
    /// to. A failure says why: rsync's last words, and where the logs are after the run.
    pub(super) fn check(&self, result: i32, step: u8, fail_code: u8) -> Result<(), Stop> {
        let verdict = rsync::classify(result);
        if verdict == Verdict::Success {
            return Ok(());
        }
        if verdict == Verdict::RetryableIfPushed && self.update_required().exists() {
            self.log.log(format!(
                "We got error {result} from rsync, but a second push went in hence ignoring this error for now"
            ));
            return Ok(());
        }
        let s = &self.s;
        let mut files = format!("Logfile: {}", self.after_rotation(&s.core.log).display());
        if std::fs::metadata(&s.log_rsync_error).is_ok_and(|m| m.len() > 0) {
            files.push_str(&format!(
                ", rsync errors: {}",
                self.after_rotation(&s.log_rsync_error).display()
            ));
        }
        let mut msg = format!("Sync step {step} went wrong, got errorcode {result} ({files})");
        if verdict == Verdict::RetryableIfPushed {
            msg.push_str(", and no new push is pending that would retry it");
        } else {
            msg.insert_str(0, "ERROR: ");
        }
        let details = self.rsync_errors.borrow().clone();
        self.error_with(&msg, &details);
        Err(Stop(fail_code))
    }

    /// Another mirror's Archive-Update-in-Progress file arrived with stage 1: our upstream
    /// was itself mid-update. Remove it (the next pull brings it back if still true).
    pub(super) fn upstream_update_in_progress(&self) -> bool {
        let ours = self.s.lock_name();
        let Ok(entries) = std::fs::read_dir(&self.s.to) else {
            return false;
        };
        let mut found = false;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with("Archive-Update-in-Progress-") || name == ours {
                continue;
            }
            found = true;
            if e.file_type().map(|t| t.is_file()).unwrap_or(false) {
                let _ = std::fs::remove_file(e.path());
            } else {
                self.log.log(format!(
                    "AUIP file '{}' is not really a file, weird",
                    e.path().display()
                ));
            }
        }
        found
    }

    pub(super) async fn rsync(&self, stage: &str, words: &[String]) -> Result<i32, Stop> {
        self.log
            .log(format!("Running {stage}: {}", rsync::display(words)));
        let prog = words.first().cloned().unwrap_or_default();
        let Some(cmd) = rsync::command(words, &self.s.rsync_env()) else {
            return Ok(127);
        };
        let mut cmd = Command::from(cmd);
        if let Err(e) = process::output_to(&mut cmd, &self.s.log_rsync_error) {
            self.log.log(format!(
                "cannot open {}: {e}; rsync output is discarded",
                self.s.log_rsync_error.display()
            ));
        }
        let errors_from = std::fs::metadata(&self.s.log_rsync_error)
            .map(|m| m.len())
            .unwrap_or(0);
        let progress = super::progress::Progress::start(stage, &self.s.log_rsync, &self.s.to);
        let outcome = process::run_tied(cmd, &self.cancel).await;
        if let Some(p) = progress {
            p.finish().await;
        }
        let code = match outcome {
            Ok(Outcome::Exited(status)) => process::shell_code(&status),
            Ok(Outcome::Interrupted(sig)) => return Err(self.interrupted(sig)),
            // Not asked for (no deadline): rsync's own --timeout bounds it.
            Ok(Outcome::TimedOut(_)) => 30,
            Err(e) => {
                self.log.log(format!("cannot run {prog}: {e}"));
                127
            }
        };
        // What rsync said about it, for the failure's message (this stage's lines only).
        *self.rsync_errors.borrow_mut() = if code == 0 {
            Vec::new()
        } else {
            rsync_error_tail(&self.s.log_rsync_error, errors_from)
        };
        Ok(code)
    }
}

/// The last lines rsync wrote to `path` after `from` (its length when the stage started),
/// bounded: read from at most the last [`RSYNC_ERROR_TAIL`] bytes.
pub(super) fn rsync_error_tail(path: &Path, from: u64) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = from.max(len.saturating_sub(RSYNC_ERROR_TAIL));
    if start >= len || f.seek(SeekFrom::Start(start)).is_err() {
        return Vec::new();
    }
    let mut data = Vec::new();
    if f.take(RSYNC_ERROR_TAIL).read_to_end(&mut data).is_err() {
        return Vec::new();
    }
    rsync::last_lines(&data, RSYNC_ERROR_LINES)
}
