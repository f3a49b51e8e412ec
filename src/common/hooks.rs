//! HOOK1..HOOK5: operator command lines run through the shell at fixed points of a run.
//!
//! A hook is tied to the run (it gets SIGTERM when we die, see [`process::tie_to_us`]) and
//! bounded in time: ftpsync's by HOOKTIMEOUT, runmirrors' by [`DEFAULT_TIMEOUT`]. A hook
//! that hangs would otherwise hold the run, and with it the mirror's lock, for ever.

use crate::common::log::Logger;
use crate::common::process::{self, Cancel, Outcome};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// How long a hook may run unless configured otherwise (HOOKTIMEOUT): a day. Generous on
/// purpose: hooks do real work (index updates, pushes to other services); the bound is there
/// for the hook that never ends, not to hurry the slow ones.
pub const DEFAULT_TIMEOUT_SECS: u64 = 86_400;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(DEFAULT_TIMEOUT_SECS);

/// The status a hook killed at its deadline counts as, as timeout(1) reports it.
pub const TIMED_OUT: i32 = 124;

pub enum HookResult {
    Ok,
    /// The hook failed with this exit status ([`TIMED_OUT`] when it ran past its deadline);
    /// the original's `set -e` ends the run with it.
    Failed(i32),
    Interrupted(i32),
}

/// Run hook `nr` bounded by [`DEFAULT_TIMEOUT`].
pub async fn run_hook(nr: u8, cmdline: Option<&str>, log: &Logger, cancel: &Cancel) -> HookResult {
    run_hook_within(nr, cmdline, log, cancel, DEFAULT_TIMEOUT, "").await
}

/// Run hook `nr`, killed after `limit`; `key` names the setting of that limit in the log
/// line of a hook that is killed (empty: none).
pub async fn run_hook_within(
    nr: u8,
    cmdline: Option<&str>,
    log: &Logger,
    cancel: &Cancel,
    limit: Duration,
    key: &str,
) -> HookResult {
    let Some(cmdline) = cmdline.filter(|c| !c.trim().is_empty()) else {
        return HookResult::Ok;
    };
    log.log(format!("Running hook {nr}: {cmdline}"));
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(cmdline).stdin(Stdio::null());
    // The hook's output belongs in our log, as in the original where stdout was the log.
    if let Err(e) = process::output_to(&mut cmd, log.path()) {
        log.log(format!("cannot send hook {nr}'s output to the log: {e}"));
    }
    match process::run_tied_within(cmd, cancel, Some(limit)).await {
        Ok(Outcome::Exited(status)) => {
            let rc = process::shell_code(&status);
            if rc == 0 {
                log.log(format!("Back from hook {nr}, got returncode {rc}"));
                HookResult::Ok
            } else {
                // The caller reports failures as errors (logged and mailed).
                HookResult::Failed(rc)
            }
        }
        Ok(Outcome::Interrupted(sig)) => HookResult::Interrupted(sig),
        Ok(Outcome::TimedOut(d)) => {
            let key = if key.is_empty() {
                String::new()
            } else {
                format!(" ({key})")
            };
            log.log(format!(
                "Hook {nr} did not finish within {} s{key} and was killed",
                d.as_secs()
            ));
            HookResult::Failed(TIMED_OUT)
        }
        Err(e) => {
            log.log(format!("Hook {nr} could not be started: {e}"));
            HookResult::Failed(127)
        }
    }
}
