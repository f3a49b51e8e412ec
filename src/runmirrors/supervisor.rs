//! `archvsync push-trigger`: follows one detached trigger to its end.
//!
//! The upstream that pushed us must not wait for our leaves' whole syncs, yet we want each
//! trigger's final outcome in its log. So runmirrors starts this supervisor in its own
//! session; it runs `ssh -f`, which returns once the downstream authenticated us and the
//! session is up (the push is accepted), and reports that on stdout so runmirrors can move
//! on. It then stays, as the child subreaper that inherits ssh's backgrounded half, until
//! that ssh ends — which is when the downstream's sync ends — and logs the exit status.

use super::trigger::{report_line, Outcome};
use crate::cli::PushTriggerArgs;
use crate::common::host;
use crate::common::log::Logger;
use crate::common::mail::Mail;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn main(args: PushTriggerArgs) -> u8 {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) only changes how orphans are reparented.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
    let log = Logger::open(&args.log, &args.program);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.timeout);
    let label = &args.label;

    let mut cmd = Command::new(super::trigger::SSH);
    cmd.args(&args.ssh).stdin(Stdio::null());
    match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.log)
        .and_then(|f| Ok((f.try_clone()?, f)))
    {
        Ok((o, e)) => {
            cmd.stdout(o).stderr(e);
        }
        Err(_) => {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let o = Outcome::Failed(format!("cannot run ssh: {e}"));
            report(&o);
            log.log(format!("{label} trigger could not run ssh: {e}"));
            return 1;
        }
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() >= deadline => break None,
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => break None,
        }
    };
    let secs = || start.elapsed().as_secs_f64();
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        report(&Outcome::TimedOut);
        log.log(format!("{label} trigger timed out after {:.0} s", secs()));
        failure_mail(
            &args,
            &format!("{label} trigger timed out: {}", host_of(&args.ssh)),
        );
        return 1;
    };
    let code = crate::common::process::shell_code(&status);
    if code != 0 {
        report(&Outcome::Exited(code));
        log.log(format!(
            "{label} trigger: exit status {code} after {:.2} s",
            secs()
        ));
        return 0;
    }
    report(&Outcome::Accepted);
    // Nothing of runmirrors stays connected to us from here on.
    close_stdout();
    log.log(format!("{label} trigger accepted after {:.2} s", secs()));

    let (final_code, timed_out) = reap_until(deadline);
    if let (Some(path), Some(name)) = (&args.state, &args.name) {
        let secs = (start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
        let code = if timed_out { None } else { final_code };
        let _ = crate::common::state::update(path, |st| {
            if let Some(d) = st.downstreams.get_mut(name) {
                d.finished_exit_status = code;
                d.finished_seconds = Some(secs);
                if timed_out {
                    d.outcome = "timeout".into();
                }
            }
        });
    }
    match (final_code, timed_out) {
        (_, true) => {
            log.log(format!("{label} trigger timed out after {:.0} s", secs()));
            failure_mail(
                &args,
                &format!("{label} trigger timed out: {}", host_of(&args.ssh)),
            );
        }
        (Some(c), false) => {
            log.log(format!(
                "{label} trigger finished: exit status {c} after {:.2} s",
                secs()
            ));
            if c == 255 {
                failure_mail(
                    &args,
                    &format!("{label} trigger failed: {}", host_of(&args.ssh)),
                );
            }
        }
        (None, false) => log.log(format!(
            "{label} trigger finished after {:.2} s (exit status unknown)",
            secs()
        )),
    }
    0
}

fn report(o: &Outcome) {
    let mut out = std::io::stdout();
    let _ = out.write_all(report_line(o).as_bytes());
    let _ = out.flush();
}

fn close_stdout() {
    // SAFETY: replacing fd 1 with /dev/null; no Rust object owns fd 1 exclusively.
    unsafe {
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
        if fd >= 0 {
            libc::dup2(fd, 1);
            libc::close(fd);
        }
    }
}

/// Wait for the orphans ssh -f leaves us (its backgrounded session). Returns the last exit
/// status seen and whether the deadline passed first (then they are killed).
fn reap_until(deadline: Instant) -> (Option<i32>, bool) {
    let mut last = None;
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: waitpid with a valid pointer to a c_int.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid > 0 {
            if libc::WIFEXITED(status) {
                last = Some(libc::WEXITSTATUS(status));
            } else if libc::WIFSIGNALED(status) {
                last = Some(128 + libc::WTERMSIG(status));
            }
            continue;
        }
        if pid < 0 {
            return (last, false); // ECHILD: nothing left
        }
        if Instant::now() >= deadline {
            for c in children() {
                // SAFETY: kill(2) on our own child.
                if let Ok(pid) = i32::try_from(c) {
                    unsafe {
                        libc::kill(pid, libc::SIGTERM);
                    }
                }
            }
            return (last, true);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn children() -> Vec<u32> {
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

fn host_of(ssh_args: &[String]) -> String {
    // The host is the word after -n (see ssh.rs).
    ssh_args
        .iter()
        .position(|a| a == "-n")
        .and_then(|i| ssh_args.get(i + 1))
        .cloned()
        .unwrap_or_default()
}

fn failure_mail(args: &PushTriggerArgs, msg: &str) {
    if args.mailto.is_empty() {
        return;
    }
    let mail = Mail {
        subject: format!("[{}@{}] ERROR: {msg}", args.program, host::short()),
        to: args.mailto.clone(),
        bodies: vec![msg.to_string()],
        attachments: vec![args.log.clone()],
    };
    let _ = mail.send(&args.sendmail);
}
