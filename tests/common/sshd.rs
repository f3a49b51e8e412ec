//! Push-side harness: real `sshd`s with forced commands, and mirrors wired into a tree.
//!
//! - [`ssh_keygen`]: an ed25519 key without passphrase.
//! - [`Sshd`]: a throwaway `/usr/sbin/sshd -D` on 127.0.0.1 and a free port, with its own
//!   host key and `authorized_keys`; every process it started is killed and reaped on drop.
//! - [`Downstream`]: a [`Mirror`] (classic layout) that may be pushed over ssh (its
//!   `base/bin/ftpsync` is the forced command of the pusher's key), may serve its TO with an
//!   rsync daemon (module `debian`) and may push its own downstreams (`base/bin/runmirrors`,
//!   `etc/runmirrors.conf`, `etc/runmirrors.mirror`).
//! - [`HangingListener`]: a TCP port that accepts and never says a word.
//!
//! Under sshd the forced command runs as root with HOME=/root, LOGNAME=root and sshd's PATH.
//! The authorized_keys lines also carry `environment="SHLVL=1"` (allowed by
//! `PermitUserEnvironment SHLVL`): root's login shell is bash, which sources `~/.bashrc`
//! for commands run by sshd only when its shell level is below 2. This machine's
//! `/root/.bashrc` runs `pyenv init` (~0.25 s per login), which has nothing to do with
//! archvsync; the forced command and everything else are unchanged.
//!
//! Every wait is bounded.

use super::*;
use std::io::Read;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;

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

// ---------------------------------------------------------------------------------------
// mirrors in a push tree
// ---------------------------------------------------------------------------------------

/// A mirror of the push tree. See [`Downstream::builder`].
pub struct Downstream {
    pub m: Mirror,
    /// pulls from here (None: no ftpsync.conf, a pure pusher)
    pub source: Option<String>,
    /// present when the mirror can be pushed over ssh
    pub sshd: Option<Sshd>,
    /// present when the mirror serves its TO (module `debian`)
    pub daemon: Option<RsyncDaemon>,
    /// present when the mirror pushes downstreams (runmirrors configured)
    pub key: Option<SshKey>,
    extra_conf: Vec<(String, String)>,
}

pub struct DownstreamBuilder {
    name: String,
    source: Option<String>,
    pushers: Vec<SshKey>,
    serve: bool,
    pusher: bool,
    hub: bool,
    conf: Vec<(String, String)>,
    rm_conf: Vec<(String, String)>,
}

impl DownstreamBuilder {
    /// Pull from `url` (writes `etc/ftpsync.conf`).
    pub fn source(mut self, url: &str) -> Self {
        self.source = Some(url.to_string());
        self
    }
    /// Accept pushes signed with `key` (starts an sshd whose forced command is our ftpsync).
    pub fn pushed_by(mut self, key: &SshKey) -> Self {
        self.pushers.push(key.clone());
        self
    }
    /// Serve TO with an rsync daemon (module `debian`).
    pub fn serve(mut self) -> Self {
        self.serve = true;
        self
    }
    /// Push downstreams: `base/bin/runmirrors`, a push key, `etc/runmirrors.conf`.
    pub fn pusher(mut self) -> Self {
        self.pusher = true;
        self
    }
    /// HUB=true, serve TO, push downstreams.
    pub fn hub(mut self) -> Self {
        self.hub = true;
        self.serve = true;
        self.pusher = true;
        self
    }
    /// An extra ftpsync.conf setting.
    pub fn set(mut self, k: &str, v: impl Into<String>) -> Self {
        self.conf.push((k.to_string(), v.into()));
        self
    }
    /// An extra runmirrors.conf setting.
    pub fn rm_set(mut self, k: &str, v: impl Into<String>) -> Self {
        self.rm_conf.push((k.to_string(), v.into()));
        self
    }

    pub fn start(self) -> Downstream {
        let mut m = Mirror::new();
        m.name = self.name.clone();
        fs::create_dir_all(&m.to).unwrap();
        let mut extra = self.conf.clone();
        if self.hub {
            extra.insert(0, ("HUB".into(), "true".into()));
        }
        let sshd = if self.pushers.is_empty() {
            None
        } else {
            let lines: Vec<String> = self
                .pushers
                .iter()
                .map(|k| forced_command_line(&m.bin(), k))
                .collect();
            Some(Sshd::start(&lines.join("\n")))
        };
        let daemon = if self.serve {
            Some(RsyncDaemon::start(&[("debian", &m.to)]))
        } else {
            None
        };
        let key = if self.pusher {
            symlink(BIN, m.base.join("bin/runmirrors")).unwrap();
            Some(ssh_keygen(&m.dir.join("keys/pushmirror")))
        } else {
            None
        };
        let ds = Downstream {
            m,
            source: self.source,
            sshd,
            daemon,
            key,
            extra_conf: extra,
        };
        if ds.source.is_some() {
            ds.write_ftpsync_conf(&ds.ftpsync_conf());
        }
        if ds.key.is_some() {
            let mut c = ds.runmirrors_conf();
            for (k, v) in &self.rm_conf {
                c = c.set(k, v.clone());
            }
            ds.write_runmirrors_conf(&c);
        }
        ds
    }
}

impl Downstream {
    /// A mirror named `name` (MIRRORNAME, trace file name).
    pub fn builder(name: &str) -> DownstreamBuilder {
        DownstreamBuilder {
            name: name.to_string(),
            source: None,
            pushers: Vec::new(),
            serve: false,
            pusher: false,
            hub: false,
            conf: Vec::new(),
            rm_conf: Vec::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.m.name
    }

    /// The port of our sshd.
    pub fn port(&self) -> u16 {
        self.sshd.as_ref().expect("this mirror has no sshd").port
    }

    /// `KIND SHORT 127.0.0.1 root -p PORT`
    pub fn host_line(&self, kind: &str, short: &str) -> String {
        format!("{kind} {short} 127.0.0.1 root -p {}", self.port())
    }

    /// `KIND SHORT ssh+ftpsync://root@127.0.0.1:PORT/`
    pub fn url_line(&self, kind: &str, short: &str) -> String {
        format!(
            "{kind} {short} ssh+ftpsync://root@127.0.0.1:{}/",
            self.port()
        )
    }

    /// Where our downstreams pull from.
    pub fn rsync_url(&self) -> String {
        self.daemon
            .as_ref()
            .expect("this mirror does not serve its tree")
            .url("debian")
    }

    pub fn key(&self) -> &SshKey {
        self.key.as_ref().expect("this mirror does not push")
    }

    /// ftpsync.conf as the builder configured it.
    pub fn ftpsync_conf(&self) -> Conf {
        let mut c = self
            .m
            .conf(self.source.as_deref().expect("this mirror has no source"));
        for (k, v) in &self.extra_conf {
            c = c.set(k, v.clone());
        }
        c
    }

    pub fn write_ftpsync_conf(&self, c: &Conf) {
        self.m.write_conf(c);
    }

    /// runmirrors.conf without the builder's extras: absolute KEYFILE, SSH_OPTS, no mail.
    pub fn runmirrors_conf(&self) -> Conf {
        Conf::default()
            .set("MAILTO", "")
            .set("KEYFILE", self.key().path.to_string_lossy())
            .set("SSH_OPTS", SSH_OPTS)
    }

    pub fn write_runmirrors_conf(&self, c: &Conf) {
        self.m.write_conf_file("runmirrors.conf", c);
    }

    /// Write `etc/runmirrors.mirror`.
    pub fn write_mirrors(&self, lines: &[String]) {
        let mut s = lines.join("\n");
        s.push('\n');
        self.m.write_raw("runmirrors.mirror", &s);
    }

    pub fn runmirrors_bin(&self) -> PathBuf {
        self.m.base.join("bin/runmirrors")
    }

    pub fn runmirrors_cmd(&self, args: &[&str]) -> Command {
        self.m.command_prog(&self.runmirrors_bin(), args)
    }

    /// Run `base/bin/runmirrors ARGS` (bounded by RUN_TIMEOUT).
    pub fn runmirrors(&self, args: &[&str]) -> RunOutput {
        self.m.run_cmd(self.runmirrors_cmd(args))
    }

    /// A log of ours with its rotated copies, oldest first (`F.2`, `F.1`, `F.0`, `F`).
    pub fn log_with_rotated(&self, file: &str) -> String {
        let mut s = String::new();
        for i in (0..5).rev() {
            let p = self.m.logdir().join(format!("{file}.{i}"));
            if p.exists() {
                s.push_str(&read_string(&p));
            }
        }
        s.push_str(&self.m.read_log_file(file));
        s
    }

    /// runmirrors' own log (`runmirrors.log` and its rotated copies).
    pub fn runmirrors_log(&self) -> String {
        self.log_with_rotated("runmirrors.log")
    }

    /// The per-mirror push log `SHORT.log` (and its rotated copies).
    pub fn push_log(&self, short: &str) -> String {
        self.log_with_rotated(&format!("{short}.log"))
    }

    /// The ftpsync log (with rotated copies).
    pub fn ftpsync_log(&self) -> String {
        self.log_with_rotated("ftpsync.log")
    }

    /// Our trace file exists and no run holds the lock.
    pub fn synced(&self) -> bool {
        self.m.trace_path().exists() && !self.m.lock_path().exists()
    }

    /// Every log file, the sshd log and the rsync daemon log, for failure messages.
    pub fn diagnostics(&self) -> String {
        let mut s = format!(
            "===== mirror {} ({}) =====\n",
            self.name(),
            self.m.dir.display()
        );
        if let Ok(rd) = fs::read_dir(self.m.logdir()) {
            let mut names: Vec<_> = rd.flatten().map(|e| e.path()).collect();
            names.sort();
            for p in names {
                let text = read_string(&p);
                let tail: String = if text.len() > 5000 {
                    text[text.len() - 5000..].to_string()
                } else {
                    text
                };
                s.push_str(&format!("--- {} ---\n{tail}\n", p.display()));
            }
        }
        if let Some(d) = &self.sshd {
            let l = d.log();
            let tail = if l.len() > 3000 {
                l[l.len() - 3000..].to_string()
            } else {
                l
            };
            s.push_str(&format!("--- sshd log ---\n{tail}\n"));
        }
        if let Some(d) = &self.daemon {
            let l = d.log();
            let tail = if l.len() > 2000 {
                l[l.len() - 2000..].to_string()
            } else {
                l
            };
            s.push_str(&format!("--- rsyncd log ---\n{tail}\n"));
        }
        s
    }
}

/// Diagnostics of several mirrors.
pub fn all_diagnostics(ms: &[&Downstream]) -> String {
    ms.iter().map(|m| m.diagnostics()).collect()
}

/// Wait (bounded) until `ds` is synced; panic with everybody's logs otherwise.
pub fn wait_synced(ds: &Downstream, timeout: Duration, all: &[&Downstream]) {
    let deadline = Instant::now() + timeout;
    while !ds.synced() {
        if Instant::now() > deadline {
            panic!(
                "{} did not finish a sync within {timeout:?}\n{}",
                ds.name(),
                all_diagnostics(all)
            );
        }
        sleep(Duration::from_millis(50));
    }
}

/// Assert `mirror` equals `upstream`, ignoring the files ftpsync owns and the trace files
/// (`X`, `X-stage1`) of the mirrors in `chain` (the hubs between the upstream and us).
pub fn assert_same_tree_via(upstream: &Path, mirror: &Path, mirrorname: &str, chain: &[&str]) {
    let skip = |k: &str| {
        chain
            .iter()
            .any(|c| k == format!("project/trace/{c}") || k == format!("project/trace/{c}-stage1"))
    };
    let e: Tree = without_owned(&snapshot(upstream), mirrorname)
        .into_iter()
        .filter(|(k, _)| !skip(k))
        .collect();
    let a: Tree = without_owned(&snapshot(mirror), mirrorname)
        .into_iter()
        .filter(|(k, _)| !skip(k))
        .collect();
    let d = tree_diff(&e, &a);
    assert!(
        d.is_empty(),
        "mirror {mirrorname} ({}) differs from upstream {}:\n{d}",
        mirror.display(),
        upstream.display()
    );
}

/// The `_hierarchy` line a mirror of this harness writes for itself.
pub fn hierarchy_line(name: &str) -> String {
    format!("{name} {name} {TRACEHOST} 127.0.0.1")
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

/// A fake sendmail appending every mail (argv and text) to `<dir>/mail.out`.
/// Returns (script, output file).
pub fn sendmail_recorder(dir: &Path) -> (PathBuf, PathBuf) {
    let script = dir.join("sendmail");
    let out = dir.join("mail.out");
    write_script(
        &script,
        &format!(
            "{{ echo '=== MAIL ==='; echo \"ARGV: $*\"; cat; echo; echo '=== END ==='; }} >> {}\nexit 0",
            shq(&out.to_string_lossy())
        ),
    );
    (script, out)
}

/// The mails a [`sendmail_recorder`] got, each as its full text.
pub fn recorded_mails(out: &Path) -> Vec<String> {
    read_string(out)
        .split("=== MAIL ===\n")
        .skip(1)
        .map(|c| c.split("\n=== END ===").next().unwrap_or("").to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------
// sshd with extra configuration
// ---------------------------------------------------------------------------------------

impl Sshd {
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

        for attempt in 0..8 {
            let port = free_port();
            let conf = d.join("sshd_config");
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
            let mut child = Command::new(SSHD)
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
                .expect("spawn sshd");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    // died, most likely the port got taken: retry on a fresh port
                    break;
                }
                if banner(port) {
                    return Sshd {
                        child: Some(child),
                        port,
                        dir,
                        log,
                    };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "sshd did not answer on port {port} within 10s; log:\n{}",
                        read_string(&log)
                    );
                }
                sleep(Duration::from_millis(20));
            }
        }
        panic!(
            "could not start sshd after 8 attempts; log:\n{}\n{}",
            read_string(&log),
            read_string(&d.join("sshd-7.stderr"))
        );
    }
}
