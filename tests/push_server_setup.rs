//! Setting up a push server with `archvsync downstream ...` and `archvsync rsyncd-config`
//! alone, as the seeds' "Setting up a push server" describes it (issue 14).
//!
//! The main test uses two real non-root accounts made for it (tests/common/users.rs): a
//! hub, already a mirror of an upstream, and a downstream, already a mirror too but of
//! nobody yet. The hub's operator runs only the commands; the downstream's operator only
//! pastes what `downstream add` printed (the authorized_keys line, the RSYNC_* lines). Then
//! a real push over a real sshd, and a real pull from the hub's rsync daemon started, as
//! the hub's account, from `rsyncd-config`'s output, with `auth users`, make the downstream
//! sync; after `downstream remove` it is not pushed and its password pulls nothing.
//!
//! The other tests, as root on the harness's layout: every file's mode and content, `add`
//! twice, a failing step and a kill mid-way leaving nothing behind, check-config's view,
//! `downstream test`.

mod common;

use common::sshd::{assert_same_tree_via, Sshd};
use common::users::SystemUser;
use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(60);

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    fn all(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        )
    }
    /// Its stdout or stderr says `needle`.
    fn has(&self, needle: impl AsRef<str>) -> &Out {
        let needle = needle.as_ref();
        assert!(
            self.stdout.contains(needle) || self.stderr.contains(needle),
            "no {needle:?} in\n{}",
            self.all()
        );
        self
    }
    fn expect(&self, code: i32, what: &str) -> &Out {
        assert_eq!(
            self.code,
            Some(code),
            "{what}: exit {:?}\n{}",
            self.code,
            self.all()
        );
        self
    }
}

/// Run `cmd` to its end, at most TIMEOUT (then its process group is killed).
fn run(mut cmd: Command) -> Out {
    use std::os::unix::process::CommandExt;
    let dir = tempdir();
    let (o, e) = (dir.path().join("out"), dir.path().join("err"));
    cmd.stdout(fs::File::create(&o).unwrap())
        .stderr(fs::File::create(&e).unwrap())
        .stdin(Stdio::null())
        .process_group(0);
    let mut child = cmd.spawn().expect("spawn");
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = Command::new("kill")
                .args(["-9", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish within {TIMEOUT:?}\n{}",
                read_string(&o)
            );
        }
        sleep(Duration::from_millis(20));
    };
    Out {
        code: status.code(),
        stdout: read_string(&o),
        stderr: read_string(&e),
    }
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Every file under `root` (but logs, locks and mirror trees): bytes and mode.
fn files(root: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let md = fs::symlink_metadata(&p).unwrap();
            if md.is_dir() {
                // LOCKDIR is where add takes its lock; logs and trees are not config.
                if !["log", "locks", "mirror", "bin"].contains(&name.as_str()) {
                    stack.push(p.clone());
                    out.insert(p, (Vec::new(), md.permissions().mode() & 0o7777));
                }
            } else if md.is_file() {
                out.insert(
                    p.clone(),
                    (fs::read(&p).unwrap(), md.permissions().mode() & 0o7777),
                );
            }
        }
    }
    out
}

fn assert_same_files(
    before: &BTreeMap<PathBuf, (Vec<u8>, u32)>,
    after: &BTreeMap<PathBuf, (Vec<u8>, u32)>,
    what: &str,
) {
    let mut diff = Vec::new();
    for (p, v) in before {
        match after.get(p) {
            None => diff.push(format!("gone: {}", p.display())),
            Some(a) if a != v => diff.push(format!(
                "changed: {} (mode {:o} -> {:o})\n{}\n->\n{}",
                p.display(),
                v.1,
                a.1,
                String::from_utf8_lossy(&v.0),
                String::from_utf8_lossy(&a.0)
            )),
            _ => {}
        }
    }
    for p in after.keys().filter(|p| !before.contains_key(*p)) {
        diff.push(format!("new: {}", p.display()));
    }
    assert!(diff.is_empty(), "{what}:\n{}", diff.join("\n"));
}

/// The lines of `add`'s output the downstream's operator pastes.
struct Printed {
    restrict: String,
    long_form: String,
    rsync_lines: Vec<String>,
    password: String,
}

fn printed(out: &str, command: &str) -> Printed {
    let find = |prefix: &str| {
        out.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{out}"))
            .to_string()
    };
    let restrict = find(&format!("command=\"{command}\",restrict "));
    let long_form = find(&format!(
        "command=\"{command}\",no-port-forwarding,no-X11-forwarding,no-agent-forwarding,no-pty "
    ));
    let rsync_lines: Vec<String> = out
        .lines()
        .filter(|l| l.starts_with("RSYNC_"))
        .map(str::to_string)
        .collect();
    let password = find("RSYNC_PASSWORD=")["RSYNC_PASSWORD=".len()..].to_string();
    Printed {
        restrict,
        long_form,
        rsync_lines,
        password,
    }
}

/// The words of the comment line of rsyncd-config's output that holds `marker` (how to
/// start rsync), as the operator copies them.
fn commented_command<'a>(conf: &'a str, marker: &str) -> Vec<&'a str> {
    conf.lines()
        .find(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no {marker:?} in:\n{conf}"))
        .trim_start_matches('#')
        .split_whitespace()
        .collect()
}

/// What inetd does for a `nowait` service: on each of the next `connections` connections to
/// the port returned, `template` runs with the socket as its stdin and stdout.
fn inetd(connections: usize, template: Command) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + TIMEOUT;
        let mut served = 0;
        while served < connections && Instant::now() < deadline {
            let Ok((sock, _)) = listener.accept() else {
                sleep(Duration::from_millis(20));
                continue;
            };
            sock.set_nonblocking(false).unwrap();
            let mut c = Command::new(template.get_program());
            c.args(template.get_args());
            if template.get_envs().len() > 0 {
                c.env_clear();
            }
            for (k, v) in template.get_envs() {
                if let Some(v) = v {
                    c.env(k, v);
                }
            }
            if let Some(d) = template.get_current_dir() {
                c.current_dir(d);
            }
            let fd = |s: std::net::TcpStream| Stdio::from(std::os::fd::OwnedFd::from(s));
            c.stdin(fd(sock.try_clone().unwrap()))
                .stdout(fd(sock))
                .stderr(Stdio::null());
            let mut child = c.spawn().expect("spawn inetd's rsync");
            let end = Instant::now() + TIMEOUT;
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > end {
                    let _ = child.kill();
                }
                sleep(Duration::from_millis(20));
            }
            served += 1;
        }
    });
    port
}

/// A running rsync daemon, killed and reaped on drop.
struct Daemon {
    child: std::process::Child,
    log: PathBuf,
}

impl Daemon {
    fn start(mut cmd: Command, port: u16, log: PathBuf) -> Daemon {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("spawn rsync --daemon");
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(st)) = child.try_wait() {
                panic!("rsync --daemon ended: {st}\n{}", read_string(&log));
            }
            assert!(
                Instant::now() < deadline,
                "rsync --daemon does not listen on {port}"
            );
            sleep(Duration::from_millis(20));
        }
        Daemon { child, log }
    }
    fn log(&self) -> String {
        read_string(&self.log)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A mirror account: `~/bin/{archvsync,ftpsync,runmirrors}` (links to one copy of the
/// binary every account can run), `~/etc/ftpsync.conf`, TO `~/mirror`.
struct Account {
    user: SystemUser,
}

impl Account {
    fn new(tag: char, dir: &Path, bin: &Path, conf: &Conf) -> Account {
        let user = SystemUser::create(tag, dir);
        let h = &user.home;
        for d in ["bin", "etc", "mirror"] {
            fs::create_dir_all(h.join(d)).unwrap();
        }
        for name in ["archvsync", "ftpsync", "runmirrors"] {
            std::os::unix::fs::symlink(bin, h.join("bin").join(name)).unwrap();
        }
        let conf = conf.clone().set("TO", h.join("mirror").to_string_lossy());
        fs::write(h.join("etc/ftpsync.conf"), conf.to_bash()).unwrap();
        user.chown(h);
        Account { user }
    }
    fn home(&self) -> &Path {
        &self.user.home
    }
    fn archvsync(&self, args: &[&str]) -> Out {
        run(self.user.command(self.home().join("bin/archvsync"), args))
    }
}

/// The binary, where every account can run it (the build tree may be private).
fn shared_binary(dir: &Path) -> PathBuf {
    let p = dir.join("archvsync");
    if fs::hard_link(BIN, &p).is_err() {
        fs::copy(BIN, &p).unwrap();
    }
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn base_conf(name: &str) -> Conf {
    Conf::default()
        .set("MIRRORNAME", name)
        .set("MAILTO", "")
        .set("TRACEHOST", TRACEHOST)
        .set("LOGROTATE", "0")
        .set("UIPSLEEP", "1")
        .set("UIPRETRIES", "2")
}

fn accepted_logins(sshd: &Sshd, user: &str) -> usize {
    count_lines(&sshd.log(), &format!("Accepted publickey for {user} "))
}

#[test]
fn a_push_server_set_up_with_the_commands_alone_pushes_and_forgets() {
    require_root("throwaway system accounts for the hub and the downstream");
    let upstream = Upstream::v1();
    let dir = tempdir();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let bin = shared_binary(dir.path());

    // The hub is a mirror already; its operator chose where its rsync daemon listens.
    let hub = Account::new(
        'h',
        dir.path(),
        &bin,
        &base_conf("hub.test.example")
            .set("RSYNC_HOST", "127.0.0.1")
            .set("RSYNC_SOURCE", upstream.url()),
    );
    let rsyncd_port = free_port();
    let hub_etc = hub.home().join("etc");
    fs::write(
        hub_etc.join("runmirrors.conf"),
        format!("MAILTO=''\nRSYNCD_HOST=127.0.0.1\nRSYNCD_PORT={rsyncd_port}\n"),
    )
    .unwrap();
    fs::set_permissions(
        hub_etc.join("ftpsync.conf"),
        fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    hub.user.chown(&hub_etc);
    // The downstream is a mirror of nobody yet: the RSYNC_* lines come from the hub.
    let ds = Account::new('d', dir.path(), &bin, &base_conf("ds.test.example"));
    let ds_conf = ds.home().join("etc/ftpsync.conf");
    let sshd = Sshd::start_with_config(
        "",
        "AuthorizedKeysFile .ssh/authorized_keys\nStrictModes yes\n",
    );

    // First the hub syncs, as it always did (no HUB yet).
    hub.archvsync(&["ftpsync"]).expect(0, "the hub's own sync");

    // "Setting up rsync": the rsyncd.conf, and the daemon as the hub's account.
    let conf_text = hub
        .archvsync(&["rsyncd-config"])
        .expect(0, "rsyncd-config")
        .stdout
        .clone();
    let rsyncd_conf = hub_etc.join("rsyncd.conf");
    fs::write(&rsyncd_conf, &conf_text).unwrap();
    hub.user.chown(&rsyncd_conf);
    let words = commented_command(&conf_text, "--daemon --no-detach");
    assert_eq!(
        words[1..],
        [
            "--daemon",
            "--no-detach",
            &format!("--port={rsyncd_port}"),
            &format!("--config={}", rsyncd_conf.display())
        ]
    );
    let hub_log = dir.path().join("hub-rsyncd.log");
    fs::write(&hub_log, "").unwrap();
    hub.user.chown(&hub_log);
    let mut cmd = hub.user.command(words[0], &words[1..]);
    cmd.arg("--address=127.0.0.1")
        .arg(format!("--log-file={}", hub_log.display()));
    let daemon = Daemon::start(cmd, rsyncd_port, hub_log);

    // "Setting up ssh trigger mechanism": one command.
    let ssh_port = sshd.port.to_string();
    let ftpsync_before = fs::read(hub_etc.join("ftpsync.conf")).unwrap();
    let rm_conf_before = fs::read(hub_etc.join("runmirrors.conf")).unwrap();
    let add = hub.archvsync(&[
        "downstream",
        "add",
        "ds1",
        "127.0.0.1",
        "--user",
        &ds.user.name,
        &format!("--ssh-opts=-p {ssh_port}"),
    ]);
    add.expect(0, "downstream add");
    let p = printed(&add.stdout, "~/bin/ftpsync");

    // Every file add wrote: mode, owner, content.
    let h = hub.home();
    let key = h.join(".ssh/pushmirror");
    assert_eq!(mode(&h.join(".ssh")), 0o700);
    assert_eq!(mode(&key), 0o600);
    assert_eq!(fs::metadata(&key).unwrap().uid(), hub.user.uid);
    assert!(read_string(&key).starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    assert_eq!(mode(&h.join(".ssh/pushmirror.pub")), 0o644);
    let public = read_string(&h.join(".ssh/pushmirror.pub"))
        .trim()
        .to_string();
    assert!(public.starts_with("ssh-ed25519 AAAA"), "{public}");
    assert_eq!(
        p.restrict,
        format!("command=\"~/bin/ftpsync\",restrict {public}")
    );
    assert!(p.long_form.ends_with(&format!(",no-pty {public}")));
    let secrets = hub_etc.join("runmirrors.secrets");
    assert_eq!(mode(&secrets), 0o600);
    assert_eq!(fs::metadata(&secrets).unwrap().uid(), hub.user.uid);
    assert_eq!(read_string(&secrets), format!("ds1:{}\n", p.password));
    assert_eq!(p.password.len(), 24);
    let mirrors = hub_etc.join("runmirrors.mirror");
    assert_eq!(
        read_string(&mirrors),
        format!("all ds1 127.0.0.1 {} -p {ssh_port}\n", ds.user.name)
    );
    assert_eq!(mode(&mirrors), 0o644);
    let mut want = ftpsync_before.clone();
    want.extend_from_slice(b"HUB=true\n");
    assert_eq!(fs::read(hub_etc.join("ftpsync.conf")).unwrap(), want);
    assert_eq!(
        mode(&hub_etc.join("ftpsync.conf")),
        0o640,
        "the config keeps its mode"
    );
    assert_eq!(
        fs::read(hub_etc.join("runmirrors.conf")).unwrap(),
        rm_conf_before
    );
    add.has("`HUB=true` added");
    assert_eq!(
        p.rsync_lines,
        vec![
            "RSYNC_HOST=127.0.0.1".to_string(),
            "RSYNC_PATH=debian".into(),
            format!("RSYNC_SOURCE=rsync://ds1@127.0.0.1:{rsyncd_port}/debian/"),
            "RSYNC_USER=ds1".into(),
            format!("RSYNC_PASSWORD={}", p.password),
        ]
    );

    // add twice: refused, nothing touched.
    let before = files(h);
    let again = hub.archvsync(&[
        "downstream",
        "add",
        "ds1",
        "127.0.0.1",
        "--user",
        &ds.user.name,
    ]);
    again.expect(1, "add twice");
    again.has("there is a downstream ds1 already");
    assert_same_files(&before, &files(h), "a refused add changes nothing");

    // The downstream's operator pastes what they were given.
    let dssh = ds.home().join(".ssh");
    fs::create_dir_all(&dssh).unwrap();
    fs::set_permissions(&dssh, fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(dssh.join("authorized_keys"), format!("{}\n", p.restrict)).unwrap();
    fs::set_permissions(
        dssh.join("authorized_keys"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let mut c = fs::read_to_string(&ds_conf).unwrap();
    for l in &p.rsync_lines {
        c.push_str(l);
        c.push('\n');
    }
    fs::write(&ds_conf, c).unwrap();
    fs::set_permissions(&ds_conf, fs::Permissions::from_mode(0o600)).unwrap();
    ds.user.chown(ds.home());

    // The checks that need no login.
    let cc = hub.archvsync(&["check-config"]);
    cc.expect(0, "the hub's check-config");
    cc.has(format!(
        "RSYNCD_SECRETS: {} (1 password)",
        secrets.display()
    ));
    ds.archvsync(&["check-config"])
        .expect(0, "the downstream's check-config");
    let t = hub.archvsync(&["downstream", "test", "ds1"]);
    t.expect(0, "downstream test before any push");
    t.has("answers: SSH-2.0-");
    t.has(format!("[127.0.0.1]:{ssh_port} is not in known_hosts"));
    t.has("The real test is a push");
    assert_eq!(
        accepted_logins(&sshd, &ds.user.name),
        0,
        "test does not log in"
    );
    let list = hub
        .archvsync(&["downstream", "list"])
        .expect(0, "list")
        .stdout
        .clone();
    assert!(
        list.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == [
                    "ds1",
                    "all",
                    "127.0.0.1",
                    ds.user.name.as_str(),
                    "yes",
                    "-p",
                    ssh_port.as_str()
                ]),
        "{list}"
    );

    // The real test: the hub syncs, and pushes.
    hub.archvsync(&["ftpsync"])
        .expect(0, "the hub's sync with HUB=true");
    let ds_trace = ds.home().join("mirror/project/trace/ds.test.example");
    let deadline = Instant::now() + TIMEOUT;
    while !ds_trace.exists() {
        assert!(
            Instant::now() < deadline,
            "the downstream did not sync\n--- ds log ---\n{}\n--- hub runmirrors.log ---\n{}\n--- ds1.log ---\n{}\n--- sshd ---\n{}\n--- rsyncd ---\n{}",
            read_string(&ds.home().join("log/ftpsync.log")),
            read_string(&h.join("log/runmirrors.log")),
            read_string(&h.join("log/ds1.log")),
            sshd.log(),
            daemon.log()
        );
        sleep(Duration::from_millis(50));
    }
    wait_for(TIMEOUT, "the downstream's sync to end", || {
        !ds.home()
            .join("mirror/Archive-Update-in-Progress-ds.test.example")
            .exists()
            && ds.user.processes().is_empty()
    });
    assert_same_tree_via(
        &upstream.root,
        &ds.home().join("mirror"),
        "ds.test.example",
        &["hub.test.example"],
    );
    assert_eq!(accepted_logins(&sshd, &ds.user.name), 1);
    assert!(!daemon.log().contains("auth failed"), "{}", daemon.log());
    let ds_log = read_string(&ds.home().join("log/ftpsync.log"));
    assert!(ds_log.contains("We got pushed from 127.0.0.1"), "{ds_log}");
    // After the push, the hub knows the host key, and test says they match.
    let t = hub.archvsync(&["downstream", "test", "ds1"]);
    t.expect(0, "downstream test after a push");
    t.has("matches ").has("known_hosts");

    // The same rsyncd.conf, with rsync started as root, lets the password in as well.
    let root_port = free_port();
    let root_log = dir.path().join("root-rsyncd.log");
    let mut cmd = Command::new(rsync_bin());
    cmd.args(["--daemon", "--no-detach", "--address=127.0.0.1"])
        .arg(format!("--port={root_port}"))
        .arg(format!("--config={}", rsyncd_conf.display()))
        .arg(format!("--log-file={}", root_log.display()));
    let root_daemon = Daemon::start(cmd, root_port, root_log);
    let pull = |port: u16, password: &str| {
        let mut c = ds.user.command(
            rsync_bin(),
            &[
                "--list-only",
                &format!("rsync://ds1@127.0.0.1:{port}/debian/project/trace/"),
            ],
        );
        c.env("RSYNC_PASSWORD", password);
        run(c)
    };
    let ok = pull(root_port, &p.password);
    ok.expect(0, "pulling from rsync started as root");
    ok.has("hub.test.example");
    pull(root_port, "wrong").expect(5, "a wrong password, rsync as root");
    pull(rsyncd_port, "wrong").expect(5, "a wrong password, rsync as the hub");
    drop(root_daemon);
    // And as inetd starts it (the seed's way), once as root and once as the hub's account
    // (the inetd line rsyncd-config prints): one rsync per connection, on the socket.
    let fields = commented_command(&conf_text, "rsync stream tcp nowait");
    assert_eq!(fields[4], hub.user.name, "{fields:?}");
    let (program, args) = (fields[5], &fields[7..]);
    for as_hub in [false, true] {
        let log = hub.home().join(format!("log/inetd-{as_hub}.log"));
        let mut args: Vec<String> = args.iter().map(|w| w.to_string()).collect();
        args.push(format!("--log-file={}", log.display()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let template = if as_hub {
            hub.user.command(program, &args)
        } else {
            let mut c = Command::new(program);
            c.args(&args);
            c
        };
        let port = inetd(2, template);
        let how = if as_hub {
            "as the hub's account"
        } else {
            "as root"
        };
        pull(port, &p.password).expect(0, &format!("pulling from inetd's rsync, {how}"));
        pull(port, "wrong").expect(5, &format!("a wrong password, inetd's rsync {how}"));
    }

    // remove: not pushed any more, and the password pulls nothing.
    let rm = hub.archvsync(&["downstream", "remove", "ds1"]);
    rm.expect(0, "downstream remove");
    assert_eq!(read_string(&mirrors), "");
    assert_eq!(mode(&mirrors), 0o644);
    assert_eq!(read_string(&secrets), "");
    assert_eq!(mode(&secrets), 0o600);
    rm.has("cannot pull from us any more");
    let denied = pull(rsyncd_port, &p.password);
    denied.expect(5, "pulling with a removed password");
    denied.has("auth failed");
    let trace_before = fs::read(&ds_trace).unwrap();
    hub.archvsync(&["ftpsync"])
        .expect(0, "the hub's sync after remove");
    sleep(Duration::from_millis(500));
    assert_eq!(
        accepted_logins(&sshd, &ds.user.name),
        1,
        "not pushed after remove"
    );
    assert_eq!(fs::read(&ds_trace).unwrap(), trace_before);
    let rm_again = hub.archvsync(&["downstream", "remove", "ds1"]);
    rm_again.expect(1, "remove twice");
    rm_again.has("no downstream ds1");
    drop(daemon);
}

/// A root-run hub in the harness's classic layout, without runmirrors.conf.
fn root_hub() -> Mirror {
    let m = Mirror::new();
    m.write_conf(&m.conf("rsync://127.0.0.1:1/debian/"));
    m
}

fn archvsync(m: &Mirror, args: &[&str]) -> Out {
    archvsync_path(m, args, None)
}

fn archvsync_path(m: &Mirror, args: &[&str], path_first: Option<&Path>) -> Out {
    let mut c = m.command_prog(&m.base.join("bin/archvsync"), args);
    if let Some(p) = path_first {
        c.env(
            "PATH",
            format!(
                "{}:{}",
                p.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        );
    }
    run(c)
}

fn link_binary(m: &Mirror) {
    std::os::unix::fs::symlink(BIN, m.base.join("bin/archvsync")).unwrap();
}

#[test]
fn add_leaves_nothing_half_done_when_a_step_fails_or_it_is_killed() {
    let m = root_hub();
    link_binary(&m);
    let etc = m.etc();
    let roots = [m.base.clone(), m.home.clone()];
    let snapshot = || {
        let mut all = BTreeMap::new();
        for r in &roots {
            all.extend(files(r));
        }
        all
    };
    let add_args = [
        "downstream",
        "add",
        "eu",
        "ftp.eu.example.org",
        "--type",
        "staged",
    ];

    // A failing last step (the mirror list cannot be written): every step before it, key
    // and runmirrors.conf and password and HUB, is taken back.
    fs::create_dir(etc.join("runmirrors.mirror.new")).unwrap();
    let before = snapshot();
    let out = archvsync(&m, &add_args);
    out.expect(1, "add with an unwritable mirror list");
    out.has("cannot write").has("runmirrors.mirror");
    out.has("every step before this one was taken back");
    assert_same_files(&before, &snapshot(), "a failed add changes nothing");
    assert!(
        !m.home.join(".ssh").exists(),
        "the key's directory goes too"
    );
    fs::remove_dir(etc.join("runmirrors.mirror.new")).unwrap();

    // Killed while making the key (ssh-keygen hangs): nothing at all is left in place.
    let fake = m.dir.join("fakebin");
    let started = m.dir.join("keygen-started");
    write_script(
        &fake.join("ssh-keygen"),
        &format!(
            "echo $$ > {}\nexec sleep 30",
            shq(&started.to_string_lossy())
        ),
    );
    let mut c = m.command_prog(&m.base.join("bin/archvsync"), &add_args);
    c.env(
        "PATH",
        format!(
            "{}:{}",
            fake.display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    );
    c.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    wait_for(TIMEOUT, "ssh-keygen to start", || {
        !read_string(&started).trim().is_empty()
    });
    let keygen: u32 = read_string(&started).trim().parse().unwrap();
    kill_9(child.id());
    child.wait().unwrap();
    let after = snapshot();
    let new: Vec<_> = after.keys().filter(|p| !before.contains_key(*p)).collect();
    assert!(
        new.iter().all(|p| p.starts_with(m.home.join(".ssh"))),
        "only the key's private temp dir may be left: {new:?}"
    );
    assert!(!m.home.join(".ssh/pushmirror").exists());
    for f in ["runmirrors.conf", "runmirrors.mirror", "runmirrors.secrets"] {
        assert!(!etc.join(f).exists(), "{f} after a kill");
    }
    assert_eq!(
        after[&etc.join("ftpsync.conf")],
        before[&etc.join("ftpsync.conf")]
    );
    wait_for(
        TIMEOUT,
        "the hanging ssh-keygen to die with its parent",
        || {
            fs::read_to_string(format!("/proc/{keygen}/stat")).map_or(true, |st| {
                st.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z'))
            })
        },
    );

    // Now for real: runmirrors.conf created, HUB='false' rewritten, the leftover cleaned.
    let conf_before = read_string(&etc.join("ftpsync.conf"));
    fs::set_permissions(etc.join("ftpsync.conf"), fs::Permissions::from_mode(0o600)).unwrap();
    let out = archvsync(&m, &add_args);
    out.expect(0, "add");
    let mut ssh_dir: Vec<String> = fs::read_dir(m.home.join(".ssh"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ssh_dir.sort();
    assert_eq!(ssh_dir, ["pushmirror", "pushmirror.pub"]);
    let rm_conf = read_string(&etc.join("runmirrors.conf"));
    assert!(
        rm_conf.starts_with("## runmirrors.conf, created by `archvsync downstream add`"),
        "{rm_conf}"
    );
    assert!(
        rm_conf.lines().all(|l| l.starts_with('#')),
        "comments only: {rm_conf}"
    );
    assert_eq!(mode(&etc.join("runmirrors.conf")), 0o644);
    assert_eq!(
        read_string(&etc.join("ftpsync.conf")),
        conf_before.replace("HUB='false'\n", "HUB=true\n")
    );
    assert_eq!(mode(&etc.join("ftpsync.conf")), 0o600);
    out.has("`HUB='false'` became `HUB=true`");
    assert_eq!(
        read_string(&etc.join("runmirrors.mirror")),
        "staged eu ftp.eu.example.org archvsync\n"
    );
    assert_eq!(mode(&etc.join("runmirrors.mirror")), 0o644);
    let p = printed(&out.stdout, "~/bin/ftpsync");
    assert_eq!(
        read_string(&etc.join("runmirrors.secrets")),
        format!("eu:{}\n", p.password)
    );
    assert_eq!(mode(&etc.join("runmirrors.secrets")), 0o600);
    // Port 873: RSYNC_HOST and RSYNC_PATH say it all; the host is our MIRRORNAME.
    assert_eq!(
        p.rsync_lines[..3],
        [
            format!("RSYNC_HOST={MIRRORNAME}"),
            "RSYNC_PATH=debian".into(),
            "RSYNC_USER=eu".into()
        ]
    );
    let no_tmp = |dir: &Path| {
        fs::read_dir(dir)
            .unwrap()
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().ends_with(".new"))
    };
    assert!(no_tmp(&etc) && no_tmp(&m.home.join(".ssh")));

    // Twice: refused, nothing changed. A bad name: bad usage, nothing changed.
    let before = snapshot();
    let out = archvsync(&m, &["downstream", "add", "eu", "other.example.org"]);
    out.expect(1, "add twice");
    out.has("runmirrors.mirror:1: there is a downstream eu already; nothing was changed");
    archvsync(&m, &["downstream", "add", "e:u", "h"]).expect(64, "a name with a colon");
    archvsync(&m, &["downstream", "add", "x", "h", "--ssh-opts=2 /key"])
        .expect(64, "options that are not options");
    archvsync(&m, &["downstream", "add", "x", "h", "--type", "fast"]).expect(64, "an unknown type");
    assert_same_files(&before, &snapshot(), "refused adds change nothing");

    // A password without a mirror line (a pull-only mirror, or an add killed before its
    // last step): add keeps it and prints it.
    let mut s = fs::read(etc.join("runmirrors.secrets")).unwrap();
    s.extend_from_slice(b"pull:handmade-pw\n");
    fs::write(etc.join("runmirrors.secrets"), &s).unwrap();
    let out = archvsync(
        &m,
        &[
            "downstream",
            "add",
            "pull",
            "pull.example.org",
            "--user",
            "mirror",
        ],
    );
    out.expect(0, "add over a password");
    out.has("pull has a password already; it is kept");
    assert_eq!(
        printed(&out.stdout, "~/bin/ftpsync").password,
        "handmade-pw"
    );
    assert_eq!(fs::read(etc.join("runmirrors.secrets")).unwrap(), s);
    let shown = archvsync(
        &m,
        &[
            "downstream",
            "show",
            "pull",
            "--command",
            "/usr/bin/ftpsync",
        ],
    );
    shown.expect(0, "show");
    assert_eq!(
        printed(&shown.stdout, "/usr/bin/ftpsync").password,
        "handmade-pw"
    );

    // remove takes the line and the password, and nothing else.
    let out = archvsync(&m, &["downstream", "remove", "eu"]);
    out.expect(0, "remove");
    assert_eq!(
        read_string(&etc.join("runmirrors.mirror")),
        "all pull pull.example.org mirror\n"
    );
    assert_eq!(
        read_string(&etc.join("runmirrors.secrets")),
        "pull:handmade-pw\n"
    );
    assert_eq!(mode(&etc.join("runmirrors.secrets")), 0o600);
    assert!(
        m.home.join(".ssh/pushmirror").exists(),
        "the key stays for the others"
    );
}

#[test]
fn check_config_follows_the_chain_and_a_missing_key_says_what_to_do() {
    let m = root_hub();
    link_binary(&m);
    let etc = m.etc();
    archvsync(&m, &["downstream", "add", "eu", "ftp.eu.example.org"]).expect(0, "add");
    let cc = archvsync(&m, &["check-config"]);
    cc.expect(0, "check-config after add");

    // A mirror line added by hand, without a password; the secrets file opened to others;
    // HUB switched off again.
    let mut l = read_string(&etc.join("runmirrors.mirror"));
    l.push_str("all byhand h.example.org mirror\n");
    fs::write(etc.join("runmirrors.mirror"), l).unwrap();
    fs::set_permissions(
        etc.join("runmirrors.secrets"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let conf = read_string(&etc.join("ftpsync.conf")).replace("HUB=true", "HUB=false");
    fs::write(etc.join("ftpsync.conf"), conf).unwrap();
    let cc = archvsync(&m, &["check-config"]);
    cc.expect(1, "check-config with a broken chain");
    let text = cc.stdout.clone();
    assert!(
        text.contains(&format!(
            "error: {}:2: downstream byhand has no password in",
            etc.join("runmirrors.mirror").display()
        )),
        "{text}"
    );
    assert!(
        text.contains("is accessible by others (mode 644)"),
        "{text}"
    );
    assert!(
        text.contains("warning: HUB is not true, but") && text.contains("lists 2 downstreams"),
        "{text}"
    );
    let password = read_string(&etc.join("runmirrors.secrets")).trim()["eu:".len()..].to_string();
    assert!(!text.contains(&password), "no password is printed: {text}");

    // The key gone: check-config says so, and so does runmirrors, with what to do.
    fs::remove_file(m.home.join(".ssh/pushmirror")).unwrap();
    let cc = archvsync(&m, &["check-config"]);
    cc.has("error: KEYFILE ")
        .has("(runmirrors exits 5; `archvsync downstream add` makes the key)");
    let rm = archvsync(&m, &["runmirrors"]);
    rm.expect(5, "runmirrors without its key");
    rm.has("SSH Key .ssh/pushmirror does not exist")
        .has("no downstream was pushed")
        .has("`archvsync downstream add` makes the key");
}

#[test]
fn a_toml_config_gets_hub_at_its_top() {
    let m = Mirror::new();
    link_binary(&m);
    let toml = format!(
        "TO = \"{}\"\nRSYNC_HOST = \"up.example.org\"\nMAILTO = \"\"\nMIRRORNAME = \"hub.example.org\"\n",
        m.to.display()
    );
    fs::write(m.etc().join("ftpsync.toml"), &toml).unwrap();
    let out = archvsync(&m, &["downstream", "add", "eu", "ftp.eu.example.org"]);
    out.expect(0, "add with a TOML config");
    assert_eq!(
        read_string(&m.etc().join("ftpsync.toml")),
        format!("HUB = true\n{toml}")
    );
    out.has("line 1: `HUB = true` added");
    out.has("RSYNC_HOST=hub.example.org");
}

#[test]
fn downstream_test_checks_the_host_key_without_logging_in() {
    let m = root_hub();
    link_binary(&m);
    let sshd = Sshd::start("");
    let known = m.dir.join("known_hosts");
    fs::write(
        m.etc().join("runmirrors.conf"),
        format!(
            "MAILTO=''\nSSH_OPTS='-o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null'\n",
            known.display()
        ),
    )
    .unwrap();
    let port = sshd.port.to_string();
    archvsync(
        &m,
        &[
            "downstream",
            "add",
            "eu",
            "127.0.0.1",
            "--user",
            "root",
            &format!("--ssh-opts=-p {port}"),
        ],
    )
    .expect(0, "add");
    let host_key = read_string(&sshd.dir().join("ssh_host_ed25519_key.pub"));
    let key_words: Vec<&str> = host_key.split_whitespace().take(2).collect();

    // The right key.
    fs::write(
        &known,
        format!("[127.0.0.1]:{port} {} {}\n", key_words[0], key_words[1]),
    )
    .unwrap();
    let t = archvsync(&m, &["downstream", "test", "eu"]);
    t.expect(0, "the right host key");
    t.has(format!(
        "ok: the host key (ssh-ed25519) matches {}:1",
        known.display()
    ));

    // Another key under that name: a changed host key.
    let other = ssh_keygen_public(&m.dir.join("other"));
    fs::write(&known, format!("[127.0.0.1]:{port} {other}\n")).unwrap();
    let t = archvsync(&m, &["downstream", "test", "eu"]);
    t.expect(1, "a changed host key");
    t.has("does not match known_hosts");

    // Nobody listening.
    let closed = free_port().to_string();
    let mut l = read_string(&m.etc().join("runmirrors.mirror"));
    l.push_str(&format!(
        "all gone 127.0.0.1 root -p {closed} -o ConnectTimeout=2\n"
    ));
    fs::write(m.etc().join("runmirrors.mirror"), l).unwrap();
    let t = archvsync(&m, &["downstream", "test", "gone"]);
    t.expect(1, "a closed port");
    t.has(format!("cannot connect to port {closed}"));
    archvsync(&m, &["downstream", "test", "nosuch"]).expect(1, "an unknown name");

    assert!(
        !sshd.log().contains("Accepted"),
        "test never logs in:\n{}",
        sshd.log()
    );
}

fn ssh_keygen_public(path: &Path) -> String {
    common::sshd::ssh_keygen(path).public()
}
