//! When a trigger counts as delivered, against a real sshd whose forced command is a small
//! `/bin/sh` script: the moment the downstream authenticated us (ssh's LocalCommand writes
//! into the follower's FIFO), while ssh itself carries the session on to the downstream's
//! own exit status. A mirror line with a LocalCommand of its own keeps it.

mod common;
use common::sshd::*;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// A pusher whose triggers are bounded by PUSHTIMEOUT and whose logs are never rotated.
fn pusher() -> Downstream {
    Downstream::builder("pusher.test")
        .pusher()
        .rm_set("LOGROTATE", "0")
        .rm_set("PUSHTIMEOUT", "60")
        .start()
}

/// A forced command that records the words it got in `dir/got`, sleeps `secs` and exits
/// with `status`.
fn downstream(dir: &Path, secs: u32, status: u8) -> std::path::PathBuf {
    let p = dir.join("downstream.sh");
    write_script(
        &p,
        &format!(
            "echo \"$SSH_ORIGINAL_COMMAND\" >> {}\nsleep {secs}\nexit {status}",
            shq(&dir.join("got").to_string_lossy())
        ),
    );
    p
}

/// The temporary directories the follower made under `tmp` that are still there.
fn push_dirs(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("archvsync-push-"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_trigger_is_delivered_when_accepted_and_followed_to_its_own_status() {
    let dir = tempdir();
    let tmp = tempdir();
    let pusher = pusher();
    let script = downstream(dir.path(), 3, 7);
    let sshd = Sshd::start_with_config(&forced_command_line(&script, pusher.key()), "");
    pusher.write_mirrors(&[format!(
        "all slow ssh+ftpsync://root@127.0.0.1:{}/a",
        sshd.port
    )]);
    let t0 = Instant::now();
    // A login shell that could not run a LocalCommand: the trigger's ssh gets /bin/sh.
    let run = pusher.m.spawn_cmd(
        pusher.runmirrors_cmd(&[]),
        &[
            ("TMPDIR", &tmp.path().to_string_lossy()),
            ("SHELL", "/nonexistent/shell"),
        ],
    );
    let out = run.wait(Duration::from_secs(30));
    let returned = t0.elapsed();
    let d = || format!("{}--- sshd ---\n{}", pusher.diagnostics(), sshd.log());
    assert_eq!(out.code, Some(0), "{}\n{}", pusher.m.diagnostics(&out), d());
    assert!(
        returned < Duration::from_secs(3),
        "runmirrors returned after {returned:?}: it waited for the 3 s session\n{}",
        d()
    );
    let rl = pusher.runmirrors_log();
    assert!(
        rl.contains("Summary: 1 triggers sent, 1 delivered, 0 failed"),
        "{}",
        d()
    );
    wait_for(
        Duration::from_secs(20),
        "the session's end in slow.log",
        || pusher.push_log("slow").contains("normal trigger finished"),
    );
    let log = pusher.push_log("slow");
    let accepted = log
        .lines()
        .position(|l| l.contains("normal trigger accepted after"));
    let finished = log
        .lines()
        .position(|l| l.contains("normal trigger finished: exit status 7 after 3."));
    assert!(
        accepted.is_some() && finished.is_some() && accepted < finished,
        "slow.log:\n{log}"
    );
    wait_for(Duration::from_secs(10), "the follower's last line", || {
        pusher
            .runmirrors_log()
            .contains("push-follower done: 1 triggers followed")
    });
    wait_for(Duration::from_secs(10), "the FIFO directory to go", || {
        push_dirs(tmp.path()).is_empty()
    });
    let st: serde_json::Value =
        serde_json::from_str(&read_string(&pusher.m.logdir().join("ftpsync.state.json"))).unwrap();
    let e = &st["downstreams"]["slow"];
    assert_eq!(e["outcome"], "accepted", "{e}");
    assert_eq!(e["finished_exit_status"], 7, "{e}");
}

#[test]
fn a_line_with_its_own_local_command_keeps_it_and_counts_when_ssh_returns() {
    let dir = tempdir();
    let pusher = pusher();
    let script = downstream(dir.path(), 2, 3);
    let sshd = Sshd::start_with_config(&forced_command_line(&script, pusher.key()), "");
    let ran = dir.path().join("operator-local-command-ran");
    pusher.write_mirrors(&[format!(
        "all own 127.0.0.1 root -p {} -o PermitLocalCommand=yes -o LocalCommand=touch\\ {}",
        sshd.port,
        ran.display()
    )]);
    // check-config reads the archive's config first; runmirrors does not need one.
    pusher.m.write_conf(
        &pusher
            .m
            .conf("rsync://127.0.0.1:9/debian")
            .set("HUB", "true"),
    );
    let check = pusher.m.run_cmd(
        pusher
            .m
            .command_prog(&pusher.m.link_bin("archvsync"), &["check-config"]),
    );
    assert!(
        check
            .stdout
            .contains("own: these options set LocalCommand themselves"),
        "{}",
        check.stdout
    );
    let t0 = Instant::now();
    let out = pusher.runmirrors(&[]);
    let returned = t0.elapsed();
    let d = || format!("{}--- sshd ---\n{}", pusher.diagnostics(), sshd.log());
    assert_eq!(out.code, Some(0), "{}\n{}", pusher.m.diagnostics(&out), d());
    assert!(
        ran.exists(),
        "the line's own LocalCommand did not run\n{}",
        d()
    );
    assert!(
        returned >= Duration::from_secs(2),
        "runmirrors returned after {returned:?}, before the session (2 s) ended\n{}",
        d()
    );
    let log = pusher.push_log("own");
    assert!(
        log.contains("normal trigger: exit status 3 after 2."),
        "own.log:\n{log}"
    );
    assert!(
        pusher
            .runmirrors_log()
            .contains("Summary: 1 triggers sent, 1 delivered, 0 failed"),
        "{}",
        d()
    );
}
