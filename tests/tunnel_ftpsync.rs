//! ftpsync with `RSYNC_TRANSPORT=ssl`: real rsync runs the built-in rsync-ssl-tunnel as its
//! `-e` program, through a real stunnel in front of the upstream's rsync daemon, with
//! certificates from a throwaway CA in a hashed CA directory (all on 127.0.0.1).

mod common;
use common::tls::*;
use common::*;

/// The upstream's rsync daemon behind stunnel, serving a certificate for `sans`.
struct SslUpstream {
    up: Upstream,
    ca: Ca,
    stunnel: Stunnel,
}

impl SslUpstream {
    fn new(sans: &[&str]) -> SslUpstream {
        let up = Upstream::v1();
        let ca = Ca::new("archvsync upstream ca");
        let stunnel = Stunnel::start(&ca.issue(sans), up.daemon.port);
        SslUpstream { up, ca, stunnel }
    }

    /// The mirror's configuration: `localhost::debian` (no RSYNC_SOURCE) over ssl.
    fn conf(&self, m: &Mirror, capath: &std::path::Path) -> Conf {
        m.conf(&self.up.url())
            .unset("RSYNC_SOURCE")
            .set("RSYNC_HOST", "localhost")
            .set("RSYNC_PATH", "debian")
            .set("RSYNC_TRANSPORT", "ssl")
            .set("RSYNC_SSL_PORT", self.stunnel.port.to_string())
            .set("RSYNC_SSL_CAPATH", capath.to_string_lossy())
    }

    fn diagnostics(&self, m: &Mirror, out: &RunOutput) -> String {
        format!(
            "{}--- stunnel log ---\n{}\n--- rsync daemon log ---\n{}",
            m.diagnostics(out),
            self.stunnel.log(),
            self.up.daemon.log()
        )
    }
}

#[test]
fn sync_over_ssl_with_a_hashed_ca_directory() {
    let x = SslUpstream::new(&["DNS:localhost"]);
    let m = Mirror::new();
    m.write_conf(&x.conf(&m, &x.ca.capath));
    let out = m.run(&[]);
    assert_eq!(out.code, Some(0), "{}", x.diagnostics(&m, &out));
    assert_same_tree(&x.up.root, &m.to, &m.name);
    let t = m.trace();
    assert_eq!(t.req("Rsync-Transport"), "ssl", "{}", t.raw);
    assert_eq!(t.req("Upstream-mirror"), "localhost", "{}", t.raw);
    assert_eq!(t.req("Archive serial"), SERIAL_V1);
    // it really went through the TLS terminator
    assert!(
        x.stunnel.log().contains("TLS accepted"),
        "{}",
        x.diagnostics(&m, &out)
    );
    // and rsync was told to use the tunnel
    assert!(
        count_lines(&m.log(), "rsync-ssl-tunnel") > 0 || out.stdout.contains("rsync-ssl-tunnel"),
        "the rsync command line does not show the tunnel:\n{}",
        x.diagnostics(&m, &out)
    );
}

#[test]
fn a_certificate_from_another_ca_fails_stage1_with_a_clear_message() {
    let x = SslUpstream::new(&["DNS:localhost"]);
    let other = Ca::new("some other ca");
    let m = Mirror::new();
    m.write_conf(&x.conf(&m, &other.capath));
    let out = m.run(&[]);
    assert_eq!(out.code, Some(3), "{}", x.diagnostics(&m, &out));
    let err = m.read_log_file("rsync-ftpsync.error");
    assert!(
        err.contains(&format!(
            "rsync-ssl-tunnel: TLS to localhost:{} failed",
            x.stunnel.port
        )) && err.contains("UnknownIssuer"),
        "the tunnel's message is not in the rsync error log:\n{}",
        x.diagnostics(&m, &out)
    );
    // nothing was transferred
    assert!(!m.trace_path().exists(), "{}", x.diagnostics(&m, &out));
    assert!(!m.to.join("dists").exists(), "{}", x.diagnostics(&m, &out));
}

#[test]
fn a_certificate_for_another_name_fails_unless_the_method_is_stunnel_old() {
    let x = SslUpstream::new(&["DNS:other.example"]);

    let m = Mirror::new();
    m.write_conf(&x.conf(&m, &x.ca.capath).set("RSYNC_SSL_METHOD", "stunnel"));
    let out = m.run(&[]);
    assert_eq!(out.code, Some(3), "{}", x.diagnostics(&m, &out));
    let err = m.read_log_file("rsync-ftpsync.error");
    assert!(
        err.contains("rsync-ssl-tunnel: TLS to localhost:")
            && err.contains("not valid for name \"localhost\"")
            && err.contains("other.example"),
        "the tunnel's message is not in the rsync error log:\n{}",
        x.diagnostics(&m, &out)
    );
    assert!(!m.trace_path().exists(), "{}", x.diagnostics(&m, &out));

    let m = Mirror::new();
    m.write_conf(
        &x.conf(&m, &x.ca.capath)
            .set("RSYNC_SSL_METHOD", "stunnel-old"),
    );
    let out = m.run(&[]);
    assert_eq!(out.code, Some(0), "{}", x.diagnostics(&m, &out));
    assert_same_tree(&x.up.root, &m.to, &m.name);
    assert_eq!(m.trace().req("Rsync-Transport"), "ssl");
}
