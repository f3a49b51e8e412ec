//! The change journal (README: "Propagation in O(changed)") against real rsync daemons:
//! upstream (a plain daemon, no journal) → hub (archvsync, its tree served by a second
//! daemon) → leaf (archvsync) [→ leaf2]. After every round of random upstream changes the
//! leaf must equal the hub exactly (`rsync -ani --delete -H` itemizes nothing outside
//! project/trace/, the top directory's own times and the lock files), and its sync must have
//! been a journal sync whenever one was possible; the faults (a push mid-sync, a gap, a
//! corrupted journal, a hub killed mid-sync, ARCH_EXCLUDE on the leaf) must end with the
//! leaf equal to what a full sync gives.
//!
//! The random changes come from a seeded generator: a failure prints the seed, and
//! `JOURNAL_SEED=N cargo test --test journal_sync` replays it (`JOURNAL_ROUNDS` sets the
//! number of rounds).
//!
//! Longer than the ~650 lines a file should keep to, on purpose: the chain of nodes and the
//! random changer below (about half the file) serve only these scenarios.

mod common;
use common::*;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

/// The default options without `--chmod`, so that permission changes travel too.
const OPTIONS: &str =
    "-prltvHSB8192 --safe-links --timeout 120 --stats --no-human-readable --no-inc-recursive";

/// xorshift64*: small, seeded, good enough to pick test operations.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> Option<&'a T> {
        (!v.is_empty()).then(|| &v[self.below(v.len())])
    }
}

fn seed() -> u64 {
    std::env::var("JOURNAL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

/// One archvsync mirror of a chain; its tree is served as module `debian` by a daemon of
/// its own, for the next mirror down.
struct Node {
    m: Mirror,
    daemon: RsyncDaemon,
}

impl Node {
    fn new(name: &str, source: &str, conf: impl Fn(Conf) -> Conf) -> Node {
        let mut m = Mirror::new();
        m.name = name.to_string();
        fs::create_dir_all(&m.to).unwrap();
        m.write_conf(&conf(node_conf(&m, source)));
        let daemon = RsyncDaemon::start(&[("debian", &m.to)]);
        Node { m, daemon }
    }
    fn url(&self) -> String {
        self.daemon.url("debian")
    }
    fn rewrite_conf(&self, source: &str, conf: impl Fn(Conf) -> Conf) {
        self.m.write_conf(&conf(node_conf(&self.m, source)));
    }
    /// A run that must succeed; its log lines (this run's only).
    fn sync(&self, ctx: &str) -> String {
        let before = self.m.log().len();
        let t = std::time::Instant::now();
        let out = self.m.run(&["sync:all"]);
        if std::env::var("JOURNAL_TIMES").is_ok() {
            eprintln!("{} {:?}", self.m.name, t.elapsed());
        }
        assert_eq!(
            out.code,
            Some(0),
            "{ctx}: {} failed\n{}",
            self.m.name,
            self.m.diagnostics(&out)
        );
        self.m.log()[before..].to_string()
    }
    fn last_run(&self) -> serde_json::Value {
        let p = self.m.logdir().join("ftpsync.state.json");
        let v: serde_json::Value = serde_json::from_str(&read_string(&p)).unwrap();
        v["last_run"].clone()
    }
    fn journal(&self) -> PathBuf {
        self.m.to.join("project/trace/_archvsync-journal")
    }
    /// Whether the last run was a journal sync that ran both stages over the journal's
    /// lists to the end: a journal sync whose stage fell back to a full walk (the tree
    /// still ends right, the speed is gone) is not one.
    fn fell_back(&self) -> bool {
        let r = self.last_run();
        r["sync_kind"] != "journal"
            || r["journal_stages"] != serde_json::json!(["stage1", "stage2"])
    }
    /// The last run must have been a journal sync end to end.
    fn expect_journal(&self, ctx: &str) {
        let r = self.last_run();
        assert!(
            !self.fell_back(),
            "{ctx}: {} did not sync by the journal end to end: {r}\n{}",
            self.m.name,
            tail(&self.m.log(), 4000)
        );
    }
}

/// Every node's config. RSYNC refuses `--delete-missing-args` as the hardened rsyncs do, so
/// a journal sync that still relied on it would fall back here too, whatever this
/// machine's rsync is.
fn node_conf(m: &Mirror, source: &str) -> Conf {
    m.conf(source)
        .set("RSYNC", hardened_rsync(m).to_string_lossy())
        .set("RSYNC_OPTIONS", OPTIONS)
        .set("TRACEHOST", format!("host.{}", m.name))
}

/// The hub below the plain upstream. A directory replaced by a file needs --force in stage
/// 1, journal or not (stage 1 deletes nothing, and rsync cannot make room otherwise): the
/// hub's upstream has no journal, so the hub always syncs in full. The leaves go without
/// it: a journal's stage 1 leaves such a path to stage 2.
fn hub(up: &Upstream, conf: impl Fn(Conf) -> Conf) -> Node {
    Node::new("hub.test.example", &up.url(), |c| {
        conf(c.set("RSYNC_EXTRA", "--force"))
    })
}

/// The upstream: a Debian-like tree (plus an area for the random changes), plain daemon.
fn upstream() -> Upstream {
    let up = Upstream::v1();
    fs::create_dir_all(up.root.join("extra/deep")).unwrap();
    fs::write(up.root.join("extra/deep/seed"), "seed\n").unwrap();
    up
}

// ---------------------------------------------------------------------------------------
// random changes
// ---------------------------------------------------------------------------------------

/// Where the random changes happen: some of the archive, a scratch area, the top level.
const AREAS: &[&str] = &[
    "pool/main/h/hello",
    "pool/main/t",
    "dists/sid/main/binary-amd64",
    "dists/trixie",
    "extra",
];

/// Names that rsync escapes, splits or otherwise treats with care.
const NAMES: &[&[u8]] = &[
    b"plain",
    b"with space",
    b"new\nline",
    b"tab\there",
    b"back\\#012slash",
    b"arrow -> in name",
    b"hard => in name",
    "caf\u{e9}".as_bytes(),
    b"bad\xff\xfeutf8",
    b" leading",
    b"x_amd64.deb",
    b"Packages",
];

struct Changer {
    rng: Rng,
    root: PathBuf,
    /// A fresh mtime for every change: same-second changes must not look unchanged.
    clock: i64,
    log: Vec<String>,
}

impl Changer {
    fn entries(&self) -> (Vec<PathBuf>, Vec<PathBuf>) {
        let mut files = Vec::new();
        let mut dirs = Vec::new();
        let mut stack: Vec<PathBuf> = AREAS.iter().map(|a| self.root.join(a)).collect();
        while let Some(d) = stack.pop() {
            let Ok(rd) = fs::read_dir(&d) else { continue };
            for e in rd.flatten() {
                let p = e.path();
                let md = fs::symlink_metadata(&p).unwrap();
                if md.is_dir() {
                    dirs.push(p.clone());
                    stack.push(p);
                } else {
                    files.push(p);
                }
            }
        }
        files.sort();
        dirs.sort();
        (files, dirs)
    }

    fn tick(&mut self) -> std::time::SystemTime {
        self.clock += 7;
        UNIX_EPOCH + Duration::from_secs(self.clock as u64)
    }

    fn stamp(&mut self, p: &Path) {
        let t = self.tick();
        if let Ok(f) = fs::File::open(p) {
            let _ = f.set_modified(t);
        }
    }

    fn new_name(&mut self, dir: &Path) -> PathBuf {
        let base = *self.rng.pick(NAMES).unwrap();
        let mut name = base.to_vec();
        name.extend_from_slice(format!(".{}", self.rng.below(1000)).as_bytes());
        dir.join(OsStr::from_bytes(&name))
    }

    fn write(&mut self, p: &Path) {
        let n = self.rng.below(200);
        let data: Vec<u8> = (0..n).map(|_| (self.rng.next() & 0xff) as u8).collect();
        fs::write(p, data).unwrap();
        self.stamp(p);
    }

    /// One of `files`, if the pick is a regular file.
    fn regular_file(&mut self, files: &[PathBuf]) -> Option<PathBuf> {
        let f = self.rng.pick(files)?.clone();
        fs::symlink_metadata(&f).unwrap().is_file().then_some(f)
    }

    fn rel(&self, p: &Path) -> String {
        format!("{:?}", p.strip_prefix(&self.root).unwrap())
    }

    /// One random change; what it did goes into `log` (printed on failure).
    fn change(&mut self) {
        let (files, dirs) = self.entries();
        let area = self.root.join(self.rng.pick(AREAS).unwrap());
        let dir = self.rng.pick(&dirs).cloned().unwrap_or(area.clone());
        let what = self.rng.below(13);
        let done = match what {
            0 | 1 => {
                let Some(f) = self.regular_file(&files) else {
                    return;
                };
                self.write(&f);
                format!("modify {}", self.rel(&f))
            }
            2 | 3 => {
                let p = self.new_name(&dir);
                self.write(&p);
                format!("add {}", self.rel(&p))
            }
            4 => {
                let Some(f) = self.rng.pick(&files).cloned() else {
                    return;
                };
                fs::remove_file(&f).unwrap();
                format!("delete {}", self.rel(&f))
            }
            5 => {
                let Some(d) = self.rng.pick(&dirs).cloned() else {
                    return;
                };
                fs::remove_dir_all(&d).unwrap();
                format!("delete dir {}", self.rel(&d))
            }
            6 => {
                let p = self.new_name(&dir);
                let target: PathBuf = match (self.rng.below(3), self.rng.pick(&files)) {
                    (0, Some(f)) => pathdiff(f, p.parent().unwrap()),
                    (1, _) => PathBuf::from("dangling"),
                    _ => PathBuf::from("/etc/unsafe-absolute"),
                };
                symlink(&target, &p).unwrap();
                format!("symlink {} -> {target:?}", self.rel(&p))
            }
            7 => {
                let Some(f) = self.regular_file(&files) else {
                    return;
                };
                let p = self.new_name(&dir);
                fs::hard_link(&f, &p).unwrap();
                format!("hard link {} => {}", self.rel(&p), self.rel(&f))
            }
            8 => {
                let Some(f) = self.rng.pick(&files).cloned() else {
                    return;
                };
                fs::remove_file(&f).unwrap();
                fs::create_dir(&f).unwrap();
                let inside = self.new_name(&f);
                self.write(&inside);
                format!("file to dir {}", self.rel(&f))
            }
            9 => {
                // Not where stage 1 excludes the directory's contents (i18n/*, say): rsync
                // cannot make room for the file there without deleting excluded files, and
                // stage 1 fails, the original's as ours; no archive does that.
                let free: Vec<PathBuf> = dirs
                    .iter()
                    .filter(|d| {
                        (d.starts_with(self.root.join("extra"))
                            || d.starts_with(self.root.join("pool")))
                            && !holds_what_a_stage_1_leaves(d)
                    })
                    .cloned()
                    .collect();
                let Some(d) = self.rng.pick(&free).cloned() else {
                    return;
                };
                fs::remove_dir_all(&d).unwrap();
                self.write(&d);
                format!("dir to file {}", self.rel(&d))
            }
            10 => {
                let p = self.new_name(&dir);
                fs::create_dir(&p).unwrap();
                format!("empty dir {}", self.rel(&p))
            }
            11 => {
                let Some(f) = self.regular_file(&files) else {
                    return;
                };
                let mode = *self.rng.pick(&[0o600, 0o640, 0o644, 0o755]).unwrap();
                fs::set_permissions(&f, fs::Permissions::from_mode(mode)).unwrap();
                format!("chmod {mode:o} {}", self.rel(&f))
            }
            _ => {
                let mode = *self.rng.pick(&[0o700, 0o750, 0o755]).unwrap();
                fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
                let t = self.tick();
                let _ = fs::File::open(&dir).and_then(|f| f.set_modified(t));
                format!("chmod {mode:o} and touch dir {}", self.rel(&dir))
            }
        };
        self.log.push(done);
    }
}

/// Whether anything below `dir` is left out by the stage 1 of some mirror of these tests
/// (index names, the architectures and source ARCH_EXCLUDE drops): such a directory cannot
/// be replaced by a file in stage 1, even with --force.
fn holds_what_a_stage_1_leaves(dir: &Path) -> bool {
    let left_out = |name: &str| {
        [
            "Packages",
            "Contents",
            "Sources",
            "Release",
            "InRelease",
            "ls-lR",
        ]
        .iter()
        .any(|p| name.starts_with(p))
            || ["_i386.", "_arm64.", ".dsc", ".tar.", ".diff.", ".changes"]
                .iter()
                .any(|p| name.contains(p))
    };
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            if left_out(&e.file_name().to_string_lossy()) {
                return true;
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
    }
    false
}

/// `to` relative to the directory `from`.
fn pathdiff(to: &Path, from: &Path) -> PathBuf {
    let to: Vec<_> = to.components().collect();
    let from: Vec<_> = from.components().collect();
    let common = to.iter().zip(&from).take_while(|(a, b)| a == b).count();
    let mut p = PathBuf::new();
    for _ in common..from.len() {
        p.push("..");
    }
    for c in &to[common..] {
        p.push(c);
    }
    p
}

/// A new archive serial in the upstream's master trace, as every real update has.
fn bump_serial(root: &Path, round: usize) {
    let master = root.join("project/trace/master");
    let text = read_string(&master);
    let serial = format!("20261121{:02}", round % 100);
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("Archive serial:") {
                format!("Archive serial: {serial}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(&master, text).unwrap();
}

// ---------------------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------------------

#[test]
fn random_rounds_down_a_chain_sync_by_the_journal_and_stay_equal() {
    let seed = seed();
    let rounds: usize = std::env::var("JOURNAL_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    eprintln!("journal_sync: seed {seed} (JOURNAL_SEED={seed} replays it), {rounds} rounds");
    let up = upstream();
    let hub = hub(&up, |c| c);
    let leaf = Node::new("leaf.test.example", &hub.url(), |c| c);
    let leaf2 = Node::new("leaf2.test.example", &leaf.url(), |c| c);
    let mut ch = Changer {
        rng: Rng::new(seed),
        root: up.root.clone(),
        clock: 1_790_000_000,
        log: Vec::new(),
    };
    let (mut journal_syncs, mut fallbacks) = (0, Vec::new());
    for round in 0..rounds {
        let ctx = format!("seed {seed}, round {round}");
        if round > 0 {
            let n = 2 + ch.rng.below(10);
            for _ in 0..n {
                ch.change();
            }
            bump_serial(&up.root, round);
        }
        let hub_log = hub.sync(&ctx);
        assert!(
            hub_log.contains("Full sync: the upstream publishes no journal"),
            "{ctx}: {hub_log}"
        );
        let ctx = format!("{ctx}; changes so far:\n  {}", ch.log.join("\n  "));
        leaf.sync(&ctx);
        leaf2.sync(&ctx);
        // The hub's own full sync, as a check of the test: all but the links --safe-links
        // leaves out.
        let unsafe_left_out = |l: &String| l.starts_with("cL+++++++++ ") && l.contains(" -> /");
        let d: Vec<String> = mirror_differences(&up.root, &hub.m.to)
            .into_iter()
            .filter(|l| !unsafe_left_out(l))
            .collect();
        assert!(
            d.is_empty(),
            "{ctx}: the hub differs from the upstream:\n{}",
            d.join("\n")
        );
        assert_mirror_equal(&hub.m.to, &leaf.m.to, &ctx);
        assert_mirror_equal(&leaf.m.to, &leaf2.m.to, &ctx);
        for n in [&leaf, &leaf2] {
            let r = n.last_run();
            if round == 0 {
                assert_eq!(r["sync_kind"], "full", "{ctx}: {} {r}", n.m.name);
                assert_eq!(r["full_sync_reason"], "first", "{ctx}: {r}");
            } else {
                journal_syncs += 1;
                if n.fell_back() {
                    fallbacks.push(format!("round {round}, {}: {r}", n.m.name));
                }
            }
        }
        ch.log.push(format!("-- round {round} synced"));
    }
    eprintln!(
        "journal_sync: {} of {journal_syncs} journal syncs fell back to a full stage",
        fallbacks.len()
    );
    assert!(
        fallbacks.is_empty(),
        "seed {seed}: journal syncs that fell back:\n{}",
        fallbacks.join("\n")
    );
}

#[test]
fn smoke_a_two_version_update_goes_by_the_journal() {
    let up = Upstream::v1();
    let hub = hub(&up, |c| c);
    let leaf = Node::new("leaf.test.example", &hub.url(), |c| c);
    hub.sync("v1");
    let l = leaf.sync("v1");
    assert!(l.contains("Full sync: no earlier sync"), "{l}");
    build_archive(&up.root, &ArchiveSpec::v2());
    hub.sync("v2");
    let l = leaf.sync("v2");
    assert!(l.contains("Journal sync: "), "{l}");
    leaf.expect_journal("v2");
    assert_mirror_equal(&hub.m.to, &leaf.m.to, "v2");
    assert!(hub.journal().is_file() && leaf.journal().is_file());
    assert_ne!(read_string(&hub.journal()), read_string(&leaf.journal()));
}

/// A leaf whose full syncs (the faults below make some) survive a directory replaced by a
/// file, as the hub's do (see [`hub`]).
fn leaf_with_force(name: &str, up: &Node, conf: impl Fn(Conf) -> Conf) -> Node {
    Node::new(name, &up.url(), |c| conf(c.set("RSYNC_EXTRA", "--force")))
}

/// A few random changes to the upstream and a new serial.
fn some_changes(ch: &mut Changer, round: usize) {
    for _ in 0..4 {
        ch.change();
    }
    bump_serial(&ch.root.clone(), round);
}

/// The leaf's next sync: a full one for `reason` (its log says `Full sync: SAYS...`),
/// ending as the hub is.
fn expect_full_sync(hub: &Node, leaf: &Node, reason: &str, says: &str, ctx: &str) {
    let log = leaf.sync(ctx);
    assert!(log.contains(&format!("Full sync: {says}")), "{ctx}\n{log}");
    assert_eq!(leaf.last_run()["full_sync_reason"], reason, "{ctx}");
    assert_mirror_equal(&hub.m.to, &leaf.m.to, ctx);
}

/// After one more round of changes the leaf syncs by the journal again, as the hub is.
fn expect_journal_again(hub: &Node, leaf: &Node, ch: &mut Changer, round: usize) {
    some_changes(ch, round);
    hub.sync("again");
    leaf.sync("again");
    leaf.expect_journal("by the journal again");
    assert_mirror_equal(&hub.m.to, &leaf.m.to, "by the journal again");
}

fn changer(up: &Upstream, seed: u64) -> Changer {
    Changer {
        rng: Rng::new(seed),
        root: up.root.clone(),
        clock: 1_790_000_000,
        log: Vec::new(),
    }
}

/// upstream → hub → leaf (with --force), both synced once, and a seeded changer.
struct Chain {
    seed: u64,
    ch: Changer,
    leaf: Node,
    hub: Node,
    _up: Upstream,
}

impl Chain {
    /// One more round of changes upstream, synced by the hub.
    fn round(&mut self, round: usize) {
        some_changes(&mut self.ch, round);
        self.hub.sync(&format!("round {round}"));
    }
    /// The context for failure messages: the seed and the changes so far.
    fn ctx(&self) -> String {
        format!("seed {}: {}", self.seed, self.ch.log.join("; "))
    }
    /// The leaf's next sync is a full one for `reason` (see [`expect_full_sync`]).
    fn expect_full_sync(&self, reason: &str, says: &str) {
        expect_full_sync(&self.hub, &self.leaf, reason, says, &self.ctx());
    }
}

fn chain(hub_conf: impl Fn(Conf) -> Conf) -> Chain {
    let seed = seed();
    let up = upstream();
    let hub = hub(&up, hub_conf);
    let leaf = leaf_with_force("leaf.test.example", &hub, |c| c);
    hub.sync("first");
    leaf.sync("first");
    Chain {
        seed,
        ch: changer(&up, seed),
        leaf,
        hub,
        _up: up,
    }
}

#[test]
fn a_push_during_a_journal_sync_goes_round_again_by_the_journal() {
    let Chain {
        seed,
        mut ch,
        leaf,
        hub,
        _up,
    } = chain(|c| c);
    let (hook, started, release) = waiting_hook(&leaf.m.dir);
    leaf.rewrite_conf(&hub.url(), |c| {
        c.set("HOOK2", hook.to_string_lossy())
            .set("RSYNC_EXTRA", "--force")
    });
    some_changes(&mut ch, 1);
    hub.sync("round 1");
    let running = leaf.m.spawn(&["sync:all"], &[]);
    wait_for(Duration::from_secs(30), "the leaf's HOOK2", || {
        started.exists()
    });
    // Between its stage 1 and stage 2 the hub changes again and pushes the leaf.
    some_changes(&mut ch, 2);
    hub.sync("round 2");
    let pushed = leaf.m.run(&["sync:all"]);
    assert_eq!(pushed.code, Some(1), "{}", leaf.m.diagnostics(&pushed));
    fs::write(&release, "").unwrap();
    let out = running.wait(RUN_TIMEOUT);
    leaf.m.expect_code(&out, 0);
    let ctx = format!("seed {seed}: {}", ch.log.join("; "));
    assert_mirror_equal(&hub.m.to, &leaf.m.to, &ctx);
    let r = leaf.last_run();
    assert_eq!(r["passes"], 2, "{r}");
    leaf.expect_journal(&ctx);
    let log = leaf.m.log();
    let pass2 = log
        .rsplit("Running mirrorsync, update is required")
        .next()
        .unwrap();
    assert!(pass2.contains("Journal sync: "), "{log}");
}

#[test]
fn a_gap_longer_than_the_journal_falls_back_to_a_full_sync() {
    let Chain {
        seed,
        mut ch,
        leaf,
        hub,
        _up,
    } = chain(|c| c.set("JOURNAL_MAX_ENTRIES", "2"));
    // The leaf is away for three of the hub's syncs; the journal holds two.
    for round in 1..=3 {
        some_changes(&mut ch, round);
        hub.sync("away");
    }
    let ctx = format!("seed {seed}: {}", ch.log.join("; "));
    expect_full_sync(
        &hub,
        &leaf,
        "gap",
        "the upstream's journal does not reach back to our state",
        &ctx,
    );
    expect_journal_again(&hub, &leaf, &mut ch, 4);
}

#[test]
fn a_corrupt_or_cut_journal_falls_back_to_a_full_sync() {
    let Chain {
        seed,
        mut ch,
        leaf,
        hub,
        _up,
    } = chain(|c| c);
    for (round, damage) in [(1, "flip"), (2, "cut")] {
        some_changes(&mut ch, round);
        hub.sync("changes");
        let j = hub.journal();
        let mut data = fs::read(&j).unwrap();
        if damage == "flip" {
            let at = data.len() / 2;
            data[at] ^= 0x20;
        } else {
            data.truncate(data.len() - 10);
        }
        fs::write(&j, &data).unwrap();
        let ctx = format!("seed {seed}, {damage}: {}", ch.log.join("; "));
        expect_full_sync(
            &hub,
            &leaf,
            "corrupt",
            "the upstream's journal is unusable",
            &ctx,
        );
    }
    // The hub's next sync publishes its whole journal again.
    expect_journal_again(&hub, &leaf, &mut ch, 3);
}

#[test]
fn a_hub_killed_mid_sync_restarts_its_journal_and_the_leaf_syncs_in_full() {
    let up = upstream();
    let hub = hub(&up, |c| c);
    let leaf = leaf_with_force("leaf.test.example", &hub, |c| c);
    hub.sync("first");
    leaf.sync("first");
    let before = read_string(&hub.journal());
    // v2 (the hub's rsync changes files before it reaches the big one) and a big file that
    // a slowed stage 1 is still receiving when the hub is killed.
    build_archive(
        &up.root,
        &ArchiveSpec {
            big_file: 3 << 20,
            ..ArchiveSpec::v2()
        },
    );
    hub.rewrite_conf(&up.url(), |c| {
        c.set("RSYNC_BW", "200").set("RSYNC_EXTRA", "--force")
    });
    let running = hub.m.spawn(&["sync:all"], &[]);
    let partial = hub.m.to.join("pool/main/b/bigpkg");
    wait_for(Duration::from_secs(30), "the big file arriving", || {
        fs::read_dir(&partial).is_ok_and(|mut d| d.next().is_some())
    });
    running.kill9_and_reap();
    assert!(hub.m.logdir().join("ftpsync.journal/dirty").exists());
    assert_eq!(read_string(&hub.journal()), before, "nothing was published");
    hub.rewrite_conf(&up.url(), |c| c.set("RSYNC_EXTRA", "--force"));
    let log = hub.sync("after the kill");
    assert!(
        log.contains("Journal: the tree's history is not known")
            && log.contains("Journal: starting afresh at state"),
        "{log}"
    );
    let log = leaf.sync("after the kill");
    assert!(
        log.contains("Full sync: the upstream's journal does not reach back"),
        "{log}"
    );
    assert_mirror_equal(&hub.m.to, &leaf.m.to, "after the kill");
}

#[test]
fn arch_exclude_on_the_leaf_ends_as_a_full_sync_would() {
    let seed = seed();
    let up = upstream();
    let hub = hub(&up, |c| c);
    let arch = |c: Conf| c.set("ARCH_EXCLUDE", "i386 source");
    let leaf = Node::new("leaf.test.example", &hub.url(), arch);
    // Full syncs every time: it needs --force (see `hub`).
    let reference = leaf_with_force("ref.test.example", &hub, |c| {
        arch(c).set("JOURNAL", "false")
    });
    let mut ch = changer(&up, seed);
    for round in 0..5 {
        if round > 0 {
            some_changes(&mut ch, round);
            // Something of the excluded architectures every time.
            let i386 = up
                .root
                .join(format!("pool/main/h/hello/new{round}_i386.deb"));
            ch.write(&i386);
            let dsc = up.root.join(format!("pool/main/h/hello/new{round}.dsc"));
            ch.write(&dsc);
            let amd64 = up
                .root
                .join(format!("pool/main/h/hello/new{round}_amd64.deb"));
            ch.write(&amd64);
        }
        hub.sync("hub");
        leaf.sync("leaf");
        reference.sync("reference");
        let ctx = format!("seed {seed}, round {round}: {}", ch.log.join("; "));
        assert_mirror_equal(&reference.m.to, &leaf.m.to, &ctx);
        assert!(!leaf.m.to.join("dists/sid/main/binary-i386").exists());
        if round > 0 {
            leaf.expect_journal(&ctx);
            assert!(leaf
                .m
                .to
                .join(format!("pool/main/h/hello/new{round}_amd64.deb"))
                .exists());
            assert!(!leaf
                .m
                .to
                .join(format!("pool/main/h/hello/new{round}_i386.deb"))
                .exists());
        }
    }
}

#[test]
fn config_changes_and_full_sync_intervals_fall_back_and_journal_false_turns_it_off() {
    // `_up` stays bound: the upstream's daemon lives as long as the test.
    let Chain {
        mut ch,
        leaf,
        hub,
        _up,
        ..
    } = chain(|c| c);
    type Case = (&'static str, fn(Conf) -> Conf, &'static str);
    let cases: [Case; 3] = [
        (
            "config",
            |c| c.set("EXCLUDE", "--exclude=/doc/"),
            "the rsync commands changed",
        ),
        (
            "due",
            |c| {
                c.set("EXCLUDE", "--exclude=/doc/")
                    .set("FULL_SYNC_INTERVAL", "0")
            },
            "a full sync is due",
        ),
        (
            "off",
            |c| c.set("EXCLUDE", "--exclude=/doc/").set("JOURNAL", "false"),
            "JOURNAL=false",
        ),
    ];
    for (round, (reason, conf, says)) in cases.into_iter().enumerate() {
        some_changes(&mut ch, round + 1);
        hub.sync(reason);
        leaf.rewrite_conf(&hub.url(), |c| conf(c.set("RSYNC_EXTRA", "--force")));
        let log = leaf.sync(reason);
        assert!(
            log.contains(&format!("Full sync: {says}")),
            "{reason}: {log}"
        );
        assert_eq!(leaf.last_run()["full_sync_reason"], reason);
        assert!(!leaf.m.to.join("doc").exists(), "{reason}");
    }
    // JOURNAL=false: no journal of ours in the tree (the hub's is mirrored as a file, as
    // by the original), none kept.
    assert_eq!(read_string(&leaf.journal()), read_string(&hub.journal()));
    assert!(!leaf.m.logdir().join("ftpsync.journal/own").exists());
}

/// The journal lists only what a full walk of each stage would reach; its filter evaluator
/// must agree with rsync's own, name for name, on the stage commands a run really uses.
#[test]
fn the_journal_filter_evaluator_agrees_with_rsync() {
    use archvsync::ftpsync::journal::filter::Rules;
    let seed = seed();
    let up = upstream();
    let mut ch = changer(&up, seed);
    for round in 0..6 {
        some_changes(&mut ch, round);
    }
    for arch in ["", "ARCH_EXCLUDE=i386 source", "ARCH_INCLUDE=amd64"] {
        let leaf = Node::new("leaf.test.example", &up.url(), |c| {
            match arch.split_once('=') {
                Some((k, v)) => c
                    .set(k, v)
                    .set("EXCLUDE", "--exclude=/doc/ --exclude=*.changes"),
                None => c,
            }
        });
        let log = leaf.sync(arch);
        for stage in ["stage1", "stage2"] {
            let line = log
                .lines()
                .find_map(|l| l.split_once(&format!("Running {stage}: ")).map(|x| x.1))
                .unwrap();
            let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
            let rules = Rules::from_words(&words).unwrap();
            let filters: Vec<&String> = words
                .iter()
                .filter(|w| {
                    w.starts_with("--filter=")
                        || w.starts_with("--include=")
                        || w.starts_with("--exclude=")
                })
                .collect();
            let empty = tempdir();
            let out = Command::new(rsync_bin())
                .args(["-rlnH", "--out-format=%n"])
                .args(&filters)
                .arg(format!("{}/", up.root.display()))
                .arg(empty.path())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let by_rsync: std::collections::BTreeSet<Vec<u8>> = out
                .stdout
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty() && *l != b"./")
                .map(|l| {
                    let l = archvsync::common::rsync::unescape_log_name(l);
                    l.strip_suffix(b"/").map(<[u8]>::to_vec).unwrap_or(l)
                })
                .collect();
            let mut cache = Default::default();
            let mut ours = std::collections::BTreeSet::new();
            let mut stack = vec![up.root.clone()];
            while let Some(d) = stack.pop() {
                for e in fs::read_dir(&d).unwrap().flatten() {
                    let p = e.path();
                    let rel = p
                        .strip_prefix(&up.root)
                        .unwrap()
                        .as_os_str()
                        .as_bytes()
                        .to_vec();
                    let is_dir = fs::symlink_metadata(&p).unwrap().is_dir();
                    if rules.reaches(&rel, is_dir, &mut cache) {
                        ours.insert(rel);
                        if is_dir {
                            stack.push(p);
                        }
                    }
                }
            }
            let show = |s: &std::collections::BTreeSet<Vec<u8>>| -> Vec<String> {
                s.iter()
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect()
            };
            assert!(
                ours == by_rsync,
                "seed {seed}, {arch:?} {stage}: reached by us only: {:?}\nby rsync only: {:?}",
                show(&ours.difference(&by_rsync).cloned().collect()),
                show(&by_rsync.difference(&ours).cloned().collect()),
            );
        }
    }
}

/// The top directory is compared in every journal stage: an upstream's
/// Archive-Update-in-Progress file arrives, and stage 2 (with its deletions) waits for the
/// upstream to finish, as in a full sync.
#[test]
fn an_upstream_mid_update_holds_a_journal_stage_2_back() {
    let up = upstream();
    let hub = hub(&up, |c| c);
    let leaf = leaf_with_force("leaf.test.example", &hub, |c| c);
    hub.sync("v1");
    leaf.sync("v1");
    build_archive(&up.root, &ArchiveSpec::v2());
    hub.sync("v2");
    let auip = hub.m.to.join("Archive-Update-in-Progress-hub.test.example");
    fs::write(&auip, "hub.test.example\n").unwrap();
    let before = leaf.m.log().len();
    let out = leaf.m.run(&["sync:all"]);
    assert_eq!(out.code, Some(4), "{}", leaf.m.diagnostics(&out));
    let log = &leaf.m.log()[before..];
    assert!(
        log.contains("Journal sync: ")
            && log.contains("Upstream archive update in progress, skipping stage2"),
        "{log}"
    );
    assert!(
        leaf.m.to.join("pool/main/z/zsh").exists(),
        "stage 2 deleted what v2 dropped"
    );
    fs::remove_file(&auip).unwrap();
    leaf.sync("the hub is done");
    leaf.expect_journal("the hub is done");
    assert_mirror_equal(&hub.m.to, &leaf.m.to, "the hub is done");
}

// ---------------------------------------------------------------------------------------
// an odd or hostile upstream journal
// ---------------------------------------------------------------------------------------

/// Rewrite the journal at `path` with `edit` applied to its lines (the `end` line left
/// out), sealed again with a correct `end` line: a well-formed journal saying what the test
/// wants it to say.
fn reseal(path: &Path, edit: impl FnOnce(&mut Vec<Vec<u8>>)) {
    let data = fs::read(path).unwrap();
    let mut lines: Vec<Vec<u8>> = data
        .strip_suffix(b"\n")
        .unwrap()
        .split(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    let end = String::from_utf8(lines.pop().unwrap()).unwrap();
    let w: Vec<&str> = end.split(' ').collect();
    edit(&mut lines);
    let mut body = Vec::new();
    for l in &lines {
        body.extend_from_slice(l);
        body.push(b'\n');
    }
    let sum: String = ring::digest::digest(&ring::digest::SHA256, &body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    body.extend_from_slice(format!("end {} {} {sum}\n", w[1], w[2]).as_bytes());
    let _ = fs::remove_file(path);
    fs::write(path, body).unwrap();
}

/// Add path lines (`K PATH`) to the last entry of the journal's `lines`.
fn add_to_last_entry(lines: &mut Vec<Vec<u8>>, extra: &[String]) {
    let at = lines
        .iter()
        .rposition(|l| l.starts_with(b"entry "))
        .unwrap();
    let header = String::from_utf8(lines[at].clone()).unwrap();
    let (head, n) = header.rsplit_once(' ').unwrap();
    let n: usize = n.parse().unwrap();
    lines[at] = format!("{head} {}", n + extra.len()).into_bytes();
    for (i, e) in extra.iter().enumerate() {
        lines.insert(at + 1 + i, e.clone().into_bytes());
    }
}

#[test]
fn an_upstream_journal_served_as_a_symlink_is_never_read_from_an_old_copy() {
    let mut c = chain(|c| c);
    c.round(1);
    // The same journal, served as a symlink: rsync's fetch (no -l) skips it, and the leaf's
    // copy from the first sync must not stand in for it.
    let elsewhere = c.hub.m.dir.join("journal-elsewhere");
    fs::rename(c.hub.journal(), &elsewhere).unwrap();
    symlink(&elsewhere, c.hub.journal()).unwrap();
    // Whether the fetch skips the link or brings it as a link, it is not read.
    c.expect_full_sync("none", "the upstream");
}

#[test]
fn a_last_full_sync_recorded_in_the_future_makes_one_due() {
    let mut c = chain(|c| c);
    let pos = c.leaf.m.logdir().join("ftpsync.journal/position.json");
    let mut p: serde_json::Value = serde_json::from_str(&read_string(&pos)).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // A clock that ran a month ahead during the last full sync, since put back.
    p["last_full"] = serde_json::json!(now + 30 * 86400);
    fs::write(&pos, serde_json::to_vec(&p).unwrap()).unwrap();
    c.round(1);
    c.expect_full_sync("due", "the last full sync is recorded");
    expect_journal_again(&c.hub, &c.leaf, &mut c.ch, 2);
}

#[test]
fn names_from_the_upstreams_journal_reach_the_log_escaped() {
    let mut c = chain(|c| c);
    c.round(1);
    reseal(&c.hub.journal(), |lines| {
        lines[1] = b"mirror evil\x1b[2J\rname host\x07.example".to_vec();
    });
    let ctx = c.ctx();
    let log = c.leaf.sync(&ctx);
    assert!(
        !log.contains(['\x1b', '\r', '\x07']),
        "{ctx}: raw control characters in the log:\n{}",
        log.escape_debug()
    );
    assert!(log.contains("evil\\u{1b}[2J\\rname"), "{ctx}:\n{log}");
    assert_eq!(c.leaf.last_run()["full_sync_reason"], "copied", "{ctx}");
    assert_mirror_equal(&c.hub.m.to, &c.leaf.m.to, &ctx);
}

#[test]
fn an_upstream_journal_larger_than_our_bound_is_not_read() {
    let mut c = chain(|c| c);
    c.leaf.rewrite_conf(&c.hub.url(), |c| {
        c.set("RSYNC_EXTRA", "--force")
            .set("JOURNAL_MAX_BYTES", "4096")
    });
    c.round(1);
    // Well-formed, just long: names of nothing, deleted.
    reseal(&c.hub.journal(), |lines| {
        let pad: Vec<String> = (0..400).map(|i| format!("x pad/never-there-{i}")).collect();
        add_to_last_entry(lines, &pad);
    });
    assert!(fs::metadata(c.hub.journal()).unwrap().len() > 4096);
    c.expect_full_sync("large", "the upstream's journal (");
}

#[test]
fn a_journal_path_below_a_symlink_of_ours_falls_back_to_a_full_sync() {
    let mut c = chain(|c| c);
    let up_root = c.ch.root.clone();
    symlink("sid", up_root.join("dists/alias")).unwrap();
    c.round(1);
    c.leaf.sync("the alias");
    c.leaf.expect_journal("the alias");
    assert!(fs::symlink_metadata(c.leaf.m.to.join("dists/alias"))
        .unwrap()
        .file_type()
        .is_symlink());
    c.round(2);
    // A journal that names a file below the link: synced by the list, rsync would make
    // the link a directory and the run would call it a success.
    reseal(&c.hub.journal(), |lines| {
        add_to_last_entry(lines, &["f dists/alias/Release".to_string()]);
    });
    c.expect_full_sync(
        "symlink",
        "the journal names dists/alias/Release below dists/alias, a symlink here",
    );
    assert!(fs::symlink_metadata(c.leaf.m.to.join("dists/alias"))
        .unwrap()
        .file_type()
        .is_symlink());
}

/// The quick start's case: a plain upstream (no journal, no archvsync) reads as `none`,
/// quietly, also where the rsync is a hardened one: no failed fetch in the log.
#[test]
fn an_upstream_without_a_journal_reads_as_none_without_a_failed_fetch() {
    let up = upstream();
    let m = Node::new("plain.test.example", &up.url(), |c| c);
    let log = m.sync("first");
    assert!(
        log.contains("Full sync: the upstream publishes no journal"),
        "{log}"
    );
    assert!(!log.contains("failed"), "{log}");
    assert_eq!(m.last_run()["full_sync_reason"], "none");
    let log = m.sync("again");
    assert!(!log.contains("failed"), "{log}");
    assert_eq!(m.last_run()["full_sync_reason"], "none");
}
