//! Compliance with Debian's original scripts: the same scenario run by the original
//! `ftpsync` (unpacked from Debian's package by scripts/setup-deps) and by archvsync, against
//! the same real rsync daemon, must give the same tree, the same trace-file shape, the same
//! rsync words and the same exit codes.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The original, packaged flavour: configs in ~/.config/ftpsync, logs in ~/.local/log/ftpsync.
struct OriginalMirror {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    to: PathBuf,
}

impl OriginalMirror {
    fn new(conf: &Conf) -> OriginalMirror {
        let tmp = tempdir();
        let home = tmp.path().join("home");
        let to = tmp.path().join("mirror");
        std::fs::create_dir_all(home.join(".config/ftpsync")).unwrap();
        let conf = conf.clone().set("TO", to.to_string_lossy());
        std::fs::write(home.join(".config/ftpsync/ftpsync.conf"), conf.to_bash()).unwrap();
        OriginalMirror {
            _tmp: tmp,
            home,
            to,
        }
    }

    fn run(&self, args: &[&str]) -> (i32, String) {
        let out = Command::new(original("ftpsync"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("LOGNAME", "mirroradm")
            .current_dir(&self.home)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }

    fn log(&self) -> String {
        let d = self.home.join(".local/log/ftpsync");
        let rotated = d.join("ftpsync.log.0");
        read_string(&if rotated.exists() {
            rotated
        } else {
            d.join("ftpsync.log")
        })
    }
}

/// The stage-1 options of SPEC §4. Debian's packaged 20180513 predates Contents*, dep11/*,
/// installer-*/current and by-hash in its default; we follow the newer upstream default, so
/// the comparison sets it explicitly for both.
const SPEC_OPTIONS1: &str = "--include=*.diff/ --include=by-hash/ --exclude=*.diff/Index --exclude=Contents* --exclude=Packages* --exclude=Sources* --exclude=Release* --exclude=InRelease --exclude=i18n/* --exclude=dep11/* --exclude=installer-*/current --exclude=ls-lR*";

fn base_conf(m: &Mirror, url: &str) -> Conf {
    // The same keys for both; TO is set per mirror.
    m.conf(url)
        .set("RSYNC_OPTIONS1", SPEC_OPTIONS1)
        .set("LOGROTATE", "14")
        .set("INFO_COUNTRY", "DE")
        .set("INFO_MAINTAINER", "Ops <ops@example.org>")
}

/// The rsync words of one stage from a log, with each mirror's own paths made neutral and
/// sorted: the original puts the stage options after source and target, we before them.
fn stage_words(log: &str, stage: &str, to: &Path, logdir: &Path) -> Vec<String> {
    let line = log
        .lines()
        .rev()
        .find_map(|l| {
            l.split_once(&format!("Running {stage}: "))
                .map(|(_, w)| w.to_string())
        })
        .unwrap_or_else(|| panic!("no 'Running {stage}:' in\n{log}"));
    let to = to.to_string_lossy().trim_end_matches('/').to_string();
    let logdir = logdir.to_string_lossy().into_owned();
    let mut w: Vec<String> = line
        .split_whitespace()
        .map(|w| w.replace(&logdir, "LOGDIR").replace(&to, "TO"))
        .map(|w| w.trim_end_matches('/').to_string())
        .collect();
    w.sort();
    w
}

#[test]
fn same_tree_trace_shape_and_rsync_words_as_the_original() {
    let up = Upstream::v1();
    let ours = Mirror::new();
    let conf = base_conf(&ours, &up.url());
    ours.write_conf(&conf.clone().set("TO", ours.to.to_string_lossy()));
    let orig = OriginalMirror::new(&conf);

    let (code, out) = orig.run(&["sync:all"]);
    assert_eq!(code, 0, "original ftpsync failed: {out}\n{}", orig.log());
    let r = ours.run(&["sync:all"]);
    ours.expect_code(&r, 0);

    // The trees.
    let a = without_owned(&snapshot(&orig.to), MIRRORNAME);
    let b = without_owned(&snapshot(&ours.to), MIRRORNAME);
    assert!(a == b, "trees differ:\n{}", tree_diff(&a, &b));

    // The trace files: same keys in the same order, same values where they do not depend on
    // time, version or host.
    let ta = Trace::read(&orig.to.join("project/trace").join(MIRRORNAME));
    let tb = ours.trace();
    // `Average rate` depends on whether a run crossed a second boundary: compare without it.
    let keys = |t: &Trace| -> Vec<String> {
        t.keys()
            .into_iter()
            .filter(|k| *k != "Average rate")
            .map(str::to_string)
            .collect()
    };
    assert_eq!(keys(&ta), keys(&tb));
    for k in [
        "Archive serial",
        "Running on host",
        "Maintainer",
        "Country",
        "Architectures",
        "Architectures-Configuration",
        "Upstream-mirror",
        "Rsync-Transport",
    ] {
        assert_eq!(ta.get(k), tb.get(k), "trace field {k}");
    }
    // Both first lines are `date -u` dates.
    let first = |p: &Path| {
        read_string(p)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    parse_date_u(&first(&orig.to.join("project/trace").join(MIRRORNAME))).unwrap();
    parse_date_u(&first(&ours.trace_path())).unwrap();
    for f in ["_hierarchy", "_hierarchy.mirror", "_traces"] {
        assert_eq!(
            read_string(&orig.to.join("project/trace").join(f)),
            read_string(&ours.to.join("project/trace").join(f)),
            "{f}"
        );
    }

    // The rsync command lines, word for word (order of the stage options aside), but for
    // the change journal's three (README: Propagation in O(changed)) and, in stage 1, the
    // two that leave the suite alias links to stage 2 (README: O(changed) from any Debian
    // upstream), which JOURNAL=false takes away again.
    let orig_logdir = orig.home.join(".local/log/ftpsync");
    let journal_words = [
        "--filter=exclude_/project/trace/_archvsync-journal",
        "--filter=protect_/project/trace/_archvsync-journal",
        "--itemize-changes",
    ];
    let theirs: Vec<_> = ["stage1", "stage2"]
        .map(|stage| stage_words(&orig.log(), stage, &orig.to, &orig_logdir))
        .to_vec();
    for (stage, theirs) in ["stage1", "stage2"].iter().zip(&theirs) {
        let mut words = stage_words(&ours.log(), stage, &ours.to, &ours.logdir());
        let aliases: &[&str] = if *stage == "stage1" {
            // (stage_words drops trailing slashes)
            &["--include=/dists/*", "--exclude=/dists/*"]
        } else {
            &[]
        };
        for w in journal_words.iter().chain(aliases) {
            let at = words.iter().position(|x| x == w);
            assert!(at.is_some(), "{stage}: no {w} in {words:?}");
            words.remove(at.unwrap_or_default());
        }
        assert_eq!(theirs, &words, "{stage} words");
    }
    ours.write_conf(
        &conf
            .clone()
            .set("TO", ours.to.to_string_lossy())
            .set("JOURNAL", "false"),
    );
    ours.expect_code(&ours.run(&["sync:all"]), 0);
    for (stage, theirs) in ["stage1", "stage2"].iter().zip(&theirs) {
        assert_eq!(
            theirs,
            &stage_words(&ours.log(), stage, &ours.to, &ours.logdir()),
            "{stage} words with JOURNAL=false"
        );
    }
}

/// An archvsync hub with its journal, and a downstream running the original ftpsync,
/// unchanged: the downstream mirrors the journal as one more file and is otherwise the
/// same as the hub, update after update, and the hub's journal is what the hub wrote.
#[test]
fn an_original_downstream_of_a_journal_hub_syncs_as_ever() {
    let up = Upstream::v1();
    let hub = Mirror::new();
    hub.write_conf(&hub.conf(&up.url()).set("MIRRORNAME", "hub.test.example"));
    let hub_daemon = RsyncDaemon::start(&[("debian", &hub.to)]);
    let leaf_conf = base_conf(&hub, &hub_daemon.url("debian")).set("MIRRORNAME", MIRRORNAME);
    let orig = OriginalMirror::new(&leaf_conf);
    for spec in [ArchiveSpec::v1(), ArchiveSpec::v2()] {
        build_archive(&up.root, &spec);
        hub.expect_code(&hub.run(&["sync:all"]), 0);
        let (code, out) = orig.run(&["sync:all"]);
        assert_eq!(code, 0, "original ftpsync failed: {out}\n{}", orig.log());
        // The hub's own files differ (its trace, _hierarchy, ...); the rest is the same,
        // and the journal arrives as one more file.
        let hub_tree = without_owned(&snapshot(&hub.to), "hub.test.example");
        let mut leaf_tree = without_owned(&snapshot(&orig.to), MIRRORNAME);
        let hub_trace = "project/trace/hub.test.example";
        assert_eq!(
            leaf_tree.remove(hub_trace),
            Some(Node::File(std::fs::read(hub.to.join(hub_trace)).unwrap()))
        );
        let journal = "project/trace/_archvsync-journal";
        assert_eq!(
            std::fs::read(orig.to.join(journal)).ok(),
            Some(std::fs::read(hub.to.join(journal)).unwrap()),
            "the journal arrives as a file"
        );
        assert!(
            hub_tree == leaf_tree,
            "trees differ:\n{}",
            tree_diff(&hub_tree, &leaf_tree)
        );
        let t = Trace::read(&orig.to.join("project/trace").join(MIRRORNAME));
        assert_eq!(t.req("Archive serial"), spec.serial);
        // The original lists what it mirrors in _traces; the journal is not a trace.
        let traces = read_string(&orig.to.join("project/trace/_traces"));
        assert!(!traces.contains("_archvsync"), "{traces}");
    }
}

#[test]
fn same_arch_filters_as_the_original() {
    let up = Upstream::v1();
    let ours = Mirror::new();
    let conf = base_conf(&ours, &up.url()).set("ARCH_INCLUDE", "amd64 source");
    ours.write_conf(&conf.clone().set("TO", ours.to.to_string_lossy()));
    let orig = OriginalMirror::new(&conf);
    assert_eq!(orig.run(&[]).0, 0);
    ours.expect_code(&ours.run(&[]), 0);
    let a = without_owned(&snapshot(&orig.to), MIRRORNAME);
    let b = without_owned(&snapshot(&ours.to), MIRRORNAME);
    assert!(a == b, "trees differ:\n{}", tree_diff(&a, &b));
    let ta = Trace::read(&orig.to.join("project/trace").join(MIRRORNAME));
    assert_eq!(
        ta.get("Architectures-Configuration"),
        ours.trace().get("Architectures-Configuration")
    );
}

#[test]
fn same_exit_codes_as_the_original() {
    let up = Upstream::v1();
    let ours = Mirror::new();
    let conf = base_conf(&ours, &up.url());
    // No config for the archive: 78.
    let orig = OriginalMirror::new(&conf);
    ours.write_conf(&conf.clone().set("TO", ours.to.to_string_lossy()));
    assert_eq!(orig.run(&["sync:archive:nosuch"]).0, 78);
    assert_eq!(ours.run(&["sync:archive:nosuch"]).code, Some(78));
    // Both ARCH keys: 1.
    let both = conf
        .clone()
        .set("ARCH_INCLUDE", "amd64")
        .set("ARCH_EXCLUDE", "i386");
    let orig = OriginalMirror::new(&both);
    ours.write_conf(&both.clone().set("TO", ours.to.to_string_lossy()));
    assert_eq!(orig.run(&[]).0, 1);
    assert_eq!(ours.run(&[]).code, Some(1));
    // Unknown transport: 1.
    let bad = conf.clone().set("RSYNC_TRANSPORT", "pigeon");
    let orig = OriginalMirror::new(&bad);
    ours.write_conf(&bad.clone().set("TO", ours.to.to_string_lossy()));
    assert_eq!(orig.run(&[]).0, 1);
    assert_eq!(ours.run(&[]).code, Some(1));
    // Unreachable upstream: stage 1 fails, 3.
    let dead = conf.clone().set(
        "RSYNC_SOURCE",
        format!("rsync://127.0.0.1:{}/debian/", free_port()),
    );
    let orig = OriginalMirror::new(&dead);
    ours.write_conf(&dead.clone().set("TO", ours.to.to_string_lossy()));
    assert_eq!(orig.run(&[]).0, 3);
    assert_eq!(ours.run(&[]).code, Some(3));
}

/// archvsync hub → original ftpsync → archvsync leaf: the original mirrors the hub's journal
/// as a file, which describes the hub's tree, not its own; the leaf must not go by it.
#[test]
fn a_journal_copied_by_an_original_mirror_is_not_trusted() {
    let up = Upstream::v1();
    let hub = Mirror::new();
    hub.write_conf(&hub.conf(&up.url()).set("MIRRORNAME", "hub.test.example"));
    let hub_daemon = RsyncDaemon::start(&[("debian", &hub.to)]);
    let mid = OriginalMirror::new(
        &base_conf(&hub, &hub_daemon.url("debian")).set("MIRRORNAME", "mid.test.example"),
    );
    let mid_daemon = RsyncDaemon::start(&[("debian", &mid.to)]);
    let leaf = Mirror::new();
    leaf.write_conf(&leaf.conf(&mid_daemon.url("debian")));
    for spec in [ArchiveSpec::v1(), ArchiveSpec::v2()] {
        build_archive(&up.root, &spec);
        hub.expect_code(&hub.run(&["sync:all"]), 0);
        assert_eq!(mid.run(&["sync:all"]).0, 0);
        assert!(mid.to.join("project/trace/_archvsync-journal").is_file());
        let before = leaf.log().len();
        leaf.expect_code(&leaf.run(&["sync:all"]), 0);
        let log = leaf.log()[before..].to_string();
        assert!(
            log.contains("Full sync: the upstream's journal was written by hub.test.example")
                && log.contains("but the upstream is mid.test.example"),
            "{log}"
        );
        let a = without_owned(&snapshot(&mid.to), "mid.test.example");
        let b = without_owned(&snapshot(&leaf.to), MIRRORNAME);
        let b: Tree = b
            .into_iter()
            .filter(|(k, _)| k != "project/trace/mid.test.example")
            .collect();
        let a: Tree = a
            .into_iter()
            .filter(|(k, _)| k != "project/trace/mid.test.example")
            .collect();
        assert!(a == b, "trees differ:\n{}", tree_diff(&a, &b));
    }
}
