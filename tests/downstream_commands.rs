//! `archvsync downstream ...` on a root hub in the harness's layout (the end-to-end setup
//! with real accounts is push_server_setup.rs): every file's mode and content, `add`
//! twice, a failing step and a kill mid-way leaving nothing behind, check-config's view of
//! the chain, a TOML config, and `downstream test`, which never logs in.

mod common;

use common::setup_commands::*;
use common::sshd::Sshd;
use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

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
    run_to_end(c)
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
