//! The TLS side of the rsync-ssl-tunnel tests, all on 127.0.0.1:
//!
//! - [`Ca`]: a throwaway certificate authority made with the `openssl` CLI, its certificate
//!   in a hashed CA directory (the `c_rehash` layout of `/etc/ssl/certs`), issuing server
//!   certificates for given names.
//! - [`Stunnel`]: a real stunnel4 in foreground mode terminating TLS in front of a backend
//!   port (the rsync daemon, or [`EchoAfterEof`]).
//! - [`EchoAfterEof`]: a backend that reads until end of input and only then answers, so a
//!   tunnel that does not half-close properly hangs (bounded) instead of passing.
//! - [`run_tunnel`]: the tunnel run directly, bounded in time.
//!
//! Every wait here is bounded; the daemons are killed in Drop.

use super::{accepts, read_string, start_on_free_port, tempdir, BIN};
use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{sleep, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Upper bound for one direct tunnel run.
pub const TUNNEL_TIMEOUT: Duration = Duration::from_secs(30);

/// Run `openssl ARGS` in `dir`; panic with its output on failure.
pub fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl (the openssl CLI is needed by the tunnel tests)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `openssl req HOW -newkey ec (P-256) -nodes -keyout KEY -out OUT REST`: a new key and a
/// request or certificate for it.
fn req_with_new_key(dir: &Path, how: &[&str], key: &Path, out: &Path, rest: &[&str]) {
    let (key, out) = (key.to_string_lossy(), out.to_string_lossy());
    let mut args = vec!["req"];
    args.extend_from_slice(how);
    args.extend_from_slice(&[
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &key,
        "-out",
        &out,
    ]);
    args.extend_from_slice(rest);
    openssl(dir, &args);
}

fn unique_serial() -> String {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("0x{:x}{:04x}", n, std::process::id() & 0xffff)
}

/// A server certificate and its key (PEM files).
pub struct ServerCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A throwaway CA. `capath` is a hashed CA directory: `NAME.pem` links to the certificate
/// kept elsewhere, and `HASH.0` links to `NAME.pem`, as in `/etc/ssl/certs`.
pub struct Ca {
    tmp: tempfile::TempDir,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub capath: PathBuf,
    issued: std::cell::Cell<u32>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let tmp = tempdir();
        let d = tmp.path();
        fs::write(
            d.join("ca.cnf"),
            format!(
                "[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = v3_ca\n\
                 [dn]\nCN = {name}\n\
                 [v3_ca]\nbasicConstraints = critical,CA:TRUE\n\
                 keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n"
            ),
        )
        .unwrap();
        let store = d.join("store");
        fs::create_dir_all(&store).unwrap();
        let cert = store.join(format!("{name}.crt"));
        let key = d.join("ca.key");
        req_with_new_key(
            d,
            &["-x509", "-config", "ca.cnf"],
            &key,
            &cert,
            &["-days", "3", "-set_serial", &unique_serial()],
        );
        let capath = d.join("capath");
        fs::create_dir_all(&capath).unwrap();
        symlink(&cert, capath.join(format!("{name}.pem"))).unwrap();
        rehash(&capath);
        Ca {
            tmp,
            cert,
            key,
            capath,
            issued: std::cell::Cell::new(0),
        }
    }

    /// A server certificate for `sans` (`DNS:localhost`, `IP:127.0.0.1`, ...).
    pub fn issue(&self, sans: &[&str]) -> ServerCert {
        let n = self.issued.get();
        self.issued.set(n + 1);
        let d = self.tmp.path();
        let key = d.join(format!("server-{n}.key"));
        let csr = d.join(format!("server-{n}.csr"));
        let cert = d.join(format!("server-{n}.crt"));
        let ext = d.join(format!("server-{n}.ext"));
        fs::write(
            &ext,
            format!(
                "basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\n\
                 extendedKeyUsage = serverAuth\nsubjectKeyIdentifier = hash\n\
                 authorityKeyIdentifier = keyid\nsubjectAltName = {}\n",
                sans.join(",")
            ),
        )
        .unwrap();
        let cn = sans
            .first()
            .and_then(|s| s.split_once(':'))
            .map(|(_, v)| v.to_string())
            .unwrap_or_else(|| "server".into());
        req_with_new_key(d, &["-new"], &key, &csr, &["-subj", &format!("/CN={cn}")]);
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &csr.to_string_lossy(),
                "-CA",
                &self.cert.to_string_lossy(),
                "-CAkey",
                &self.key.to_string_lossy(),
                "-set_serial",
                &unique_serial(),
                "-days",
                "2",
                "-extfile",
                &ext.to_string_lossy(),
                "-out",
                &cert.to_string_lossy(),
            ],
        );
        ServerCert { cert, key }
    }
}

/// Create the `HASH.0` links of a CA directory: `openssl rehash`, else by hand.
pub fn rehash(dir: &Path) {
    let ok = Command::new("openssl")
        .arg("rehash")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let has_hash_link = |dir: &Path| {
        fs::read_dir(dir).unwrap().flatten().any(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.len() == 10 && n.ends_with(".0") && n[..8].chars().all(|c| c.is_ascii_hexdigit())
        })
    };
    if ok && has_hash_link(dir) {
        return;
    }
    for e in fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".pem") {
            continue;
        }
        let hash = openssl(dir, &["x509", "-hash", "-noout", "-in", &name]);
        let link = dir.join(format!("{}.0", hash.trim()));
        if !link.exists() {
            symlink(&name, link).unwrap();
        }
    }
    assert!(has_hash_link(dir), "no hash link made in {}", dir.display());
}

/// Path of the stunnel binary.
pub fn stunnel_bin() -> &'static str {
    if Path::new("/usr/bin/stunnel4").exists() {
        "/usr/bin/stunnel4"
    } else {
        "stunnel"
    }
}

/// A running stunnel accepting TLS on 127.0.0.1:`port` and passing the plain bytes on to
/// 127.0.0.1:backend; killed and reaped on drop.
pub struct Stunnel {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Stunnel {
    pub fn start(cert: &ServerCert, backend_port: u16) -> Stunnel {
        let dir = tempdir();
        let d = dir.path().to_path_buf();
        let (child, port) = start_on_free_port(
            "stunnel",
            |attempt, port| {
                let conf = d.join(format!("stunnel-{attempt}.conf"));
                fs::write(
                    &conf,
                    format!(
                        "foreground = yes\npid = {pid}\noutput = {log}\ndebug = info\n\n\
                         [rsync]\naccept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{backend_port}\n\
                         cert = {cert}\nkey = {key}\n",
                        pid = d.join("stunnel.pid").display(),
                        log = d.join("stunnel.log").display(),
                        cert = cert.cert.display(),
                        key = cert.key.display(),
                    ),
                )
                .unwrap();
                let out = fs::File::create(d.join(format!("stunnel-{attempt}.out"))).unwrap();
                let err = out.try_clone().unwrap();
                Command::new(stunnel_bin())
                    .arg(&conf)
                    .stdin(Stdio::null())
                    .stdout(out)
                    .stderr(err)
                    .spawn()
                    .expect("spawn stunnel (package stunnel4; scripts/setup-deps installs it)")
            },
            accepts,
            |attempt| {
                format!(
                    "{}\n{}",
                    read_string(&d.join(format!("stunnel-{attempt}.out"))),
                    read_string(&d.join("stunnel.log"))
                )
            },
        );
        Stunnel {
            child: Some(child),
            port,
            dir,
        }
    }

    pub fn log(&self) -> String {
        read_string(&self.dir.path().join("stunnel.log"))
    }
}

impl Drop for Stunnel {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A plain TCP backend on 127.0.0.1: for each connection, reads everything until end of
/// input, then writes it back followed by `bytes=N\n` and closes.
pub struct EchoAfterEof {
    pub port: u16,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl EchoAfterEof {
    pub fn start() -> EchoAfterEof {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut s) = conn else { continue };
                let _ = s.set_read_timeout(Some(TUNNEL_TIMEOUT));
                let _ = s.set_write_timeout(Some(TUNNEL_TIMEOUT));
                let mut data = Vec::new();
                if s.read_to_end(&mut data).is_ok() {
                    let _ = s.write_all(&data);
                    let _ = s.write_all(format!("bytes={}\n", data.len()).as_bytes());
                }
                let _ = s.shutdown(Shutdown::Both);
            }
        });
        EchoAfterEof {
            port,
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for EchoAfterEof {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // wake the accept
        let _ = TcpStream::connect_timeout(
            &format!("127.0.0.1:{}", self.port).parse().unwrap(),
            Duration::from_secs(2),
        );
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// What a direct tunnel run gave.
#[derive(Debug)]
pub struct TunnelOutput {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl TunnelOutput {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// `archvsync rsync-ssl-tunnel ARGS` with a clean environment plus `env`, `input` on stdin
/// (then end of input); killed after [`TUNNEL_TIMEOUT`] (the test then panics).
pub fn run_tunnel(args: &[&str], env: &[(&str, &str)], input: &[u8]) -> TunnelOutput {
    let mut cmd = Command::new(BIN);
    cmd.arg("rsync-ssl-tunnel").args(args);
    run_tunnel_cmd(cmd, env, input)
}

/// Like [`run_tunnel`], for any command line (for instance through a link).
pub fn run_tunnel_cmd(mut cmd: Command, env: &[(&str, &str)], input: &[u8]) -> TunnelOutput {
    cmd.env_clear();
    cmd.env(
        "PATH",
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
    );
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn the tunnel");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
        // dropping stdin: end of input
    });
    let mut stdout = child.stdout.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + TUNNEL_TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let err = err_reader.join().unwrap_or_default();
            panic!(
                "the tunnel did not finish within {TUNNEL_TIMEOUT:?}; stderr:\n{}",
                String::from_utf8_lossy(&err)
            );
        }
        sleep(Duration::from_millis(20));
    };
    let _ = writer.join();
    TunnelOutput {
        code: status.code(),
        stdout: out_reader.join().unwrap_or_default(),
        stderr: String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned(),
    }
}
