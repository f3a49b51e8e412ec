//! Daemons on 127.0.0.1: [`start_on_free_port`], the one start-and-retry loop every
//! throwaway daemon of the harness goes through (rsync, sshd, stunnel), and
//! [`RsyncDaemon`], a `rsync --daemon` serving given modules.

use super::{is_root, read_string, tempdir};
use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// Path of the real rsync binary.
pub fn rsync_bin() -> &'static str {
    if Path::new("/usr/bin/rsync").exists() {
        "/usr/bin/rsync"
    } else {
        "rsync"
    }
}

/// How many ports a daemon is tried on, and how long each try may take to answer.
const START_ATTEMPTS: usize = 8;
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Start a daemon on a free port of 127.0.0.1: `spawn(attempt, port)` starts it (its
/// configuration may name the port), `ready(port)` says whether it serves yet. Between
/// [`free_port`] and the daemon's own bind another process may take the port: a daemon
/// that exits before it is ready is tried again on a fresh port, up to 8 times. One that
/// neither exits nor answers within 10 s is killed and the test panics with
/// `log(attempt)`, what the daemon wrote.
pub fn start_on_free_port(
    what: &str,
    mut spawn: impl FnMut(usize, u16) -> Child,
    ready: impl Fn(u16) -> bool,
    log: impl Fn(usize) -> String,
) -> (Child, u16) {
    for attempt in 0..START_ATTEMPTS {
        let port = free_port();
        let mut child = spawn(attempt, port);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if ready(port) {
                return (child, port);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{what} did not answer on port {port} within {START_TIMEOUT:?}; log:\n{}",
                    log(attempt)
                );
            }
            sleep(Duration::from_millis(20));
        }
    }
    panic!(
        "could not start {what} after {START_ATTEMPTS} attempts; log:\n{}",
        log(START_ATTEMPTS - 1)
    );
}

/// Does 127.0.0.1:`port` accept a TCP connection (within 200 ms)?
pub fn accepts(port: u16) -> bool {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// One module of the throwaway rsync daemon.
#[derive(Clone, Debug)]
pub struct ModuleSpec {
    pub name: String,
    pub path: PathBuf,
    /// `auth users` + secrets file with this user and password.
    pub auth: Option<(String, String)>,
    /// uid/gid the daemon uses for this module when running as root (default root/root).
    pub run_as: Option<(String, String)>,
}

impl ModuleSpec {
    pub fn new(name: &str, path: &Path) -> Self {
        ModuleSpec {
            name: name.to_string(),
            path: path.to_path_buf(),
            auth: None,
            run_as: None,
        }
    }
    pub fn with_auth(mut self, user: &str, password: &str) -> Self {
        self.auth = Some((user.to_string(), password.to_string()));
        self
    }
    pub fn run_as(mut self, uid: &str, gid: &str) -> Self {
        self.run_as = Some((uid.to_string(), gid.to_string()));
        self
    }
}

/// A running `rsync --daemon --no-detach`; killed and reaped on drop.
pub struct RsyncDaemon {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl RsyncDaemon {
    /// Start a daemon serving `modules` (name, path), read-only, no auth.
    pub fn start(modules: &[(&str, &Path)]) -> Self {
        Self::start_modules(modules.iter().map(|(n, p)| ModuleSpec::new(n, p)).collect())
    }

    pub fn start_modules(modules: Vec<ModuleSpec>) -> Self {
        let dir = tempdir();
        let d = dir.path().to_path_buf();
        let root = is_root();
        let mut conf = format!(
            "use chroot = false\nread only = true\nmax connections = 0\n\
             pid file = {d}/rsyncd.pid\nlock file = {d}/rsyncd.lock\nlog file = {d}/rsyncd.log\n",
            d = d.display()
        );
        for m in &modules {
            conf.push_str(&format!(
                "\n[{}]\n    path = {}\n    comment = test module\n",
                m.name,
                m.path.display()
            ));
            if root {
                let (u, g) = m
                    .run_as
                    .clone()
                    .unwrap_or_else(|| ("root".into(), "root".into()));
                conf.push_str(&format!("    uid = {u}\n    gid = {g}\n"));
            }
            if let Some((user, pass)) = &m.auth {
                let secrets = d.join(format!("{}.secrets", m.name));
                fs::write(&secrets, format!("{user}:{pass}\n")).unwrap();
                fs::set_permissions(&secrets, fs::Permissions::from_mode(0o600)).unwrap();
                conf.push_str(&format!(
                    "    auth users = {user}\n    secrets file = {}\n    strict modes = true\n",
                    secrets.display()
                ));
            }
        }
        let conf_path = d.join("rsyncd.conf");
        fs::write(&conf_path, conf).unwrap();

        let (child, port) = start_on_free_port(
            "rsync daemon",
            |attempt, port| {
                let _ = fs::remove_file(d.join("rsyncd.pid"));
                let out = fs::File::create(d.join(format!("daemon-{attempt}.out"))).unwrap();
                let err = out.try_clone().unwrap();
                Command::new(rsync_bin())
                    .arg("--daemon")
                    .arg("--no-detach")
                    .arg("--address=127.0.0.1")
                    .arg(format!("--port={port}"))
                    .arg(format!("--config={}", conf_path.display()))
                    .stdin(Stdio::null())
                    .stdout(out)
                    .stderr(err)
                    .spawn()
                    .expect("spawn rsync --daemon")
            },
            accepts,
            |attempt| {
                format!(
                    "{}\n{}",
                    read_string(&d.join("rsyncd.log")),
                    read_string(&d.join(format!("daemon-{attempt}.out")))
                )
            },
        );
        RsyncDaemon {
            child: Some(child),
            port,
            dir,
        }
    }

    /// `rsync://127.0.0.1:PORT/MODULE/`
    pub fn url(&self, module: &str) -> String {
        format!("rsync://127.0.0.1:{}/{}/", self.port, module)
    }

    pub fn log(&self) -> String {
        read_string(&self.dir.path().join("rsyncd.log"))
    }
}

impl Drop for RsyncDaemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
