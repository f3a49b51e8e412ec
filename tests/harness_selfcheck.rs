//! Checks of the test harness itself (no archvsync involved): the independently written
//! rsync filter evaluator must agree with the real rsync, the date parsers must accept
//! what `date` prints, the daemon helper must serve a tree, and the delay proxy must delay
//! without throttling.

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

/// A TCP echo server on 127.0.0.1 (one thread per connection; it echoes until EOF, then
/// half-closes). Its accept thread lives as long as the test binary.
fn echo_server() -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
                let _ = conn.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    addr
}

/// One byte there and back through `port`: the round-trip time.
fn round_trip(port: u16) -> std::time::Duration {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let t0 = std::time::Instant::now();
    s.write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"x");
    t0.elapsed()
}

#[test]
fn delay_proxy_delays_each_way_without_throttling() {
    use common::delay::DelayProxy;
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let ms = Duration::from_millis;
    let proxy = DelayProxy::start(echo_server(), ms(100));

    // one round trip is two one-way delays
    let rtt = round_trip(proxy.port);
    assert!(rtt >= ms(200) && rtt < ms(400), "round trip {rtt:?}");

    // 20 connections at once each see the latency, not 20 times it
    let port = proxy.port;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(20));
    let t0 = Instant::now();
    let rtts: Vec<Duration> = (0..20)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                round_trip(port)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let all = t0.elapsed();
    for rtt in &rtts {
        assert!(*rtt >= ms(200) && *rtt < ms(400), "round trips {rtts:?}");
    }
    assert!(
        all < ms(1000),
        "20 parallel round trips took {all:?}: {rtts:?}"
    );

    // 1 MB passes byte for byte, and the half-close comes back after it
    let data: Vec<u8> = (0u32..1 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut w = s.try_clone().unwrap();
    let sent = data.clone();
    let t0 = Instant::now();
    let writer = std::thread::spawn(move || {
        w.write_all(&sent).unwrap();
        w.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    let took = t0.elapsed();
    writer.join().unwrap();
    assert!(got == data, "1 MB echo differs: {} bytes back", got.len());
    assert!(
        took >= ms(200) && took < ms(5000),
        "1 MB echo took {took:?}"
    );

    // a reset on one side resets the other at once
    let rst = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let rst_addr = rst.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((c, _)) = rst.accept() {
            archvsync::common::system::reset_on_close(&c);
            drop(c);
        }
    });
    let resetting = DelayProxy::start(rst_addr, ms(100));
    let mut s = std::net::TcpStream::connect(("127.0.0.1", resetting.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t0 = Instant::now();
    let r = s.read(&mut [0u8; 16]);
    assert!(
        matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "read after the target reset: {r:?}"
    );
    assert!(t0.elapsed() < ms(1000), "reset took {:?}", t0.elapsed());

    // drop closes the open connections and the listener
    let mut open = std::net::TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    open.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(round_trip(proxy.port) >= ms(200));
    let port = proxy.port;
    let t0 = Instant::now();
    drop(proxy);
    let r = open.read(&mut [0u8; 16]);
    assert!(
        matches!(r, Ok(0)) || matches!(&r, Err(e) if e.kind() != std::io::ErrorKind::WouldBlock),
        "open connection after drop: {r:?}"
    );
    assert!(t0.elapsed() < ms(2000), "drop took {:?}", t0.elapsed());
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the proxy still listens after drop"
    );
}
