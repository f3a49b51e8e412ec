//! The index-driven sync (README: "O(changed) from any Debian upstream") against a real
//! rsync daemon serving a generated Debian-format archive (tests/common/dinstall.rs) as a
//! stock upstream serves it: no journal. After every seeded dinstall round the leaf must
//! equal the upstream (`rsync -ani --delete -H` itemizes nothing outside project/trace/,
//! the top directory's time and the lock files), its sync must have been an index sync end
//! to end (both stages over the lists, checked), and a snapshot taken by HOOK2 must show
//! that stage 1 brought every pool file the new indices reference, changed no index and
//! deleted nothing. The faults (a dinstall mid-sync, a Release naming a missing index, a
//! corrupt index, no extrafiles, an Ubuntu-like archive, something not Debian-format) end
//! equal to what a full sync gives, with the reason logged and recorded.
//!
//! `INDEX_SEED=N` replays a seed, `INDEX_ROUNDS=K` sets the number of rounds (default 20).

mod common;
use common::dinstall::Archive;
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::UNIX_EPOCH;

/// The default options without `--chmod`, so that permission changes travel too.
const OPTIONS: &str =
    "-prltvHSB8192 --safe-links --timeout 120 --stats --no-human-readable --no-inc-recursive";

fn seed() -> u64 {
    std::env::var("INDEX_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                % 1_000_000
        })
}

fn rounds() -> usize {
    std::env::var("INDEX_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

/// One entry of a tree snapshot: type, size, mtime, link target.
type Snap = BTreeMap<String, (char, u64, String, String)>;

/// The snapshot script's output (`find -printf`) read back.
fn read_snap(path: &Path) -> Snap {
    read_string(path)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() == 5).then(|| {
                (
                    f[0].to_string(),
                    (
                        f[1].chars().next().unwrap_or('?'),
                        f[2].parse().unwrap_or(0),
                        f[3].to_string(),
                        f[4].to_string(),
                    ),
                )
            })
        })
        .collect()
}

fn snap_command(to: &Path, out: &Path) -> String {
    format!(
        "cd {} && find . -mindepth 1 -printf '%P\\t%y\\t%s\\t%T@\\t%l\\n' > {}",
        shq(&to.to_string_lossy()),
        shq(&out.to_string_lossy())
    )
}

fn snapshot_now(to: &Path, out: &Path) -> Snap {
    let st = Command::new("sh")
        .arg("-c")
        .arg(snap_command(to, out))
        .status()
        .unwrap();
    assert!(st.success());
    read_snap(out)
}

/// What stage 1 must leave alone: the files it excludes (DEFAULT_OPTIONS1: indices,
/// Release files, `installer-*/current`) and, ours, the suite alias links of `dists/`.
fn is_index(path: &str, kind: char) -> bool {
    // A directory's time changes with what stage 1 puts in it (`*.diff/`, `by-hash/`).
    if kind == 'd' {
        return false;
    }
    if !(path.starts_with("dists/") || path.starts_with("zzz-dists/")) || path.contains("/by-hash/")
    {
        return false;
    }
    let name = path.rsplit('/').next().unwrap_or("");
    let parent = path.rsplit('/').nth(1).unwrap_or("");
    ["Contents", "Packages", "Sources", "Release", "InRelease"]
        .iter()
        .any(|p| name.starts_with(p))
        || parent == "i18n"
        || parent == "dep11"
        || path.ends_with(".diff/Index")
        || (name == "current" && parent.starts_with("installer-"))
        || is_alias(path, kind)
}

fn is_alias(path: &str, kind: char) -> bool {
    kind == 'l' && path.starts_with("dists/") && path.matches('/').count() == 1
}

/// A leaf of `source`: archvsync, RSYNC refusing `--delete-missing-args` as hardened rsyncs
/// do, HOOK2 snapshotting the tree after stage 1.
struct Leaf {
    m: Mirror,
    stage1_snap: PathBuf,
}

impl Leaf {
    fn new(name: &str, source: &str, extra: &[(&str, &str)]) -> Leaf {
        let mut m = Mirror::new();
        m.name = name.to_string();
        fs::create_dir_all(&m.to).unwrap();
        let stage1_snap = m.dir.join("after-stage1.snap");
        let hook = m.dir.join("hook2.sh");
        write_script(&hook, &snap_command(&m.to, &stage1_snap));
        let mut conf = m
            .conf(source)
            .set("RSYNC", hardened_rsync(&m).to_string_lossy())
            .set("RSYNC_OPTIONS", OPTIONS)
            .set("TRACEHOST", format!("host.{name}"))
            .set("HOOK2", hook.to_string_lossy());
        for (k, v) in extra {
            conf = conf.set(k, *v);
        }
        m.write_conf(&conf);
        Leaf { m, stage1_snap }
    }
    fn sync(&self, ctx: &str) -> String {
        let before = self.m.log().len();
        let out = self.m.run(&["sync:all"]);
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
    /// Whether the last run was an index sync with both stages over the lists to the end.
    fn fell_back(&self) -> bool {
        let r = self.last_run();
        r["sync_kind"] != "index" || r["journal_stages"] != serde_json::json!(["stage1", "stage2"])
    }
}

struct Upstream {
    _dir: tempfile::TempDir,
    archive: Archive,
    daemon: RsyncDaemon,
}

impl Upstream {
    fn new(pool_files: usize, seed: u64, ubuntu: bool) -> Upstream {
        let dir = tempdir();
        let top = dir.path().join("archive");
        let archive = if ubuntu {
            Archive::init_ubuntu_like(&top, pool_files, seed).unwrap()
        } else {
            Archive::init(&top, pool_files, seed).unwrap()
        };
        let daemon = RsyncDaemon::start(&[("debian", &top)]);
        Upstream {
            _dir: dir,
            archive,
            daemon,
        }
    }
    fn top(&self) -> &Path {
        &self.archive.dir
    }
    fn url(&self) -> String {
        self.daemon.url("debian")
    }
}

/// The checks of one round on `leaf` after its sync: equal to the upstream, stage 1 as
/// the issue asks (every referenced pool file there, no index changed, nothing deleted).
fn check_round(up: &Upstream, leaf: &Leaf, before: &Snap, ctx: &str) {
    assert_mirror_equal(up.top(), &leaf.m.to, ctx);
    let after1 = read_snap(&leaf.stage1_snap);
    let mut missing = Vec::new();
    for (path, size) in up.archive.referenced_files().unwrap() {
        if !path.starts_with("pool/") {
            continue;
        }
        match after1.get(&path) {
            Some(&(_, s, _, _)) if s == size => {}
            other => missing.push(format!("{path} ({other:?}, want {size} bytes)")),
        }
    }
    assert!(
        missing.is_empty(),
        "{ctx}: after stage 1, pool files the new indices reference are not on the leaf:\n{}",
        missing.join("\n")
    );
    let mut changed = Vec::new();
    for (path, e) in before {
        if is_index(path, e.0) && after1.get(path) != Some(e) {
            changed.push(format!("{path}: {e:?} -> {:?}", after1.get(path)));
        }
    }
    for (path, e) in &after1 {
        if is_index(path, e.0) && !before.contains_key(path) && e.0 != 'd' {
            changed.push(format!("{path}: new in stage 1"));
        }
    }
    assert!(
        changed.is_empty(),
        "{ctx}: stage 1 changed indices:\n{}",
        changed.join("\n")
    );
    let deleted: Vec<&String> = before
        .keys()
        .filter(|p| {
            !after1.contains_key(*p) && !p.starts_with("project/trace/") && !is_index(p, 'f')
        })
        .collect();
    assert!(
        deleted.is_empty(),
        "{ctx}: stage 1 deleted {deleted:?} (deletions belong to stage 2)"
    );
}

/// The log's lines that say what the sync decided (not the long rsync command lines).
fn decisions(log: &str) -> String {
    log.lines()
        .filter(|l| !l.contains("Running stage"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `rounds` dinstall rounds against `leaf`; the number of rounds that fell back.
fn run_rounds(up: &mut Upstream, leaf: &Leaf, rounds: usize, seed: u64, label: &str) -> usize {
    let mut fallbacks = 0;
    for round in 1..=rounds {
        let summary = up.archive.dinstall().unwrap();
        let ctx = format!(
            "{label} seed {seed} round {round} ({} new, {} deleted pool files, {:?})",
            summary.new_pool_files.len(),
            summary.deleted_pool_files.len(),
            summary.events
        );
        let before = snapshot_now(&leaf.m.to, &leaf.m.dir.join("before.snap"));
        let log = leaf.sync(&ctx);
        check_round(up, leaf, &before, &ctx);
        if leaf.fell_back() {
            fallbacks += 1;
            eprintln!("{ctx}: fell back: {}\n{}", leaf.last_run(), decisions(&log));
        } else {
            // Stage 1 brought the changed indices' by-hash copies: no fetch of their own.
            assert!(
                log.contains("(0 fetched apart)"),
                "{ctx}: the indices were fetched apart:\n{}",
                decisions(&log)
            );
            assert!(
                log.contains("Index stage1: rsync over the")
                    && log.contains("Index stage2: rsync over the"),
                "{ctx}: no index stage in the log:\n{}",
                tail(&log, 3000)
            );
        }
    }
    fallbacks
}

#[test]
fn dinstall_rounds_sync_by_the_index_and_equal_the_upstream() {
    let seed = seed();
    let rounds = rounds();
    eprintln!("index_sync: seed {seed}, {rounds} rounds (INDEX_SEED={seed} replays)");
    let mut up = Upstream::new(1500, seed, false);
    let leaf = Leaf::new("leaf", &up.url(), &[]);
    leaf.sync("first sync");
    assert_eq!(leaf.last_run()["sync_kind"], "full");
    assert_eq!(leaf.last_run()["index_sync_reason"], "first");
    assert_mirror_equal(up.top(), &leaf.m.to, "first sync");
    // A leaf below the index-synced one rides on the journal it publishes.
    let served = RsyncDaemon::start(&[("debian", &leaf.m.to)]);
    let below = Leaf::new("below", &served.url("debian"), &[]);
    below.sync("below, first sync");
    let mut below_fallbacks = 0;
    let mut fallbacks = 0;
    for round in 1..=rounds {
        fallbacks += run_rounds(&mut up, &leaf, 1, seed, &format!("round {round}"));
        let ctx = format!("seed {seed} round {round}, the leaf below");
        below.sync(&ctx);
        assert_mirror_equal(&leaf.m.to, &below.m.to, &ctx);
        if below.last_run()["sync_kind"] != "journal" {
            below_fallbacks += 1;
            eprintln!("{ctx}: not a journal sync: {}", below.last_run());
        }
    }
    eprintln!(
        "index_sync: {fallbacks} of {rounds} index syncs fell back to a full sync; {below_fallbacks} of {rounds} journal syncs below fell back"
    );
    assert_eq!(fallbacks, 0, "seed {seed}: index syncs fell back");
    assert_eq!(
        below_fallbacks, 0,
        "seed {seed}: the leaf below did not ride on the journal"
    );
}

#[test]
fn an_ubuntu_like_archive_syncs_by_its_listing() {
    let seed = seed();
    let mut up = Upstream::new(800, seed, true);
    let leaf = Leaf::new("ubuntu", &up.url(), &[]);
    leaf.sync("first sync");
    let fallbacks = run_rounds(&mut up, &leaf, 4, seed, "ubuntu-like");
    eprintln!("index_sync (ubuntu-like): {fallbacks} of 4 index syncs fell back");
    assert_eq!(fallbacks, 0, "seed {seed}");
    assert!(
        leaf.m.log().contains("the upstream has no extrafiles"),
        "the missing extrafiles must be said"
    );
}

/// A fault in round 2; the leaf must end equal to the upstream, with `reason` recorded.
fn fault(name: &str, inject: impl Fn(&Archive) -> String, reasons: &[&str]) {
    let seed = seed();
    let mut up = Upstream::new(800, seed, false);
    let leaf = Leaf::new(name, &up.url(), &[]);
    leaf.sync("first sync");
    assert_eq!(run_rounds(&mut up, &leaf, 1, seed, name), 0, "seed {seed}");
    up.archive.dinstall().unwrap();
    let what = inject(&up.archive);
    let ctx = format!("{name} (seed {seed}, {what})");
    let log = leaf.sync(&ctx);
    assert_mirror_equal(up.top(), &leaf.m.to, &ctx);
    let r = leaf.last_run();
    assert_eq!(r["sync_kind"], "full", "{ctx}: {r}\n{}", tail(&log, 3000));
    let reason = r["index_sync_reason"].as_str().unwrap_or("");
    assert!(
        reasons.contains(&reason),
        "{ctx}: reason {reason:?}, want one of {reasons:?}\n{}",
        tail(&log, 3000)
    );
    assert!(
        log.contains("Full sync:") || log.contains("Index check after"),
        "{ctx}: {log}"
    );
    // The next round ends equal too. (It may fall back again: dak's tree stays
    // inconsistent until the broken index is rewritten, and refusing it is right.)
    let again = run_rounds(&mut up, &leaf, 1, seed, name);
    eprintln!("{ctx}: the round after fell back {again} times");
}

#[test]
fn a_release_naming_a_missing_index_is_not_published_as_an_index_sync() {
    fault(
        "missing",
        |a| a.remove_referenced_index("sid").unwrap(),
        &["unverified", "inconsistent"],
    );
}

#[test]
fn a_corrupt_index_falls_back_to_a_full_sync() {
    // Caught when the plan reads it (it reads the .gz of an index listed in both forms),
    // else by the size check after stage 2.
    fault(
        "corrupt",
        |a| a.corrupt_index("sid").unwrap(),
        &["inconsistent", "corrupt", "unverified"],
    );
}

#[test]
fn an_upstream_without_extrafiles_still_syncs_equal() {
    let seed = seed();
    let mut up = Upstream::new(800, seed, false);
    let leaf = Leaf::new("noextra", &up.url(), &[]);
    leaf.sync("first sync");
    up.archive.dinstall().unwrap();
    up.archive.remove_extrafiles().unwrap();
    let log = leaf.sync("no extrafiles");
    assert_mirror_equal(up.top(), &leaf.m.to, &format!("seed {seed}"));
    assert!(log.contains("the upstream has no extrafiles"), "{log}");
}

#[test]
fn a_dinstall_mid_sync_is_caught_before_publishing() {
    let seed = seed();
    let mut up = Upstream::new(800, seed, false);
    let leaf = Leaf::new("midsync", &up.url(), &[]);
    leaf.sync("first sync");
    up.archive.dinstall().unwrap();
    let (hook, started, release) = waiting_hook(&leaf.m.dir);
    let conf = leaf
        .m
        .conf(&up.url())
        .set("RSYNC", hardened_rsync(&leaf.m).to_string_lossy())
        .set("RSYNC_OPTIONS", OPTIONS)
        .set("TRACEHOST", "host.midsync")
        .set("HOOK2", hook.to_string_lossy());
    leaf.m.write_conf(&conf);
    let mut running = leaf.m.spawn(&["sync:all"], &[]);
    assert!(
        running.reaches(&started, "HOOK2"),
        "the run never reached HOOK2"
    );
    let s = up.archive.dinstall().unwrap();
    fs::write(&release, "").unwrap();
    let out = running.wait(std::time::Duration::from_secs(120));
    let ctx = format!(
        "seed {seed}, a dinstall ({:?}) between stage 1 and 2",
        s.events
    );
    assert_eq!(out.code, Some(0), "{ctx}\n{}", leaf.m.diagnostics(&out));
    assert_mirror_equal(up.top(), &leaf.m.to, &ctx);
    let r = leaf.last_run();
    assert_eq!(r["sync_kind"], "full", "{ctx}: {r}");
    assert_eq!(r["index_sync_reason"], "unverified", "{ctx}: {r}");
    assert!(
        leaf.m
            .log()
            .contains("the upstream changed during the sync"),
        "{ctx}: {}",
        tail(&leaf.m.log(), 3000)
    );
}

#[test]
fn what_is_not_debian_format_or_switched_off_is_synced_in_full_and_says_why() {
    // The harness's small archive: its ls-lR.gz is not gzip, its Release files no Release.
    let up = common::Upstream::v1();
    let leaf = Leaf::new("plain", &up.url(), &[]);
    leaf.sync("first");
    leaf.sync("second");
    let r = leaf.last_run();
    assert_eq!(r["sync_kind"], "full", "{r}");
    assert_eq!(r["index_sync_reason"], "corrupt", "{r}");
    assert_same_tree(&up.root, &leaf.m.to, &leaf.m.name);
    let off = Leaf::new("off", &up.url(), &[("INDEX_SYNC", "false")]);
    off.sync("first");
    off.sync("second");
    assert_eq!(off.last_run()["index_sync_reason"], "off");
    let status = off.m.run_cmd(
        off.m
            .command_prog(&off.m.link_bin("archvsync"), &["status"]),
    );
    let text = status.stdout.clone();
    assert!(text.contains("index: off"), "status must say why:\n{text}");
}

#[test]
fn arch_exclude_on_the_leaf_checks_only_what_it_keeps() {
    let seed = seed();
    let mut up = Upstream::new(1000, seed, false);
    let leaf = Leaf::new("noarm", &up.url(), &[("ARCH_EXCLUDE", "arm64")]);
    leaf.sync("first sync");
    let mut fallbacks = 0;
    for round in 1..=3 {
        up.archive.dinstall().unwrap();
        let ctx = format!("seed {seed} round {round}, ARCH_EXCLUDE=arm64");
        leaf.sync(&ctx);
        if leaf.fell_back() {
            fallbacks += 1;
            eprintln!("{ctx}: fell back: {}", leaf.last_run());
        }
        let arm: BTreeSet<String> = snapshot_now(&leaf.m.to, &leaf.m.dir.join("s.snap"))
            .into_keys()
            // ARCH_EXCLUDE's index rules are anchored at /dists/ (as the original's), so
            // zzz-dists/*/binary-arm64 still comes; its pool files do not.
            .filter(|p| p.starts_with("pool/") && p.contains("_arm64."))
            .collect();
        assert!(arm.is_empty(), "{ctx}: {arm:?}");
    }
    assert_eq!(fallbacks, 0, "seed {seed}");
}

#[test]
fn a_stale_listing_is_not_trusted() {
    let seed = seed();
    let mut up = Upstream::new(800, seed, false);
    let leaf = Leaf::new("stale", &up.url(), &[]);
    leaf.sync("first sync");
    let listing = up.top().join("ls-lR.gz");
    let old = fs::read(&listing).unwrap();
    up.archive.dinstall().unwrap();
    // An upstream that stopped regenerating its ls-lR.gz (or copying it).
    fs::write(&listing, old).unwrap();
    let log = leaf.sync("stale listing");
    let ctx = format!("seed {seed}, a stale ls-lR.gz");
    assert_mirror_equal(up.top(), &leaf.m.to, &ctx);
    let r = leaf.last_run();
    assert_eq!(r["sync_kind"], "full", "{ctx}: {r}");
    assert_eq!(r["index_sync_reason"], "inconsistent", "{ctx}: {r}");
    // Caught by the Release file's size in the listing, or else by an index the stale
    // listing's links lead to, which does not match the new Release.
    assert!(
        log.contains("the listing is stale") || log.contains("does not match its Release entry"),
        "{ctx}: {}",
        decisions(&log)
    );
}
