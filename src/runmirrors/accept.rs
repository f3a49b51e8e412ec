//! Learning that a downstream accepted a trigger while its ssh carries on.
//!
//! A trigger is accepted once the downstream authenticated us; the session that follows is
//! the downstream's own sync and may last hours. ssh stays in the foreground, our child
//! until the session ends, so its exit status is the downstream's and nobody else can reap
//! it. (`ssh -f` would tell acceptance by returning, but its backgrounded half is then
//! reaped by the half that returned whenever the session ends first: ssh's SIGCHLD handler
//! waits for any child, and that status is lost.)
//!
//! ssh runs its LocalCommand right after authentication, at the point where `-f` would go
//! to the background: ours writes a byte into a FIFO of this trigger's own, in a private
//! directory, which we watch as an event. Both ends open the FIFO read-write, so neither
//! ever blocks: a LocalCommand run after we stopped looking cannot hang ssh.

use crate::common::private_dir::PrivateDir;
use crate::common::system;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::unix::pipe;

/// The private directory the FIFOs of one follower live in.
pub struct Acceptance {
    /// The directory, or why it could not be made (each trigger's log says so).
    dir: Result<PrivateDir, String>,
    next: AtomicU64,
}

impl Acceptance {
    pub fn new() -> Acceptance {
        let tmp = std::env::temp_dir();
        Acceptance {
            dir: PrivateDir::new_in(&tmp, "archvsync-push-")
                .map_err(|e| format!("cannot make a private directory in {}: {e}", tmp.display())),
            next: AtomicU64::new(1),
        }
    }

    /// A FIFO for one trigger, watched from now on.
    pub fn watch(&self) -> io::Result<Watch> {
        let dir = self.dir.as_ref().map_err(|e| io::Error::other(e.clone()))?;
        let path = dir.path().join(format!(
            "accepted.{}",
            self.next.fetch_add(1, Ordering::Relaxed)
        ));
        system::mkfifo(&path, 0o600)?;
        match pipe::OpenOptions::new()
            .read_write(true)
            .open_receiver(&path)
        {
            Ok(rx) => Ok(Watch { path, rx }),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }
}

impl Default for Acceptance {
    fn default() -> Self {
        Acceptance::new()
    }
}

/// One trigger's FIFO; removed when dropped.
pub struct Watch {
    path: PathBuf,
    rx: pipe::Receiver,
}

impl Watch {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Resolves once the LocalCommand wrote. Cancel-safe.
    pub async fn accepted(&self) -> io::Result<()> {
        let mut buf = [0u8; 64];
        loop {
            self.rx.readable().await?;
            match self.rx.try_read(&mut buf) {
                Ok(n) if n > 0 => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether the LocalCommand wrote already: a read now, on a duplicate of the
    /// descriptor, whatever the reactor has seen so far. Non-blocking, and never at an end
    /// of file: we hold a writer too.
    pub fn signalled(&self) -> bool {
        let mut buf = [0u8; 64];
        self.rx
            .as_fd()
            .try_clone_to_owned()
            .map(File::from)
            .and_then(|mut f| f.read(&mut buf))
            .is_ok_and(|n| n > 0)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_by_a_shell_is_seen_and_a_late_one_does_not_block() {
        let a = Acceptance::new();
        let w = a.watch().unwrap();
        assert!(!w.signalled());
        let cmd = format!(
            "echo 1<>{}",
            shell_words::quote(&w.path().to_string_lossy())
        );
        let st = tokio::process::Command::new("sh")
            .args(["-c", &cmd])
            .status()
            .await
            .unwrap();
        assert!(st.success());
        tokio::time::timeout(std::time::Duration::from_secs(5), w.accepted())
            .await
            .expect("the write is an event")
            .unwrap();
        // Read already: nothing more to see.
        assert!(!w.signalled());
        // A second write (nobody waits for it) neither blocks nor fails.
        let st = std::process::Command::new("sh")
            .args(["-c", &cmd])
            .status()
            .unwrap();
        assert!(st.success());
        assert!(w.signalled());
        let p = w.path().to_path_buf();
        drop(w);
        assert!(!p.exists());
    }
}
