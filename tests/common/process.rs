//! Processes: root and `nobody`, bounded polling, the /proc walk (descendants, argv,
//! environment, state) and SIGKILL.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

pub fn is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Fail the test unless we are root (CI is): a test that needs root must not pass without
/// having run. `what` says what needs it.
pub fn require_root(what: &str) {
    assert!(
        is_root(),
        "this test must run as root ({what}); CI runs the suite as root"
    );
}

/// The unprivileged account [`as_nobody`] runs commands as.
pub const NOBODY: (&str, &str) = ("nobody", "nogroup");

/// `cmd` (built by [`Mirror::command_prog`]: a cleared environment) run as `nobody` through
/// `setpriv` when we are root, for what root is never refused (an unwritable directory);
/// `cmd` itself otherwise. Program, arguments, environment and directory are kept.
pub fn as_nobody(cmd: &Command) -> Command {
    let mut c = if is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            &format!("--reuid={}", NOBODY.0),
            &format!("--regid={}", NOBODY.1),
            "--clear-groups",
            "--",
        ]);
        c.arg(cmd.get_program());
        c
    } else {
        Command::new(cmd.get_program())
    };
    c.args(cmd.get_args());
    c.env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    if let Some(d) = cmd.get_current_dir() {
        c.current_dir(d);
    }
    c.stdin(Stdio::null());
    c.process_group(0);
    c
}

/// This process's PATH with `dir` first, so that fakes there stand in for real programs.
pub fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Poll `cond` every 20 ms until it is true; panic with `what` after `timeout`.
pub fn wait_for(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        sleep(Duration::from_millis(20));
    }
}
/// Parent pid from /proc/PID/stat.
pub fn ppid_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// The state letter of /proc/PID/stat (`Z` for a zombie); None when there is no such
/// process.
pub fn proc_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// Is `pid` a process that has not ended (a zombie has)?
pub fn is_alive(pid: u32) -> bool {
    proc_state(pid).is_some_and(|s| s != 'Z')
}

/// All live descendants of `root` (via the ppid field of /proc/PID/stat).
pub fn descendants(root: u32) -> Vec<u32> {
    let mut parent: HashMap<u32, u32> = HashMap::new();
    if let Ok(rd) = fs::read_dir("/proc") {
        for e in rd.flatten() {
            if let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() {
                if let Some(pp) = ppid_of(pid) {
                    parent.insert(pid, pp);
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for (c, pp) in &parent {
            if *pp == p && !out.contains(c) {
                out.push(*c);
                frontier.push(*c);
            }
        }
    }
    out
}

/// The rsync processes among the descendants of `pid`.
pub fn rsync_descendants(pid: u32) -> Vec<u32> {
    descendants(pid)
        .into_iter()
        .filter(|p| {
            proc_cmdline(*p)
                .and_then(|c| c.first().cloned())
                .is_some_and(|a| a.ends_with("rsync"))
        })
        .collect()
}

pub fn proc_cmdline(pid: u32) -> Option<Vec<String>> {
    let b = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        b.split(|c| *c == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
    )
}

pub fn proc_environ(pid: u32) -> Option<Vec<String>> {
    let b = fs::read(format!("/proc/{pid}/environ")).ok()?;
    Some(
        b.split(|c| *c == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
    )
}

pub fn kill_9(pid: u32) {
    let _ = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Wait for `child` (the leader of its own process group), polling every `poll`, at most
/// `timeout`: its status, or None once the deadline passed and the group was killed.
pub fn wait_or_kill_group(
    child: &mut std::process::Child,
    timeout: Duration,
    poll: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        if Instant::now() > deadline {
            kill_group(child.id());
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        sleep(poll);
    }
}

pub fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-9", "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
