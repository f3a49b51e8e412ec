//! A real web server from Debian's packages (nginx, installed by scripts/setup-deps) on
//! 127.0.0.1 and a free port, serving mirror trees the way a mirror's web server does:
//! static files with Last-Modified (and If-Unmodified-Since answered), directory listings
//! (autoindex). Its config, pid file, logs and temp dirs live in a temp dir of its own;
//! it runs as one process (no workers), killed and reaped on drop, also when the test fails.

use super::*;
use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub const NGINX: &str = "/usr/sbin/nginx";

pub struct Nginx {
    child: Option<Child>,
    pub port: u16,
    tls: bool,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Serve each (URL prefix, directory), e.g. `("/debian/", mirror.to)`.
    pub fn start(locations: &[(&str, &Path)]) -> Nginx {
        Nginx::start_with(locations, None)
    }

    /// The same over HTTPS, with this certificate.
    pub fn start_tls(locations: &[(&str, &Path)], cert: &super::tls::ServerCert) -> Nginx {
        Nginx::start_with(locations, Some(cert))
    }

    fn start_with(locations: &[(&str, &Path)], tls: Option<&super::tls::ServerCert>) -> Nginx {
        assert!(
            Path::new(NGINX).exists(),
            "{NGINX} is missing: run scripts/setup-deps (it installs nginx)"
        );
        let dir = tempdir();
        let d = dir.path().to_path_buf();
        for sub in ["client", "proxy", "fastcgi", "uwsgi", "scgi"] {
            fs::create_dir_all(d.join("tmp").join(sub)).unwrap();
        }
        let mut served = String::new();
        for (prefix, path) in locations {
            served.push_str(&format!(
                "        location {prefix} {{\n            alias {}/;\n            autoindex on;\n        }}\n",
                path.display()
            ));
        }
        let (ssl, certificate) = match tls {
            Some(c) => (
                " ssl",
                format!(
                    "        ssl_certificate {};\n        ssl_certificate_key {};\n",
                    c.cert.display(),
                    c.key.display()
                ),
            ),
            None => ("", String::new()),
        };
        let conf = d.join("nginx.conf");
        let (child, port) = start_on_free_port(
            "nginx",
            |attempt, port| {
                // One process (no master and workers): killing it stops the server, and it
                // keeps our user, so it can enter the 0700 temp dirs as root too.
                fs::write(
                    &conf,
                    format!(
                        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\n\
                         error_log {d}/error.log info;\n\
                         events {{\n    worker_connections 64;\n}}\n\
                         http {{\n    access_log {d}/access.log;\n    default_type text/plain;\n\
                         \x20   client_body_temp_path {d}/tmp/client;\n    proxy_temp_path {d}/tmp/proxy;\n\
                         \x20   fastcgi_temp_path {d}/tmp/fastcgi;\n    uwsgi_temp_path {d}/tmp/uwsgi;\n\
                         \x20   scgi_temp_path {d}/tmp/scgi;\n\
                         \x20   server {{\n        listen 127.0.0.1:{port}{ssl};\n{certificate}{served}    }}\n}}\n",
                        d = d.display()
                    ),
                )
                .unwrap();
                let out = fs::File::create(d.join(format!("nginx-{attempt}.out"))).unwrap();
                let err = out.try_clone().unwrap();
                Command::new(NGINX)
                    .arg("-p")
                    .arg(&d)
                    .arg("-c")
                    .arg(&conf)
                    .stdin(Stdio::null())
                    .stdout(out)
                    .stderr(err)
                    .spawn()
                    .expect("spawn nginx")
            },
            accepts,
            |attempt| {
                format!(
                    "{}{}",
                    read_string(&d.join("error.log")),
                    read_string(&d.join(format!("nginx-{attempt}.out")))
                )
            },
        );
        Nginx {
            child: Some(child),
            port,
            tls: tls.is_some(),
            dir,
        }
    }

    /// `http://127.0.0.1:PORT` + `path` (`https://` when started with TLS).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}{path}", self.port)
    }

    /// The requests it answered, one line each.
    pub fn access_log(&self) -> String {
        read_string(&self.dir.path().join("access.log"))
    }

    pub fn error_log(&self) -> String {
        read_string(&self.dir.path().join("error.log"))
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `LC_ALL=C date -u -d @EPOCH` (the first line of a trace), or with `-R` (its `Date:`).
pub fn date_at(epoch: i64, rfc2822: bool) -> String {
    let mut c = Command::new("date");
    c.env("LC_ALL", "C").arg("-u");
    if rfc2822 {
        c.arg("-R");
    }
    let out = c
        .arg("-d")
        .arg(format!("@{epoch}"))
        .output()
        .expect("run date");
    assert!(out.status.success(), "date: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Give the trace file at `path` the date `epoch`: its first line and its `Date:` line, as
/// ftpsync (or dak, for the master trace) would have written them then.
pub fn set_trace_date(path: &Path, epoch: i64) {
    let text = read_string(path);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert!(!lines.is_empty(), "{} is empty", path.display());
    lines[0] = date_at(epoch, false);
    for l in lines.iter_mut().filter(|l| l.starts_with("Date: ")) {
        *l = format!("Date: {}", date_at(epoch, true));
    }
    fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// An upstream whose master trace, serial `serial`, is dated `epoch`.
pub fn upstream_dated(serial: &str, epoch: i64) -> Upstream {
    let up = Upstream::new(ArchiveSpec {
        serial: serial.to_string(),
        ..ArchiveSpec::v1()
    });
    set_trace_date(&up.root.join("project/trace/master"), epoch);
    up
}

/// A mirror named `name`, synced by archvsync from `up` with `conf`'s extra keys.
pub fn synced_mirror(up: &Upstream, name: &str, extra: &[(&str, &str)]) -> Mirror {
    let mut m = Mirror::new();
    m.name = name.to_string();
    let mut conf = m.conf(&up.url());
    for (k, v) in extra {
        conf = conf.set(k, *v);
    }
    m.write_conf(&conf);
    m.expect_code(&m.run(&["sync:all"]), 0);
    m
}
