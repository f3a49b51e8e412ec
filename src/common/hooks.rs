//! HOOK1..HOOK5: operator command lines run through the shell at fixed points of a run.

use crate::common::log::Logger;
use crate::common::process::{self, Cancel, Outcome};
use std::process::Stdio;
use tokio::process::Command;

pub enum HookResult {
    Ok,
    /// The hook failed with this exit status; the original's `set -e` ends the run with it.
    Failed(i32),
    Interrupted(i32),
}

pub async fn run_hook(nr: u8, cmdline: Option<&str>, log: &Logger, cancel: &Cancel) -> HookResult {
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
    match process::run(cmd, cancel).await {
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
        Err(e) => {
            log.log(format!("Hook {nr} could not be started: {e}"));
            HookResult::Failed(127)
        }
    }
}
