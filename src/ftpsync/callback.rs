//! `sync:callback`: telling the upstream that pushed us that we are done.

use super::run::{Run, Stop};
use crate::common::host;
use crate::common::process::{self, Outcome};
use crate::common::ssh::{self, SSH};
use std::process::Stdio;
use tokio::process::Command;

impl Run {
    pub(super) async fn callback(&self) -> Result<(), Stop> {
        let mut cmd = Command::new(SSH);
        cmd.args(ssh::callback_args(
            &self.s.callbackkey,
            &self.s.callbackuser,
            &self.s.callbackhost,
            &host::nodename(),
        ))
        .stdin(Stdio::null());
        if let Err(e) = process::output_to(&mut cmd, self.log.path()) {
            self.log
                .log(format!("cannot send the callback's output to the log: {e}"));
        }
        self.log
            .log(format!("Calling back {}", self.s.callbackhost));
        let limit = Some(self.s.callback_timeout);
        match process::run_tied_within(cmd, &self.cancel, limit).await {
            Ok(Outcome::Exited(st)) if st.success() => Ok(()),
            Ok(Outcome::TimedOut(d)) => {
                self.log.log(format!(
                    "Callback to {} did not finish within {} s (CALLBACKTIMEOUT) and was killed",
                    self.s.callbackhost,
                    d.as_secs()
                ));
                Ok(())
            }
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
}
