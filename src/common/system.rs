//! The operating-system calls archvsync makes that the standard library does not wrap.
//! Every `unsafe` block for them lives here, each behind a small safe function, so the rest
//! of the code never touches libc directly.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Orphaned descendants (what `ssh -f` leaves running) are re-parented to us instead of
/// init, so we can wait for them and learn how they ended.
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) takes plain integers and only changes how the
    // kernel re-parents orphans.
    check(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }).map(drop)
}

/// A pidfd for `pid`: readable once the process has ended (Linux 5.3+). Unlike the pid it
/// cannot come to name another process.
pub fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = libc::c_int::try_from(fd).map_err(io::Error::other)?;
    // SAFETY: the kernel just gave us this descriptor; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A pidfd for `pid`, registered with the tokio reactor: `readable()` resolves when the
/// process ends. Must be called inside the runtime.
pub fn async_pidfd(pid: u32) -> io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    let fd = pidfd_open(pid)?;
    // SAFETY: the AsyncFd owns the OwnedFd, so the descriptor stays open and names the same
    // pidfd for as long as the AsyncFd lives.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(|e| io::Error::other(e.to_string()))
}

/// Reaps our child `pid` if it has ended, without waiting: its exit status as a shell
/// reports it (the code, or 128 + signal), or None while it runs.
pub fn try_reap(pid: u32) -> io::Result<Option<i32>> {
    let pid = libc::id_t::try_from(pid).map_err(io::Error::other)?;
    // SAFETY: an all-zero siginfo_t is a valid value; waitid only writes into it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid with a valid pointer to a siginfo_t we own.
    check(unsafe { libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOHANG) })?;
    // SAFETY: after a successful waitid, si_pid and si_status are initialised (si_pid is 0
    // when nothing had ended).
    let (got, status) = unsafe { (info.si_pid(), info.si_status()) };
    if got == 0 {
        return Ok(None);
    }
    Ok(Some(if info.si_code == libc::CLD_EXITED {
        status
    } else {
        128 + status
    }))
}

/// The effective user id.
pub fn geteuid() -> u32 {
    // SAFETY: geteuid(2) cannot fail and has no preconditions.
    unsafe { libc::geteuid() }
}

/// access(2): may we (the real user) use `path` for `mode` (libc::R_OK, W_OK, X_OK)?
pub fn access(path: &std::path::Path, mode: libc::c_int) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access(2) only reads the NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), mode) == 0 }
}

/// Sets the process's file mode creation mask.
pub fn set_umask(mask: u32) {
    // SAFETY: umask(2) only sets the process file mode mask.
    unsafe {
        libc::umask(mask as libc::mode_t);
    }
}

/// Sets an integer socket option (best effort: the result is returned, not acted on).
pub fn set_socket_option(
    socket: &impl std::os::fd::AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> bool {
    setsockopt(socket, level, name, &value)
}

/// Makes closing `socket` reset the connection (SO_LINGER with a zero timeout) instead of
/// ending it in order: how a crashed or firewalled peer looks to the other side.
pub fn reset_on_close(socket: &impl std::os::fd::AsRawFd) -> bool {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    setsockopt(socket, libc::SOL_SOCKET, libc::SO_LINGER, &l)
}

/// `value` must be the plain C type the option takes (c_int, linger, ...).
fn setsockopt<T>(
    socket: &impl std::os::fd::AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> bool {
    // SAFETY: the descriptor is an open socket borrowed for the call; the value is a
    // plain C struct or integer that outlives the call, and its size is passed along.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        ) == 0
    }
}

/// The child `cmd` starts gets SIGTERM when the thread that started it dies, however it
/// dies (PR_SET_PDEATHSIG; Linux only).
pub fn die_with_parent(cmd: &mut std::process::Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: getpid(2) is async-signal-safe.
        let parent = unsafe { libc::getpid() };
        // SAFETY: the closure runs in the forked child before exec and only calls
        // async-signal-safe functions (prctl, getppid, raise).
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent died between fork and prctl: go now.
                if libc::getppid() != parent {
                    libc::raise(libc::SIGTERM);
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// Sends `sig` to one process.
pub fn kill(pid: u32, sig: i32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Sends `sig` to the process group led by `pid`.
pub fn kill_group(pid: u32, sig: i32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(-pid, sig);
        }
    }
}

/// The spawned program starts a session of its own: signals for our terminal or process
/// group (Ctrl-C, a shell's SIGHUP) do not reach it, and it outlives us.
pub fn new_session_on_spawn(cmd: &mut tokio::process::Command) {
    // SAFETY: the closure runs in the forked child before exec and calls only setsid(),
    // which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
}

/// Raises the soft limit of open files to the hard limit: a follower holds a few
/// descriptors per downstream, and hubs have hundreds of downstreams.
pub fn raise_open_files_limit() {
    // SAFETY: an all-zero rlimit is a valid value; getrlimit only writes into it.
    let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: getrlimit/setrlimit with a valid pointer to an rlimit we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Our direct children, live or ended but not yet reaped (`/proc/self/task/*/children`).
/// Cheap, but the kernel documents it as unreliable while children come and go.
pub fn children() -> Vec<u32> {
    let mut v = Vec::new();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
                v.extend(s.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
            }
        }
    }
    v
}

/// Our direct children from the whole process table (every /proc/PID/stat whose parent is
/// us): slower than [`children`], but it cannot miss a child while others come and go.
pub fn children_by_ppid() -> Vec<u32> {
    let me = std::process::id().to_string();
    let mut v = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return v;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().nth(1));
        if ppid == Some(me.as_str()) {
            v.push(pid);
        }
    }
    v
}

/// A process's argument vector, empty once it has ended (a zombie has none).
pub fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|w| !w.is_empty())
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The fields of /proc/PID/stat we use; still there for a zombie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    /// The process name: the file name it was started as (at most 15 bytes).
    pub comm: String,
    /// The session id: equal to the pid for a session leader (what daemon(3) makes).
    pub session: u32,
    /// When the process started, in clock ticks after boot.
    pub start_ticks: u64,
}

pub fn proc_stat(pid: u32) -> Option<ProcStat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let close = stat.rfind(')')?;
    let comm = stat.get(stat.find('(')? + 1..close)?.to_string();
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // After the name: state(3) ppid(4) pgrp(5) session(6) ... starttime(22).
    Some(ProcStat {
        comm,
        session: fields.get(3)?.parse().ok()?,
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

/// CPU time this process used so far (user + system), not counting its children.
pub fn cpu_time() -> std::time::Duration {
    // SAFETY: an all-zero rusage is a valid value; getrusage only writes into it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage with a valid pointer to an rusage we own.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return std::time::Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        std::time::Duration::from_secs(t.tv_sec.max(0) as u64)
            + std::time::Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Peak resident memory of this process in KiB (VmHWM), for the follower's last log line.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaps_a_child_and_reads_its_status() {
        let child = std::process::Command::new("sh")
            .args(["-c", "exit 7"])
            .spawn()
            .unwrap();
        let pid = child.id();
        let fd = pidfd_open(pid).unwrap();
        // Readable means ended: wait for it with poll(2) through std's helper-free path.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let status = loop {
            if let Some(s) = try_reap(pid).unwrap() {
                break s;
            }
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        assert_eq!(status, 7);
        drop(fd);
        std::mem::forget(child);
    }

    #[test]
    fn stat_of_self() {
        let st = proc_stat(std::process::id()).unwrap();
        assert!(st.start_ticks > 0);
        assert!(!cmdline(std::process::id()).is_empty());
    }
}
