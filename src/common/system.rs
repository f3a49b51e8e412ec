//! The operating-system calls archvsync makes that the standard library does not wrap.
//! Every `unsafe` block for them lives here, each behind a small safe function, so the rest
//! of the code never touches libc directly.

use std::io;

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Makes a FIFO at `path` with `mode` (less the umask); an existing file is an error.
pub fn mkfifo(path: &std::path::Path, mode: u32) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: mkfifo(3) only reads the NUL-terminated path.
    check(unsafe { libc::mkfifo(c.as_ptr(), mode as libc::mode_t) }).map(drop)
}

/// The effective user id.
pub fn geteuid() -> u32 {
    // SAFETY: geteuid(2) cannot fail and has no preconditions.
    unsafe { libc::geteuid() }
}

/// The effective user's name and home directory from the user database (NSS, so LDAP and
/// the like too), not from the environment: what cron and sshd give that user's jobs.
/// None when the user has no entry (a bare uid in a container) or it is not UTF-8.
pub fn account() -> Option<(String, std::path::PathBuf)> {
    use std::ffi::CStr;
    use std::os::unix::ffi::OsStrExt;
    let uid = geteuid();
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: passwd is plain data; getpwuid_r fills it with pointers into buf, which
        // outlives every use of them below (the strings are copied out before returning).
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: the pointers are valid for the sizes given.
        let rc = unsafe {
            libc::getpwuid_r(
                uid,
                &mut pw,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        // An entry larger than the buffer: try again with more room, within reason.
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 || result.is_null() || pw.pw_name.is_null() || pw.pw_dir.is_null() {
            return None;
        }
        // SAFETY: getpwuid_r succeeded, so both are NUL-terminated strings inside buf.
        let (name, dir) = unsafe { (CStr::from_ptr(pw.pw_name), CStr::from_ptr(pw.pw_dir)) };
        let name = name.to_str().ok()?.to_string();
        let dir = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(dir.to_bytes()));
        return Some((name, dir));
    }
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
    fn mkfifo_makes_a_fifo_and_refuses_an_existing_file() {
        use std::os::unix::fs::FileTypeExt;
        let dir = std::env::temp_dir().join(format!("archvsync-mkfifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f");
        mkfifo(&p, 0o600).unwrap();
        assert!(std::fs::metadata(&p).unwrap().file_type().is_fifo());
        assert_eq!(
            mkfifo(&p, 0o600).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
