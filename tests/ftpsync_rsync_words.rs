//! The rsync command lines of both stages against a real rsync daemon: the words in SPEC §4's
//! order, the architecture filters (checked against an independently computed set), EXCLUDE,
//! custom RSYNC_OPTIONS*, and the protocol-dependent defaults.

mod common;
use common::*;

/// Sync with the given ARCH_* settings and compare with the independently computed set.
fn arch_case(key: &str, value: &str, cfg: ArchConfig, conf_words: &[&str], archs: &[&str]) {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()).set(key, value));
    let out = m.run(&["sync:all"]);
    m.expect_code(&out, 0);
    let expected = expected_subset(&up.tree(), &arch_rules(&cfg), &m.name);
    let got = without_owned(&non_dirs(&snapshot(&m.to)), &m.name);
    let d = tree_diff(&expected, &got);
    assert!(d.is_empty(), "{key}={value}:\n{d}\n{}", m.log());
    let t = m.trace();
    assert_eq!(
        t.words("Architectures-Configuration"),
        conf_words,
        "{}",
        t.raw
    );
    assert_eq!(t.words("Architectures"), archs, "{}", t.raw);
    // the filters are on the rsync command lines
    let log = m.log();
    let st2 = log
        .lines()
        .find(|l| l.contains("Running stage2: "))
        .unwrap();
    assert!(st2.contains("--filter="), "{st2}");
}

#[test]
fn arch_include_amd64() {
    arch_case(
        "ARCH_INCLUDE",
        "amd64",
        ArchConfig::Include(vec!["amd64"]),
        &["INCLUDE", "amd64"],
        &["all", "amd64"],
    );
}

#[test]
fn arch_exclude_i386_and_source() {
    arch_case(
        "ARCH_EXCLUDE",
        "i386 source",
        ArchConfig::Exclude(vec!["i386", "source"]),
        &["EXCLUDE", "i386", "source"],
        &["all", "amd64", "arm64"],
    );
}

#[test]
fn arch_include_source_only() {
    arch_case(
        "ARCH_INCLUDE",
        "source",
        ArchConfig::Include(vec!["source"]),
        &["INCLUDE", "source"],
        &["source"],
    );
}

#[test]
fn arch_include_and_exclude_together_is_refused() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(
        &m.conf(&up.url())
            .set("ARCH_INCLUDE", "amd64")
            .set("ARCH_EXCLUDE", "i386"),
    );
    let out = m.run(&["sync:all"]);
    m.expect_code(&out, 1);
    assert!(
        !m.to.join("pool").exists() && !m.to.join("dists").exists(),
        "something was synced"
    );
    assert!(!m.lock_path().exists());
}

#[test]
fn extra_exclude_words_are_passed_to_rsync() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(
        &m.conf(&up.url())
            .set("EXCLUDE", "--exclude=doc/ --exclude=*.changes"),
    );
    m.expect_code(&m.run(&[]), 0);
    let got = without_owned(&non_dirs(&snapshot(&m.to)), &m.name);
    let expected = expected_subset(&up.tree(), &[exc("doc/"), exc("*.changes")], &m.name);
    let d = tree_diff(&expected, &got);
    assert!(d.is_empty(), "{d}");
}

/// The words of the "Running stageN: " log line.
fn stage_words(log: &str, stage: u32) -> Vec<String> {
    let tag = format!("Running stage{stage}: ");
    let line = log
        .lines()
        .find(|l| l.contains(&tag))
        .unwrap_or_else(|| panic!("no {tag:?} line:\n{log}"));
    let cmd = &line[line.find(&tag).unwrap() + tag.len()..];
    cmd.split(' ').map(|s| s.to_string()).collect()
}

const DEFAULT_RSYNC_OPTIONS: &str = "-prltvHSB8192 --safe-links --chmod=D755,F644 --timeout 120 \
     --stats --no-human-readable --no-inc-recursive";
const DEFAULT_RSYNC_OPTIONS1: &str = "--include=*.diff/ --include=by-hash/ --exclude=*.diff/Index \
     --exclude=Contents* --exclude=Packages* --exclude=Sources* --exclude=Release* \
     --exclude=InRelease --exclude=i18n/* --exclude=dep11/* --exclude=installer-*/current \
     --exclude=ls-lR*";
const DEFAULT_RSYNC_OPTIONS2: &str =
    "--max-delete=40000 --delay-updates --delete --delete-delay --delete-excluded";

#[test]
fn rsync_command_line_follows_spec_order() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(
        &m.conf(&up.url())
            .set("RSYNC_EXTRA", "--ipv4")
            .set("RSYNC_BW", "100000")
            .set("EXCLUDE", "--exclude=doc/")
            .set("ARCH_INCLUDE", "amd64"),
    );
    let out = m.run(&[]);
    m.expect_code(&out, 0);
    let n = &m.name;
    let mut exp: Vec<String> = vec![
        "rsync".into(),
        "--quiet".into(),
        "--log-file".into(),
        m.logdir()
            .join("rsync-ftpsync.log")
            .to_string_lossy()
            .into(),
    ];
    for x in [
        format!("Archive-Update-in-Progress-{n}"),
        format!("Archive-Update-Required-{n}"),
        format!("project/trace/{n}"),
        format!("project/trace/{n}-stage1"),
        "project/trace/_hierarchy".to_string(),
        "project/trace/_traces".to_string(),
        // The change journal's (JOURNAL=true, the default).
        "project/trace/_archvsync-journal".to_string(),
    ] {
        exp.push(format!("--filter=exclude_/{x}"));
        exp.push(format!("--filter=protect_/{x}"));
    }
    for w in [
        "--filter=include_/project/",
        "--filter=protect_/project/",
        "--filter=include_/project/trace/",
        "--filter=protect_/project/trace/",
        "--filter=include_/project/trace/*",
        "--ipv4",
        "--bwlimit=100000",
    ] {
        exp.push(w.into());
    }
    exp.extend(DEFAULT_RSYNC_OPTIONS.split(' ').map(String::from));
    exp.push("--exclude=doc/".into());
    exp.push("--exclude=.~tmp~/".into());
    for r in arch_rules(&ArchConfig::Include(vec!["amd64"])) {
        exp.push(format!(
            "--filter={}_{}",
            if r.include { "include" } else { "exclude" },
            r.pattern
        ));
    }
    let log = m.log();
    for (stage, opts) in [(1, DEFAULT_RSYNC_OPTIONS1), (2, DEFAULT_RSYNC_OPTIONS2)] {
        let mut e = exp.clone();
        e.extend(opts.split(' ').map(String::from));
        // With the change journal, stage 1 leaves the suite alias links to stage 2...
        if stage == 1 {
            e.push("--include=/dists/*/".into());
            e.push("--exclude=/dists/*".into());
        }
        // ...and rsync itemizes (under --quiet: into LOG_RSYNC only).
        e.push("--itemize-changes".into());
        e.push(up.url());
        let got = stage_words(&log, stage);
        let (last, head) = got.split_last().unwrap();
        let to = m.to.to_string_lossy().to_string();
        assert!(
            *last == to || *last == format!("{to}/"),
            "stage{stage}: last word {last:?} is not TO"
        );
        assert_eq!(head, &e[..], "stage{stage} command line");
    }
}

#[test]
fn old_rsync_protocol_drops_chmod() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let w = m.dir.join("old-rsync");
    write_script(
        &w,
        &format!(
            r#"case "$*" in
  *--version*) echo "rsync  version 3.0.9  protocol version 30"; exit 0 ;;
esac
exec {} "$@""#,
            shq(rsync_bin())
        ),
    );
    m.write_conf(&m.conf(&up.url()).set("RSYNC", w.to_string_lossy()));
    let out = m.run(&[]);
    m.expect_code(&out, 0);
    let log = m.log();
    for stage in [1, 2] {
        let words = stage_words(&log, stage);
        assert!(
            !words.iter().any(|x| x.starts_with("--chmod")),
            "stage{stage} uses --chmod with protocol 30: {words:?}"
        );
        assert!(words.contains(&"--safe-links".to_string()), "{words:?}");
    }
    assert_same_tree(&up.root, &m.to, &m.name);
}

#[test]
fn custom_rsync_options_are_used_verbatim() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(
        &m.conf(&up.url())
            .set("RSYNC_OPTIONS", "-rltv --timeout 60")
            .set("RSYNC_OPTIONS1", "--exclude=Packages* --exclude=Release*")
            .set("RSYNC_OPTIONS2", "--delete --delay-updates"),
    );
    let out = m.run(&[]);
    m.expect_code(&out, 0);
    let log = m.log();
    let s1 = stage_words(&log, 1).join(" ");
    let s2 = stage_words(&log, 2).join(" ");
    let tail1 = format!(
        "--bwlimit=0 -rltv --timeout 60 --exclude=.~tmp~/ --exclude=Packages* --exclude=Release* --include=/dists/*/ --exclude=/dists/* --itemize-changes {}",
        up.url()
    );
    let tail2 = format!(
        "--bwlimit=0 -rltv --timeout 60 --exclude=.~tmp~/ --delete --delay-updates --itemize-changes {}",
        up.url()
    );
    assert!(s1.contains(&tail1), "stage1: {s1}");
    assert!(s2.contains(&tail2), "stage2: {s2}");
    assert!(
        !s1.contains("--chmod") && !s1.contains("--safe-links"),
        "{s1}"
    );
    // stage 1 got pool and Sources (not excluded by the custom RSYNC_OPTIONS1)
    assert_same_tree(&up.root, &m.to, &m.name);
}
