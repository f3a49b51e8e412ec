//! The run lock: `TO/Archive-Update-in-Progress-MIRRORNAME`.
//!
//! The file's existence is part of the mirror protocol (downstreams see it through rsync and
//! know we are mid-update), so it must exist while we run and vanish when we stop. Who owns
//! it is decided by an OS advisory lock (flock) held on it for the whole run: the kernel
//! drops that lock when the process dies, however it dies, so a run killed by SIGKILL or the
//! OOM killer leaves a file but never a lock, and the next run takes over at once.
//! We still write our pid into the file, as the original did, for humans and old tools.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

#[derive(Debug)]
pub struct RunLock {
    file: Option<File>,
    path: PathBuf,
}

#[derive(Debug)]
pub enum Acquired {
    /// We own the lock. `stale` is the pid a dead run left in the file, if any.
    Locked {
        lock: RunLock,
        stale: Option<String>,
    },
    /// Another live run holds it; its pid as written in the file.
    Held { pid: String },
}

/// Try once; never waits. `legacy_timeout` is how long a pid-only lock written by the
/// original shell script, whose process is still alive, is honoured (LOCKTIMEOUT).
pub fn try_acquire(path: &Path, legacy_timeout: Duration) -> std::io::Result<Acquired> {
    // A run that finishes unlinks the file while holding the flock; a racer may have opened
    // that doomed inode and then win the flock on it. Re-check that the path still names
    // the inode we locked, and start over if not.
    for _ in 0..20 {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Ok(Acquired::Held {
                    pid: read_pid(&mut file),
                })
            }
            Err(TryLockError::Error(e)) => return Err(e),
        }
        let ours = file.metadata()?;
        match std::fs::metadata(path) {
            Ok(m) if m.ino() == ours.ino() && m.dev() == ours.dev() => {}
            _ => continue,
        }
        let previous = read_pid(&mut file);
        if !previous.is_empty() && legacy_holder_alive(&previous, &ours, legacy_timeout) {
            return Ok(Acquired::Held { pid: previous });
        }
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        writeln!(file, "{}", std::process::id())?;
        file.flush()?;
        return Ok(Acquired::Locked {
            lock: RunLock {
                file: Some(file),
                path: path.to_path_buf(),
            },
            stale: (!previous.is_empty()).then_some(previous),
        });
    }
    Err(std::io::Error::other(format!(
        "{}: the lock file keeps being replaced while we try to lock it",
        path.display()
    )))
}

/// Who holds the lock, without taking it: the pid of a live run (ours, by its flock, or the
/// original script's, by its pid), or None. A missing file is no lock.
pub fn holder(path: &Path, legacy_timeout: Duration) -> Option<String> {
    let mut file = OpenOptions::new().read(true).open(path).ok()?;
    match file.try_lock() {
        Err(TryLockError::WouldBlock) => Some(read_pid(&mut file)),
        Err(TryLockError::Error(_)) => None,
        Ok(()) => {
            let pid = read_pid(&mut file);
            let meta = file.metadata().ok()?;
            (!pid.is_empty() && legacy_holder_alive(&pid, &meta, legacy_timeout)).then_some(pid)
        }
    }
}

fn read_pid(file: &mut File) -> String {
    let mut s = String::new();
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.take(64).read_to_string(&mut s);
    s.trim().to_string()
}

/// A pid in an unlocked lock file is normally a dead archvsync run. It can also be the
/// original shell script, which only writes its pid and holds no flock: honour that one
/// while the process lives, looks like ftpsync, and the file is younger than LOCKTIMEOUT.
fn legacy_holder_alive(pid: &str, meta: &std::fs::Metadata, timeout: Duration) -> bool {
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    if pid == std::process::id() {
        return false;
    }
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    if !proc_dir.exists() {
        return false;
    }
    // Another archvsync would hold the flock if it held this lock: a live one here is a
    // reused pid, not a holder.
    let exe = std::fs::read_link(proc_dir.join("exe")).ok();
    if exe.is_some() && exe == std::fs::read_link("/proc/self/exe").ok() {
        return false;
    }
    let cmdline = std::fs::read(proc_dir.join("cmdline")).unwrap_or_default();
    if !String::from_utf8_lossy(&cmdline).contains("ftpsync") {
        return false;
    }
    let age = meta
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .unwrap_or_default();
    age < timeout
}

impl RunLock {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the file, then drops the flock. In that order, so nobody can lock the file
    /// we are about to delete and believe they own the run.
    pub fn release(mut self) {
        self.release_inner();
    }

    fn release_inner(&mut self) {
        if let Some(file) = self.file.take() {
            let _ = std::fs::remove_file(&self.path);
            drop(file);
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        self.release_inner();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(3600);

    #[test]
    fn second_acquire_sees_holder_then_takes_over_after_release() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("Archive-Update-in-Progress-m");
        let Acquired::Locked { lock, stale } = try_acquire(&p, T).unwrap() else {
            panic!("first acquire must lock")
        };
        assert!(stale.is_none());
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            format!("{}\n", std::process::id())
        );
        match try_acquire(&p, T).unwrap() {
            Acquired::Held { pid } => assert_eq!(pid, std::process::id().to_string()),
            other => panic!("expected Held, got {other:?}"),
        }
        lock.release();
        assert!(!p.exists());
        assert!(matches!(
            try_acquire(&p, T).unwrap(),
            Acquired::Locked { .. }
        ));
    }

    #[test]
    fn holder_sees_a_live_lock_only() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("lock");
        assert_eq!(holder(&p, T), None);
        let Acquired::Locked { lock, .. } = try_acquire(&p, T).unwrap() else {
            panic!()
        };
        assert_eq!(holder(&p, T), Some(std::process::id().to_string()));
        drop(lock);
        std::fs::write(&p, "999999999\n").unwrap();
        assert_eq!(holder(&p, T), None);
    }

    #[test]
    fn dead_pid_is_stale() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("lock");
        // pid_max is far below this, so no process has it.
        std::fs::write(&p, "999999999\n").unwrap();
        match try_acquire(&p, T).unwrap() {
            Acquired::Locked { stale, .. } => assert_eq!(stale.as_deref(), Some("999999999")),
            other => panic!("expected Locked, got {other:?}"),
        }
    }

    #[test]
    fn live_legacy_script_lock_is_honoured_until_locktimeout() {
        // A process that looks like the original script: argv[0] mentions ftpsync.
        let mut child = std::process::Command::new("bash")
            .args(["-c", "exec -a ftpsync-legacy sleep 30"])
            .spawn()
            .unwrap();
        let pid = child.id().to_string();
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("lock");
        std::thread::sleep(Duration::from_millis(200));
        std::fs::write(&p, format!("{pid}\n")).unwrap();
        let held = try_acquire(&p, T).unwrap();
        let old = try_acquire(&p, Duration::ZERO).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            matches!(held, Acquired::Held { pid: ref h } if *h == pid),
            "{held:?}"
        );
        assert!(
            matches!(old, Acquired::Locked { ref stale, .. } if stale.as_deref() == Some(pid.as_str())),
            "{old:?}"
        );
    }
}
