//! Configuration: lookup in the classic layout, archive names, legacy bash configs, TOML
//! configs, and config errors (SPEC §2, §3).

mod common;
use common::*;
use std::fs;
use std::path::Path;

#[test]
fn missing_config_exits_78() {
    let m = Mirror::new();
    let out = m.run(&["sync:all"]);
    m.expect_code(&out, 78);
    assert!(!m.to.exists(), "TO created without a config");
}

/// Run from `/usr/bin` as the Debian package installs it (here a `usr/bin/ftpsync` link in a
/// temp dir, with a `usr/etc` holding nothing of ours): no classic layout, so `usr/etc` is
/// neither searched nor named; the message lists exactly what was searched.
#[test]
fn without_a_classic_layout_the_message_names_only_the_package_search_path() {
    let m = Mirror::new();
    let usr = m.dir.join("pkg/usr");
    fs::create_dir_all(usr.join("bin")).unwrap();
    fs::create_dir_all(usr.join("etc")).unwrap();
    fs::write(usr.join("etc/other.conf"), "").unwrap();
    let bin = usr.join("bin/ftpsync");
    std::os::unix::fs::symlink(BIN, &bin).unwrap();
    let out = m.run_cmd(m.command_prog(&bin, &["sync:all"]));
    m.expect_code(&out, 78);
    let want = format!(
        "Can't read config file ftpsync.conf (searched {}, /etc/ftpsync)!",
        m.home.join(".config/ftpsync").display()
    );
    assert!(out.stderr.contains(&want), "want {want}\n{}", out.stderr);
    assert!(!out.stderr.contains("usr/etc"), "{}", out.stderr);
}

#[test]
fn unknown_archive_exits_78() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    let out = m.run(&["sync:archive:nosuch"]);
    m.expect_code(&out, 78);
    assert!(
        !m.to.join("pool").exists(),
        "synced with the default config"
    );
}

#[test]
fn empty_archive_name_means_default_config() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    let out = m.run(&["sync:archive:"]);
    m.expect_code(&out, 0);
    assert_same_tree(&up.root, &m.to, &m.name);
    assert!(m.logdir().join("ftpsync.log").exists());
}

#[test]
fn archive_name_selects_config_and_log() {
    let up = Upstream::v1();
    let m = Mirror::new();
    // the default config points at a closed port: using it would fail
    m.write_conf(&m.conf(&format!("rsync://127.0.0.1:{}/debian/", free_port())));
    let foo_to = m.dir.join("foo-mirror");
    m.write_conf_file(
        "ftpsync-foo.conf",
        &m.conf(&up.url()).set("TO", foo_to.to_string_lossy()),
    );
    let out = m.run(&["sync:archive:foo"]);
    m.expect_code(&out, 0);
    assert_same_tree(&up.root, &foo_to, &m.name);
    assert!(!m.to.join("pool").exists());
    let log = m.read_log_file("ftpsync-foo.log");
    assert!(
        log.contains("Mirrorsync start"),
        "log/ftpsync-foo.log: {log:?}"
    );
    assert!(
        !m.logdir().join("ftpsync.log").exists(),
        "archive foo logged into ftpsync.log"
    );
    assert!(m.logdir().join("rsync-ftpsync-foo.log").exists());
    assert!(foo_to.join(format!("project/trace/{}", m.name)).exists());
}

#[test]
fn config_found_in_home_dot_config() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let cfgdir = m.home.join(".config/ftpsync");
    fs::create_dir_all(&cfgdir).unwrap();
    fs::write(cfgdir.join("ftpsync.conf"), m.conf(&up.url()).to_bash()).unwrap();
    let out = m.run(&[]);
    m.expect_code(&out, 0);
    assert_same_tree(&up.root, &m.to, &m.name);
}

#[test]
fn legacy_bash_config_with_expansions_and_environment() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let root = m.dir.join("srv");
    fs::create_dir_all(&root).unwrap();
    let conf = format!(
        r#"## Mirror config, written for the shell version of ftpsync
MIRRORNAME="legacy-$(echo mirror)"
TO="${{MIRROR_ROOT}}/debian/"
RSYNC_HOST=127.0.0.1
RSYNC_PATH="debian"
RSYNC_SOURCE="rsync://$RSYNC_HOST:{port}/$RSYNC_PATH/"
TRACEHOST=`hostname -f`
export INFO_MAINTAINER="Mirror Admins <admin@${{RSYNC_HOST}}>"
ARCH_EXCLUDE=""
UIPSLEEP=${{UIPSLEEP:-1}}
MAILTO=""
HUB=false

LOGROTATE=0
"#,
        port = up.daemon.port
    );
    m.write_raw("ftpsync.conf", &conf);
    let out = m.run_env(
        &[],
        &[
            ("MIRROR_ROOT", &root.to_string_lossy()),
            ("INFO_SPONSOR", "Env Sponsor"),
        ],
    );
    m.expect_code(&out, 0);
    let to = root.join("debian");
    assert_same_tree(&up.root, &to, "legacy-mirror");
    let t = Trace::read(&to.join("project/trace/legacy-mirror"));
    assert_eq!(t.req("Running on host"), hostname_f());
    assert_eq!(t.req("Maintainer"), "Mirror Admins <admin@127.0.0.1>");
    assert_eq!(t.req("Sponsor"), "Env Sponsor", "env fallback");
    assert_eq!(t.req("Upstream-mirror"), "127.0.0.1");
    assert_eq!(t.words("Architectures-Configuration"), ["ALL"]);
    let hier = read_string(&to.join("project/trace/_hierarchy"));
    assert!(
        hier.ends_with(&format!(
            "legacy-mirror legacy-mirror {} 127.0.0.1\n",
            hostname_f()
        )),
        "{hier}"
    );
}

#[test]
fn unknown_key_warns_with_file_and_line() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let mut text = m.conf(&up.url()).to_bash();
    let line_no = text.lines().count() + 1;
    text.push_str("RSYNC_HOTS=x\n");
    m.write_raw("ftpsync.conf", &text);
    let out = m.run(&[]);
    m.expect_code(&out, 0);
    assert_same_tree(&up.root, &m.to, &m.name);
    let warn = out
        .stderr
        .lines()
        .find(|l| l.contains("RSYNC_HOTS"))
        .unwrap_or_else(|| panic!("no warning naming RSYNC_HOTS on stderr:\n{}", out.stderr));
    assert!(
        warn.contains("ftpsync.conf"),
        "warning lacks the file: {warn}"
    );
    assert!(
        warn.contains(&format!(":{line_no}")) || warn.contains(&format!("line {line_no}")),
        "warning lacks line {line_no}: {warn}"
    );
}

#[test]
fn bash_syntax_error_exits_78_naming_file() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let mut text = m.conf(&up.url()).to_bash();
    text.push_str("if then fi (\n");
    m.write_raw("ftpsync.conf", &text);
    let out = m.run(&[]);
    m.expect_code(&out, 78);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains(&m.etc().join("ftpsync.conf").to_string_lossy().to_string())
            || all.contains("ftpsync.conf"),
        "message does not name the file:\n{all}"
    );
    assert!(!m.to.join("pool").exists());
}

#[test]
fn config_is_sourced_by_bash() {
    // a config is a bash file: commands in it run, as with the original
    let up = Upstream::v1();
    let m = Mirror::new();
    let marker = m.dir.join("config-sourced");
    let mut text = m.conf(&up.url()).to_bash();
    text.push_str(&format!("echo x >> {}\n", shq(&marker.to_string_lossy())));
    m.write_raw("ftpsync.conf", &text);
    let out = m.run(&[]);
    m.expect_code(&out, 0);
    let n = read_string(&marker).lines().count();
    assert!(
        n >= 1,
        "config commands were not executed (not sourced by bash?)"
    );
}

fn toml_conf(m: &Mirror, up: &Upstream, extra: &str) -> String {
    format!(
        r#"# archvsync native configuration
MIRRORNAME = "{name}"
TO = "{to}"
RSYNC_HOST = "127.0.0.1"
RSYNC_SOURCE = "{url}"
{extra}
HUB = false
LOGROTATE = 0
MAILTO = ""
TRACEHOST = "{th}"
UIPSLEEP = 1
"#,
        name = m.name,
        to = m.to.display(),
        url = up.url(),
        th = TRACEHOST
    )
}

#[test]
fn toml_config_syncs() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_raw(
        "ftpsync.toml",
        &toml_conf(&m, &up, "ARCH_INCLUDE = [\"amd64\"]"),
    );
    let out = m.run(&[]);
    m.expect_code(&out, 0);
    let expected = expected_subset(
        &up.tree(),
        &arch_rules(&ArchConfig::Include(vec!["amd64"])),
        &m.name,
    );
    let got = without_owned(&non_dirs(&snapshot(&m.to)), &m.name);
    let d = tree_diff(&expected, &got);
    assert!(d.is_empty(), "{d}");
    let t = m.trace();
    assert_eq!(t.words("Architectures-Configuration"), ["INCLUDE", "amd64"]);
    assert_eq!(t.req("Running on host"), TRACEHOST);
    assert!(m.logdir().join("ftpsync.log").exists());
}

#[test]
fn toml_bad_value_is_rejected_with_file_and_line() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let text = toml_conf(&m, &up, "").replace("HUB = false", "HUB = \"maybe\"");
    let line_no = text.lines().position(|l| l.starts_with("HUB = ")).unwrap() + 1;
    m.write_raw("ftpsync.toml", &text);
    let out = m.run(&[]);
    // README: a wrongly typed value is an error naming file and line, exit 78.
    m.expect_code(&out, 78);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains("ftpsync.toml"),
        "message lacks the file:\n{all}"
    );
    assert!(
        all.contains(&format!(":{line_no}")) || all.contains(&format!("line {line_no}")),
        "message lacks line {line_no}:\n{all}"
    );
    assert!(!m.to.join("pool").exists());
}

#[test]
fn missing_trigger_argument_is_usage_error() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    let out = m.run(&["-T"]);
    m.expect_code(&out, 64);
    assert!(!m.to.join("pool").exists());
}

#[test]
fn unknown_rsync_transport_exits_1() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()).set("RSYNC_TRANSPORT", "carrier-pigeon"));
    let out = m.run(&[]);
    m.expect_code(&out, 1);
    assert!(!m.to.join("pool").exists());
}

#[test]
fn argv_archive_wins_over_ssh_original_command() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let to_a = m.dir.join("mirror-a");
    let to_b = m.dir.join("mirror-b");
    m.write_conf_file(
        "ftpsync-a.conf",
        &m.conf(&up.url()).set("TO", to_a.to_string_lossy()),
    );
    m.write_conf_file(
        "ftpsync-b.conf",
        &m.conf(&up.url()).set("TO", to_b.to_string_lossy()),
    );
    let out = m.run_env(
        &["sync:archive:b"],
        &[("SSH_ORIGINAL_COMMAND", "sync:archive:a")],
    );
    m.expect_code(&out, 0);
    assert!(
        !to_a.join("pool").exists(),
        "SSH_ORIGINAL_COMMAND's archive won over argv"
    );
    assert_same_tree(&up.root, &to_b, &m.name);
}

#[test]
fn file_values_beat_environment_which_beats_defaults() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()).unset("TRACEHOST"));
    let out = m.run_env(
        &[],
        &[
            ("MIRRORNAME", "from-env"),
            ("TO", "/nonexistent/from-env"),
            ("TRACEHOST", "trace-from-env.example"),
        ],
    );
    m.expect_code(&out, 0);
    assert!(!std::path::Path::new("/nonexistent/from-env").exists());
    assert_same_tree(&up.root, &m.to, &m.name);
    let t = m.trace();
    assert_eq!(t.req("Running on host"), "trace-from-env.example");
}

#[test]
fn missing_rsync_host_exits_1_naming_the_file() {
    let m = Mirror::new();
    m.write_conf(&m.conf("unused").unset("RSYNC_HOST").unset("RSYNC_SOURCE"));
    let out = m.run(&[]);
    m.expect_code(&out, 1);
    assert!(
        out.stderr
            .contains("ftpsync.conf: Missing a host to mirror from"),
        "{}",
        out.stderr
    );
    assert!(!m.lock_path().exists());
}

/// The README's own typo: RSYNC_HOTS for RSYNC_HOST. The refusal it causes comes after the
/// warning that explains it, which names file and line and suggests the key.
#[test]
fn a_typo_is_warned_about_before_the_refusal_it_explains() {
    let m = Mirror::new();
    let conf = m
        .conf("unused")
        .unset("RSYNC_HOST")
        .unset("RSYNC_SOURCE")
        .set("RSYNC_HOTS", "ftp.example.org");
    let text = conf.to_bash();
    m.write_raw("ftpsync.conf", &text);
    let out = m.run(&[]);
    m.expect_code(&out, 1);
    let warning = format!(
        "{}:{}: warning: unknown key RSYNC_HOTS (did you mean RSYNC_HOST?)",
        m.etc().join("ftpsync.conf").display(),
        line_of(&text, "RSYNC_HOTS")
    );
    let warned = out.stderr.find(&warning);
    let refused = out.stderr.find("Missing a host to mirror from");
    assert!(
        warned.is_some() && refused.is_some() && warned < refused,
        "want the warning, then the refusal:\n{}",
        out.stderr
    );
}

/// The 1-based line of `text` that assigns `key`.
fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(&format!("{key}=")) || l.starts_with(&format!("{key} =")))
        .unwrap_or_else(|| panic!("{key} is not assigned in\n{text}"))
        + 1
}

/// Every path under `dir` (names only) that contains `c`.
fn names_containing(dir: &Path, c: char) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains(c) {
                hits.push(e.path().display().to_string());
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
    }
    hits
}

#[test]
fn crlf_config_is_warned_about_once_and_syncs() {
    let up = Upstream::v1();
    let m = Mirror::new();
    // Saved by a Windows editor from line 2 on: every later line ends in CRLF.
    let text = m
        .conf(&up.url())
        .set("ARCH_INCLUDE", "amd64 source")
        .to_bash();
    let (first, rest) = text.split_once('\n').unwrap();
    m.write_raw(
        "ftpsync.conf",
        &format!("{first}\n{}", rest.replace('\n', "\r\n")),
    );
    let out = m.run(&["sync:all"]);
    m.expect_code(&out, 0);
    let warnings: Vec<&str> = out.stderr.lines().filter(|l| l.contains("CRLF")).collect();
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    assert!(
        warnings[0].contains("ftpsync.conf:2:"),
        "the warning names file and first CRLF line: {}",
        warnings[0]
    );
    assert_eq!(count_lines(&m.log(), "CRLF"), 1, "{}", m.log());
    // The values arrived without their \r: the sync did what the file says.
    assert!(
        names_containing(&m.dir, '\r').is_empty(),
        "{:?}",
        names_containing(&m.dir, '\r')
    );
    let t = m.trace();
    assert_eq!(t.req("Running on host"), TRACEHOST);
    assert_eq!(
        t.words("Architectures-Configuration"),
        ["INCLUDE", "amd64", "source"]
    );
    let expected = expected_subset(
        &up.tree(),
        &arch_rules(&ArchConfig::Include(vec!["amd64", "source"])),
        &m.name,
    );
    let got = without_owned(&non_dirs(&snapshot(&m.to)), &m.name);
    let d = tree_diff(&expected, &got);
    assert!(d.is_empty(), "{d}");
}

#[test]
fn names_that_end_up_in_file_names_or_hierarchy_are_refused() {
    let up = Upstream::v1();
    for (key, value) in [
        ("MIRRORNAME", "my mirror"),
        ("MIRRORNAME", "a/b"),
        ("MIRRORNAME", "tab\there"),
        ("MIRRORNAME", "esc\u{1b}[31m"),
        ("MIRRORNAME", ".."),
        ("TRACEHOST", "host name.example"),
        ("TRACEHOST", "bell\u{7}.example"),
    ] {
        let m = Mirror::new();
        let text = m.conf(&up.url()).set(key, value).to_bash();
        let line = line_of(&text, key);
        m.write_raw("ftpsync.conf", &text);
        let out = m.run(&[]);
        assert_eq!(
            out.code,
            Some(78),
            "{key}={value:?}\n{}",
            m.diagnostics(&out)
        );
        assert!(
            out.stderr.contains(&format!("ftpsync.conf:{line}: {key}")),
            "{key}={value:?}: the refusal names file, line and key:\n{}",
            out.stderr
        );
        assert!(!m.to.join("pool").exists(), "{key}={value:?} synced");
        assert!(!m.to.join("project/trace/_hierarchy").exists());
    }
}

#[test]
fn numbers_above_their_bounds_are_refused_with_file_and_line() {
    let up = Upstream::v1();
    for (key, value) in [
        ("LOGROTATE", "1001"),
        ("LOCKTIMEOUT", "604801"),
        ("UIPSLEEP", "604801"),
        ("UIPRETRIES", "1001"),
        ("CHECK_TIMEOUT", "604801"),
        ("CHECK_TIMEOUT", "18446744073709551615"),
        ("CHECK_TIMEOUT", "0"),
        ("RSYNC_SSL_PORT", "65536"),
        ("RSYNC_SSL_PORT", "0"),
        ("LOGROTATE", "99999999999999999999999999"),
    ] {
        let m = Mirror::new();
        let text = m.conf(&up.url()).set(key, value).to_bash();
        let line = line_of(&text, key);
        m.write_raw("ftpsync.conf", &text);
        let out = m.run(&[]);
        assert_eq!(out.code, Some(78), "{key}={value}\n{}", m.diagnostics(&out));
        assert!(
            out.stderr.contains(&format!(
                "ftpsync.conf:{line}: {key}={value} is out of range"
            )),
            "{key}={value}:\n{}",
            out.stderr
        );
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        assert!(!m.to.join("pool").exists(), "{key}={value} synced");
    }
    // The bounds themselves are fine.
    let m = Mirror::new();
    m.write_conf(
        &m.conf(&up.url())
            .set("LOGROTATE", "1000")
            .set("LOCKTIMEOUT", "604800")
            .set("UIPRETRIES", "1000")
            .set("CHECK_TIMEOUT", "604800")
            .set("RSYNC_SSL_PORT", "65535"),
    );
    m.expect_code(&m.run(&[]), 0);

    // In TOML too, with the line of the key.
    let m = Mirror::new();
    let text = toml_conf(&m, &up, "").replace("LOGROTATE = 0", "LOGROTATE = 5000");
    let line = line_of(&text, "LOGROTATE");
    m.write_raw("ftpsync.toml", &text);
    let out = m.run(&[]);
    m.expect_code(&out, 78);
    assert!(
        out.stderr.contains(&format!(
            "ftpsync.toml:{line}: LOGROTATE=5000 is out of range"
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn rsync_user_that_rsync_source_leaves_out_is_warned_about() {
    let up = Upstream::v1();
    let m = Mirror::new();
    // The sample recommends RSYNC_SOURCE for a daemon on another port; the user then has
    // to be in it, and RSYNC_USER is not used.
    let text = m.conf(&up.url()).set("RSYNC_USER", "mirroruser").to_bash();
    let line = line_of(&text, "RSYNC_USER");
    m.write_raw("ftpsync.conf", &text);
    let out = m.run(&[]);
    m.expect_code(&out, 0);
    let hits: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("RSYNC_USER"))
        .collect();
    assert_eq!(hits.len(), 1, "{}", out.stderr);
    assert!(
        hits[0].contains(&format!("ftpsync.conf:{line}: warning: RSYNC_USER")),
        "{}",
        hits[0]
    );
    assert_eq!(count_lines(&m.log(), "RSYNC_USER"), 1, "{}", m.log());

    // The user written into the source: nothing to say.
    let with_user = up.url().replace("rsync://", "rsync://mirroruser@");
    m.write_conf(&m.conf(&with_user).set("RSYNC_USER", "mirroruser"));
    let out = m.run(&[]);
    m.expect_code(&out, 0);
    assert!(!out.stderr.contains("RSYNC_USER"), "{}", out.stderr);
    // Nor without RSYNC_SOURCE, where RSYNC_USER builds the source.
    m.write_conf(
        &m.conf(&up.url())
            .unset("RSYNC_SOURCE")
            .set("RSYNC_HOST", "127.0.0.1")
            .set("RSYNC_USER", "mirroruser")
            .set("RSYNC", "/bin/true"),
    );
    let out = m.run(&["sync:stage1"]);
    assert!(!out.stderr.contains("RSYNC_USER"), "{}", out.stderr);
}

/// Two archives in one tree: each one's stage 2 (`rsync --delete`) deletes the other's
/// files, trace included. A TO shared with another config (the same directory however it
/// is spelt: trailing slash, `..`, a link) is refused at run time, exit 1, naming both
/// config files, before anything is touched; another TO is fine.
#[test]
fn two_configs_sharing_a_to_are_refused_naming_both() {
    let up = Upstream::v1();
    let m = Mirror::new();
    fs::create_dir_all(&m.to).unwrap();
    let link = m.dir.join("mirror-link");
    std::os::unix::fs::symlink(&m.to, &link).unwrap();
    m.write_conf(&m.conf(&up.url()));
    let spellings = [
        format!("{}/", link.display()),
        format!("{}/../mirror", m.to.display()),
    ];
    let ours = m.etc().join("ftpsync.conf");
    let other = m.etc().join("ftpsync-other.conf");
    for to in &spellings {
        m.write_conf_file(
            "ftpsync-other.conf",
            &m.conf(&up.url())
                .set("MIRRORNAME", "other.test")
                .set("TO", to),
        );
        for (words, own, theirs, own_log) in [
            (&["sync:all"][..], &ours, &other, "ftpsync.log"),
            (
                &["sync:archive:other"][..],
                &other,
                &ours,
                "ftpsync-other.log",
            ),
        ] {
            let out = m.run(words);
            m.expect_code(&out, 1);
            let line = out
                .stderr
                .lines()
                .find(|l| l.contains("TO"))
                .unwrap_or_else(|| panic!("{to}, {words:?}: {}", m.diagnostics(&out)));
            assert!(
                line.starts_with(&own.display().to_string())
                    && line.contains(&theirs.display().to_string()),
                "{to}, {words:?}: the message names both files: {line}"
            );
            assert!(
                !m.to.join("pool").exists(),
                "{to}, {words:?}: synced anyway"
            );
            assert!(!m.lock_path().exists());
            // No run started: its log holds the refusal alone, and no other file is there.
            let log = m.read_log_file(own_log);
            assert!(
                log.contains(line) && !log.contains("Mirrorsync start"),
                "{to}, {words:?}: {log}"
            );
            fs::remove_file(m.logdir().join(own_log)).unwrap();
            assert!(
                fs::read_dir(m.logdir()).unwrap().next().is_none(),
                "nothing else logged"
            );
        }
    }
    let other_to = m.dir.join("other-mirror");
    m.write_conf_file(
        "ftpsync-other.conf",
        &m.conf(&up.url())
            .set("MIRRORNAME", "other.test")
            .set("TO", other_to.to_string_lossy()),
    );
    m.expect_code(&m.run(&["sync:all"]), 0);
    m.expect_code(&m.run(&["sync:archive:other"]), 0);
    assert_same_tree(&up.root, &m.to, &m.name);
    assert_same_tree(&up.root, &other_to, "other.test");
}

/// A TO made by bash from values that are the same whoever runs the archive (BASEDIR,
/// `$(...)` of a fixed command) is as certain as a written one: refused.
#[test]
fn a_to_computed_the_same_in_every_run_is_refused_when_shared() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    let mut other = m
        .conf(&up.url())
        .set("MIRRORNAME", "other.test")
        .unset("TO")
        .to_bash();
    other.push_str("TO=$(echo \"$BASEDIR\")/mirror/\n");
    m.write_raw("ftpsync-other.conf", &other);
    let out = m.run(&["sync:archive:other"]);
    m.expect_code(&out, 1);
    assert!(
        out.stderr.contains("is also the TO of")
            && out
                .stderr
                .contains(&m.etc().join("ftpsync.conf").display().to_string()),
        "{}",
        m.diagnostics(&out)
    );
    assert!(!m.to.join("pool").exists(), "synced anyway");
}

/// The original's own test configs: every `ftpsync-NAME.conf` says
/// `TO=output/$TEST_ID/` (or an absolute directory made from the caller's variables), the
/// caller setting the variable. In this run they all resolve to one directory, but whether
/// another archive's runs do depends on its caller, so this run cannot know it: it warns
/// (stderr and log, naming both files) and syncs; the same configs with the TO written
/// out are refused.
#[test]
fn a_to_shared_only_through_the_callers_environment_is_a_warning_not_a_refusal() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_env_dependent_to_configs(&up.url());
    let base = m.base.display().to_string();
    let env = [("TEST_OWN_ID", "t/1"), ("TEST_OWN_ROOT", base.as_str())];
    // The run starts in HOME: the relative TOs mean BASEDIR, where the classic layout works.
    let out = m.run_env(&["sync:archive:plain"], &env);
    m.expect_code(&out, 0);
    let to = m.base.join("output/t/1");
    assert_same_tree(&up.root, &to, &m.name);
    let ours = m.etc().join("ftpsync-plain.conf").display().to_string();
    let log = m.read_log_file("ftpsync-plain.log");
    for other in ["ftpsync-ssl.conf", "ftpsync-abs.conf"] {
        let other = m.etc().join(other).display().to_string();
        let warned = |text: &str| {
            text.lines().any(|l| {
                l.contains(&format!("{ours}: warning: TO=output/t/1/"))
                    && l.contains(&format!("may also be the TO of {other}"))
            })
        };
        assert!(
            warned(&log) && warned(&out.stderr),
            "{other}: a warning naming both files in the log and on stderr\n{}",
            m.diagnostics(&out)
        );
    }

    // Written out, the same TOs are certain: refused, nothing touched.
    let written = to.display().to_string();
    let mut ssl = m.conf(&up.url()).unset("TO").to_bash();
    ssl.push_str(&format!("TO={written}\n"));
    m.write_raw("ftpsync-ssl.conf", &ssl);
    fs::remove_dir_all(m.logdir()).unwrap();
    fs::create_dir_all(m.logdir()).unwrap();
    let mut plain = m.conf(&up.url()).to_bash();
    plain.push_str(&format!("TO={written}/\n"));
    m.write_raw("ftpsync-plain.conf", &plain);
    let out = m.run_env(&["sync:archive:plain"], &env);
    m.expect_code(&out, 1);
    assert!(
        out.stderr
            .contains(&format!("{ours}: TO={written}/ is also the TO of"))
            && out
                .stderr
                .contains(&m.etc().join("ftpsync-ssl.conf").display().to_string()),
        "{}",
        m.diagnostics(&out)
    );
    // No run started: its log holds the refusal alone, and no other file is there.
    let log = m.read_log_file("ftpsync-plain.log");
    assert!(
        log.contains("is also the TO of") && !log.contains("Mirrorsync start"),
        "{log}"
    );
    fs::remove_file(m.logdir().join("ftpsync-plain.log")).unwrap();
    assert!(fs::read_dir(m.logdir()).unwrap().next().is_none());
}
