//! Mail through sendmail, MIME multipart with the logs attached, as the original sent it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const DEFAULT_SENDMAIL: &str = "/usr/sbin/sendmail";

#[derive(Debug, Default, Clone)]
pub struct Mail {
    pub subject: String,
    pub to: Vec<String>,
    pub bodies: Vec<String>,
    pub attachments: Vec<PathBuf>,
}

impl Mail {
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

    /// Hands the mail to `sendmail -i -- ADDR...`. An error is returned for the caller to
    /// log; it never changes the outcome of a run.
    pub fn send(&self, sendmail: &Path) -> Result<(), String> {
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
        let mut child = Command::new(sendmail)
            .arg("-i")
            .arg("--")
            .args(&self.to)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", sendmail.display()))?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(&self.render(&boundary));
        }
        let out = child
            .wait_with_output()
            .map_err(|e| format!("{}: {e}", sendmail.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} exited with {}: {}",
                sendmail.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
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
        assert!(m.send(Path::new("/nonexistent/sendmail")).is_err());
    }
}
