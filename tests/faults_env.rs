//! Fault injection in the environment: a full disk, an upstream that vanishes mid-run, and a
//! storm of pushes.

mod common;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Index files of a synced tree: `dists/**/Release`, `Packages*`.
fn index_files(to: &Path) -> Tree {
    snapshot(to)
        .into_iter()
        .filter(|(k, v)| {
            let last = k.rsplit('/').next().unwrap();
            !v.is_dir()
                && k.starts_with("dists/")
                && (last == "Release" || last.starts_with("Packages"))
        })
        .collect()
}

/// A tmpfs mounted on a directory, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mount it or fail the test: a full disk that cannot be made must not pass as tested.
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        require_root("mounting a small tmpfs to fill");
        fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs on {} ({}): {}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn disk_full_fails_clearly_and_keeps_the_old_indices() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let _fs = Tmpfs::mount(&m.to, "2m");
    m.write_conf(&m.conf(&up.url()));
    m.expect_code(&m.run(&["sync:all"]), 0);
    let before = index_files(&m.to);
    assert!(before.len() >= 4, "{before:?}");

    // v2 brings a 4 MB package: it cannot fit.
    build_archive(
        &up.root,
        &ArchiveSpec {
            big_file: 4 << 20,
            ..ArchiveSpec::v2()
        },
    );
    let out = m.run(&["sync:all"]);
    m.expect_code(&out, 3);
    let log = m.log();
    assert!(log.contains("Sync step 1 went wrong"), "{log}");
    let err = m.read_log_file("rsync-ftpsync.error");
    assert!(
        err.contains("No space left on device"),
        "rsync's error log: {err}"
    );
    let after = index_files(&m.to);
    assert!(before == after, "{}", tree_diff(&before, &after));
    assert!(!m.lock_path().exists());
}

/// Kill the daemon and the connection processes it forked.
fn kill_daemon(port: u16) {
    let needle = format!("--port={port}");
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if proc_cmdline(pid).is_some_and(|c| c.iter().any(|a| a == &needle)) {
            kill_9(pid);
        }
    }
}

#[test]
fn upstream_vanishing_mid_stage1_fails_with_3_and_keeps_the_tree() {
    let mut up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    m.expect_code(&m.run(&["sync:all"]), 0);
    let v1 = without_owned(&snapshot(&m.to), &m.name);

    build_archive(
        &up.root,
        &ArchiveSpec {
            big_file: 4 << 20,
            ..ArchiveSpec::v2()
        },
    );
    m.write_conf(&m.conf(&up.url()).set("RSYNC_BW", "100"));
    let mut run = m.spawn(&["sync:all"], &[]);
    let pid = run.pid();
    wait_for(Duration::from_secs(60), "stage 1 transferring", || {
        (m.log().matches("Running stage1:").count() >= 2 && !descendants(pid).is_empty())
            || run.try_done()
    });
    std::thread::sleep(Duration::from_millis(500));
    kill_daemon(up.daemon.port);
    let out = run.wait(Duration::from_secs(60));
    m.expect_code(&out, 3);
    assert!(!m.lock_path().exists(), "lock left behind");
    // Nothing that was there is gone (stage 1 never deletes; stage 2 never ran).
    let now = snapshot(&m.to);
    let lost: Vec<_> = v1.keys().filter(|k| !now.contains_key(*k)).collect();
    assert!(lost.is_empty(), "files lost: {lost:?}");
    assert_eq!(count_lines(&m.log(), "Running stage2"), 1);

    // The upstream is back (on a new port).
    up.daemon = RsyncDaemon::start(&[("debian", &up.root)]);
    m.write_conf(&m.conf(&up.url()));
    m.expect_code(&m.run(&["sync:all"]), 0);
    assert_same_tree(&up.root, &m.to, &m.name);
}

#[test]
fn fifty_pushes_in_a_second_one_run_at_a_time_and_the_last_wins() {
    // v1 and v2 side by side; the module is a symlink swapped atomically to v2.
    let tmp = tempdir();
    let (v1, v2) = (tmp.path().join("v1"), tmp.path().join("v2"));
    build_archive(&v1, &ArchiveSpec::v1());
    build_archive(&v2, &ArchiveSpec::v2());
    let link = tmp.path().join("debian");
    std::os::unix::fs::symlink(&v1, &link).unwrap();
    let daemon = RsyncDaemon::start(&[("debian", &link)]);
    let m = Mirror::new();
    m.write_conf(&m.conf(&daemon.url("debian")));

    let mut runs = Vec::new();
    let start = std::time::Instant::now();
    for i in 0..50 {
        if i == 35 {
            let tmp_link = tmp.path().join("debian.new");
            std::os::unix::fs::symlink(&v2, &tmp_link).unwrap();
            fs::rename(&tmp_link, &link).unwrap();
        }
        runs.push(m.spawn(&["sync:all"], &[("SSH_ORIGINAL_COMMAND", "sync:all")]));
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        start.elapsed() < Duration::from_millis(3000),
        "spawning took {:?}",
        start.elapsed()
    );
    let outs: Vec<RunOutput> = runs
        .into_iter()
        .map(|r| r.wait(Duration::from_secs(120)))
        .collect();
    let mut ran = 0;
    for out in &outs {
        match out.code {
            Some(0) => ran += 1,
            Some(1) => assert!(
                out.stdout.contains("lock file still exists"),
                "exit 1 without the lock message: {}",
                m.diagnostics(out)
            ),
            _ => panic!("a push failed: {}", m.diagnostics(out)),
        }
    }
    assert!(ran >= 1);
    // Runs never overlap: start and done alternate in the log.
    let log = m.log();
    let mut open = false;
    let mut starts = 0;
    for l in log.lines() {
        if l.contains("Mirrorsync start") {
            assert!(!open, "two runs at once:\n{log}");
            open = true;
            starts += 1;
        } else if l.contains("Mirrorsync done") {
            assert!(open, "done without start:\n{log}");
            open = false;
        }
    }
    assert!(!open);
    assert!(starts >= ran, "{starts} starts, {ran} runs");
    // The pushes after the switch reached the disk.
    assert_same_tree(&v2, &m.to, &m.name);
    assert!(!m.lock_path().exists());
    assert!(!m.update_required_path().exists());
    drop(daemon);
}

/// An Update-Required file that cannot be removed (here: it became a non-empty directory
/// after the run announced itself) fails the run, naming it, instead of repeating stage 1
/// for ever because the file is still there after every pass.
#[test]
fn update_required_that_cannot_be_removed_fails_the_run() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let ur = m.update_required_path();
    let hook = m.dir.join("hook1-ur-dir.sh");
    let q = shq(&ur.to_string_lossy());
    write_script(&hook, &format!("rm -f {q} && mkdir {q} && touch {q}/keep"));
    for words in [&["sync:all"][..], &["sync:stage2"][..]] {
        m.write_conf(&m.conf(&up.url()).set("HOOK1", hook.to_string_lossy()));
        let out = m.spawn(words, &[]).wait(Duration::from_secs(30));
        m.expect_code(&out, 1);
        let why = format!("cannot remove {}", ur.display());
        assert!(
            out.stderr.contains(&why),
            "{words:?}: {}",
            m.diagnostics(&out)
        );
        assert!(m.log().contains(&why), "{words:?}: {}", m.diagnostics(&out));
        assert!(m.log().contains("Mirrorsync done with errors"));
        assert!(!m.lock_path().exists(), "lock left behind");
        fs::remove_dir_all(&ur).unwrap();
    }
}
