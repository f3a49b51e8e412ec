//! rsync-ssl-tunnel run by hand, against a real stunnel on 127.0.0.1 with certificates from
//! a throwaway CA: the relay (both directions, half-close), certificate and name checks,
//! options vs environment, and the error lines.

mod common;
use common::tls::*;
use common::*;
use std::path::Path;

/// What an rsync client says first in the daemon protocol when it only wants the list of
/// modules. The daemon answers with its greeting, the list and `@RSYNCD: EXIT`.
const LIST_MODULES: &[u8] = b"@RSYNCD: 30.0\n#list\n";

struct Setup {
    ca: Ca,
    _daemon: RsyncDaemon,
    stunnel: Stunnel,
    _tree: tempfile::TempDir,
}

/// An rsync daemon with module `debian` behind stunnel, certificate for `sans`.
fn rsync_behind_stunnel(sans: &[&str]) -> Setup {
    let tree = tempdir();
    std::fs::write(tree.path().join("README"), "hello\n").unwrap();
    let daemon = RsyncDaemon::start(&[("debian", tree.path())]);
    let ca = Ca::new("archvsync test ca");
    let stunnel = Stunnel::start(&ca.issue(sans), daemon.port);
    Setup {
        ca,
        _daemon: daemon,
        stunnel,
        _tree: tree,
    }
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn assert_module_list(out: &TunnelOutput, what: &str, stunnel: &Stunnel) {
    let text = out.stdout_text();
    assert_eq!(
        out.code,
        Some(0),
        "{what}: exit {:?}\nstderr: {}\nstdout: {text}\nstunnel log:\n{}",
        out.code,
        out.stderr,
        stunnel.log()
    );
    assert!(text.starts_with("@RSYNCD: "), "{what}: {text:?}");
    assert!(text.contains("debian"), "{what}: no module list: {text:?}");
    assert!(text.contains("@RSYNCD: EXIT"), "{what}: {text:?}");
    assert!(out.stderr.is_empty(), "{what}: stderr: {}", out.stderr);
}

/// The run (with `method`) was refused before any data passed: exit 1, nothing on stdout,
/// one line on stderr, which is returned.
fn refusal_line<'a>(out: &'a TunnelOutput, method: &str) -> &'a str {
    assert_eq!(out.code, Some(1), "{method}: {out:?}");
    assert!(out.stdout.is_empty(), "{method}: data got through: {out:?}");
    let line = out.stderr.trim_end();
    assert_eq!(
        line.lines().count(),
        1,
        "{method}: one line expected: {line}"
    );
    line
}

#[test]
fn relays_the_rsync_daemon_protocol_with_a_hashed_ca_directory() {
    let x = rsync_behind_stunnel(&["DNS:localhost"]);
    let port = x.stunnel.port.to_string();
    let capath = s(&x.ca.capath);
    // the way rsync calls it: -l USER HOST rsync --server --daemon .
    let out = run_tunnel(
        &[
            "-C",
            &capath,
            "-p",
            &port,
            "-l",
            "someone",
            "localhost",
            "rsync",
            "--server",
            "--daemon",
            ".",
        ],
        &[],
        LIST_MODULES,
    );
    assert_module_list(&out, "options", &x.stunnel);
}

#[test]
fn environment_supplies_what_the_options_do_not() {
    let x = rsync_behind_stunnel(&["DNS:localhost"]);
    let port = x.stunnel.port.to_string();
    let capath = s(&x.ca.capath);
    let env = [
        ("RSYNC_SSL_PORT", port.as_str()),
        ("RSYNC_SSL_CAPATH", capath.as_str()),
        ("RSYNC_SSL_METHOD", "stunnel4"),
    ];
    let out = run_tunnel(&["localhost"], &env, LIST_MODULES);
    assert_module_list(&out, "environment", &x.stunnel);

    // options win over the environment
    let wrong = [
        ("RSYNC_SSL_PORT", "1"),
        ("RSYNC_SSL_CAPATH", "/nonexistent"),
        ("RSYNC_SSL_METHOD", "carrier-pigeon"),
    ];
    let out = run_tunnel(
        &["-C", &capath, "-p", &port, "-m", "socat", "localhost"],
        &wrong,
        LIST_MODULES,
    );
    assert_module_list(&out, "options over environment", &x.stunnel);

    // a CA bundle file works as well as a directory
    let ca_file = s(&x.ca.cert);
    let out = run_tunnel(
        &["-C", &ca_file, "-p", &port, "localhost"],
        &[],
        LIST_MODULES,
    );
    assert_module_list(&out, "CA file", &x.stunnel);
}

#[test]
fn works_through_a_link_named_rsync_ssl_tunnel() {
    let x = rsync_behind_stunnel(&["DNS:localhost"]);
    let dir = tempdir();
    let link = dir.path().join("rsync-ssl-tunnel");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let mut cmd = std::process::Command::new(&link);
    cmd.args(["-C", &s(&x.ca.capath), "-p", &x.stunnel.port.to_string()])
        .arg("localhost");
    let out = run_tunnel_cmd(cmd, &[], LIST_MODULES);
    assert_module_list(&out, "link", &x.stunnel);
}

#[test]
fn half_close_carries_a_large_stream_both_ways() {
    // The backend answers only after it has seen the end of our input: the tunnel must pass
    // the end of stdin on (close_notify / TCP shutdown) and keep reading afterwards.
    let echo = EchoAfterEof::start();
    let ca = Ca::new("archvsync echo ca");
    let stunnel = Stunnel::start(&ca.issue(&["DNS:localhost"]), echo.port);
    let input: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let out = run_tunnel(
        &[
            "-C",
            &s(&ca.capath),
            "-p",
            &stunnel.port.to_string(),
            "localhost",
        ],
        &[],
        &input,
    );
    assert_eq!(
        out.code,
        Some(0),
        "stderr: {}\nstunnel log:\n{}",
        out.stderr,
        stunnel.log()
    );
    let trailer = format!("bytes={}\n", input.len());
    assert_eq!(out.stdout.len(), input.len() + trailer.len());
    assert!(
        out.stdout[..input.len()] == input[..],
        "data changed on the way"
    );
    assert_eq!(&out.stdout[input.len()..], trailer.as_bytes());

    // no input at all: still a clean end
    let out = run_tunnel(
        &[
            "-C",
            &s(&ca.capath),
            "-p",
            &stunnel.port.to_string(),
            "localhost",
        ],
        &[],
        b"",
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(out.stdout_text(), "bytes=0\n");
}

#[test]
fn an_ip_address_host_is_checked_against_the_ip_names() {
    let x = rsync_behind_stunnel(&["IP:127.0.0.1"]);
    let port = x.stunnel.port.to_string();
    let capath = s(&x.ca.capath);
    let out = run_tunnel(
        &["-C", &capath, "-p", &port, "127.0.0.1"],
        &[],
        LIST_MODULES,
    );
    assert_module_list(&out, "IP address", &x.stunnel);
    // the same certificate does not do for the name localhost
    let out = run_tunnel(
        &["-C", &capath, "-p", &port, "localhost"],
        &[],
        LIST_MODULES,
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("certificate not valid for name \"localhost\""),
        "{}",
        out.stderr
    );
}

#[test]
fn a_certificate_from_another_ca_is_refused() {
    let x = rsync_behind_stunnel(&["DNS:localhost"]);
    let other = Ca::new("some other ca");
    let port = x.stunnel.port.to_string();
    for method in ["stunnel", "stunnel-old"] {
        let out = run_tunnel(
            &[
                "-C",
                &s(&other.capath),
                "-p",
                &port,
                "-m",
                method,
                "localhost",
            ],
            &[],
            LIST_MODULES,
        );
        let line = refusal_line(&out, method);
        assert!(
            line.starts_with(&format!(
                "rsync-ssl-tunnel: TLS to localhost:{port} failed: "
            )),
            "{method}: {line}"
        );
        assert!(line.contains("UnknownIssuer"), "{method}: {line}");
    }
}

#[test]
fn the_host_name_is_checked_except_by_the_old_methods() {
    let x = rsync_behind_stunnel(&["DNS:other.example"]);
    let port = x.stunnel.port.to_string();
    let capath = s(&x.ca.capath);
    for method in ["stunnel", "stunnel4", "socat"] {
        let out = run_tunnel(
            &["-C", &capath, "-p", &port, "-m", method, "localhost"],
            &[],
            LIST_MODULES,
        );
        let line = refusal_line(&out, method);
        assert!(
            line.contains(&format!("TLS to localhost:{port} failed"))
                && line.contains("not valid for name \"localhost\"")
                && line.contains("other.example"),
            "{method}: {line}"
        );
    }
    for method in ["stunnel-old", "stunnel4-old"] {
        let out = run_tunnel(
            &["-C", &capath, "-p", &port, "-m", method, "localhost"],
            &[],
            LIST_MODULES,
        );
        assert_module_list(&out, method, &x.stunnel);
    }
}

#[test]
fn unknown_method_exits_1_before_anything_else() {
    let out = run_tunnel(
        &["-m", "carrier-pigeon", "-C", "/nonexistent", "localhost"],
        &[],
        b"",
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(
        out.stderr.trim_end(),
        "rsync-ssl-tunnel: Unknown method carrier-pigeon."
    );
    let out = run_tunnel(&["localhost"], &[("RSYNC_SSL_METHOD", "openssl")], b"");
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("Unknown method openssl."),
        "{}",
        out.stderr
    );
}

#[test]
fn missing_or_empty_ca_paths_are_named() {
    let dir = tempdir();
    let missing = dir.path().join("no-such-capath");
    let out = run_tunnel(&["-C", &s(&missing), "-p", "1", "localhost"], &[], b"");
    assert_eq!(out.code, Some(1), "{out:?}");
    let line = out.stderr.trim_end();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.starts_with("rsync-ssl-tunnel: ") && line.contains(&s(&missing)),
        "{line}"
    );

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("README"), "no certificates here\n").unwrap();
    let out = run_tunnel(&["-C", &s(&empty), "-p", "1", "localhost"], &[], b"");
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(
        out.stderr.trim_end(),
        format!(
            "rsync-ssl-tunnel: no CA certificates in {}",
            empty.display()
        )
    );
}

#[test]
fn connection_and_protocol_failures_are_one_clear_line() {
    let ca = Ca::new("archvsync test ca");
    let capath = s(&ca.capath);

    // nothing listening
    let port = free_port().to_string();
    let out = run_tunnel(&["-C", &capath, "-p", &port, "127.0.0.1"], &[], b"");
    assert_eq!(out.code, Some(1), "{out:?}");
    let line = out.stderr.trim_end();
    assert!(
        line.starts_with(&format!(
            "rsync-ssl-tunnel: cannot connect to 127.0.0.1:{port}: "
        )),
        "{line}"
    );
    assert_eq!(line.lines().count(), 1, "{line}");

    // a plain rsync daemon, no TLS in front: the handshake fails, it does not hang
    let tree = tempdir();
    let daemon = RsyncDaemon::start(&[("debian", tree.path())]);
    let port = daemon.port.to_string();
    let out = run_tunnel(
        &["-C", &capath, "-p", &port, "localhost"],
        &[],
        LIST_MODULES,
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    let line = out.stderr.trim_end();
    assert!(
        line.starts_with(&format!(
            "rsync-ssl-tunnel: TLS to localhost:{port} failed: "
        )) && line.contains("is a TLS server listening"),
        "{line}"
    );
    assert_eq!(line.lines().count(), 1, "{line}");
}

#[test]
fn usage_errors_exit_64() {
    let out = run_tunnel(&[], &[], b"");
    assert_eq!(out.code, Some(64), "{out:?}");
    let out = run_tunnel(&["-p", "not-a-port", "localhost"], &[], b"");
    assert_eq!(out.code, Some(64), "{out:?}");
    let out = run_tunnel(&["-h"], &[], b"");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout_text().contains("-C"), "{out:?}");
}
