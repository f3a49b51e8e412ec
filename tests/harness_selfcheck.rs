//! Checks of the test harness itself (no archvsync involved): the independently written
//! rsync filter evaluator must agree with the real rsync, the date parsers must accept
//! what `date` prints, and the daemon helper must serve a tree.

mod common;
use common::*;
use std::process::Command;

fn real_rsync_with_filters(src: &std::path::Path, rules: &[Rule]) -> Tree {
    let dst = tempdir();
    let mut c = Command::new(rsync_bin());
    c.arg("-rlt");
    for r in rules {
        c.arg(format!(
            "--filter={}_{}",
            if r.include { "include" } else { "exclude" },
            r.pattern
        ));
    }
    c.arg(format!("{}/", src.display()));
    c.arg(format!("{}/", dst.path().display()));
    let st = c.status().unwrap();
    assert!(st.success());
    without_owned(&non_dirs(&snapshot(dst.path())), "no-such-mirror")
}

#[test]
fn filter_evaluator_agrees_with_real_rsync() {
    let tmp = tempdir();
    let root = tmp.path().join("a");
    build_archive(&root, &ArchiveSpec::v1());
    let tree = snapshot(&root);
    let cases = vec![
        ArchConfig::All,
        ArchConfig::Include(vec!["amd64"]),
        ArchConfig::Include(vec!["source"]),
        ArchConfig::Include(vec!["arm64", "source"]),
        ArchConfig::Exclude(vec!["i386", "source"]),
        ArchConfig::Exclude(vec!["amd64"]),
    ];
    for cfg in cases {
        let rules = arch_rules(&cfg);
        // compare everything (owned names are irrelevant here: use a name that matches nothing)
        let expected = expected_subset(&tree, &rules, "no-such-mirror");
        let got = real_rsync_with_filters(&root, &rules);
        let d = tree_diff(&expected, &got);
        assert!(d.is_empty(), "{cfg:?}: evaluator vs rsync:\n{d}");
    }
    // stage 1 rules
    let expected = expected_subset(&tree, &stage1_rules(), "no-such-mirror");
    let got = real_rsync_with_filters(&root, &stage1_rules());
    let d = tree_diff(&expected, &got);
    assert!(d.is_empty(), "stage1: evaluator vs rsync:\n{d}");
    // and the stage-1 rules really drop index files while keeping pdiffs and by-hash
    assert!(!got.keys().any(|k| k.ends_with("/Packages.xz")));
    assert!(got.keys().any(|k| k.contains("/Packages.diff/T-")));
    assert!(got.keys().any(|k| k.contains("/by-hash/")));
}

#[test]
fn date_parsers_accept_date_output() {
    let o = Command::new("date")
        .arg("-u")
        .env("LC_ALL", "POSIX")
        .output()
        .unwrap();
    let s = String::from_utf8(o.stdout).unwrap();
    let a = parse_date_u(s.trim()).unwrap();
    assert!((a - now_epoch()).abs() < 5);
    let o = Command::new("date")
        .args(["-u", "-R"])
        .env("LC_ALL", "POSIX")
        .output()
        .unwrap();
    let s = String::from_utf8(o.stdout).unwrap();
    let b = parse_rfc2822_utc(s.trim()).unwrap();
    assert!((b - now_epoch()).abs() < 5);
    // space-padded day, weekday checked
    assert_eq!(
        parse_date_u("Sun Nov  1 10:21:32 UTC 2026").unwrap(),
        days_from_civil(2026, 11, 1) * 86400 + 10 * 3600 + 21 * 60 + 32
    );
    assert!(parse_date_u("Sun Nov 01 10:21:32 UTC 2026").is_err());
    assert!(parse_date_u("Mon Nov  1 10:21:32 UTC 2026").is_err());
    assert!(parse_rfc2822_utc("Sat, 21 Nov 2026 10:21:32 +0000").is_ok());
    assert!(parse_rfc2822_utc("Sat, 21 Nov 2026 10:21:32 +0100").is_err());
}

#[test]
fn daemon_serves_tree_and_auth_is_enforced() {
    let tmp = tempdir();
    let root = tmp.path().join("a");
    build_archive(&root, &ArchiveSpec::v1());
    let d = RsyncDaemon::start_modules(vec![
        ModuleSpec::new("open", &root),
        ModuleSpec::new("secure", &root).with_auth("u", "pw"),
    ]);
    let dst = tempdir();
    let st = Command::new(rsync_bin())
        .arg("-a")
        .arg(d.url("open"))
        .arg(dst.path())
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(tree_diff(&snapshot(&root), &snapshot(dst.path())), "");
    let url = format!("rsync://u@127.0.0.1:{}/secure/", d.port);
    let st = Command::new(rsync_bin())
        .arg("-a")
        .arg(&url)
        .arg(dst.path())
        .env("RSYNC_PASSWORD", "wrong")
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!st.success(), "wrong password accepted");
    let st = Command::new(rsync_bin())
        .arg("-a")
        .arg(&url)
        .arg(dst.path())
        .env("RSYNC_PASSWORD", "pw")
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn sshd_runs_only_the_forced_command_with_the_pushed_words() {
    use common::sshd::*;
    let tmp = tempdir();
    let key = ssh_keygen(&tmp.path().join("pusher"));
    let other = ssh_keygen(&tmp.path().join("stranger"));
    let script = tmp.path().join("forced.sh");
    let envfile = tmp.path().join("env.out");
    write_script(
        &script,
        &format!(
            "env > {}\necho \"forced: $SSH_ORIGINAL_COMMAND\"",
            shq(&envfile.to_string_lossy())
        ),
    );
    let sshd = Sshd::start(&forced_command_line(&script, &key));
    let out = ssh_cmd(&key, sshd.port, &["sync:archive:", "sync:all"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        sshd.log()
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "forced: sync:archive: sync:all\n"
    );
    let env = read_string(&envfile);
    assert!(env.lines().any(|l| l == "HOME=/root"), "{env}");
    assert!(
        env.lines()
            .any(|l| l == "SSH_ORIGINAL_COMMAND=sync:archive: sync:all"),
        "{env}"
    );
    // a key that is not in authorized_keys is refused: ssh's 255
    let out = ssh_cmd(&other, sshd.port, &["sync:all"]).output().unwrap();
    assert_eq!(out.status.code(), Some(255));
    assert!(sshd.log().contains("Starting session: forced-command"));

    // drop kills the listener: the port stops answering
    let port = sshd.port;
    drop(sshd);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(
        std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(300)).is_err(),
        "sshd still listening after drop"
    );
}
