//! The exit path of a run, the original's exit trap: state record, metrics and status page,
//! mail, log rotation, in that order, all before the run lock is let go (see run.rs).

use super::run::Run;
use crate::common::host;
use crate::common::kinds::RunResult;
use crate::common::log::savelog;
use crate::common::mail::Mail;
use crate::common::{history, rsync, state, trace};

impl Run {
    /// The state record behind `archvsync status` and the metrics file, and the run's
    /// record in the history.
    pub(super) fn record_state(&self, code: u8) {
        let s = &self.s;
        // A dry run changes nothing, so it says nothing about the mirror either: neither
        // record nor history.
        if s.dry_run {
            self.log.log("Dry run: the state record is not updated");
            return;
        }
        let mut request = if self.req.all {
            "all".to_string()
        } else {
            [(self.req.stage1, "stage1"), (self.req.stage2, "stage2")]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, n)| *n)
                .collect::<Vec<_>>()
                .join("+")
        };
        if self.req.mhop {
            request.push_str("+mhop");
        }
        let log_rsync = std::fs::read(&s.log_rsync).ok();
        let this_run = log_rsync.as_deref().map(|d| {
            let from = usize::try_from(self.log_rsync_offset)
                .unwrap_or(0)
                .min(d.len());
            &d[from..]
        });
        let bytes = this_run
            .map(|d| rsync::bytes_received(&String::from_utf8_lossy(d)))
            .unwrap_or(0);
        // Only an itemizing rsync logs every change it makes.
        let files_changed = this_run
            .filter(|_| s.journal.enabled)
            .map(crate::ftpsync::journal::record::count_changes);
        let sync = self.journal.borrow().summary.clone();
        let run = state::SyncRun {
            started: self.started,
            ended: state::now(),
            trigger: s.info_trigger.clone(),
            pushed_from: std::env::var("SSH_CONNECTION")
                .ok()
                .and_then(|c| c.split(' ').next().map(str::to_string))
                .filter(|f| !f.is_empty()),
            request,
            result: if code == 0 {
                RunResult::Success
            } else {
                RunResult::Failure
            },
            exit_status: code,
            stage1_seconds: self.time1.get(),
            stage2_seconds: self.time2.get(),
            bytes_received: bytes,
            archive_serial: trace::read_field(&s.to.join(trace::MASTER), "Archive serial"),
            passes: self.passes.get(),
            uip_retries: self.uip_retries.get(),
            dry_run: s.dry_run,
            sync_kind: sync.kind,
            full_sync_reason: sync.reason.map(str::to_string),
            index_sync_reason: sync.index_reason.map(str::to_string),
            journal_paths: sync.paths,
            journal_stages: sync.journal_stages.iter().map(|s| s.to_string()).collect(),
        };
        let record = history::Record::Run(history::RunRecord::of(
            &run,
            files_changed,
            trace::master_date(&s.to),
        ));
        let path = state::path(&s.core.logdir, &s.core.name);
        let result = state::update_noting(
            &path,
            |st| {
                st.name = s.core.name.clone();
                st.mirrorname = s.mirrorname.clone();
                if code == 0 {
                    st.last_success = Some(run.clone());
                }
                st.last_run = Some(run);
            },
            |warning| self.log.log(warning),
        );
        // The history is the status page's: losing a record of it fails no run.
        let history_path = history::path(&s.core.logdir, &s.core.name);
        if let Err(e) = history::append(&history_path, &record, s.history) {
            self.log.log(format!(
                "cannot add to the history {}: {e}",
                history_path.display()
            ));
        }
        if let Err(e) = result {
            self.log.log(format!(
                "cannot write the state record {}: {e}",
                path.display()
            ));
            return;
        }
        if let Some(metrics) = &s.metrics_file {
            if let Err(e) = crate::report::prometheus::write_metrics_file(metrics, s) {
                self.log.log(format!(
                    "cannot write METRICS_FILE {}: {e}",
                    metrics.display()
                ));
            }
        }
        if let Some(page) = &s.status_html {
            if let Err(e) = crate::report::html::write_page_file(page, s) {
                self.log
                    .log(format!("cannot write STATUS_HTML {}: {e}", page.display()));
            }
        }
    }

    /// Remove the lock file in TO (keeping the run lock): the tree is final.
    pub(super) fn release_lock_file(&self) {
        if let Some(lock) = self.lock.borrow_mut().take() {
            lock.release();
        }
    }

    /// The original's exit trap: log, record, mail per MAILTO/ERRORSONLY/FULLLOGS, rotate.
    /// All of it happens while the caller still holds the run lock, so the next run starts
    /// after it: its logs are not rotated away, its state record not overwritten by ours.
    /// The lock file in TO goes first: nothing changes the tree any more, and the state and
    /// metrics written here must not show this run as still in progress.
    pub(super) fn finish(&self, code: u8) -> u8 {
        self.release_lock_file();
        self.log.log(if code == 0 {
            "Mirrorsync done"
        } else {
            "Mirrorsync done with errors"
        });
        // Before the mail: `status` and the metrics are right even while sendmail hangs.
        self.record_state(code);
        let s = &self.s;
        if !s.core.mailto.is_empty() {
            let rsync_errors = std::fs::metadata(&s.log_rsync_error).is_ok_and(|m| m.len() > 0);
            let mut attachments = Vec::new();
            let subject = if rsync_errors {
                attachments.push(s.log_rsync_error.clone());
                attachments.push(s.core.log.clone());
                Some("ERROR: rsync errors")
            } else if code != 0 {
                attachments.push(s.core.log.clone());
                Some("ERROR")
            } else if !s.errorsonly {
                attachments.push(s.core.log.clone());
                Some(if self.had_error.get() {
                    "ERROR"
                } else {
                    "SUCCESS"
                })
            } else {
                None
            };
            if let Some(subject) = subject {
                if s.fulllogs {
                    attachments.push(s.log_rsync.clone());
                }
                self.mail(Mail {
                    subject: format!("[{}@{}] {subject}", s.core.program, host::short()),
                    to: s.core.mailto.clone(),
                    bodies: vec![],
                    attachments,
                });
            }
        }
        self.log.close();
        for f in [&s.log_rsync, &s.log_rsync_error, &s.core.log] {
            savelog(f, s.core.logrotate);
        }
        code
    }
}
