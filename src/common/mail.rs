//! Mail through sendmail, MIME multipart with the logs attached, as the original sent it.

use crate::common::process;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub const DEFAULT_SENDMAIL: &str = "/usr/sbin/sendmail";

/// How long sendmail may take (MAILTIMEOUT) unless configured otherwise.
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// Where a command that runs to its end in one go (ftpsync, ftpsync-cron) reports an error:
/// its log, stderr, and a mail to MAILTO sent before going on (bounded by MAILTIMEOUT).
/// runmirrors and its follower, which must not wait, use [`Outbox::error`].
pub struct ErrorReports<'a> {
    pub log: &'a crate::common::log::Logger,
    pub program: &'a str,
    pub to: &'a [String],
    pub sendmail: &'a Path,
    pub timeout: Duration,
}

impl ErrorReports<'_> {
    /// `msg`, with `details` (rsync's last words) after it on the log line and stderr, and
    /// one a line in the mail's body. The line goes to stderr too (unless the log already
    /// echoes there): under ssh or cron that is all the operator sees at once. The subject
    /// stays one bounded line.
    pub fn report(&self, msg: &str, details: &[String]) {
        let line = if details.is_empty() {
            msg.to_string()
        } else {
            format!("{msg}: {}", details.join(" | "))
        };
        self.log.log(&line);
        if !self.log.echoes() {
            eprint!("{}", self.log.line(&line));
        }
        if self.to.is_empty() {
            return;
        }
        let mut body = msg.to_string();
        for d in details {
            body.push_str("\n  ");
            body.push_str(d);
        }
        let mut mail = Mail::error_report(self.program, self.to, &bounded(&line, 250), vec![]);
        mail.bodies = vec![body];
        if let Err(e) = mail.send(self.sendmail, self.timeout) {
            self.log.log(format!("No mail could be sent: {e}"));
        }
    }
}

/// `text` cut at `max` characters (with `...`).
pub fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_string(),
    }
}

#[derive(Debug, Default, Clone)]
pub struct Mail {
    pub subject: String,
    pub to: Vec<String>,
    pub bodies: Vec<String>,
    pub attachments: Vec<PathBuf>,
}

impl Mail {
    /// The original's `error` mail: `[PROGRAM@host] ERROR: message`, the message as body.
    pub fn error_report(
        program: &str,
        to: &[String],
        msg: &str,
        attachments: Vec<PathBuf>,
    ) -> Mail {
        Mail {
            subject: format!("[{program}@{}] ERROR: {msg}", crate::common::host::short()),
            to: to.to_vec(),
            bodies: vec![msg.to_string()],
            attachments,
        }
    }

    pub fn render(&self, boundary: &str) -> Vec<u8> {
        let mut m = format!(
            "Subject: {}\nTo: {}\nAuto-Submitted: auto-generated\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary={boundary}\n\n",
            self.subject,
            self.to.join(", ")
        )
        .into_bytes();
        for b in &self.bodies {
            m.extend_from_slice(
                format!("--{boundary}\nContent-type: text/plain\n\n{b}\n").as_bytes(),
            );
        }
        for a in &self.attachments {
            let name = a
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            m.extend_from_slice(
                format!("--{boundary}\nContent-type: text/plain; name=\"{name}\"\n\n").as_bytes(),
            );
            match std::fs::read(a) {
                Ok(data) => m.extend_from_slice(&data),
                Err(_) => {
                    m.extend_from_slice(format!("Failed to attach {}\n", a.display()).as_bytes())
                }
            }
        }
        m.extend_from_slice(format!("--{boundary}--\n").as_bytes());
        m
    }

    /// Hands the mail to `sendmail -i -- ADDR...`, waiting at most `timeout`: a sendmail
    /// that hangs is killed (its whole process group) and reported, never waited for. An
    /// error is returned for the caller to log; it never changes the outcome of a run.
    pub fn send(&self, sendmail: &Path, timeout: Duration) -> Result<(), String> {
        if self.to.is_empty() {
            return Ok(());
        }
        if !sendmail.exists() {
            return Err(format!("{} does not exist", sendmail.display()));
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let boundary = format!("==--{}--{nanos}--archvsync--==", std::process::id());
        let mut cmd = Command::new(sendmail);
        cmd.arg("-i").arg("--").args(&self.to);
        // Dies with us: this thread waits for it, so "us" lives as long as it may.
        process::tie_to_us(&mut cmd);
        match process::output_within(cmd, &self.render(&boundary), timeout) {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(format!(
                "{} exited with {}: {}",
                sendmail.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Err(format!(
                "{} did not finish within {} s and was killed",
                sendmail.display(),
                timeout.as_secs()
            )),
            Err(e) => Err(format!("cannot run {}: {e}", sendmail.display())),
        }
    }

    /// [`Mail::send`] off the async runtime's thread: the caller's other tasks (triggers,
    /// timers, signals) go on while sendmail runs.
    pub async fn send_async(self, sendmail: PathBuf, timeout: Duration) -> Result<(), String> {
        match tokio::task::spawn_blocking(move || self.send(&sendmail, timeout)).await {
            Ok(r) => r,
            Err(e) => Err(format!("the mail task failed: {e}")),
        }
    }
}

/// Mail sent in the background by commands that must not wait for sendmail (runmirrors
/// and its follower): each mail runs on its own, bounded by the timeout, and [`Outbox::flush`]
/// waits for the ones still under way before the process ends.
pub struct Outbox {
    sendmail: PathBuf,
    timeout: Duration,
    pending: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Outbox {
    pub fn new(sendmail: &Path, timeout: Duration) -> Outbox {
        Outbox {
            sendmail: sendmail.to_path_buf(),
            timeout,
            pending: Default::default(),
        }
    }

    /// Send without waiting; a failure is logged through `log` when it is known.
    pub fn send(&self, mail: Mail, log: std::sync::Arc<crate::common::log::Logger>) {
        if mail.to.is_empty() {
            return;
        }
        let (sendmail, timeout) = (self.sendmail.clone(), self.timeout);
        let task = tokio::spawn(async move {
            if let Err(e) = mail.send_async(sendmail, timeout).await {
                log.log(format!("No mail could be sent: {e}"));
            }
        });
        if let Ok(mut p) = self.pending.lock() {
            p.retain(|t| !t.is_finished());
            p.push(task);
        }
    }

    /// The original's `error`: log `msg`, and mail it as `[PROGRAM@host] ERROR: msg` without
    /// waiting for sendmail.
    pub fn error(
        &self,
        log: &std::sync::Arc<crate::common::log::Logger>,
        program: &str,
        to: &[String],
        msg: &str,
        attachments: Vec<PathBuf>,
    ) {
        log.log(msg);
        self.send(
            Mail::error_report(program, to, msg, attachments),
            log.clone(),
        );
    }

    /// Wait for every mail still being sent (each is bounded by the timeout).
    pub async fn flush(&self) {
        let tasks = self
            .pending
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default();
        for t in tasks {
            let _ = t.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_multipart() {
        let d = tempfile::tempdir().unwrap();
        let att = d.path().join("ftpsync.log");
        std::fs::write(&att, "line\n").unwrap();
        let m = Mail {
            subject: "[ftpsync@h] SUCCESS".into(),
            to: vec!["a@x".into(), "b@y".into()],
            bodies: vec!["hello".into()],
            attachments: vec![att, d.path().join("missing")],
        };
        let s = String::from_utf8(m.render("B")).unwrap();
        assert!(s.starts_with("Subject: [ftpsync@h] SUCCESS\nTo: a@x, b@y\n"));
        assert!(s.contains("Content-Type: multipart/mixed; boundary=B\n"));
        assert!(s.contains("--B\nContent-type: text/plain; name=\"ftpsync.log\"\n\nline\n"));
        assert!(s.contains("Failed to attach"));
        assert!(s.ends_with("--B--\n"));
    }

    #[test]
    fn missing_sendmail_is_an_error_not_a_panic() {
        let m = Mail {
            to: vec!["x".into()],
            ..Default::default()
        };
        assert!(m
            .send(Path::new("/nonexistent/sendmail"), Duration::from_secs(5))
            .is_err());
    }

    #[test]
    fn a_hanging_sendmail_is_killed_at_the_deadline() {
        let d = tempfile::tempdir().unwrap();
        let sm = d.path().join("sendmail");
        std::fs::write(&sm, "#!/bin/sh\nsleep 300\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&sm, std::fs::Permissions::from_mode(0o755)).unwrap();
        let m = Mail {
            to: vec!["x".into()],
            ..Default::default()
        };
        let start = std::time::Instant::now();
        let e = m.send(&sm, Duration::from_secs(1)).unwrap_err();
        assert!(e.contains("did not finish within 1 s"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(4));
    }
}
