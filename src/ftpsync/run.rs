//! One ftpsync run (SPEC §4): the Update-Required / Archive-Update-in-Progress protocol,
//! both rsync stages, hooks, trace files, callback, the HUB push, and the exit path that
//! always logs, mails, rotates and unlocks.

use super::settings::Settings;
use super::words::SyncRequest;
use crate::common::hooks::{self, HookResult};
use crate::common::layout::Layout;
use crate::common::lock::{self, Acquired, RunLock};
use crate::common::log::{savelog, Logger};
use crate::common::mail::Mail;
use crate::common::process::{self, Cancel, Outcome};
use crate::common::rsync::{self, Verdict};
use crate::common::{dates, host, state, trace};
use crate::runmirrors;
use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::process::Command;

/// The upstream's master trace, relative to TO or to the source.
const MASTER_TRACE: &str = "project/trace/master";

/// How a run ends early: the exit status, after the message was logged.
struct Stop(u8);

/// The upstream master-trace question, asked while stage 1 runs.
struct UpstreamCheck {
    source: String,
    prog: String,
    task: tokio::task::JoinHandle<std::io::Result<std::process::Output>>,
}

use crate::common::process::signal_name;

struct Run {
    layout: Layout,
    s: Settings,
    req: SyncRequest,
    log: Logger,
    cancel: Cancel,
    lock: RefCell<Option<RunLock>>,
    /// An `error` was reported: the final mail says ERROR even if the run succeeded.
    had_error: Cell<bool>,
    time1: Cell<u64>,
    time2: Cell<u64>,
    /// Passes of the sync loop and upstream-update-in-progress retries, for the state record.
    passes: Cell<u64>,
    uip_retries: Cell<u64>,
    started: i64,
    date_started: String,
    log_rsync_offset: u64,
}

pub async fn sync(layout: &Layout, s: Settings, req: SyncRequest) -> u8 {
    // Settings::load refused these already; this is the last line before anything is
    // created in TO or rsync --delete is pointed at it.
    if let Some(why) = super::settings::dangerous_to(&s.to, &crate::common::layout::home()) {
        eprintln!("{}: {why}; refusing to run", s.config_path.display());
        return 1;
    }
    // SAFETY: umask(2) only sets the process file mode mask.
    unsafe {
        libc::umask(0o022);
    }
    // The classic layout ran from BASEDIR, so relative paths in old configs mean that.
    if layout.classic {
        if let Some(b) = &layout.basedir {
            let _ = std::env::set_current_dir(b);
        }
    }
    if let Err(e) = std::fs::create_dir_all(&s.logdir) {
        eprintln!("cannot create LOGDIR {}: {e}", s.logdir.display());
        return 1;
    }
    // A dry run leaves the tree alone: TO itself must exist to hold the lock, nothing more.
    let tracedir = if s.dry_run {
        s.to.clone()
    } else {
        s.to.join(trace::TRACEDIR)
    };
    if let Err(e) = std::fs::create_dir_all(&tracedir) {
        eprintln!("cannot create {}: {e}", tracedir.display());
        return 1;
    }
    let date_started = dates::rfc2822_utc(time::OffsetDateTime::now_utc());

    // Announce the push before looking at the lock: a running sync will see this file when
    // it finishes a pass and go round again, so a push that meets a held lock is not lost.
    let update_required = s.to.join(s.update_required_name());
    if let Err(e) = touch(&update_required) {
        eprintln!("cannot create {}: {e}", update_required.display());
        return 1;
    }
    let lock_path = s.to.join(s.lock_name());
    let (lock, stale) = match lock::try_acquire(&lock_path, Duration::from_secs(s.locktimeout)) {
        Ok(Acquired::Locked { lock, stale }) => (lock, stale),
        Ok(Acquired::Held { pid }) => {
            println!("Unable to start rsync, lock file still exists, PID {pid}");
            return 1;
        }
        Err(e) => {
            eprintln!("cannot take the lock {}: {e}", lock_path.display());
            return 1;
        }
    };

    let cancel = match Cancel::on_signals() {
        Ok(c) => Ok(c),
        Err(e) => Err(format!("cannot install signal handlers: {e}")),
    };
    let (mut lock, mut stale) = (lock, stale);
    loop {
        let log = Logger::open(&s.log, &s.program);
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
        // A push that arrived after our last look at Update-Required but before we let go
        // of the lock found the lock held and left, trusting us to go round again: do so.
        if code != 0 || s.dry_run || !update_required.exists() {
            return code;
        }
        match lock::try_acquire(&lock_path, Duration::from_secs(s.locktimeout)) {
            Ok(Acquired::Locked { lock: l, stale: st }) => {
                lock = l;
                stale = st;
            }
            // Someone else has it now, and with it the pending push.
            _ => return code,
        }
    }
}

impl Run {
    fn path(&self, rel: &str) -> PathBuf {
        self.s.to.join(rel)
    }

    fn update_required(&self) -> PathBuf {
        self.path(&self.s.update_required_name())
    }

    /// Log, remember, and mail a one-line report (the original's `error`).
    fn error(&self, msg: &str) {
        self.log.log(msg);
        self.had_error.set(true);
        self.mail(Mail {
            subject: format!("[{}@{}] ERROR: {msg}", self.s.program, host::short()),
            to: self.s.mailto.clone(),
            bodies: vec![msg.to_string()],
            attachments: vec![],
        });
    }

    fn mail(&self, mail: Mail) {
        if mail.to.is_empty() {
            return;
        }
        if let Err(e) = mail.send(&self.s.sendmail, self.s.mail_timeout) {
            self.log.log(format!("No mail could be sent: {e}"));
        }
    }

    fn interrupted(&self, sig: i32) -> Stop {
        self.error(&format!("Interrupted by {}, stopping", signal_name(sig)));
        Stop((128 + sig) as u8)
    }

    async fn hook(&self, nr: u8) -> Result<(), Stop> {
        let cmd = self.s.hooks[usize::from(nr - 1)].as_deref();
        if self.s.dry_run && cmd.is_some() {
            self.log.log(format!("Dry run: HOOK{nr} is not run"));
            return Ok(());
        }
        match hooks::run_hook(nr, cmd, &self.log, &self.cancel).await {
            HookResult::Ok => Ok(()),
            HookResult::Failed(rc) => {
                self.error(&format!("Back from hook {nr}, got returncode {rc}"));
                // The original runs under `set -e`: a failing hook ends the run.
                Err(Stop(u8::try_from(rc).unwrap_or(1)))
            }
            HookResult::Interrupted(sig) => Err(self.interrupted(sig)),
        }
    }

    async fn body(&self) -> Result<(), Stop> {
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
            // Asked now, answered by the time stage 1 is done (see start_upstream_check).
            let mut upstream_check = if self.req.does_stage1() && self.req.does_stage2() {
                self.start_upstream_check()
            } else {
                None
            };
            let mut result = 0;
            if self.req.does_stage1() {
                // Keep pulling stage 1 while pushes keep arriving: cheap, and stage 2 then
                // publishes the newest state.
                while ur.exists() {
                    let _ = std::fs::remove_file(&ur);
                    let t = epoch_secs();
                    result = self.rsync("stage1", &stage1).await?;
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
            let _ = std::fs::remove_file(&ur);
            self.check(
                result,
                &format!(
                    "Sync step 1 went wrong, got errorcode {result}. Logfile: {}",
                    self.s.log.display()
                ),
                3,
            )?;

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
                        let _ = touch(&ur);
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
                    result = self.rsync("stage2", &stage2).await?;
                    self.time2
                        .set(self.time2.get() + epoch_secs().saturating_sub(t));
                    self.log
                        .log(format!("Back from rsync with returncode {result}"));
                }
            }
            self.check(
                result,
                &format!(
                    "Sync step 2 went wrong, got errorcode {result}. Logfile: {}",
                    self.s.log.display()
                ),
                4,
            )?;

            self.hook(3).await?;
        }

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

        // Downstreams we push next must not see us as mid-update.
        if let Some(lock) = self.lock.borrow_mut().take() {
            lock.release();
        }

        if self.s.hub && !self.s.dry_run && (self.req.stage2 || self.req.all || self.req.mhop) {
            let kind = if self.req.stage1 {
                runmirrors::PushKind::Mhop
            } else if self.req.stage2 {
                runmirrors::PushKind::Stage2
            } else {
                runmirrors::PushKind::All
            };
            let mut args = String::new();
            if !self.s.archive.is_empty() {
                args.push_str(&format!("-a {} ", self.s.archive));
            }
            args.push_str(&format!("-f -k {}", kind.as_str()));
            self.log.log(format!("Trigger slave mirrors using {args}"));
            let code =
                runmirrors::from_ftpsync(&self.layout, &self.s.archive, kind, self.cancel.clone())
                    .await;
            self.log.log("Trigger slave done");
            if let Some(sig) = self.cancel.signal() {
                return Err(self.interrupted(sig));
            }
            if code != 0 {
                // The original called runmirrors under `set -e`: its failure is ours.
                self.error(&format!("runmirrors failed with exit status {code}"));
                return Err(Stop(code));
            }
            self.hook(5).await?;
        }
        Ok(())
    }

    /// The original's check_rsync, with the exit status a failure maps to.
    fn check(&self, result: i32, msg: &str, fail_code: u8) -> Result<(), Stop> {
        match rsync::classify(result) {
            Verdict::Success => Ok(()),
            Verdict::RetryableIfPushed if self.update_required().exists() => {
                self.log.log(format!(
                    "We got error {result} from rsync, but a second push went in hence ignoring this error for now"
                ));
                Ok(())
            }
            Verdict::RetryableIfPushed => {
                self.error(&format!(
                    "{msg} (no new push is pending that would retry it)"
                ));
                Err(Stop(fail_code))
            }
            Verdict::Failure => {
                self.error(&format!("ERROR: {msg}"));
                Err(Stop(fail_code))
            }
        }
    }

    /// Another mirror's Archive-Update-in-Progress file arrived with stage 1: our upstream
    /// was itself mid-update. Remove it (the next pull brings it back if still true).
    fn upstream_update_in_progress(&self) -> bool {
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

    /// The classic accident: an upstream that lost its tree (or its master trace), which stage
    /// 2's `--delete` would faithfully copy, wiping ours. If we have `project/trace/master`,
    /// ask the upstream whether it still has it (`rsync --list-only`). The question is asked
    /// while stage 1 runs, so it costs no wall time; its answer is judged before stage 2.
    /// ALLOW_EMPTY_UPSTREAM=true turns it off.
    fn start_upstream_check(&self) -> Option<UpstreamCheck> {
        let s = &self.s;
        if s.dry_run || s.allow_empty_upstream || !self.path(MASTER_TRACE).is_file() {
            return None;
        }
        let source = &s.rsync_source;
        let target = if source.ends_with('/') {
            format!("{source}{MASTER_TRACE}")
        } else {
            format!("{source}/{MASTER_TRACE}")
        };
        let mut words = s.rsync.clone();
        words.extend(s.rsync_extra.iter().cloned());
        words.extend([
            "--list-only".to_string(),
            "--no-motd".to_string(),
            format!("--timeout={}", s.check_timeout.max(1)),
        ]);
        words.extend(rsync::transport_words(&s.transport));
        words.push(target);
        self.log
            .log(format!("Checking the upstream: {}", rsync::display(&words)));
        let (prog, args) = words.split_first()?;
        let mut cmd = Command::new(prog);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(pw) = &s.rsync_password {
            cmd.env("RSYNC_PASSWORD", pw);
        }
        if let Some(proxy) = &s.rsync_proxy {
            cmd.env("RSYNC_PROXY", proxy);
        }
        cmd.envs(s.transport_env());
        let child = cmd.spawn();
        Some(UpstreamCheck {
            source: source.clone(),
            prog: prog.clone(),
            task: tokio::spawn(async move { child?.wait_with_output().await }),
        })
    }

    /// Judge the answer (starting the question now if it was not asked yet): refuse stage 2
    /// (exit 4, tree untouched) when the upstream says the master trace does not exist.
    async fn judge_upstream_check(&self, pending: Option<UpstreamCheck>) -> Result<(), Stop> {
        let s = &self.s;
        let Some(check) = pending.or_else(|| self.start_upstream_check()) else {
            return Ok(());
        };
        let limit = Duration::from_secs(s.check_timeout.max(1) + 5);
        let prog = &check.prog;
        let out = tokio::select! {
            out = tokio::time::timeout(limit, check.task) => out,
            sig = self.cancel.fired() => return Err(self.interrupted(sig)),
        };
        let out = match out {
            Ok(Ok(Ok(out))) => out,
            Ok(Ok(Err(e))) => {
                self.log.log(format!(
                    "Cannot check the upstream's {MASTER_TRACE} ({prog}: {e}); going on with stage2"
                ));
                return Ok(());
            }
            Ok(Err(e)) => {
                self.log.log(format!(
                    "Cannot check the upstream's {MASTER_TRACE} ({e}); going on with stage2"
                ));
                return Ok(());
            }
            Err(_) => {
                self.log.log(format!(
                    "Checking the upstream's {MASTER_TRACE} took longer than {}s; going on with stage2",
                    limit.as_secs()
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
            self.error(&format!(
                "Upstream {} has no {MASTER_TRACE} but our mirror has one: the upstream looks empty or broken, and stage2 (rsync --delete) would wipe our tree. Refusing stage2, nothing was deleted. Set ALLOW_EMPTY_UPSTREAM=true in {} to sync anyway",
                check.source,
                s.config_path.display()
            ));
            return Err(Stop(4));
        }
        self.log.log(format!(
            "Cannot check the upstream's {MASTER_TRACE} (rsync exit {code}); going on with stage2"
        ));
        Ok(())
    }

    async fn rsync(&self, stage: &str, words: &[String]) -> Result<i32, Stop> {
        self.log
            .log(format!("Running {stage}: {}", rsync::display(words)));
        let Some((prog, args)) = words.split_first() else {
            return Ok(127);
        };
        let mut cmd = Command::new(prog);
        cmd.args(args).stdin(Stdio::null());
        if let Err(e) = process::output_to(&mut cmd, &self.s.log_rsync_error) {
            self.log.log(format!(
                "cannot open {}: {e}; rsync output is discarded",
                self.s.log_rsync_error.display()
            ));
        }
        // The password travels in rsync's environment only: never argv, never a log line.
        if let Some(pw) = &self.s.rsync_password {
            cmd.env("RSYNC_PASSWORD", pw);
        }
        if let Some(proxy) = &self.s.rsync_proxy {
            cmd.env("RSYNC_PROXY", proxy);
        }
        cmd.envs(self.s.transport_env());
        let progress = super::progress::Progress::start(stage, &self.s.log_rsync, &self.s.to);
        let outcome = process::run_tied(cmd, &self.cancel).await;
        if let Some(p) = progress {
            p.finish().await;
        }
        match outcome {
            Ok(Outcome::Exited(status)) => Ok(process::shell_code(&status)),
            Ok(Outcome::Interrupted(sig)) => Err(self.interrupted(sig)),
            Err(e) => {
                self.log.log(format!("cannot run {prog}: {e}"));
                Ok(127)
            }
        }
    }

    fn write_trace(&self, tracefile: &str) {
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

    async fn callback(&self) -> Result<(), Stop> {
        let mut cmd = Command::new("ssh");
        cmd.args([
            "-n",
            "-o",
            "BatchMode=yes",
            "-o",
            "ServerAliveInterval=45",
            "-o",
            "ConnectTimeout=45",
            "-o",
            "PasswordAuthentication=no",
            "-i",
        ])
        .arg(&self.s.callbackkey)
        .arg(format!("-ouser {}", self.s.callbackuser))
        .arg(&self.s.callbackhost)
        .arg(format!("callback:{}", host::nodename()))
        .stdin(Stdio::null());
        if let Err(e) = process::output_to(&mut cmd, self.log.path()) {
            self.log
                .log(format!("cannot send the callback's output to the log: {e}"));
        }
        self.log
            .log(format!("Calling back {}", self.s.callbackhost));
        match process::run(cmd, &self.cancel).await {
            Ok(Outcome::Exited(st)) if st.success() => Ok(()),
            Ok(Outcome::Exited(st)) => {
                self.log.log(format!(
                    "Callback to {} failed with exit status {}",
                    self.s.callbackhost,
                    process::shell_code(&st)
                ));
                Ok(())
            }
            Ok(Outcome::Interrupted(sig)) => Err(self.interrupted(sig)),
            Err(e) => {
                self.log.log(format!("Callback could not run ssh: {e}"));
                Ok(())
            }
        }
    }

    /// The state record behind `archvsync status` and the metrics file.
    fn record_state(&self, code: u8) {
        let s = &self.s;
        // A dry run changes nothing, so it says nothing about the mirror either.
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
        let bytes = std::fs::read(&s.log_rsync)
            .map(|d| {
                let from = usize::try_from(self.log_rsync_offset)
                    .unwrap_or(0)
                    .min(d.len());
                rsync::bytes_received(&String::from_utf8_lossy(&d[from..]))
            })
            .unwrap_or(0);
        let run = state::SyncRun {
            started: self.started,
            ended: state::now(),
            trigger: s.info_trigger.clone(),
            pushed_from: std::env::var("SSH_CONNECTION")
                .ok()
                .and_then(|c| c.split(' ').next().map(str::to_string))
                .filter(|f| !f.is_empty()),
            request,
            result: if code == 0 { "success" } else { "failure" }.into(),
            exit_status: code,
            stage1_seconds: self.time1.get(),
            stage2_seconds: self.time2.get(),
            bytes_received: bytes,
            archive_serial: trace::read_field(
                &s.to.join(trace::TRACEDIR).join("master"),
                "Archive serial",
            ),
            passes: self.passes.get(),
            uip_retries: self.uip_retries.get(),
            dry_run: s.dry_run,
        };
        let path = state::path(&s.logdir, &s.name);
        let result = state::update(&path, |st| {
            st.name = s.name.clone();
            st.mirrorname = s.mirrorname.clone();
            if code == 0 {
                st.last_success = Some(run.clone());
            }
            st.last_run = Some(run);
        });
        if let Err(e) = result {
            self.log.log(format!(
                "cannot write the state record {}: {e}",
                path.display()
            ));
            return;
        }
        if let Some(metrics) = &s.metrics_file {
            if let Err(e) = crate::status::write_metrics_file(metrics, s) {
                self.log.log(format!(
                    "cannot write METRICS_FILE {}: {e}",
                    metrics.display()
                ));
            }
        }
    }

    /// The original's exit trap: log, mail per MAILTO/ERRORSONLY/FULLLOGS, rotate, unlock.
    fn finish(&self, code: u8) -> u8 {
        self.log.log(if code == 0 {
            "Mirrorsync done"
        } else {
            "Mirrorsync done with errors"
        });
        let s = &self.s;
        if !s.mailto.is_empty() {
            let rsync_errors = std::fs::metadata(&s.log_rsync_error).is_ok_and(|m| m.len() > 0);
            let mut attachments = Vec::new();
            let subject = if rsync_errors {
                attachments.push(s.log_rsync_error.clone());
                attachments.push(s.log.clone());
                Some("ERROR: rsync errors")
            } else if code != 0 {
                attachments.push(s.log.clone());
                Some("ERROR")
            } else if !s.errorsonly {
                attachments.push(s.log.clone());
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
                    subject: format!("[{}@{}] {subject}", s.program, host::short()),
                    to: s.mailto.clone(),
                    bodies: vec![],
                    attachments,
                });
            }
        }
        self.record_state(code);
        self.log.close();
        for f in [&s.log_rsync, &s.log_rsync_error, &s.log] {
            savelog(f, s.logrotate);
        }
        if let Some(lock) = self.lock.borrow_mut().take() {
            lock.release();
        }
        code
    }
}

/// Stage times are differences of `date +%s` readings in the original, so a short rsync that
/// crosses a second boundary counts one second. The trace files keep that arithmetic.
fn epoch_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn touch(p: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .map(|_| ())
}
