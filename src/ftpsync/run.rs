//! One ftpsync run (SPEC §4): the Update-Required / Archive-Update-in-Progress protocol,
//! the order of both rsync stages, hooks, trace files and the HUB push. Its other parts
//! have modules of their own: running and judging one rsync stage (stage.rs), the exit
//! path that always logs, records, mails, rotates and unlocks (exit.rs), the empty-upstream
//! check (upstream_check.rs), the callback (callback.rs).
//!
//! Two locks, taken in this order and released in the reverse one:
//! - the run lock `LOGDIR/NAME.run.lock` ([`ArchiveSettings::run_lock_path`]), held from the start
//!   to the very end, exit path included: it is what keeps the next run out;
//! - the lock file `TO/Archive-Update-in-Progress-MIRRORNAME`, part of the mirror protocol
//!   (downstreams see it through rsync and take us for mid-update; `status`, the metrics and
//!   ftpsync-cron see a sync running), held while the tree is being changed and removed as
//!   soon as it is final: before the HUB push (the downstreams we push next pull from us and
//!   must not see it) and, on a failure, before the exit path.
//!
//! Why two: the lock file alone cannot both vanish and keep the next run out. A push that
//! lands after the file is removed creates a new file and wins its flock however long we
//! hold ours on the unlinked one; that run's live logs were then rotated away by our exit
//! path, and its state record overwritten by ours. Rotating before the HUB push instead
//! would leave the push's own lines out of the log and the mail. So the lock file is the
//! signal to the outside, the run lock is the exclusion: a push meeting either exits 1
//! (`lock file still exists`) with its Update-Required file in place, and a successful run,
//! after its exit path and after letting go of the run lock, looks for that file and goes
//! round again if it is there (see [`sync`]).

use super::words::SyncRequest;
use crate::common::hooks::{self, HookResult};
use crate::common::kinds::PushKind;
use crate::common::layout::Layout;
use crate::common::lock::{self, Acquired, RunLock};
use crate::common::log::Logger;
use crate::common::mail::{ErrorReports, Mail};
use crate::common::process::Cancel;
use crate::common::{dates, state, trace};
use crate::runmirrors;
use crate::settings::archive::ArchiveSettings;
use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The upstream's master trace, relative to TO or to the source.
pub(super) const MASTER_TRACE: &str = trace::MASTER;

/// How a run ends early: the exit status, after the message was logged.
pub(super) struct Stop(pub(super) u8);

/// Seconds the upstream check may run beyond CHECK_TIMEOUT before it is killed. rsync's
/// `--timeout` bounds only silence on an open connection, not the connect itself (the OS
/// gives up after minutes) nor an answer that trickles.
pub(super) const CHECK_MARGIN_SECS: u64 = 5;

use crate::common::process::signal_name;

pub(super) struct Run {
    pub(super) layout: Layout,
    pub(super) s: ArchiveSettings,
    pub(super) req: SyncRequest,
    pub(super) log: Logger,
    pub(super) cancel: Cancel,
    pub(super) lock: RefCell<Option<RunLock>>,
    /// An `error` was reported: the final mail says ERROR even if the run succeeded.
    pub(super) had_error: Cell<bool>,
    pub(super) time1: Cell<u64>,
    pub(super) time2: Cell<u64>,
    /// Passes of the sync loop and upstream-update-in-progress retries, for the state record.
    pub(super) passes: Cell<u64>,
    pub(super) uip_retries: Cell<u64>,
    pub(super) started: i64,
    pub(super) date_started: String,
    pub(super) log_rsync_offset: u64,
    /// The last lines rsync wrote to LOG_RSYNC_ERROR during the last stage that failed.
    pub(super) rsync_errors: RefCell<Vec<String>>,
    /// The change journal's part of the run (super::journal).
    pub(super) journal: RefCell<super::journal::RunJournal>,
}

pub async fn sync(layout: &Layout, mut s: ArchiveSettings, req: SyncRequest) -> u8 {
    // ArchiveSettings::load refused these already; this is the last line before anything is
    // created in TO or rsync --delete is pointed at it.
    if let Some(why) =
        crate::settings::to_guard::dangerous_to(&s.to, &crate::common::layout::home())
    {
        return refuse(
            layout,
            &s,
            &format!("{}: {why}; refusing to run", s.core.config_path.display()),
        );
    }
    crate::common::system::set_umask(0o022);
    // The classic layout ran from BASEDIR, so relative paths in old configs mean that.
    if layout.classic {
        if let Some(b) = &layout.basedir {
            let _ = std::env::set_current_dir(b);
        }
    }
    // Refused before anything is created: the other archive's run may be under way. Only
    // where the TOs meet whoever runs the archives: a TO taken from the caller's
    // environment may well differ in the other archive's runs, so that is a warning.
    let shared = crate::settings::to_guard::configs_sharing_to(layout, &s);
    if !shared.certain.is_empty() {
        return refuse(
            layout,
            &s,
            &format!(
                "{}; refusing to run",
                crate::settings::to_guard::shared_to_message(&s, &shared.certain)
            ),
        );
    }
    for l in &shared.likely {
        let w = crate::settings::to_guard::likely_shared_to_message(&s, l);
        // As the config's own warnings: on stderr now, in the log when the run starts.
        eprintln!("{w}");
        s.warnings.push(w);
    }
    if let Err(e) = std::fs::create_dir_all(&s.core.logdir) {
        return refuse(
            layout,
            &s,
            &format!("cannot create LOGDIR {}: {e}", s.core.logdir.display()),
        );
    }
    // A dry run leaves the tree alone: TO itself must exist to hold the lock, nothing more.
    let tracedir = if s.dry_run {
        s.to.clone()
    } else {
        s.to.join(trace::TRACEDIR)
    };
    if let Err(e) = std::fs::create_dir_all(&tracedir) {
        return refuse(
            layout,
            &s,
            &format!("cannot create {}: {e}", tracedir.display()),
        );
    }
    let date_started = dates::rfc2822_utc(time::OffsetDateTime::now_utc());

    // Announce the push before looking at the lock: a running sync will see this file when
    // it finishes a pass and go round again, so a push that meets a held lock is not lost.
    let update_required = s.to.join(s.update_required_name());
    if let Err(e) = touch(&update_required) {
        return refuse(
            layout,
            &s,
            &format!("cannot create {}: {e}", update_required.display()),
        );
    }
    let lock_path = s.to.join(s.lock_name());
    let (mut guard, mut lock, mut stale) = match take_locks(&s, &lock_path) {
        Ok(Taken::Locked { guard, lock, stale }) => (guard, lock, stale),
        Ok(Taken::Held { pid }) => {
            println!("Unable to start rsync, lock file still exists, PID {pid}");
            return 1;
        }
        Err(e) => return refuse(layout, &s, &e),
    };

    let cancel = match Cancel::on_signals() {
        Ok(c) => Ok(c),
        Err(e) => Err(format!("cannot install signal handlers: {e}")),
    };
    loop {
        let log = Logger::open(&s.core.log, &s.core.program);
        let log_rsync_offset = std::fs::metadata(&s.log_rsync)
            .map(|m| m.len())
            .unwrap_or(0);
        let cancel = match &cancel {
            Ok(c) => c.clone(),
            Err(e) => {
                log.log(e);
                Cancel::never()
            }
        };
        let run = Run {
            layout: layout.clone(),
            s: s.clone(),
            req: req.clone(),
            log,
            cancel,
            lock: RefCell::new(Some(lock)),
            had_error: Cell::new(false),
            time1: Cell::new(0),
            time2: Cell::new(0),
            date_started: date_started.clone(),
            log_rsync_offset,
            passes: Cell::new(0),
            uip_retries: Cell::new(0),
            started: state::now(),
            rsync_errors: RefCell::new(Vec::new()),
            journal: RefCell::new(super::journal::RunJournal::new(&s)),
        };
        run.log.log("Mirrorsync start");
        if let Some(pid) = stale {
            run.log.log(format!(
                "Found stale lock {} left by pid {pid} (no live run holds it), taking it over",
                lock_path.display()
            ));
        }
        let code = match run.body().await {
            Ok(()) => 0,
            Err(Stop(code)) => code,
        };
        let code = run.finish(code);
        drop(run);
        // Only now may the next run start: our state, metrics, mail and logs are done.
        guard.release();
        // A push that arrived after our last look at Update-Required (during the HUB push
        // or the exit path, say) met one of our locks and left, trusting us to go round
        // again: do so. Looked for after letting go, so that a push landing between the
        // look and the release cannot be missed: it either finds the lock free and runs
        // itself, or created its file before we look.
        if code != 0 || s.dry_run || !update_required.exists() {
            return code;
        }
        match take_locks(&s, &lock_path) {
            Ok(Taken::Locked {
                guard: g,
                lock: l,
                stale: st,
            }) => {
                guard = g;
                lock = l;
                stale = st;
            }
            // Someone else has it now, and with it the pending push.
            _ => return code,
        }
    }
}

/// A run refused before its log is open (exit 1): said on stderr, and in the log, where
/// someone whose runs cron starts looks, after the config's warnings (a typo'd TO key
/// leaves the default TO, which may be what cannot be created). ftpsync::start has printed
/// the warnings on stderr already.
fn refuse(layout: &Layout, s: &ArchiveSettings, msg: &str) -> u8 {
    eprintln!("{msg}");
    crate::settings::LogPlace::from(&s.core)
        .in_run_dir(layout)
        .append(&s.warnings, msg);
    1
}

enum Taken {
    Locked {
        guard: RunLock,
        lock: RunLock,
        stale: Option<String>,
    },
    Held {
        pid: String,
    },
}

/// Take the run lock, then the lock file in TO (see the module documentation). Never waits.
fn take_locks(s: &ArchiveSettings, lock_path: &Path) -> Result<Taken, String> {
    let guard_path = s.run_lock_path();
    // Zero: no pid-only lock of the original script can be in this file, which it never knew.
    let guard = match lock::try_acquire(&guard_path, Duration::ZERO) {
        Ok(Acquired::Locked { lock, .. }) => lock,
        Ok(Acquired::Held { pid }) => return Ok(Taken::Held { pid }),
        Err(e) => {
            return Err(format!(
                "cannot take the lock {}: {e}",
                guard_path.display()
            ))
        }
    };
    match lock::try_acquire(lock_path, Duration::from_secs(s.locktimeout)) {
        Ok(Acquired::Locked { lock, stale }) => Ok(Taken::Locked { guard, lock, stale }),
        Ok(Acquired::Held { pid }) => Ok(Taken::Held { pid }),
        Err(e) => Err(format!("cannot take the lock {}: {e}", lock_path.display())),
    }
}

impl Run {
    pub(super) fn path(&self, rel: &str) -> PathBuf {
        self.s.to.join(rel)
    }

    pub(super) fn update_required(&self) -> PathBuf {
        self.path(&self.s.update_required_name())
    }

    /// Log, remember, and mail a one-line report (the original's `error`).
    pub(super) fn error(&self, msg: &str) {
        self.error_with(msg, &[]);
    }

    /// [`Run::error`] with `details` (rsync's last words), see [`ErrorReports::report`].
    pub(super) fn error_with(&self, msg: &str, details: &[String]) {
        self.had_error.set(true);
        ErrorReports {
            log: &self.log,
            program: &self.s.core.program,
            to: &self.s.core.mailto,
            sendmail: &self.s.core.sendmail,
            timeout: self.s.core.mail_timeout,
        }
        .report(msg, details);
    }

    /// Where `file` (a log of this run) is once the exit path has rotated it: what a log
    /// line should name, as the line is read after the run.
    pub(super) fn after_rotation(&self, file: &Path) -> PathBuf {
        if self.s.core.logrotate == 0 {
            return file.to_path_buf();
        }
        let mut p = file.as_os_str().to_owned();
        p.push(".0");
        PathBuf::from(p)
    }

    /// Remove Update-Required. One that cannot be removed (not a file, an immutable file, a
    /// read-only directory) would bring every pass round again, for ever: that ends the run.
    pub(super) fn remove_update_required(&self) -> Result<(), Stop> {
        let ur = self.update_required();
        match std::fs::remove_file(&ur) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => {
                self.error(&format!(
                    "cannot remove {}: {e}; every pass would see it and sync again, stopping",
                    ur.display()
                ));
                Err(Stop(1))
            }
        }
    }

    pub(super) fn mail(&self, mail: Mail) {
        if mail.to.is_empty() {
            return;
        }
        if let Err(e) = mail.send(&self.s.core.sendmail, self.s.core.mail_timeout) {
            self.log.log(format!("No mail could be sent: {e}"));
        }
    }

    pub(super) fn interrupted(&self, sig: i32) -> Stop {
        self.error(&format!("Interrupted by {}, stopping", signal_name(sig)));
        Stop((128 + sig) as u8)
    }

    pub(super) async fn hook(&self, nr: u8) -> Result<(), Stop> {
        let cmd = self.s.hooks[usize::from(nr - 1)].as_deref();
        if self.s.dry_run && cmd.is_some() {
            self.log.log(format!("Dry run: HOOK{nr} is not run"));
            return Ok(());
        }
        let limit = self.s.hook_timeout;
        match hooks::run_hook_within(nr, cmd, &self.log, &self.cancel, limit, "HOOKTIMEOUT").await {
            HookResult::Ok => Ok(()),
            HookResult::Failed(rc) => {
                self.error(&format!("Back from hook {nr}, got returncode {rc}"));
                // The original runs under `set -e`: a failing hook ends the run.
                Err(Stop(u8::try_from(rc).unwrap_or(1)))
            }
            HookResult::Interrupted(sig) => Err(self.interrupted(sig)),
        }
    }

    pub(super) async fn body(&self) -> Result<(), Stop> {
        for line in self.req.ignored_report() {
            self.log.log(line);
        }
        for w in &self.s.warnings {
            self.log.log(w);
        }
        if self.s.dry_run {
            self.log.log(
                "Dry run: rsync gets --dry-run, no trace files are written, no downstream is pushed",
            );
        }
        if let Ok(conn) = std::env::var("SSH_CONNECTION") {
            if let Some(from) = conn.split(' ').next().filter(|f| !f.is_empty()) {
                self.log.log(format!("We got pushed from {from}"));
            }
        }
        let mut callback = self.req.callback && !self.s.dry_run;
        if callback && (self.s.callbackhost == "none" || self.s.callbackkey == "none") {
            callback = false;
            self.error("We are asked to call back, but we do not know where to and do not have a key, ignoring callback");
        }

        self.journal_begin();
        self.hook(1).await?;

        let (stage1, stage2) = self.s.stage_commands();

        let ur = self.update_required();
        let mut uip_retries = 0u64;
        while ur.exists() {
            self.log.log(format!(
                "Running mirrorsync, update is required, {} exists",
                ur.display()
            ));
            self.passes.set(self.passes.get() + 1);
            // Asked now, answered by the time stage 1 is done (see start_upstream_check);
            // with the journal on, the journal fetch before stage 1 asks it instead.
            self.journal.borrow_mut().upstream_master = None;
            let mut upstream_check =
                if self.req.does_stage1() && self.req.does_stage2() && !self.s.journal.enabled {
                    self.start_upstream_check()
                } else {
                    None
                };
            let mut result = 0;
            if self.req.does_stage1() {
                // Keep pulling stage 1 while pushes keep arriving: cheap, and stage 2 then
                // publishes the newest state.
                while ur.exists() {
                    self.remove_update_required()?;
                    let t = epoch_secs();
                    result = self.sync_stage(1, &stage1).await?;
                    self.time1
                        .set(self.time1.get() + epoch_secs().saturating_sub(t));
                    self.log
                        .log(format!("Back from rsync with returncode {result}"));
                }
            } else if let Some(t) = trace::read_field(
                &self.path(&self.s.trace_stage1_name()),
                "Total time spent in stage1 rsync",
            )
            .and_then(|t| t.parse().ok())
            {
                self.time1.set(t);
            }
            self.remove_update_required()?;
            self.check(result, 1, 3)?;

            self.hook(2).await?;

            let mut result = 0;
            if self.req.does_stage2() {
                // A dry run pulled no AUIP file, and must not delete one either.
                if !self.s.dry_run && self.upstream_update_in_progress() {
                    self.log
                        .log("Upstream archive update in progress, skipping stage2");
                    if uip_retries < self.s.uipretries {
                        self.log
                            .log(format!("Retrying update in {}", self.s.uipsleep));
                        // Without it the loop would end here and the trace claim a sync
                        // whose stage 2 never ran.
                        if let Err(e) = touch(&ur) {
                            self.error(&format!(
                                "cannot create {}: {e}; the update cannot be retried, stopping",
                                ur.display()
                            ));
                            return Err(Stop(1));
                        }
                        uip_retries += 1;
                        self.uip_retries.set(uip_retries);
                        if let Err(sig) = self
                            .cancel
                            .sleep(Duration::from_secs(self.s.uipsleep))
                            .await
                        {
                            return Err(self.interrupted(sig));
                        }
                    } else {
                        self.error(&format!(
                            "Update has been retried {uip_retries} times, aborting"
                        ));
                        self.log
                            .log("Perhaps upstream is still updating or there's a stale AUIP file");
                        result = 1;
                    }
                } else {
                    self.judge_upstream_check(upstream_check.take()).await?;
                    let t = epoch_secs();
                    result = self.sync_stage(2, &stage2).await?;
                    self.time2
                        .set(self.time2.get() + epoch_secs().saturating_sub(t));
                    self.log
                        .log(format!("Back from rsync with returncode {result}"));
                }
            }
            self.check(result, 2, 4)?;

            self.hook(3).await?;
        }

        // Before the trace files: a downstream must not see an entry before the tree has
        // its changes, nor our trace of a state our journal does not know.
        self.journal_publish();
        // Only a finished stage 2 may claim the mirror is current.
        if self.s.dry_run {
            // Nothing was fetched: no trace may claim otherwise.
        } else if self.req.does_stage2() {
            self.write_trace(&self.s.trace_name());
            if self.req.all {
                let _ = std::fs::remove_file(self.path(&self.s.trace_stage1_name()));
            }
        } else if self.req.stage1 {
            self.write_trace(&self.s.trace_stage1_name());
        }

        self.hook(4).await?;

        if callback {
            self.callback().await?;
        }

        // The tree is final. Downstreams we push next must not see us as mid-update; the
        // run lock keeps the next run out until our exit path is done (module docs).
        self.release_lock_file();

        if self.s.hub && !self.s.dry_run && (self.req.stage2 || self.req.all || self.req.mhop) {
            let kind = if self.req.stage1 {
                PushKind::Mhop
            } else if self.req.stage2 {
                PushKind::Stage2
            } else {
                PushKind::All
            };
            let mut args = String::new();
            if !self.s.archive.is_empty() {
                args.push_str(&format!("-a {} ", self.s.archive));
            }
            args.push_str(&format!("-f -k {}", kind.as_str()));
            self.log.log(format!("Trigger slave mirrors using {args}"));
            let pushed =
                runmirrors::from_ftpsync(&self.layout, &self.s.archive, kind, self.cancel.clone())
                    .await;
            // The push's warnings are this run's: in our log, where its operator looks, and
            // on stderr as our config's warnings are.
            for w in &pushed.warnings {
                self.log.log(w);
                if !self.log.echoes() {
                    eprintln!("{w}");
                }
            }
            let (code, why) = (pushed.code, pushed.why);
            self.log.log("Trigger slave done");
            if let Some(sig) = self.cancel.signal() {
                return Err(self.interrupted(sig));
            }
            if code != 0 {
                // The original called runmirrors under `set -e`: its failure is ours.
                let mut msg = format!("runmirrors failed with exit status {code}");
                if let Some(why) = why {
                    msg.push_str(": ");
                    msg.push_str(&why);
                }
                self.error(&msg);
                return Err(Stop(code));
            }
            self.hook(5).await?;
        }
        Ok(())
    }

    pub(super) fn write_trace(&self, tracefile: &str) {
        let s = &self.s;
        let info = trace::TraceInfo {
            date_started: self.date_started.clone(),
            tracehost: s.tracehost.clone(),
            mirrorname: s.mirrorname.clone(),
            maintainer: s.info_maintainer.clone(),
            sponsor: s.info_sponsor.clone(),
            country: s.info_country.clone(),
            location: s.info_location.clone(),
            throughput: s.info_throughput.clone(),
            trigger: s.info_trigger.clone(),
            arch_include: s.arch_include.clone(),
            arch_exclude: s.arch_exclude.clone(),
            rsync_host: s.rsync_host.clone(),
            transport: s.transport.name().to_string(),
            log_rsync: s.log_rsync.clone(),
            log_rsync_offset: self.log_rsync_offset,
            time_stage1: self.time1.get(),
            time_stage2: self.time2.get(),
        };
        if let Err(e) = trace::write(&s.to, tracefile, &info) {
            self.error(&format!("Cannot write trace file {tracefile}: {e}"));
        }
    }
}

/// Stage times are differences of `date +%s` readings in the original, so a short rsync that
/// crosses a second boundary counts one second. The trace files keep that arithmetic.
pub(super) fn epoch_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(super) fn touch(p: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .map(|_| ())
}
