//! Finding and following what `ssh -f` leaves behind.
//!
//! `ssh -f` authenticates, then forks with daemon(3): the process we started exits 0 (the
//! push is accepted) and its child carries the session on in a session of its own until the
//! downstream's command ends. The follower is a child subreaper, so that backgrounded half
//! becomes its child; this module tells which child belongs to which trigger, and waits for
//! its end on a pidfd (an event, no polling).
//!
//! Which child is whose: the backgrounded half is a session leader (daemon(3) calls
//! setsid) and, having forked without exec, it still shows the argument vector of the ssh
//! we started. Processes we started ourselves (ssh before it forks, sendmail) are never
//! session leaders, and we never reap a pid we did not identify. A half that ended before we
//! looked (a downstream that finished within milliseconds) is a zombie without arguments;
//! it is paired with the earliest trigger still unpaired, by start time, which is the right
//! one unless two such sessions ended in the same instant — their statuses could then be
//! swapped, never lost.

use crate::common::system;
use std::collections::HashSet;
use std::os::fd::OwnedFd;
use std::sync::Mutex;
use tokio::io::unix::AsyncFd;

#[derive(Default)]
pub struct Orphans {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Children we started and wait for ourselves (ssh until it forks): never looked at.
    ours: HashSet<u32>,
    /// Session leaders we looked at already, claimed or not, until reaped.
    seen: HashSet<u32>,
    /// Session leaders among our children that no trigger has claimed yet.
    pool: Vec<Found>,
}

struct Found {
    pid: u32,
    /// Empty when the process had already ended when we first saw it.
    argv: Vec<String>,
    start_ticks: u64,
}

impl Orphans {
    /// `pid` is a child we started and will wait for ourselves.
    pub fn started(&self, pid: u32) {
        if let Ok(mut i) = self.inner.lock() {
            i.ours.insert(pid);
        }
    }

    /// `pid` was reaped: the number may name another process from now on.
    pub fn reaped(&self, pid: u32) {
        if let Ok(mut i) = self.inner.lock() {
            i.ours.remove(&pid);
            i.seen.remove(&pid);
        }
    }

    /// After `ssh ARGS` (started with `-f`) exited 0: its backgrounded half, if there is
    /// one. There is none when that ssh did not fork (a multiplexing client, a wrapper).
    pub fn claim(&self, args: &[String]) -> Option<Session> {
        let mut inner = self.inner.lock().ok()?;
        let mut found = inner.scan(system::children(), args);
        if found.is_none() {
            // The kernel's list of children can miss entries while other children come and
            // go; the full process table cannot.
            found = inner.scan(system::children_by_ppid(), args);
        }
        let pid = match found {
            Some(pid) => pid,
            None => {
                // Ended before we looked: the earliest unpaired zombie.
                let i = inner
                    .pool
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| f.argv.is_empty())
                    .min_by_key(|(_, f)| f.start_ticks)
                    .map(|(i, _)| i)?;
                inner.pool.swap_remove(i).pid
            }
        };
        Some(Session::new(pid))
    }
}

impl Inner {
    /// Looks at children not seen before, and returns the one that carries `args`: from
    /// the pool (a backgrounded half seen earlier) or new. Other session leaders (halves of
    /// triggers not yet claimed, zombies) are kept in the pool for later claims.
    fn scan(&mut self, children: Vec<u32>, args: &[String]) -> Option<u32> {
        let carries = |argv: &[String]| argv.len() > 1 && argv[1..] == *args;
        if let Some(i) = self.pool.iter().position(|f| carries(&f.argv)) {
            return Some(self.pool.swap_remove(i).pid);
        }
        for pid in children {
            if self.ours.contains(&pid) || self.seen.contains(&pid) {
                continue;
            }
            let Some(st) = system::proc_stat(pid) else {
                continue;
            };
            let argv = system::cmdline(pid);
            // Right after the fork the half may not have called setsid yet: its arguments
            // tell it apart all the same.
            if carries(&argv) {
                self.seen.insert(pid);
                return Some(pid);
            }
            if st.session != pid {
                // Something started (and waited for) elsewhere, such as sendmail. Not
                // remembered: its pid may be reused by a backgrounded half.
                continue;
            }
            self.seen.insert(pid);
            self.pool.push(Found {
                pid,
                argv,
                start_ticks: st.start_ticks,
            });
        }
        None
    }
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
