//! Running child programs (rsync, hooks, ssh) so that a signal to us stops them cleanly.
//!
//! Children get their own process group: a Ctrl-C on the terminal then reaches only us,
//! and we decide how to stop the child (SIGTERM to its whole group, so rsync's helper
//! processes and a hook's pipeline go too, then SIGKILL if it lingers).

use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Command;
use tokio::sync::watch;

/// Run a command's async body on a single-threaded runtime (our commands wait on children,
/// timers and signals; one thread is all they need) and return its exit status.
pub fn block_on(body: impl std::future::Future<Output = u8>) -> u8 {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(body),
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            1
        }
    }
}

/// The signal that asked us to stop, once one arrived.
#[derive(Clone)]
pub struct Cancel {
    rx: watch::Receiver<Option<i32>>,
}

impl Cancel {
    /// Listens for SIGTERM, SIGINT, SIGHUP and SIGQUIT (the original's trap list).
    /// Must be called inside the tokio runtime.
    pub fn on_signals() -> std::io::Result<Cancel> {
        let (canceller, cancel) = Cancel::manual();
        canceller.on_signals()?;
        Ok(cancel)
    }

    /// A Cancel fired by hand (and, if asked, by signals) through its [`Canceller`].
    pub fn manual() -> (Canceller, Cancel) {
        let (tx, rx) = watch::channel(None);
        (Canceller { tx: Arc::new(tx) }, Cancel { rx })
    }

    /// Never fires (tests, and commands that do not handle signals themselves).
    pub fn never() -> Cancel {
        let (tx, rx) = watch::channel(None);
        std::mem::forget(tx);
        Cancel { rx }
    }

    pub fn signal(&self) -> Option<i32> {
        *self.rx.borrow()
    }

    /// Resolves when a signal arrives.
    pub async fn fired(&self) -> i32 {
        let mut rx = self.rx.clone();
        loop {
            if let Some(s) = *rx.borrow_and_update() {
                return s;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Sleeps, or returns the signal that cut the sleep short.
    pub async fn sleep(&self, d: Duration) -> Result<(), i32> {
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            s = self.fired() => Err(s),
        }
    }
}

/// The sending side of a [`Cancel`]: the first signal fired wins.
#[derive(Clone)]
pub struct Canceller {
    tx: Arc<watch::Sender<Option<i32>>>,
}

impl Canceller {
    pub fn fire(&self, sig: i32) {
        self.tx.send_if_modified(|v| {
            if v.is_none() {
                *v = Some(sig);
                true
            } else {
                false
            }
        });
    }

    /// Fire on SIGTERM, SIGINT, SIGHUP or SIGQUIT. Must be called inside the tokio runtime.
    pub fn on_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{signal, SignalKind};
        let kinds = [
            (SignalKind::terminate(), libc::SIGTERM),
            (SignalKind::interrupt(), libc::SIGINT),
            (SignalKind::hangup(), libc::SIGHUP),
            (SignalKind::quit(), libc::SIGQUIT),
        ];
        let mut streams = Vec::new();
        for (kind, num) in kinds {
            streams.push((signal(kind)?, num));
        }
        for (mut s, num) in streams {
            let me = self.clone();
            tokio::spawn(async move {
                if s.recv().await.is_some() {
                    me.fire(num);
                }
            });
        }
        Ok(())
    }
}

#[derive(Debug)]
pub enum Outcome {
    Exited(ExitStatus),
    /// We stopped the child because this signal arrived.
    Interrupted(i32),
    /// We stopped the child because it ran past its deadline.
    TimedOut(Duration),
}

/// How the logs name the signals we stop on.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGHUP => "SIGHUP",
        libc::SIGQUIT => "SIGQUIT",
        _ => "a signal",
    }
}

/// Exit code as a shell reports it: the code, or 128 + signal number.
pub fn shell_code(status: &ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// How long a child stopped by us (signal or deadline) gets between SIGTERM to its group
/// and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Spawn `cmd` in its own process group and wait for it, unless `cancel` fires first.
pub async fn run(cmd: Command, cancel: &Cancel) -> std::io::Result<Outcome> {
    run_within(cmd, cancel, None).await
}

/// [`run`] with a deadline: a child still running after `limit` is stopped (SIGTERM to its
/// group, SIGKILL after a grace period) and reported as [`Outcome::TimedOut`].
pub async fn run_within(
    mut cmd: Command,
    cancel: &Cancel,
    limit: Option<Duration>,
) -> std::io::Result<Outcome> {
    cmd.process_group(0).kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let deadline = async {
        match limit {
            Some(l) => tokio::time::sleep(l).await,
            None => std::future::pending().await,
        }
    };
    let stopped = tokio::select! {
        status = child.wait() => return Ok(Outcome::Exited(status?)),
        sig = cancel.fired() => Outcome::Interrupted(sig),
        _ = deadline => Outcome::TimedOut(limit.unwrap_or_default()),
    };
    if let Some(pid) = pid {
        stop_group(&mut child, pid, STOP_GRACE).await;
    }
    Ok(stopped)
}

/// Stops `child`, the leader of process group `pid` (taken before it could be reaped):
/// SIGTERM to the group, SIGKILL after `grace`, and reaps it.
pub async fn stop_group(child: &mut tokio::process::Child, pid: u32, grace: Duration) {
    kill_group(pid, libc::SIGTERM);
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        kill_group(pid, libc::SIGKILL);
        let _ = child.wait().await;
    }
}

/// Like [`run`], but the child is also killed (SIGTERM) when we die, however we die: a
/// SIGKILLed or OOM-killed ftpsync must not leave an rsync (stage 2 deletes!) running on
/// in the tree while the next run takes the lock. Linux only (PR_SET_PDEATHSIG).
pub async fn run_tied(cmd: Command, cancel: &Cancel) -> std::io::Result<Outcome> {
    run_tied_within(cmd, cancel, None).await
}

/// [`run_tied`] with the deadline of [`run_within`].
pub async fn run_tied_within(
    mut cmd: Command,
    cancel: &Cancel,
    limit: Option<Duration>,
) -> std::io::Result<Outcome> {
    tie_to_us(cmd.as_std_mut());
    run_within(cmd, cancel, limit).await
}

/// Make the child get SIGTERM when we die (PR_SET_PDEATHSIG), whatever kills us, SIGKILL
/// and the OOM killer included. For every child a run starts: none may outlive it.
///
/// Caveat of the mechanism: "we" is the *thread* that spawns the child. Our runtimes are
/// single-threaded, and [`crate::common::mail`] spawns sendmail from the thread that then
/// waits for it, so the thread lives as long as the child does. The signal reaches the
/// child itself; rsync stops its helpers on SIGTERM, and `sh -c` execs a lone command.
pub fn tie_to_us(cmd: &mut std::process::Command) {
    crate::common::system::die_with_parent(cmd);
}

/// Sends the child's stdout and stderr, appended, to `path` (created if missing). On error
/// the output is discarded and the error returned for the caller to log.
pub fn output_to(cmd: &mut Command, path: &std::path::Path) -> std::io::Result<()> {
    let opened = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|f| Ok((f.try_clone()?, f)));
    match opened {
        Ok((out, err)) => {
            cmd.stdout(out).stderr(err);
            Ok(())
        }
        Err(e) => {
            cmd.stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            Err(e)
        }
    }
}

/// How much of each of a helper's stdout and stderr [`output_within`] keeps.
const OUTPUT_CAP: usize = 64 * 1024;

/// Runs a short helper command with `input` on its stdin and collects its output (the last
/// [`OUTPUT_CAP`] bytes of each stream: where a failing program says why; the rest is read
/// and dropped, so a chatty helper never blocks on a full pipe), waiting at most `timeout`: a helper that hangs
/// (not reading its input, never exiting) is killed with its process group and reported as
/// [`std::io::ErrorKind::TimedOut`]. Writing, reading and waiting happen on helper threads,
/// so the deadline holds whatever the helper does.
pub fn output_within(
    mut cmd: std::process::Command,
    input: &[u8],
    timeout: Duration,
) -> std::io::Result<std::process::Output> {
    use std::io::{Read, Write};
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let pid = child.id();
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    fn capped(r: Option<impl Read>) -> Vec<u8> {
        let mut v = Vec::new();
        let Some(mut r) = r else { return v };
        let mut buf = [0u8; 8192];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            v.extend_from_slice(&buf[..n]);
            if v.len() > 2 * OUTPUT_CAP {
                v.drain(..v.len() - OUTPUT_CAP);
            }
        }
        if v.len() > OUTPUT_CAP {
            v.drain(..v.len() - OUTPUT_CAP);
        }
        v
    }
    let input = input.to_vec();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // stderr on a thread of its own: a helper filling it must not block the rest.
        let err = std::thread::spawn(move || capped(stderr));
        if let Some(mut stdin) = stdin {
            let _ = stdin.write_all(&input);
        }
        let stdout = capped(stdout);
        let stderr = err.join().unwrap_or_default();
        let _ = tx.send(child.wait().map(|status| std::process::Output {
            status,
            stdout,
            stderr,
        }));
    });
    match rx.recv_timeout(timeout) {
        Ok(r) => r,
        Err(_) => {
            kill_group(pid, libc::SIGKILL);
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("did not finish within {} s", timeout.as_secs()),
            ))
        }
    }
}

pub fn kill_group(pid: u32, sig: i32) {
    crate::common::system::kill_group(pid, sig);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_and_reports_status() {
        let mut c = Command::new("sh");
        c.args(["-c", "exit 7"]);
        match run(c, &Cancel::never()).await.unwrap() {
            Outcome::Exited(s) => assert_eq!(shell_code(&s), 7),
            o => panic!("{o:?}"),
        }
    }

    #[tokio::test]
    async fn cancel_stops_the_child_group() {
        let (tx, rx) = watch::channel(None);
        let cancel = Cancel { rx };
        let mut c = Command::new("sh");
        c.args(["-c", "sleep 30; echo late"]);
        let start = std::time::Instant::now();
        let task = tokio::spawn(async move { run(c, &cancel).await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        tx.send(Some(libc::SIGTERM)).unwrap();
        let out = task.await.unwrap().unwrap();
        assert!(matches!(out, Outcome::Interrupted(s) if s == libc::SIGTERM));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_child_past_its_deadline_is_stopped() {
        let mut c = Command::new("sh");
        c.args(["-c", "sleep 30"]);
        let start = std::time::Instant::now();
        let out = run_tied_within(c, &Cancel::never(), Some(Duration::from_millis(200)))
            .await
            .unwrap();
        assert!(matches!(out, Outcome::TimedOut(d) if d == Duration::from_millis(200)));
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
