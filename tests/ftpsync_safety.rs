//! Safety: forced-command words are data, rsync exit-code handling, credentials stay out of
//! command lines and logs.

mod common;
use common::*;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// SSH_ORIGINAL_COMMAND
// ---------------------------------------------------------------------------------------

#[test]
fn ssh_original_command_words_are_never_executed() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    let precious = m.home.join("precious");
    fs::write(&precious, "keep me\n").unwrap();
    let p = |n: u32| m.dir.join(format!("pwned{n}"));
    let s = |n: u32| p(n).to_string_lossy().into_owned();
    let cases = [
        "sync:archive:x; rm -rf ~".to_string(),
        "sync:archive:x; rm -rf $HOME".to_string(),
        format!("sync:archive:x$(touch {})", s(1)),
        format!("sync:archive:x`touch {}`", s(2)),
        format!("sync:archive:x && touch {}", s(3)),
        format!("sync:archive:x | touch {}", s(4)),
        format!("sync:all; touch {}; sync:archive:y", s(5)),
        format!("sync:archive:x\ntouch {}", s(6)),
        "sync:archive:../../etc/x".to_string(),
    ];
    for c in &cases {
        let out = m.run_env(&[], &[("SSH_ORIGINAL_COMMAND", c)]);
        assert_eq!(
            out.code,
            Some(78),
            "SSH_ORIGINAL_COMMAND={c:?}\n{}",
            m.diagnostics(&out)
        );
        assert!(precious.exists(), "{c:?}: the home marker was removed");
        for n in 1..=6 {
            assert!(!p(n).exists(), "{c:?}: injected command ran");
        }
        assert!(
            !m.to.join("pool").exists(),
            "{c:?}: synced with the default config"
        );
    }
}

#[test]
fn ssh_original_command_words_are_data_for_existing_configs() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let precious = m.home.join("precious");
    fs::write(&precious, "keep me\n").unwrap();
    let to_x = m.dir.join("mirror-x");
    m.write_conf_file(
        "ftpsync-x_.conf",
        &m.conf(&up.url()).set("TO", to_x.to_string_lossy()),
    );
    let out = m.run_env(&[], &[("SSH_ORIGINAL_COMMAND", "sync:archive:x; rm -rf ~")]);
    m.expect_code(&out, 0);
    assert!(precious.exists());
    assert_same_tree(&up.root, &to_x, &m.name);
    let t = Trace::read(&to_x.join(format!("project/trace/{}", m.name)));
    assert_eq!(t.req("Trigger"), "ssh");
    assert!(m.logdir().join("ftpsync-x_.log").exists());

    // `$(` and `(` become `_` too
    let pwned = m.dir.join("pwned");
    let to_y = m.dir.join("mirror-y");
    m.write_conf_file(
        "ftpsync-x__touch.conf",
        &m.conf(&up.url()).set("TO", to_y.to_string_lossy()),
    );
    let cmd = format!("sync:archive:x$(touch {})", pwned.display());
    let out = m.run_env(&[], &[("SSH_ORIGINAL_COMMAND", &cmd)]);
    m.expect_code(&out, 0);
    assert!(!pwned.exists(), "injected command ran");
    assert_same_tree(&up.root, &to_y, &m.name);
}

#[test]
fn archive_name_cannot_traverse_directories() {
    let up = Upstream::v1();
    let m = Mirror::new();
    // unsanitised, `a/../../trap` would open $B/etc/ftpsync-a/../../trap.conf = $B/trap.conf
    fs::create_dir_all(m.etc().join("ftpsync-a")).unwrap();
    fs::write(m.base.join("trap.conf"), m.conf(&up.url()).to_bash()).unwrap();
    let out = m.run(&["sync:archive:a/../../trap"]);
    m.expect_code(&out, 78);
    assert!(!m.to.join("pool").exists(), "config outside etc/ was used");
    let out = m.run_env(
        &[],
        &[("SSH_ORIGINAL_COMMAND", "sync:archive:a/../../trap")],
    );
    m.expect_code(&out, 78);
    assert!(!m.to.join("pool").exists(), "config outside etc/ was used");
}

/// `m.command()` with SSH_ORIGINAL_COMMAND set to raw bytes, as sshd passes them on.
fn with_ssh_bytes(m: &Mirror, bytes: &[u8]) -> std::process::Command {
    let mut c = m.command(&[]);
    c.env("SSH_ORIGINAL_COMMAND", OsStr::from_bytes(bytes));
    c
}

#[test]
fn non_utf8_word_over_ssh_keeps_the_staged_protocol() {
    let up = Upstream::v1();
    let key = sshd::ssh_keygen(&up.root.parent().unwrap().join("pusher"));
    let leaf = sshd::Downstream::builder("leaf.test.example")
        .source(&up.url())
        .pushed_by(&key)
        .start();
    // The upstream asks for stage 1 only; two stray bytes follow.
    let out = sshd::ssh_cmd(&key, leaf.port(), &[])
        .arg(OsStr::from_bytes(b"sync:stage1 \xff\xfe"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        leaf.diagnostics()
    );
    let log = leaf.ftpsync_log();
    assert_eq!(count_lines(&log, "Running stage1: "), 1, "{log}");
    assert_eq!(
        count_lines(&log, "Running stage2: "),
        0,
        "stage 2 (which deletes) ran on a stage-1 push:\n{log}"
    );
    assert!(
        !leaf.m.trace_path().exists(),
        "a stage-1 push wrote the full trace"
    );
    let t = Trace::read(&leaf.m.stage1_trace_path());
    assert_eq!(t.req("Trigger"), "ssh");
    // One line says what was ignored, naming the count.
    let hits: Vec<&str> = log.lines().filter(|l| l.contains("UTF-8")).collect();
    assert_eq!(hits.len(), 1, "{log}");
    assert!(hits[0].contains("Ignored 1 word "), "{}", hits[0]);
}

#[test]
fn non_utf8_archive_name_is_sanitised_like_the_original() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    // The original maps every byte outside [A-Za-z0-9._-] to `_`: ftpsync-_t_.conf.
    let out = m.run_cmd(with_ssh_bytes(&m, b"sync:all sync:archive:\xe9t\xe9"));
    m.expect_code(&out, 78);
    assert!(
        out.stderr
            .contains("Can't read config file ftpsync-_t_.conf"),
        "{}",
        m.diagnostics(&out)
    );
    assert!(
        !m.to.join("pool").exists(),
        "the default archive was synced instead"
    );

    // With that file, it is the archive synced, as an ssh push.
    let to_t = m.dir.join("mirror-t");
    m.write_conf_file(
        "ftpsync-_t_.conf",
        &m.conf(&up.url()).set("TO", to_t.to_string_lossy()),
    );
    let out = m.run_cmd(with_ssh_bytes(&m, b"sync:all sync:archive:\xe9t\xe9"));
    m.expect_code(&out, 0);
    assert_same_tree(&up.root, &to_t, &m.name);
    let t = Trace::read(&to_t.join(format!("project/trace/{}", m.name)));
    assert_eq!(t.req("Trigger"), "ssh");
    assert!(!m.to.join("pool").exists());
}

#[test]
fn floods_of_unknown_or_invalid_words_are_one_log_line_each() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    // 40960 unknown words, then 40960 invalid ones: 80 KiB each time, under the kernel's
    // 128 KiB limit for one environment string because each word is short.
    let mut words = b"sync:all".to_vec();
    for _ in 0..40960 {
        words.extend_from_slice(b" u");
    }
    let out = m.run_cmd(with_ssh_bytes(&m, &words));
    m.expect_code(&out, 0);
    let log = m.log();
    assert!(
        log.lines().count() < 100,
        "{} log lines",
        log.lines().count()
    );
    let hits: Vec<&str> = log.lines().filter(|l| l.contains("40960")).collect();
    assert_eq!(hits.len(), 1, "{}", head(&log, 3000));
    assert!(hits[0].len() < 1000, "an unbounded line: {}", hits[0].len());
    assert!(out.stdout.lines().count() < 5, "{}", out.stdout.len());
    assert_eq!(m.trace().req("Trigger"), "ssh");

    let mut words = b"sync:all".to_vec();
    for _ in 0..40960 {
        words.extend_from_slice(b" \xff");
    }
    let out = m.run_cmd(with_ssh_bytes(&m, &words));
    m.expect_code(&out, 0);
    let log = m.log();
    let hits: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("40960") && l.contains("UTF-8"))
        .collect();
    assert_eq!(hits.len(), 1, "{}", head(&log, 3000));
    assert!(hits[0].len() < 1000, "an unbounded line: {}", hits[0].len());
    assert_eq!(m.trace().req("Trigger"), "ssh");
    assert_same_tree(&up.root, &m.to, &m.name);
}

// ---------------------------------------------------------------------------------------
// rsync exit codes
// ---------------------------------------------------------------------------------------

#[test]
fn real_rsync_error_23_fails_stage1_with_3() {
    require_root("serving a module as nobody, so that a file it cannot read fails with 23");
    let tmp = tempdir();
    let root = tmp.path().join("debian");
    build_archive(&root, &ArchiveSpec::v1());
    make_world_readable(&root);
    let bad = root.join("pool/main/h/hello/hello_2.10-3_amd64.deb");
    fs::set_permissions(&bad, fs::Permissions::from_mode(0o000)).unwrap();
    let daemon = RsyncDaemon::start_modules(vec![
        ModuleSpec::new("debian", &root).run_as("nobody", "nogroup")
    ]);
    let m = Mirror::new();
    m.write_conf(&m.conf(&daemon.url("debian")));
    let out = m.run(&["sync:all"]);
    m.expect_code(&out, 3);
    let log = m.log();
    assert!(log.contains("Back from rsync with returncode 23"), "{log}");
    assert_eq!(count_lines(&log, "Running stage2: "), 0, "{log}");
    assert!(log.contains("Mirrorsync done with errors"), "{log}");
    assert!(!m.trace_path().exists());
    assert!(!m.lock_path().exists(), "lock left behind after failure");
    // the other files did arrive (it is a partial transfer) and rsync's complaint was kept
    assert!(m
        .to
        .join("pool/main/h/hello/hello_2.10-3_i386.deb")
        .exists());
    let err = m.read_log_file("rsync-ftpsync.error");
    assert!(
        err.contains("hello_2.10-3_amd64.deb") || err.contains("Permission denied"),
        "rsync's error output not in LOG_RSYNC_ERROR: {err:?}"
    );
}

/// An RSYNC wrapper: calls not naming TO (e.g. `--version`) go straight to rsync; sync
/// calls run `body` (which has the real rsync as $REAL and a call counter $N).
fn rsync_wrapper(m: &Mirror, body: &str) -> PathBuf {
    let w = m.dir.join("rsync-wrapper");
    let counter = m.dir.join("wrapper.count");
    write_script(
        &w,
        &format!(
            r#"REAL={real}
case "$*" in
  *{to}*) ;;
  *) exec "$REAL" "$@" ;;
esac
echo x >> {counter}
N=$(wc -l < {counter})
UR={ur}
{body}"#,
            real = shq(rsync_bin()),
            to = m.to.to_string_lossy(),
            counter = shq(&counter.to_string_lossy()),
            ur = shq(&m.update_required_path().to_string_lossy()),
        ),
    );
    w
}

fn wrapper_calls(m: &Mirror) -> usize {
    read_string(&m.dir.join("wrapper.count")).lines().count()
}

#[test]
fn rsync_exit_24_counts_as_success() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let w = rsync_wrapper(
        &m,
        r#""$REAL" "$@"; rc=$?
[ $rc -eq 0 ] && exit 24
exit $rc"#,
    );
    m.write_conf(&m.conf(&up.url()).set("RSYNC", w.to_string_lossy()));
    let out = m.run(&[]);
    m.expect_code(&out, 0);
    assert_eq!(wrapper_calls(&m), 2, "RSYNC not used for both stages");
    let log = m.log();
    assert_eq!(
        count_lines(&log, "Back from rsync with returncode 24"),
        2,
        "{log}"
    );
    assert_same_tree(&up.root, &m.to, &m.name);
    assert!(m.trace_path().exists());
}

/// Stage 1: the first rsync call exits `code` after a push arrived; the stage-1 loop pulls
/// again (the original only checks the last stage-1 result).
#[test]
fn rsync_exit_23_in_stage1_with_push_pending_is_retried() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let w = rsync_wrapper(
        &m,
        r#""$REAL" "$@"; rc=$?
if [ "$N" -eq 1 ]; then touch "$UR"; exit 23; fi
exit $rc"#,
    );
    m.write_conf(&m.conf(&up.url()).set("RSYNC", w.to_string_lossy()));
    let out = m.run(&[]);
    m.expect_code(&out, 0);
    let log = m.log();
    assert!(log.contains("Back from rsync with returncode 23"), "{log}");
    assert_eq!(count_lines(&log, "Running stage1: "), 2, "{log}");
    assert_eq!(count_lines(&log, "Running stage2: "), 1, "{log}");
    assert_eq!(wrapper_calls(&m), 3);
    assert_same_tree(&up.root, &m.to, &m.name);
    assert!(!m.update_required_path().exists());
}

/// Stage 2: rsync exits `code` and a push arrived meanwhile: tolerated, logged, and the
/// outer loop syncs again.
fn stage2_error_with_push_pending(code: u32) {
    let up = Upstream::v1();
    let m = Mirror::new();
    let mark = m.dir.join("stage2-failed-once");
    let w = rsync_wrapper(
        &m,
        &format!(
            r#""$REAL" "$@"; rc=$?
case "$*" in
  *--delete*) if [ ! -e {mark} ]; then touch {mark}; touch "$UR"; exit {code}; fi ;;
esac
exit $rc"#,
            mark = shq(&mark.to_string_lossy())
        ),
    );
    m.write_conf(&m.conf(&up.url()).set("RSYNC", w.to_string_lossy()));
    let out = m.run(&[]);
    m.expect_code(&out, 0);
    let log = m.log();
    assert!(
        log.contains(&format!(
            "We got error {code} from rsync, but a second push went in hence ignoring this error for now"
        )),
        "{log}"
    );
    assert_eq!(count_lines(&log, "Running stage1: "), 2, "{log}");
    assert_eq!(count_lines(&log, "Running stage2: "), 2, "{log}");
    assert_eq!(wrapper_calls(&m), 4);
    assert_same_tree(&up.root, &m.to, &m.name);
    assert!(!m.update_required_path().exists());
}

#[test]
fn rsync_exit_23_in_stage2_with_push_pending_is_tolerated() {
    stage2_error_with_push_pending(23);
}

#[test]
fn rsync_exit_30_in_stage2_with_push_pending_is_tolerated() {
    stage2_error_with_push_pending(30);
}

#[test]
fn rsync_exit_23_in_stage2_without_push_fails_with_4() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let w = rsync_wrapper(
        &m,
        r#""$REAL" "$@"; rc=$?
case "$*" in *--delete*) exit 23 ;; esac
exit $rc"#,
    );
    m.write_conf(&m.conf(&up.url()).set("RSYNC", w.to_string_lossy()));
    let out = m.run(&[]);
    m.expect_code(&out, 4);
    let log = m.log();
    assert!(log.contains("Back from rsync with returncode 23"), "{log}");
    assert!(
        !m.trace_path().exists(),
        "trace written after a failed stage 2"
    );
    assert!(!m.lock_path().exists());
}

#[test]
fn rsync_other_error_fails_stage1_with_3() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let w = rsync_wrapper(&m, "exit 12");
    m.write_conf(&m.conf(&up.url()).set("RSYNC", w.to_string_lossy()));
    let out = m.run(&[]);
    m.expect_code(&out, 3);
    assert_eq!(wrapper_calls(&m), 1, "went on after a failed stage 1");
    let log = m.log();
    assert!(log.contains("Back from rsync with returncode 12"), "{log}");
}

#[test]
fn unreachable_upstream_fails_stage1_with_3() {
    let m = Mirror::new();
    m.write_conf(&m.conf(&format!("rsync://127.0.0.1:{}/debian/", free_port())));
    let out = m.run(&[]);
    m.expect_code(&out, 3);
    assert!(!m.lock_path().exists());
    assert!(m.log().contains("Mirrorsync done with errors"));
}

// ---------------------------------------------------------------------------------------
// credentials
// ---------------------------------------------------------------------------------------

const PASSWORD: &str = "Xy7-s3cret-PW-91f2";

fn auth_upstream(big: usize) -> (tempfile::TempDir, PathBuf, RsyncDaemon) {
    let tmp = tempdir();
    let root = tmp.path().join("debian");
    let mut spec = ArchiveSpec::v1();
    spec.big_file = big;
    build_archive(&root, &spec);
    let d = RsyncDaemon::start_modules(vec![
        ModuleSpec::new("secure", &root).with_auth("syncuser", PASSWORD)
    ]);
    (tmp, root, d)
}

fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    for (rel, node) in snapshot(dir) {
        if let Node::File(b) = node {
            if String::from_utf8_lossy(&b).contains(needle) {
                hits.push(dir.join(rel));
            }
        }
    }
    hits
}

#[test]
fn rsync_password_only_in_environment() {
    let (_tmp, root, d) = auth_upstream(400_000);
    let m = Mirror::new();
    m.write_conf(
        &m.conf(&format!("rsync://syncuser@127.0.0.1:{}/secure/", d.port))
            .set("RSYNC_USER", "syncuser")
            .set("RSYNC_PASSWORD", PASSWORD)
            .set("RSYNC_BW", "200"),
    );
    let mut run = m.spawn(&[], &[]);
    let root_pid = run.pid();
    let mut seen: Vec<(u32, Vec<String>, Option<Vec<String>>)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !run.try_done() && Instant::now() < deadline {
        for pid in descendants(root_pid) {
            if seen.iter().any(|(p, _, _)| *p == pid) {
                continue;
            }
            let Some(cmd) = proc_cmdline(pid) else {
                continue;
            };
            let is_rsync = cmd
                .first()
                .is_some_and(|a| a.rsplit('/').next().unwrap().starts_with("rsync"));
            if is_rsync {
                let env = proc_environ(pid);
                seen.push((pid, cmd, env));
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = run.wait(RUN_TIMEOUT);
    m.expect_code(&out, 0);
    assert!(!seen.is_empty(), "never observed an rsync child of ftpsync");
    for (pid, cmd, _) in &seen {
        assert!(
            !cmd.iter().any(|a| a.contains(PASSWORD)),
            "password on the command line of pid {pid}: {cmd:?}"
        );
    }
    let with_env = seen
        .iter()
        .filter(|(_, _, env)| {
            env.as_ref()
                .is_some_and(|e| e.iter().any(|v| v == &format!("RSYNC_PASSWORD={PASSWORD}")))
        })
        .count();
    assert!(
        with_env >= 1,
        "no rsync process had RSYNC_PASSWORD in its environment: {:?}",
        seen.iter().map(|(p, c, _)| (p, c)).collect::<Vec<_>>()
    );
    assert_same_tree(&root, &m.to, &m.name);
    let leaks = files_containing(&m.logdir(), PASSWORD);
    assert!(leaks.is_empty(), "password written to {leaks:?}");
    assert!(!out.stdout.contains(PASSWORD) && !out.stderr.contains(PASSWORD));
    assert!(!m.trace().raw.contains(PASSWORD));
    // a slow transfer: the time lines are non-zero and the rate is shown
    let t = m.trace();
    assert!(t.num("Total time spent in rsync") >= 1, "{}", t.raw);
    let total = t.num("Total time spent in rsync");
    let bytes = t.num("Total bytes received in rsync");
    assert!(bytes >= 400_000, "{}", t.raw);
    let rate = t.req("Average rate");
    assert_eq!(rate, format!("{} B/s", bytes / total), "{}", t.raw);
    assert!(
        files_containing(&m.home, PASSWORD).is_empty(),
        "password file written into HOME"
    );
}

#[test]
fn wrong_rsync_password_fails_without_leaking() {
    let (_tmp, _root, d) = auth_upstream(0);
    let m = Mirror::new();
    m.write_conf(
        &m.conf(&format!("rsync://syncuser@127.0.0.1:{}/secure/", d.port))
            .set("RSYNC_USER", "syncuser")
            .set("RSYNC_PASSWORD", "not-the-password-123"),
    );
    let out = m.run(&[]);
    m.expect_code(&out, 3);
    assert!(!m.to.join("pool").exists());
    assert!(files_containing(&m.logdir(), "not-the-password-123").is_empty());
}

#[test]
fn default_source_is_user_at_host_double_colon_path() {
    // RSYNC_SOURCE unset: [USER@]HOST::PATH, the port comes from RSYNC_EXTRA
    let (_tmp, root, d) = auth_upstream(0);
    let m = Mirror::new();
    m.write_conf(
        &m.conf("unused")
            .unset("RSYNC_SOURCE")
            .set("RSYNC_PATH", "secure")
            .set("RSYNC_EXTRA", format!("--port={}", d.port))
            .set("RSYNC_USER", "syncuser")
            .set("RSYNC_PASSWORD", PASSWORD),
    );
    let out = m.run(&[]);
    m.expect_code(&out, 0);
    assert_same_tree(&root, &m.to, &m.name);
    let log = m.log();
    assert!(log.contains(" syncuser@127.0.0.1::secure "), "{log}");
    assert!(files_containing(&m.logdir(), PASSWORD).is_empty());
}
