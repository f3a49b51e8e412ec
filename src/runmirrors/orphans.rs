//! Finding and following what `ssh -f` leaves behind.
//!
//! `ssh -f` authenticates, then forks with daemon(3): the process we started exits 0 (the
//! push is accepted) and its child carries the session on in a session of its own until the
//! downstream's command ends. The follower is a child subreaper, so that backgrounded half
//! becomes its child; this module tells which child belongs to which trigger, and waits for
//! its end on a pidfd (an event, no polling).
//!
//! Which child is whose: every trigger's ssh is started through a link of its own in a
//! private directory, `ssh.N` → the real ssh, with `argv[0]` still `ssh`. The kernel names
//! the process after the file it was started as, the fork inherits that name, and a zombie
//! keeps it: so even a session that ended before we looked (a downstream that finished
//! within milliseconds) is told apart exactly. Processes we started ourselves are never
//! claimed, and we never reap a pid we did not identify. When ssh cannot be found on PATH
//! (or is a wrapper that runs it as a child) the halves are matched by their argument
//! vector, which a live one still shows; a zombie without name or arguments then goes to
//! the earliest unpaired trigger by start time (statuses could then be swapped, never lost).

use crate::common::private_dir::PrivateDir;
use crate::common::system;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tokio::io::unix::AsyncFd;

#[derive(Default)]
pub struct Orphans {
    inner: Mutex<Inner>,
    names: Option<Names>,
}

/// Where the per-trigger links live, and what they point at.
struct Names {
    dir: PrivateDir,
    ssh: PathBuf,
    next: AtomicU64,
}

/// How to start one trigger's ssh.
pub struct Program {
    pub path: PathBuf,
    /// The process name the kernel gives it (and its backgrounded half), when unique.
    pub name: Option<String>,
}

/// Processes are known by pid *and* start time: pids are reused (pid_max may be 32768, and a
/// busy hub wraps it), and between another trigger's ssh being reaped and that being noted
/// here its number may already name a new backgrounded half, which must not be skipped.
#[derive(Default)]
struct Inner {
    /// Children we started and wait for ourselves (ssh until it forks): never looked at.
    ours: HashMap<u32, Option<u64>>,
    /// Session leaders we looked at already, claimed or not, until reaped.
    seen: HashMap<u32, u64>,
    /// Session leaders among our children that no trigger has claimed yet.
    pool: Vec<Found>,
}

struct Found {
    pid: u32,
    comm: String,
    /// Empty when the process had already ended when we first saw it.
    argv: Vec<String>,
    start_ticks: u64,
}

impl Orphans {
    /// `ssh` is the program triggers run, looked up on PATH.
    pub fn new(ssh: &str) -> Orphans {
        let names = find_on_path(ssh).and_then(|path| {
            let dir = PrivateDir::new_in(&std::env::temp_dir(), "archvsync-push-").ok()?;
            Some(Names {
                dir,
                ssh: path,
                next: AtomicU64::new(1),
            })
        });
        Orphans {
            inner: Mutex::default(),
            names,
        }
    }

    /// The program to start a trigger's ssh as: a link with a name of its own, or plain
    /// `ssh` when there is no ssh on PATH to link to.
    pub fn program(&self, ssh: &str) -> Program {
        if let Some(n) = &self.names {
            let name = format!("ssh.{}", n.next.fetch_add(1, Ordering::Relaxed));
            let link = n.dir.path().join(&name);
            if std::os::unix::fs::symlink(&n.ssh, &link).is_ok() {
                return Program {
                    path: link,
                    name: Some(name),
                };
            }
        }
        Program {
            path: PathBuf::from(ssh),
            name: None,
        }
    }

    /// `pid` is a child we started and will wait for ourselves.
    pub fn started(&self, pid: u32) {
        // Not reaped yet (we wait for it ourselves), so the pid is surely this process.
        let start = system::proc_stat(pid).map(|st| st.start_ticks);
        if let Ok(mut i) = self.inner.lock() {
            i.ours.insert(pid, start);
        }
    }

    /// The program's process ended: its link is no longer needed (the name stays with the
    /// backgrounded half). Not sooner: a script's interpreter opens it by that path.
    pub fn done_with(&self, program: &Program) {
        if program.name.is_some() {
            let _ = std::fs::remove_file(&program.path);
        }
    }

    /// `pid` was reaped: the number may name another process from now on.
    pub fn reaped(&self, pid: u32) {
        if let Ok(mut i) = self.inner.lock() {
            i.ours.remove(&pid);
            i.seen.remove(&pid);
        }
    }

    /// After the ssh started as `program` with `args` (and `-f`) exited 0: its
    /// backgrounded half, if there is one. There is none when that ssh did not fork (a
    /// multiplexing client, a fake).
    pub fn claim(&self, program: &Program, args: &[String]) -> Option<Session> {
        let mut inner = self.inner.lock().ok()?;
        let want = Want {
            name: program.name.as_deref(),
            args,
        };
        let mut found = inner.scan(system::children(), &want);
        if found.is_none() {
            // The kernel's list of children can miss entries while other children come and
            // go; the full process table cannot.
            found = inner.scan(system::children_by_ppid(), &want);
        }
        let pid = match found {
            Some(pid) => pid,
            None => {
                // Ended before we looked, and not under our name (a wrapper ran ssh as its
                // child): the earliest unpaired nameless zombie.
                let i = inner
                    .pool
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| f.argv.is_empty() && !f.comm.starts_with("ssh."))
                    .min_by_key(|(_, f)| f.start_ticks)
                    .map(|(i, _)| i)?;
                inner.pool.swap_remove(i).pid
            }
        };
        Some(Session::new(pid))
    }
}

/// What identifies one trigger's backgrounded half.
struct Want<'a> {
    name: Option<&'a str>,
    args: &'a [String],
}

impl Want<'_> {
    fn matches(&self, comm: &str, argv: &[String]) -> bool {
        self.name.is_some_and(|n| comm == n) || (argv.len() > 1 && argv[1..] == *self.args)
    }
}

impl Inner {
    /// Looks at children not seen before, and returns the one `want` describes: from the
    /// pool (a backgrounded half seen earlier) or new. Other session leaders (halves of
    /// triggers not yet claimed, zombies) are kept in the pool for later claims.
    fn scan(&mut self, children: Vec<u32>, want: &Want) -> Option<u32> {
        if let Some(i) = self
            .pool
            .iter()
            .position(|f| want.matches(&f.comm, &f.argv))
        {
            return Some(self.pool.swap_remove(i).pid);
        }
        for pid in children {
            let Some(st) = system::proc_stat(pid) else {
                continue;
            };
            let ours = self
                .ours
                .get(&pid)
                .is_some_and(|t| t.is_none_or(|t| t == st.start_ticks));
            if ours || self.seen.get(&pid) == Some(&st.start_ticks) {
                continue;
            }
            let argv = system::cmdline(pid);
            // Right after the fork the half may not have called setsid yet: its name (or
            // its arguments) tell it apart all the same.
            if want.matches(&st.comm, &argv) {
                self.seen.insert(pid, st.start_ticks);
                return Some(pid);
            }
            if st.session != pid {
                // Something started (and waited for) elsewhere, such as sendmail. Not
                // remembered: its pid may be reused by a backgrounded half.
                continue;
            }
            // A pooled entry under a reused number is gone: its process was reaped.
            self.pool.retain(|f| f.pid != pid);
            self.seen.insert(pid, st.start_ticks);
            self.pool.push(Found {
                pid,
                comm: st.comm,
                argv,
                start_ticks: st.start_ticks,
            });
        }
        None
    }
}

/// The first executable `name` on PATH (as exec would find it), or None.
fn find_on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
            }
        })
}

/// The backgrounded half of one trigger's ssh: our child until it ends.
pub struct Session {
    pid: u32,
    fd: Option<AsyncFd<OwnedFd>>,
}

impl Session {
    fn new(pid: u32) -> Session {
        Session {
            pid,
            fd: system::async_pidfd(pid).ok(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits for the end and reaps it: the exit status as a shell reports it, None when
    /// it could not be learnt.
    pub async fn ended(&mut self) -> Option<i32> {
        loop {
            match system::try_reap(self.pid) {
                Ok(Some(status)) => return Some(status),
                Ok(None) => {}
                Err(_) => return None,
            }
            match &self.fd {
                Some(fd) => match fd.readable().await {
                    Ok(mut guard) => guard.clear_ready(),
                    Err(_) => return None,
                },
                // Kernels before 5.3 have no pidfd: SIGCHLD tells us something ended.
                None => match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())
                {
                    Ok(mut s) => {
                        // A SIGCHLD may have come before we listened: look again at least
                        // every few seconds.
                        let _ =
                            tokio::time::timeout(std::time::Duration::from_secs(5), s.recv()).await;
                    }
                    Err(_) => return None,
                },
            }
        }
    }

    /// The pid is still ours (not reaped), so it cannot name another process.
    pub fn signal(&self, sig: i32) {
        system::kill(self.pid, sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn a_link_names_the_process_and_its_fork_even_as_a_zombie() {
        let o = Orphans::new("sh");
        let p = o.program("sh");
        let name = p.name.clone().expect("sh is on PATH");
        let mut child = std::process::Command::new(&p.path)
            .arg0("sh")
            .args(["-c", "true & sleep 0.2"])
            .spawn()
            .unwrap();
        let st = system::proc_stat(child.id()).unwrap();
        assert_eq!(st.comm, name);
        o.started(child.id());
        child.wait().unwrap();
        o.done_with(&p);
        assert!(!p.path.exists());
        assert!(o.names.as_ref().unwrap().dir.path().is_dir());
    }

    /// A number left in `ours` by a process already reaped (its trigger has not said so
    /// yet) may name a new backgrounded half: that one is still found.
    #[tokio::test]
    async fn a_reused_pid_is_not_taken_for_an_earlier_process() {
        let o = Orphans::new("sleep");
        // A name no other test of this process gives its children.
        o.names
            .as_ref()
            .unwrap()
            .next
            .store(990_001, Ordering::Relaxed);
        let p = o.program("sleep");
        assert!(p.name.is_some(), "sleep is on PATH");
        let mut child = std::process::Command::new(&p.path)
            .arg0("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let pid = child.id();
        let start = system::proc_stat(pid).unwrap().start_ticks;
        // What a stale entry of an earlier process with this number looks like.
        o.inner.lock().unwrap().ours.insert(pid, Some(start + 1));
        let found = o.claim(&p, &[]).map(|s| s.pid());
        // While it is really ours (same start), it is never claimed.
        o.inner.lock().unwrap().seen.clear();
        o.inner.lock().unwrap().ours.insert(pid, Some(start));
        let again = o.claim(&p, &[]).map(|s| s.pid());
        let _ = child.kill();
        let _ = child.wait();
        o.done_with(&p);
        assert_eq!(found, Some(pid));
        assert_eq!(again, None);
    }
}
