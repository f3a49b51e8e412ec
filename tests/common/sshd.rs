//! The push side's ssh: keys and real `sshd`s with forced commands.
//!
//! - [`ssh_keygen`]: an ed25519 key without passphrase.
//! - [`Sshd`]: a throwaway `/usr/sbin/sshd -D` on 127.0.0.1 and a free port, with its own
//!   host key and `authorized_keys`; every process it started is killed and reaped on drop.
//! - [`HangingListener`]: a TCP port that accepts and never says a word.
//! - [`ssh_cmd`]: ssh as runmirrors runs it; [`time_ssh_logins`]: what a login costs.
//!
//! Under sshd the forced command runs as root with HOME=/root, LOGNAME=root and sshd's PATH.
//! The authorized_keys lines also carry `environment="SHLVL=1"` (allowed by
//! `PermitUserEnvironment SHLVL`): root's login shell is bash, which sources `~/.bashrc`
//! for commands run by sshd only when its shell level is below 2. This machine's
//! `/root/.bashrc` runs `pyenv init` (~0.25 s per login), which has nothing to do with
//! archvsync; the forced command and everything else are unchanged.
//!
//! The mirrors of a push tree ([`super::push`]) and the sendmail recorder ([`super::mail`])
//! are re-exported here: tests reach them through `use common::sshd::*`.
//!
//! Every wait is bounded.

#[allow(unused_imports)]
pub use super::mail::{recorded_mails, sendmail_recorder};
#[allow(unused_imports)]
pub use super::push::*;

use super::{descendants, kill_9, read_string, start_on_free_port, tempdir};
use std::fs;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::sleep;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const SSHD: &str = "/usr/sbin/sshd";

/// ssh options every pusher uses (no known_hosts business with throwaway host keys).
pub const SSH_OPTS: &str =
    "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR";

/// An ssh key pair on disk.
#[derive(Clone, Debug)]
pub struct SshKey {
    /// the private key (the public one is `<path>.pub`)
    pub path: PathBuf,
}

impl SshKey {
    /// The public key line (`ssh-ed25519 AAAA... comment`).
    pub fn public(&self) -> String {
        let mut p = self.path.as_os_str().to_owned();
        p.push(".pub");
        fs::read_to_string(PathBuf::from(p))
            .expect("read public key")
            .trim()
            .to_string()
    }
}

/// `ssh-keygen -q -t ed25519 -N '' -f PATH` (an existing key at PATH is replaced).
pub fn ssh_keygen(path: &Path) -> SshKey {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).unwrap();
    }
    let _ = fs::remove_file(path);
    let mut pubp = path.as_os_str().to_owned();
    pubp.push(".pub");
    let _ = fs::remove_file(PathBuf::from(pubp));
    let out = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "archvsync-test",
            "-f",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("run ssh-keygen");
    assert!(
        out.status.success(),
        "ssh-keygen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    SshKey {
        path: path.to_path_buf(),
    }
}

/// The authorized_keys line locking `key` to the forced command `command`.
pub fn forced_command_line(command: &Path, key: &SshKey) -> String {
    format!(
        "command=\"{}\",restrict,environment=\"SHLVL=1\" {}",
        command.display(),
        key.public()
    )
}

/// A running `sshd -D` on 127.0.0.1.
pub struct Sshd {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    log: PathBuf,
}

impl Sshd {
    /// Start an sshd accepting exactly the keys of `authorized_keys` (text of the file).
    pub fn start(authorized_keys: &str) -> Sshd {
        Sshd::start_with_config(authorized_keys, "")
    }

    /// Like [`Sshd::start`], with `extra_config` (sshd_config lines) ahead of the harness's
    /// own: sshd keeps the first value it reads for a keyword, so these win. For instance
    /// `MaxStartups 1000:30:1000` for hundreds of logins at once, or `AcceptEnv NAME`.
    pub fn start_with_config(authorized_keys: &str, extra_config: &str) -> Sshd {
        let mut extra = extra_config.to_string();
        if !extra.is_empty() && !extra.ends_with('\n') {
            extra.push('\n');
        }
        fs::create_dir_all("/run/sshd").expect("create /run/sshd (privilege separation dir)");
        let _ = fs::set_permissions("/run/sshd", fs::Permissions::from_mode(0o755));
        let dir = tempdir();
        let d = dir.path().to_path_buf();
        let hostkey = ssh_keygen(&d.join("ssh_host_ed25519_key"));
        let ak = d.join("authorized_keys");
        let mut text = authorized_keys.to_string();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        fs::write(&ak, text).unwrap();
        let log = d.join("sshd.log");

        let conf = d.join("sshd_config");
        let (child, port) = start_on_free_port(
            "sshd",
            |attempt, port| {
                fs::write(
                    &conf,
                    format!(
                        "{extra}ListenAddress 127.0.0.1\nPort {port}\nHostKey {hk}\nPidFile {d}/sshd.pid\n\
                         AuthorizedKeysFile {ak}\nStrictModes no\nUsePAM no\n\
                         PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                         PubkeyAuthentication yes\nPermitRootLogin forced-commands-only\n\
                         PermitUserEnvironment SHLVL\nPrintMotd no\nPrintLastLog no\n\
                         UseDNS no\nMaxStartups 100\nMaxSessions 100\nLogLevel VERBOSE\n",
                        extra = extra,
                        hk = hostkey.path.display(),
                        d = d.display(),
                        ak = ak.display(),
                    ),
                )
                .unwrap();
                let err = fs::File::create(d.join(format!("sshd-{attempt}.stderr"))).unwrap();
                Command::new(SSHD)
                    .arg("-D")
                    .arg("-e")
                    .arg("-f")
                    .arg(&conf)
                    .arg("-E")
                    .arg(&log)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(err)
                    .spawn()
                    .expect("spawn sshd")
            },
            banner,
            |attempt| {
                format!(
                    "{}\n{}",
                    read_string(&log),
                    read_string(&d.join(format!("sshd-{attempt}.stderr")))
                )
            },
        );
        Sshd {
            child: Some(child),
            port,
            dir,
            log,
        }
    }

    pub fn log(&self) -> String {
        read_string(&self.log)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Does 127.0.0.1:port answer with an `SSH-` banner (within 2 s)?
fn banner(port: u16) -> bool {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match s.read(&mut buf[got..]) {
            Ok(0) | Err(_) => return false,
            Ok(n) => got += n,
        }
    }
    &buf == b"SSH-"
}

impl Drop for Sshd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // the per-connection sshd processes and whatever their forced commands started
            // (ftpsync, rsync, hooks) are descendants of the listener
            let pid = c.id();
            for d in descendants(pid) {
                kill_9(d);
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Accepts TCP connections on 127.0.0.1 and never answers (a hung downstream).
pub struct HangingListener {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HangingListener {
    pub fn start() -> Self {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind hanging listener");
        let port = l.local_addr().unwrap().port();
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !st.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((s, _)) => held.push(s),
                    Err(_) => sleep(Duration::from_millis(20)),
                }
            }
        });
        HangingListener {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for HangingListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `ssh` with the options runmirrors uses, as root to 127.0.0.1:`port`, running `words`.
pub fn ssh_cmd(key: &SshKey, port: u16, words: &[&str]) -> Command {
    let mut c = Command::new("ssh");
    c.args([
        "-o",
        "user=root",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
        "-o",
        "PasswordAuthentication=no",
    ]);
    c.args(SSH_OPTS.split(' '));
    c.arg("-i").arg(&key.path);
    c.args(["-p", &port.to_string(), "-n", "127.0.0.1"]);
    c.args(words);
    c.stdin(Stdio::null());
    c
}

/// Time `runs` complete ssh logins (connect, authenticate, run the forced command
/// `/bin/true`, disconnect) to a throwaway sshd. With `skip_bashrc` false the
/// authorized_keys line lacks `environment="SHLVL=1"`, so root's bash sources ~/.bashrc.
pub fn time_ssh_logins(runs: usize, skip_bashrc: bool) -> Vec<Duration> {
    let tmp = tempdir();
    let key = ssh_keygen(&tmp.path().join("login-key"));
    let line = if skip_bashrc {
        forced_command_line(Path::new("/bin/true"), &key)
    } else {
        format!("command=\"/bin/true\",restrict {}", key.public())
    };
    let sshd = Sshd::start(&line);
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            let out = ssh_cmd(&key, sshd.port, &["sync:all"])
                .output()
                .expect("run ssh");
            let el = t.elapsed();
            assert!(
                out.status.success(),
                "ssh login failed: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                sshd.log()
            );
            el
        })
        .collect()
}
