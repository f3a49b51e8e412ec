//! ftpsync against a real rsync daemon: full syncs, the trace file (SPEC §5), the two
//! stages run separately, updates and triggers. The stages' rsync words and the
//! architecture filters (SPEC §4) are in ftpsync_rsync_words.rs.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::fs;

/// Check the `Mon DD HH:MM:SS shorthost PROGRAM[pid]: message` format of the log line
/// carrying `message`, and that its pid is `pid`.
fn assert_log_line_format(log: &str, message: &str, pid: u32) {
    let line = log
        .lines()
        .find(|l| l.ends_with(&format!(": {message}")))
        .unwrap_or_else(|| panic!("no log line ending in {message:?}:\n{log}"));
    let stamp = head(line, 15);
    let rest = &line[stamp.len()..];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    assert!(
        months.contains(&head(stamp, 3)),
        "log line {line:?}: no month"
    );
    let b = stamp.as_bytes();
    assert!(
        b.len() == 15
            && b[3] == b' '
            && (b[4] == b' ' || b[4].is_ascii_digit())
            && b[5].is_ascii_digit()
            && b[6] == b' '
            && b[9] == b':'
            && b[12] == b':',
        "log line {line:?}: timestamp not `Mon DD HH:MM:SS`"
    );
    let expected = format!(" {} ftpsync[{pid}]: {message}", short_hostname());
    assert_eq!(rest, expected, "log line {line:?}");
}

fn total_file_bytes(t: &Tree) -> u64 {
    t.values()
        .map(|n| match n {
            Node::File(b) => b.len() as u64,
            _ => 0,
        })
        .sum()
}

#[test]
fn full_sync_mirrors_upstream_and_writes_trace() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    let before = now_epoch();
    // a non-UTC local zone must not leak into the trace
    let out = m.run_env(&[], &[("TZ", "Asia/Tokyo")]);
    let after = now_epoch();
    m.expect_code(&out, 0);
    assert_same_tree(&up.root, &m.to, &m.name);

    let t = m.trace();
    // first line: `date -u` in the POSIX locale
    let first = parse_date_u(&t.first_line).unwrap_or_else(|e| panic!("{e}\n{}", t.raw));
    assert!(
        before - 2 <= first && first <= after + 2,
        "first trace line {:?} is not the time of the run",
        t.first_line
    );
    let date = parse_rfc2822_utc(t.req("Date")).unwrap_or_else(|e| panic!("Date: {e}"));
    assert!(
        (date - first).abs() <= 2,
        "Date: and first line disagree:\n{}",
        t.raw
    );
    let started =
        parse_rfc2822_utc(t.req("Date-Started")).unwrap_or_else(|e| panic!("Date-Started: {e}"));
    assert!(
        before - 2 <= started && started <= date,
        "Date-Started not within the run:\n{}",
        t.raw
    );
    assert_eq!(t.req("Archive serial"), SERIAL_V1);
    assert!(!t.req("Used ftpsync version").trim().is_empty());
    assert!(!t.req("Creator").trim().is_empty());
    assert_eq!(t.req("Running on host"), TRACEHOST);
    for k in ["Maintainer", "Sponsor", "Country", "Location", "Throughput"] {
        assert!(t.get(k).is_none(), "{k} present although unset:\n{}", t.raw);
    }
    assert_eq!(t.words("Architectures"), up.spec.all_arch_words());
    assert_eq!(t.words("Architectures-Configuration"), ["ALL"]);
    assert_eq!(t.req("Upstream-mirror"), "127.0.0.1");
    assert_eq!(t.req("Rsync-Transport"), "undefined");
    let bytes = t.num("Total bytes received in rsync");
    let payload = total_file_bytes(&without_owned(&up.tree(), &m.name));
    assert!(
        bytes >= payload,
        "Total bytes received ({bytes}) < size of the files transferred ({payload}): \
         not summed over both stages?\n{}",
        t.raw
    );
    let s1 = t.num("Total time spent in stage1 rsync");
    let s2 = t.num("Total time spent in stage2 rsync");
    let total = t.num("Total time spent in rsync");
    assert_eq!(total, s1 + s2, "{}", t.raw);
    assert!(total as i64 <= after - before + 1);
    match t.get("Average rate") {
        None => assert_eq!(total, 0, "Average rate missing with time {total}"),
        Some(r) => {
            assert_ne!(total, 0, "Average rate present with zero time:\n{}", t.raw);
            let n: u64 = r
                .strip_suffix(" B/s")
                .and_then(|x| x.parse().ok())
                .unwrap_or_else(|| panic!("Average rate {r:?} not `N B/s`"));
            assert!(
                n.abs_diff(bytes / total) <= 1,
                "rate {n} != {bytes}/{total}"
            );
        }
    }
    assert_trace_key_order(&t);

    // _hierarchy / _hierarchy.mirror
    let tr = m.to.join("project/trace");
    let hier = read_string(&tr.join("_hierarchy"));
    let n = &m.name;
    assert_eq!(
        hier,
        format!("{UPSTREAM_HIERARCHY_LINE}\n{n} {n} {TRACEHOST} 127.0.0.1\n"),
        "_hierarchy"
    );
    assert_eq!(read_string(&tr.join("_hierarchy.mirror")), hier);
    // _traces: trace files not starting with `_`, oldest first
    let traces = read_string(&tr.join("_traces"));
    let names: Vec<&str> = traces.lines().map(|l| l.trim()).collect();
    assert_eq!(
        names.iter().copied().collect::<BTreeSet<_>>(),
        ["master", UPSTREAM_TRACE, n.as_str()].into_iter().collect(),
        "_traces:\n{traces}"
    );
    assert_eq!(
        names,
        ["master", UPSTREAM_TRACE, n.as_str()],
        "_traces order"
    );
    assert!(!m.stage1_trace_path().exists(), "-stage1 trace after `all`");
    assert!(!m.lock_path().exists(), "lock left behind");
    assert!(
        !m.update_required_path().exists(),
        "Update-Required left behind"
    );
    assert!(!tr.join(format!("{n}.new")).exists());

    let log = m.log();
    assert_log_line_format(&log, "Mirrorsync start", out.pid);
    assert_eq!(count_lines(&log, "Running stage1: "), 1, "{log}");
    assert_eq!(count_lines(&log, "Running stage2: "), 1, "{log}");
    assert!(log.contains("Mirrorsync done"), "{log}");
    assert!(!log.contains("Mirrorsync done with errors"), "{log}");
    assert!(
        count_lines(&log, "Back from rsync with returncode 0") >= 2,
        "{log}"
    );
    // the stage lines carry the rsync command (SPEC §4 order: filters, then options, source, TO)
    let st1 = log
        .lines()
        .find(|l| l.contains("Running stage1: "))
        .unwrap();
    assert!(st1.contains("--exclude=Packages*"), "{st1}");
    assert!(!st1.contains("--delete"), "stage 1 must not delete: {st1}");
    assert!(st1.contains(&up.url()), "{st1}");
    let st2 = log
        .lines()
        .find(|l| l.contains("Running stage2: "))
        .unwrap();
    assert!(
        st2.contains("--delete-delay") && st2.contains("--delay-updates"),
        "{st2}"
    );
    assert!(st2.contains("--bwlimit=0"), "{st2}");
}

#[test]
fn trace_carries_info_fields_and_explicit_trigger() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let conf = m
        .conf(&up.url())
        .set("INFO_MAINTAINER", "Jane Admin <jane@example.org>")
        .set("INFO_SPONSOR", "Example Hosting https://example.org")
        .set("INFO_COUNTRY", "DE")
        .set("INFO_LOCATION", "Frankfurt am Main")
        .set("INFO_THROUGHPUT", "10Gb");
    m.write_conf(&conf);
    let out = m.run(&["-T", "manual-test", "sync:all"]);
    m.expect_code(&out, 0);
    let t = m.trace();
    assert_eq!(t.req("Maintainer"), "Jane Admin <jane@example.org>");
    assert_eq!(t.req("Sponsor"), "Example Hosting https://example.org");
    assert_eq!(t.req("Country"), "DE");
    assert_eq!(t.req("Location"), "Frankfurt am Main");
    assert_eq!(t.req("Throughput"), "10Gb");
    assert_eq!(t.req("Trigger"), "manual-test");
    assert_trace_key_order(&t);
    assert_same_tree(&up.root, &m.to, &m.name);
}

#[test]
fn ssh_push_sets_trigger_and_logs_pusher() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    let out = m.run_env(
        &[],
        &[
            ("SSH_ORIGINAL_COMMAND", "sync:all"),
            ("SSH_CONNECTION", "192.0.2.7 50000 127.0.0.1 22"),
        ],
    );
    m.expect_code(&out, 0);
    assert_eq!(m.trace().req("Trigger"), "ssh");
    let log = m.log();
    assert!(log.contains("We got pushed from 192.0.2.7"), "{log}");
    assert_same_tree(&up.root, &m.to, &m.name);

    // -T wins over the ssh default
    let out = m.run_env(&["-T", "explicit"], &[("SSH_ORIGINAL_COMMAND", "sync:all")]);
    m.expect_code(&out, 0);
    assert_eq!(m.trace().req("Trigger"), "explicit");
}

#[test]
fn subcommand_form_with_basedir_env() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    // run the binary itself (not the link): `archvsync ftpsync sync:all`, BASEDIR from env
    let mut direct = m.command_prog(std::path::Path::new(BIN), &["ftpsync", "sync:all"]);
    direct.env("BASEDIR", &m.base);
    let out = m.run_cmd(direct);
    m.expect_code(&out, 0);
    assert_same_tree(&up.root, &m.to, &m.name);
    assert!(m.logdir().join("ftpsync.log").exists());
}

#[test]
fn update_to_v2_changes_adds_and_deletes() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    m.expect_code(&m.run(&["sync:all"]), 0);
    assert_same_tree(&up.root, &m.to, &m.name);
    assert!(m.to.join("pool/main/z/zsh/zsh_5.9-1_amd64.deb").exists());

    build_archive(&up.root, &ArchiveSpec::v2());
    let out = m.run(&["sync:all"]);
    m.expect_code(&out, 0);
    assert_same_tree(&up.root, &m.to, &m.name);
    assert!(
        !m.to.join("pool/main/z/zsh").exists(),
        "removed package kept"
    );
    assert!(m
        .to
        .join("pool/main/n/newpkg/newpkg_0.1-1_i386.deb")
        .exists());
    let t = m.trace();
    assert_eq!(t.req("Archive serial"), SERIAL_V2);
    let hier = read_string(&m.to.join("project/trace/_hierarchy"));
    assert_eq!(
        hier.lines().count(),
        2,
        "_hierarchy must not accumulate our line on every run:\n{hier}"
    );
}

#[test]
fn trace_serial_unknown_without_serial_line_and_absent_without_master() {
    let up = Upstream::v1();
    fs::write(
        up.root.join("project/trace/master"),
        "Fri Nov 20 08:00:00 UTC 2026\nCreator: dak\n",
    )
    .unwrap();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    m.expect_code(&m.run(&[]), 0);
    assert_eq!(m.trace().req("Archive serial"), "unknown");

    fs::remove_file(up.root.join("project/trace/master")).unwrap();
    // An upstream without a master trace is refused by default (tests/safety_rails.rs).
    m.write_conf(&m.conf(&up.url()).set("ALLOW_EMPTY_UPSTREAM", "true"));
    m.expect_code(&m.run(&[]), 0);
    let t = m.trace();
    assert!(t.get("Archive serial").is_none(), "{}", t.raw);
    assert!(!m.to.join("project/trace/master").exists());
}

fn is_stage1_excluded_name(rel: &str) -> bool {
    let last = rel.rsplit('/').next().unwrap();
    let parent = rel.rsplit('/').nth(1).unwrap_or("");
    (last.starts_with("Packages") && !parent.ends_with(".diff"))
        || last.starts_with("Sources")
        || last.starts_with("Release")
        || last == "InRelease"
        || last.starts_with("Contents")
        || parent == "i18n"
        || parent == "dep11"
        || last.starts_with("ls-lR")
        || (parent.starts_with("installer-") && last == "current")
}

#[test]
fn stage1_then_stage2() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    let extra = m.to.join("pool/main/o/obsolete/obsolete_1.0-1_amd64.deb");
    fs::create_dir_all(extra.parent().unwrap()).unwrap();
    fs::write(&extra, "old package\n").unwrap();

    let out = m.run(&["sync:stage1"]);
    m.expect_code(&out, 0);
    assert!(extra.exists(), "stage 1 deleted a file");
    let mirror = without_owned(&non_dirs(&snapshot(&m.to)), &m.name);
    let leaked: Vec<_> = mirror
        .keys()
        .filter(|k| is_stage1_excluded_name(k))
        .collect();
    assert!(
        leaked.is_empty(),
        "index files transferred in stage 1: {leaked:?}"
    );
    // everything else arrived (pool, pdiffs, by-hash, installer dated dirs, traces)
    let mut expected = expected_subset(&up.tree(), &stage1_rules(), &m.name);
    expected.insert(
        "pool/main/o/obsolete/obsolete_1.0-1_amd64.deb".into(),
        Node::File(b"old package\n".to_vec()),
    );
    let d = tree_diff(&expected, &mirror);
    assert!(d.is_empty(), "stage 1 result:\n{d}");
    assert!(m
        .to
        .join("pool/main/h/hello/hello_2.10-3_amd64.deb")
        .exists());
    assert!(m.stage1_trace_path().exists(), "no -stage1 trace");
    assert!(!m.trace_path().exists(), "main trace written by stage1");
    let t1 = Trace::read(&m.stage1_trace_path());
    parse_date_u(&t1.first_line).unwrap();
    let log = m.log();
    assert_eq!(count_lines(&log, "Running stage1: "), 1, "{log}");
    assert_eq!(count_lines(&log, "Running stage2: "), 0, "{log}");

    // make the stage-1 time recognisable, then run stage 2 alone
    let text = read_string(&m.stage1_trace_path());
    assert!(
        text.contains("Total time spent in stage1 rsync: "),
        "-stage1 trace has no stage1 time:\n{text}"
    );
    let patched: String = text
        .lines()
        .map(|l| {
            if l.starts_with("Total time spent in stage1 rsync: ") {
                "Total time spent in stage1 rsync: 4242".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    fs::write(m.stage1_trace_path(), patched).unwrap();

    let out = m.run(&["sync:stage2"]);
    m.expect_code(&out, 0);
    assert!(!extra.exists(), "stage 2 did not delete the extra file");
    assert_same_tree(&up.root, &m.to, &m.name);
    let t = m.trace();
    assert_eq!(t.num("Total time spent in stage1 rsync"), 4242, "{}", t.raw);
    let s2 = t.num("Total time spent in stage2 rsync");
    assert_eq!(t.num("Total time spent in rsync"), 4242 + s2, "{}", t.raw);
    assert!(t.get("Average rate").is_some(), "{}", t.raw);
    assert_eq!(t.req("Archive serial"), SERIAL_V1);
    assert_trace_key_order(&t);
    let log = m.log();
    assert_eq!(count_lines(&log, "Running stage1: "), 1, "{log}");
    assert_eq!(count_lines(&log, "Running stage2: "), 1, "{log}");
}

#[test]
fn non_utf8_file_names_sync_and_bytes_are_still_counted() {
    use std::os::unix::ffi::OsStrExt;
    let up = Upstream::v1();
    // Latin-1 names, as old uploads and non-Debian trees on the same mirror have them
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9-notes.txt");
    fs::write(up.root.join("doc").join(name), "latin-1 name\n").unwrap();
    let dir = std::ffi::OsStr::from_bytes(b"extra-\xff");
    fs::create_dir_all(up.root.join("dists/sid/main").join(dir)).unwrap();
    fs::write(
        up.root.join("dists/sid/main").join(dir).join("README"),
        "x\n",
    )
    .unwrap();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    let out = m.run(&[]);
    m.expect_code(&out, 0);
    assert!(m.to.join("doc").join(name).exists());
    assert_same_tree(&up.root, &m.to, &m.name);
    let t = m.trace();
    assert!(
        t.get("Total bytes received in rsync")
            .is_some_and(|b| b.parse::<u64>().unwrap() > 0),
        "no `Total bytes received in rsync` although rsync received data \
         (LOG_RSYNC contains non-UTF-8 file names):\n{}",
        t.raw
    );
    assert_eq!(t.words("Architectures"), up.spec.all_arch_words());
}

#[test]
fn files_are_world_readable_whatever_the_callers_umask() {
    use std::os::unix::fs::PermissionsExt;
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    let mut c = m.command_prog(std::path::Path::new("/bin/sh"), &[]);
    c.arg("-c").arg(format!(
        "umask 077; exec {}",
        shq(&m.bin().to_string_lossy())
    ));
    let out = m.run_cmd(c);
    m.expect_code(&out, 0);
    let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let tr = m.to.join("project/trace");
    assert_eq!(mode(&tr), 0o755, "project/trace");
    for f in [
        m.name.as_str(),
        "_hierarchy",
        "_hierarchy.mirror",
        "_traces",
    ] {
        assert_eq!(mode(&tr.join(f)), 0o644, "project/trace/{f}");
    }
    assert_eq!(mode(&m.to.join("pool/main/h/hello")), 0o755);
    assert_eq!(
        mode(&m.to.join("pool/main/h/hello/hello_2.10-3_amd64.deb")),
        0o644
    );
}

#[test]
fn upstream_copies_of_our_files_are_ignored() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let n = m.name.clone();
    // a sibling mirror upstream uses our name; upstream is mid-sync itself for that name
    fs::write(up.root.join(format!("project/trace/{n}")), "not ours\n").unwrap();
    fs::write(
        up.root.join(format!("project/trace/{n}-stage1")),
        "not ours\n",
    )
    .unwrap();
    fs::write(up.root.join(format!("Archive-Update-Required-{n}")), "x\n").unwrap();
    m.write_conf(&m.conf(&up.url()));
    let out = m.run(&[]);
    m.expect_code(&out, 0);
    let t = m.trace();
    assert_eq!(t.req("Running on host"), TRACEHOST, "{}", t.raw);
    assert!(!m.stage1_trace_path().exists());
    assert!(!m.update_required_path().exists());
    assert_eq!(
        read_string(&m.to.join("project/trace/_hierarchy"))
            .lines()
            .count(),
        2
    );
    assert_same_tree(&up.root, &m.to, &n);
}

#[test]
fn trace_without_dists_and_without_upstream_hierarchy() {
    let up = Upstream::v1();
    fs::remove_dir_all(up.root.join("dists")).unwrap();
    fs::remove_file(up.root.join("project/trace/_hierarchy.mirror")).unwrap();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    m.expect_code(&m.run(&[]), 0);
    let t = m.trace();
    assert!(t.get("Architectures").is_none(), "{}", t.raw);
    assert_eq!(t.words("Architectures-Configuration"), ["ALL"]);
    assert_trace_key_order(&t);
    let n = &m.name;
    assert_eq!(
        read_string(&m.to.join("project/trace/_hierarchy")),
        format!("{n} {n} {TRACEHOST} 127.0.0.1\n")
    );
    assert_same_tree(&up.root, &m.to, n);
}

fn second_run_bytes(logrotate: &str) -> (u64, u64) {
    let mut spec = ArchiveSpec::v1();
    spec.big_file = 300_000;
    let up = Upstream::new(spec);
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()).set("LOGROTATE", logrotate));
    m.expect_code(&m.run(&[]), 0);
    let first = m.trace().num("Total bytes received in rsync");
    m.expect_code(&m.run(&[]), 0);
    let second = m
        .trace()
        .get("Total bytes received in rsync")
        .map(|v| v.parse().unwrap())
        .unwrap_or(0);
    (first, second)
}

#[test]
fn trace_bytes_are_per_run_with_rotation() {
    let (first, second) = second_run_bytes("14");
    assert!(first >= 300_000, "first run: {first}");
    assert!(
        second < 100_000,
        "nothing changed, yet {second} bytes reported"
    );
}

#[test]
fn trace_bytes_are_per_run_without_rotation() {
    // LOGROTATE=0 keeps one growing LOG_RSYNC; the trace must still describe this run only
    let (first, second) = second_run_bytes("0");
    assert!(first >= 300_000, "first run: {first}");
    assert!(
        second < 100_000,
        "nothing changed, yet {second} bytes reported: the whole LOG_RSYNC (earlier runs \
         included) was summed"
    );
}
