//! Interoperability with Debian's original scripts (unpacked from Debian's ftpsync package
//! into target/original-ftpsync by scripts/setup-deps; nothing is fetched here):
//!
//! - the same mirror file pushed by the original runmirrors and by ours sends every
//!   downstream the same trigger words, for each push kind;
//! - an original ftpsync hub runs our runmirrors (BINDIR), which pushes an archvsync leaf
//!   and an original leaf;
//! - an original runmirrors master sends an mhop push through an archvsync hub to an
//!   original leaf.

mod common;
use common::sshd::*;
use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// The original runmirrors, packaged flavour: config in ~/.config/ftpsync, logs in
/// ~/.local/log/ftpsync.
struct OrigPusher {
    m: Mirror,
    key: SshKey,
}

impl OrigPusher {
    fn new(ssh_opts: &str) -> OrigPusher {
        let m = Mirror::new();
        let key = ssh_keygen(&m.dir.join("keys/orig-pushmirror"));
        let p = OrigPusher { m, key };
        p.write_conf(
            &Conf::default()
                .set("MAILTO", "")
                .set("KEYFILE", p.key.path.to_string_lossy())
                .set("SSH_OPTS", ssh_opts)
                // the packaged runmirrors does `cd "${BASEDIR}"` under `set -u`
                .set("BASEDIR", p.m.home.to_string_lossy())
                .set("PUSHDELAY", "60"),
        );
        p
    }
    fn confdir(&self) -> PathBuf {
        let d = self.m.home.join(".config/ftpsync");
        fs::create_dir_all(&d).unwrap();
        d
    }
    fn write_conf(&self, c: &Conf) {
        fs::write(self.confdir().join("runmirrors.conf"), c.to_bash()).unwrap();
    }
    fn write_mirrors(&self, lines: &[String]) {
        fs::write(
            self.confdir().join("runmirrors.mirror"),
            lines.join("\n") + "\n",
        )
        .unwrap();
    }
    fn command(&self, args: &[&str]) -> std::process::Command {
        self.m.command_prog(&original("runmirrors"), args)
    }
    fn log(&self) -> String {
        log_with_rotated(
            &self.m.home.join(".local/log/ftpsync"),
            "runmirrors.log",
            15,
        )
    }
}

/// A downstream whose forced command is the ORIGINAL ftpsync (with its own HOME, as a
/// dedicated mirror user would have).
struct OrigLeaf {
    m: Mirror,
    sshd: Sshd,
}

impl OrigLeaf {
    fn start(name: &str, source: &str, pusher: &SshKey) -> OrigLeaf {
        let mut m = Mirror::new();
        m.name = name.to_string();
        fs::create_dir_all(&m.to).unwrap();
        let confdir = m.home.join(".config/ftpsync");
        fs::create_dir_all(&confdir).unwrap();
        fs::write(
            confdir.join("ftpsync.conf"),
            m.conf(source).set("LOGROTATE", "14").to_bash(),
        )
        .unwrap();
        let wrapper = m.dir.join("wrap/ftpsync");
        write_script(
            &wrapper,
            &format!(
                "HOME={}\nexport HOME\nexec {} \"$@\"",
                shq(&m.home.to_string_lossy()),
                shq(&original("ftpsync").to_string_lossy())
            ),
        );
        let sshd = Sshd::start(&forced_command_line(&wrapper, pusher));
        OrigLeaf { m, sshd }
    }
    fn log(&self) -> String {
        log_with_rotated(&self.m.home.join(".local/log/ftpsync"), "ftpsync.log", 15)
    }
    fn synced(&self) -> bool {
        self.m.trace_path().exists() && !self.m.lock_path().exists()
    }
    fn host_line(&self, kind: &str, short: &str) -> String {
        format!("{kind} {short} 127.0.0.1 root -p {}", self.sshd.port)
    }
    fn diagnostics(&self) -> String {
        format!(
            "===== original leaf {} =====\n--- log ---\n{}\n--- rsync errors ---\n{}\n--- sshd ---\n{}\n",
            self.m.name,
            self.log(),
            log_with_rotated(&self.m.home.join(".local/log/ftpsync"), "rsync-ftpsync.error", 15),
            self.sshd.log()
        )
    }
}

fn wait_orig_synced(l: &OrigLeaf, timeout: Duration, diag: &dyn Fn() -> String) {
    let deadline = Instant::now() + timeout;
    while !l.synced() {
        assert!(
            Instant::now() < deadline,
            "{} (original ftpsync) did not finish within {timeout:?}\n{}\n{}",
            l.m.name,
            l.diagnostics(),
            diag()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Is any process of process group `pgid` still alive?
fn pgroup_alive(pgid: u32) -> bool {
    let Ok(rd) = fs::read_dir("/proc") else {
        return false;
    };
    rd.flatten().any(|e| {
        let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
            return false;
        };
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            return false;
        };
        let f: Vec<&str> = after.split_whitespace().collect();
        // state, ppid, pgrp; zombies do not count
        f.len() > 2 && f[0] != "Z" && f[2] == pgid.to_string()
    })
}

// ---------------------------------------------------------------------------------------
// the trigger words
// ---------------------------------------------------------------------------------------

/// Downstreams that only record what they were sent: `DIR/WHO/NAME.words`, one line per
/// trigger, where WHO is `orig` or `ours` depending on the key that logged in.
struct Recorder {
    dir: PathBuf,
    sshds: Vec<(String, Sshd)>,
}

impl Recorder {
    fn start(tmp: &Path, names: &[&str], ours: &SshKey, orig: &SshKey) -> Recorder {
        let dir = tmp.join("words");
        let mut sshds = Vec::new();
        for n in names {
            let mut lines = Vec::new();
            for (who, key) in [("ours", ours), ("orig", orig)] {
                fs::create_dir_all(dir.join(who)).unwrap();
                let stub = tmp.join(format!("stub-{who}-{n}"));
                write_script(
                    &stub,
                    &format!(
                        "printf '%s\\n' \"$SSH_ORIGINAL_COMMAND\" >> {}\nexit 0",
                        shq(&dir.join(who).join(format!("{n}.words")).to_string_lossy())
                    ),
                );
                lines.push(forced_command_line(&stub, key));
            }
            sshds.push((n.to_string(), Sshd::start(&lines.join("\n"))));
        }
        Recorder { dir, sshds }
    }
    fn port(&self, name: &str) -> u16 {
        self.sshds.iter().find(|(n, _)| n == name).unwrap().1.port
    }
    /// Per downstream, the triggers in arrival order, each as ftpsync splits it into
    /// words (the original sends one argument with a leading space).
    fn words(&self, who: &str) -> BTreeMap<String, Vec<Vec<String>>> {
        let mut m = BTreeMap::new();
        for (n, _) in &self.sshds {
            let t = read_string(&self.dir.join(who).join(format!("{n}.words")));
            if !t.is_empty() {
                m.insert(
                    n.clone(),
                    t.lines()
                        .map(|l| l.split_whitespace().map(str::to_string).collect())
                        .collect(),
                );
            }
        }
        m
    }
    /// Newest modification of any words file of `who` (None: nothing yet).
    fn last_change(&self, who: &str) -> Option<SystemTime> {
        fs::read_dir(self.dir.join(who))
            .ok()?
            .flatten()
            .filter_map(|e| e.metadata().ok()?.modified().ok())
            .max()
    }
}

/// Push the same mirror file (every line form) with the original runmirrors and with ours,
/// called with `args`, and compare what every downstream received.
fn words_match_the_original(args: &[&str]) {
    let tmp = tempdir();
    let names = ["a1", "a2", "s1", "s2", "m1", "m2"];
    let ours = Downstream::builder("pusher.test").pusher().start();
    // hosts are aliases from an ssh config file (the original cannot put a port into an
    // ssh+ftpsync URL): SSH_OPTS -F FILE, for both pushers
    let sshcfg = tmp.path().join("ssh_config");
    let opts = format!("-F {} {SSH_OPTS}", sshcfg.display());
    let orig = OrigPusher::new(&opts);
    let rec = Recorder::start(tmp.path(), &names, ours.key(), &orig.key);
    let mut cfg = String::new();
    for n in names {
        cfg.push_str(&format!(
            "Host h-{n}\n    HostName 127.0.0.1\n    Port {}\n",
            rec.port(n)
        ));
    }
    fs::write(&sshcfg, cfg).unwrap();
    ours.write_runmirrors_conf(
        &ours
            .runmirrors_conf()
            .set("SSH_OPTS", opts.clone())
            .set("PUSHDELAY", "60"),
    );
    let mirrors = |key: &SshKey| {
        vec![
            "# every line form".to_string(),
            "all a1 h-a1 root".to_string(),
            "all a2 ssh+ftpsync://root@h-a2/extra".to_string(),
            "staged s1 ssh+ftpsync://root@h-s1/".to_string(),
            "staged s2 h-s2 root -o Compression=no".to_string(),
            "mhop m1 h-m1 root".to_string(),
            format!("mhop m2 h-m2 root 2 {}", key.path.display()),
            // archvsync's http lines (status --downstreams), before and after their
            // mirror's line: the original must take them for URLs it does not push
            "http a1 http://a1.example.org/debian/".to_string(),
            "http s2 https://s2.example.org/debian/ s2.example.org".to_string(),
        ]
    };
    ours.write_mirrors(&mirrors(ours.key()));
    orig.write_mirrors(&mirrors(&orig.key));

    let diag = || {
        format!(
            "--- original runmirrors log ---\n{}\n{}",
            orig.log(),
            ours.diagnostics()
        )
    };
    let t0 = Instant::now();
    let mut o = orig.m.spawn_cmd(orig.command(args), &[]);
    let mut a = ours.m.spawn_cmd(ours.runmirrors_cmd(args), &[]);
    let (o_pgid, a_pgid) = (o.pid(), a.pid());
    let deadline = t0 + Duration::from_secs(40);
    let (mut o_done, mut a_done) = (None, None);
    loop {
        if o_done.is_none() && o.try_done() {
            o_done = Some(t0.elapsed());
        }
        if a_done.is_none() && a.try_done() {
            a_done = Some(t0.elapsed());
        }
        // both exited, with everything they left in the background (the original
        // backgrounds its pushes), and no trigger arrived for 1 s
        let quiet = |who| {
            rec.last_change(who)
                .is_none_or(|t| t.elapsed().unwrap_or_default() > Duration::from_millis(1000))
        };
        if o_done.is_some()
            && a_done.is_some()
            && !pgroup_alive(o_pgid)
            && !pgroup_alive(a_pgid)
            && t0.elapsed() > Duration::from_secs(2)
            && quiet("orig")
            && quiet("ours")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "runmirrors {args:?} did not settle\n{}",
            diag()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let oo = o.wait(Duration::from_secs(1));
    let ao = a.wait(Duration::from_secs(1));
    assert_eq!(oo.code, Some(0), "original {args:?}: {oo:?}\n{}", diag());
    assert_eq!(ao.code, Some(0), "ours {args:?}: {ao:?}\n{}", diag());
    let (wo, wa) = (rec.words("orig"), rec.words("ours"));
    eprintln!(
        "runmirrors {args:?}: original returned after {o_done:?}, ours after {a_done:?}\n  words: {wa:?}"
    );
    assert!(
        !wo.is_empty(),
        "the original pushed nothing for {args:?}\n{}",
        diag()
    );
    assert_eq!(
        wa,
        wo,
        "runmirrors {args:?}: trigger words differ from the original's (left: ours)\n{}",
        diag()
    );
    // It read the http lines and skipped them (unless only staged lines were read).
    if args != ["-f", "-k", "mhop"] {
        for host in ["a1.example.org", "s2.example.org"] {
            assert!(
                orig.log()
                    .contains(&format!("{host} have wrong scheme, ignoring")),
                "{}",
                diag()
            );
        }
    }
    assert!(!orig.log().contains("I don't know what"), "{}", diag());
}

#[test]
fn trigger_words_match_the_original_standalone_mhop() {
    words_match_the_original(&[]);
}

#[test]
fn trigger_words_match_the_original_from_ftpsync_mhop() {
    words_match_the_original(&["-f", "-k", "mhop"]);
}

#[test]
fn trigger_words_match_the_original_stage2() {
    words_match_the_original(&["-k", "stage2"]);
}

#[test]
fn trigger_words_match_the_original_from_ftpsync_all() {
    words_match_the_original(&["-f", "-k", "all"]);
}

// ---------------------------------------------------------------------------------------
// mixed trees
// ---------------------------------------------------------------------------------------

#[test]
fn original_hub_runs_our_runmirrors_for_original_and_archvsync_leaves() {
    let up = Upstream::v1();
    // the hub: the original ftpsync, with BINDIR holding our runmirrors link (classic
    // layout: our runmirrors reads base/etc)
    let hub = Downstream::builder("hub.test").pusher().serve().start();
    let hub_conf = hub
        .m
        .conf(&up.url())
        .set("HUB", "true")
        .set("BINDIR", hub.m.base.join("bin").to_string_lossy())
        .set("LOGROTATE", "14");
    let hub_confdir = hub.m.home.join(".config/ftpsync");
    fs::create_dir_all(&hub_confdir).unwrap();
    fs::write(hub_confdir.join("ftpsync.conf"), hub_conf.to_bash()).unwrap();

    let leaf_a = Downstream::builder("leafA.test")
        .source(&hub.rsync_url())
        .pushed_by(hub.key())
        .start();
    let leaf_b = OrigLeaf::start("leafB.test", &hub.rsync_url(), hub.key());
    hub.write_mirrors(&[
        leaf_a.host_line("all", "leafA"),
        leaf_b.host_line("staged", "leafB"),
    ]);
    let hub_log = || log_with_rotated(&hub.m.home.join(".local/log/ftpsync"), "ftpsync.log", 15);
    let diag = || {
        format!(
            "--- original hub log ---\n{}\n{}{}",
            hub_log(),
            all_diagnostics(&[&hub, &leaf_a]),
            leaf_b.diagnostics()
        )
    };

    let out = hub
        .m
        .run_cmd(hub.m.command_prog(&original("ftpsync"), &["sync:all"]));
    assert_eq!(
        out.code,
        Some(0),
        "original hub failed: {out:?}\n{}",
        diag()
    );
    let hl = hub_log();
    assert!(
        hl.lines()
            .any(|l| l.contains("Trigger slave mirrors using") && l.ends_with("-f -k all")),
        "{hl}"
    );
    assert!(hl.contains("Trigger slave done"), "{hl}");

    wait_synced(&leaf_a, Duration::from_secs(60), &[&hub, &leaf_a]);
    wait_orig_synced(&leaf_b, Duration::from_secs(60), &diag);
    assert_same_tree_via(&up.root, &leaf_a.m.to, leaf_a.name(), &["hub.test"]);
    assert_same_tree_via(&up.root, &leaf_b.m.to, &leaf_b.m.name, &["hub.test"]);
    for (to, name) in [(&leaf_a.m.to, "leafA.test"), (&leaf_b.m.to, "leafB.test")] {
        let hier = read_string(&to.join("project/trace/_hierarchy"));
        assert_eq!(
            hier,
            format!(
                "{UPSTREAM_HIERARCHY_LINE}\n{}\n{}\n",
                hierarchy_line("hub.test"),
                hierarchy_line(name)
            ),
            "{name}"
        );
        let t = Trace::read(&to.join("project/trace").join(name));
        assert_eq!(t.req("Trigger"), "ssh", "{}", t.raw);
    }
    // the original leaf got stage 1, then stage 2
    let bl = leaf_b.log();
    assert_eq!(count_lines(&bl, "Running stage1:"), 1, "{bl}");
    assert_eq!(count_lines(&bl, "Running stage2:"), 1, "{bl}");
    assert!(
        bl.find("Running stage1:") < bl.find("Running stage2:"),
        "{bl}"
    );
    assert!(
        leaf_b.m.stage1_trace_path().exists(),
        "the original leaf did not run a stage-1-only sync\n{bl}"
    );

    let rl = hub.runmirrors_log();
    assert!(
        rl.contains("Pushing leaf mirrors. Inside ftpsync: true. Pushkind: all"),
        "{rl}"
    );
    assert!(
        rl.contains("first stage trigger succeeded: 127.0.0.1"),
        "{rl}"
    );
    assert!(
        rl.contains("second stage trigger succeeded: 127.0.0.1"),
        "{rl}"
    );
    assert!(rl.contains("normal trigger succeeded: 127.0.0.1"), "{rl}");
    assert!(!rl.contains("trigger failed"), "{rl}");
}

#[test]
fn original_master_pushes_mhop_through_an_archvsync_hub_to_an_original_leaf() {
    let up = Upstream::v1();
    let master = OrigPusher::new(SSH_OPTS);
    let hub = Downstream::builder("tierA.test")
        .source(&up.url())
        .hub()
        .pushed_by(&master.key)
        .start();
    let leaf = OrigLeaf::start("tierB.test", &hub.rsync_url(), hub.key());
    master.write_mirrors(&[hub.host_line("mhop", "tierA")]);
    hub.write_mirrors(&[leaf.host_line("mhop", "tierB")]);
    let diag = || {
        format!(
            "--- original master log ---\n{}\n{}{}",
            master.log(),
            hub.diagnostics(),
            leaf.diagnostics()
        )
    };

    let out = master.m.run_cmd(master.command(&[]));
    assert_eq!(
        out.code,
        Some(0),
        "original runmirrors: {out:?}\n{}",
        diag()
    );
    // the original backgrounds its pushes; stage 2 reaches the leaf when the hub got it
    wait_orig_synced(&leaf, Duration::from_secs(60), &diag);
    wait_synced(&hub, Duration::from_secs(10), &[&hub]);
    assert_same_tree(&up.root, &hub.m.to, hub.name());
    assert_same_tree_via(&up.root, &leaf.m.to, &leaf.m.name, &["tierA.test"]);
    let hier = read_string(&leaf.m.to.join("project/trace/_hierarchy"));
    assert_eq!(
        hier,
        format!(
            "{UPSTREAM_HIERARCHY_LINE}\n{}\n{}\n",
            hierarchy_line("tierA.test"),
            hierarchy_line("tierB.test")
        )
    );
    let hl = hub.ftpsync_log();
    assert_eq!(count_lines(&hl, "Running stage1:"), 1, "{hl}");
    assert_eq!(count_lines(&hl, "Running stage2:"), 1, "{hl}");
    assert!(
        hl.find("Running stage1:") < hl.find("Running stage2:"),
        "{hl}"
    );
    let rl = hub.runmirrors_log();
    assert!(
        rl.contains("Pushing leaf mirrors. Inside ftpsync: true. Pushkind: mhop"),
        "{rl}"
    );
    assert!(
        rl.contains("Pushing leaf mirrors. Inside ftpsync: true. Pushkind: stage2"),
        "{rl}"
    );
    assert!(!rl.contains("trigger failed"), "{rl}");
    assert!(leaf.m.stage1_trace_path().exists(), "{}", diag());
    let ml = master.log();
    assert!(ml.contains("first stage trigger succeeded"), "{ml}");
}
