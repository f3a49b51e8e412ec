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
//! The commands' other properties, as root on the harness's layout, are in
//! downstream_commands.rs.

mod common;

use common::setup_commands::*;
use common::sshd::{assert_same_tree_via, Sshd};
use common::users::SystemUser;
use common::*;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

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
        run_to_end(self.user.command(self.home().join("bin/archvsync"), args))
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
        run_to_end(c)
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
