//! `archvsync check-mirror` against a real web server (nginx from Debian's packages, started
//! here on 127.0.0.1 with a throwaway config) serving mirrors that archvsync really synced
//! from the harness's rsync daemon: a healthy one passes every rule of Debian's monitors;
//! a stale one, a broken version line, a mirror without sources, one that served new
//! Release files before its master trace, an unreachable URL and a 404 each fail with the
//! rule and reason named.

mod common;
use common::nginx::*;
use common::*;
use serde_json::Value;

const HOUR: i64 = 3600;

/// Every rule of a healthy mirror, by monitor.
const RULES: &[(&str, &str)] = &[
    ("mirror-status", "master trace"),
    ("mirror-status", "site trace"),
    ("mirror-status", "Archive-Update-in-Progress"),
    ("mirror-status", "Archive-Update-Required"),
    ("mirror-status", "age"),
    ("http-redirector", "master trace"),
    ("http-redirector", "site trace"),
    ("http-redirector", "site trace not older than master"),
    ("http-redirector", "ftpsync version"),
    ("http-redirector", "architectures"),
    ("http-redirector", "two-stage sync"),
];

struct Served {
    up: Upstream,
    m: Mirror,
    web: Nginx,
}

impl Served {
    /// A mirror synced from an upstream whose master trace is `master_age` old, served at
    /// /debian/.
    fn new(master_age: i64, extra: &[(&str, &str)]) -> Served {
        let up = upstream_dated(SERIAL_V1, now_epoch() - master_age);
        let m = synced_mirror(&up, MIRRORNAME, extra);
        let web = Nginx::start(&[("/debian/", &m.to)]);
        Served { up, m, web }
    }
    /// The same from an upstream that carries only `suites` (no sid: a mirror of stable
    /// and oldstable, say).
    fn with_suites(master_age: i64, suites: &[&str]) -> Served {
        let up = Upstream::new(ArchiveSpec {
            suites: suites.iter().map(|s| s.to_string()).collect(),
            ..ArchiveSpec::v1()
        });
        set_trace_date(
            &up.root.join("project/trace/master"),
            now_epoch() - master_age,
        );
        let m = synced_mirror(&up, MIRRORNAME, &[]);
        let web = Nginx::start(&[("/debian/", &m.to)]);
        Served { up, m, web }
    }
    fn url(&self) -> String {
        self.web.url("/debian/")
    }
    /// The upstream publishes new Release files for `suites` and a new master trace, now;
    /// the mirror, not ftpsync, takes dists/ first (before project/trace/master): real
    /// rsync, times kept, as any one-stage mirror script would.
    fn publish_and_take_dists_first(&self, suites: &[&str]) {
        for suite in suites {
            let release = self.up.root.join(format!("dists/{suite}/Release"));
            std::fs::write(&release, format!("Release for {suite}, published now\n")).unwrap();
        }
        let master = self.up.root.join("project/trace/master");
        std::fs::write(&master, read_string(&master).replace(SERIAL_V1, SERIAL_V2)).unwrap();
        set_trace_date(&master, now_epoch());
        let out = std::process::Command::new(rsync_bin())
            .args(["-rlt", &format!("{}dists/", self.up.url())])
            .arg(self.m.to.join("dists/"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
}

struct Checked {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    json: Value,
}

impl Checked {
    fn report(&self) -> &Value {
        &self.json[0]
    }
    /// (level, reason) of one rule.
    fn rule(&self, monitor: &str, rule: &str) -> (String, String) {
        let r = self.report()["rules"]
            .as_array()
            .unwrap_or_else(|| panic!("no rules:\n{}", self.stdout))
            .iter()
            .find(|r| r["monitor"] == monitor && r["rule"] == rule)
            .unwrap_or_else(|| panic!("no rule {monitor} {rule}:\n{}", self.stdout));
        (
            r["level"].as_str().unwrap().to_string(),
            r["reason"].as_str().unwrap().to_string(),
        )
    }
    /// The rules that are not ok, as `monitor rule: level`.
    fn not_ok(&self) -> Vec<String> {
        self.report()["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["level"] != "ok")
            .map(|r| {
                format!(
                    "{} {}: {}",
                    r["monitor"].as_str().unwrap(),
                    r["rule"].as_str().unwrap(),
                    r["level"].as_str().unwrap()
                )
            })
            .collect()
    }
}

fn check_mirror_with(m: &Mirror, args: &[&str]) -> Checked {
    let bin = m.link_bin("archvsync");
    let mut all = vec!["check-mirror", "--json", "--timeout", "10"];
    all.extend_from_slice(args);
    let out = m.run_cmd(m.command_prog(&bin, &all));
    let json = serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check-mirror {args:?} printed no JSON ({e}): exit {:?}\n{}\n{}",
            out.code, out.stdout, out.stderr
        )
    });
    Checked {
        code: out.code,
        stdout: out.stdout,
        stderr: out.stderr,
        json,
    }
}

fn check_mirror(s: &Served) -> Checked {
    check_mirror_with(&s.m, &[&s.url()])
}

#[test]
fn a_healthy_mirror_passes_every_rule_of_both_monitors() {
    let s = Served::new(HOUR, &[]);
    let c = check_mirror(&s);
    assert_eq!(c.code, Some(0), "{}\n{}", c.stdout, c.stderr);
    assert!(c.not_ok().is_empty(), "{:?}\n{}", c.not_ok(), c.stdout);
    for (monitor, rule) in RULES {
        assert_eq!(c.rule(monitor, rule).0, "ok", "{monitor} {rule}");
    }
    let r = c.report();
    assert_eq!(r["status"], "ok");
    // Two traces in project/trace/ (the upstream's and ours): _hierarchy names ours.
    assert_eq!(r["site"], MIRRORNAME, "{}", c.stdout);
    assert!(
        r["site_from"].as_str().unwrap().contains("_hierarchy"),
        "{}",
        c.stdout
    );
    assert_eq!(r["master"]["serial"], SERIAL_V1);
    let age = r["age_seconds"].as_i64().unwrap();
    assert!((HOUR - 60..HOUR + 600).contains(&age), "age {age}");
    assert!(
        c.rule("mirror-status", "age").1.contains("+5"),
        "{}",
        c.stdout
    );
    // The two-stage test really asked the server with the master trace's date.
    assert!(
        s.web
            .access_log()
            .contains("\"HEAD /debian/dists/sid/Release HTTP/1.1\" 200"),
        "{}",
        s.web.access_log()
    );

    // The same from the mirror's own config: MIRROR_URL, MIRRORNAME as the site; and the
    // table for people.
    s.m.write_conf(&s.m.conf(&s.up.url()).set("MIRROR_URL", s.url()));
    let bin = s.m.link_bin("archvsync");
    let out = s.m.run_cmd(s.m.command_prog(&bin, &["check-mirror"]));
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "(site {MIRRORNAME}, from MIRRORNAME in {}",
            s.m.etc().join("ftpsync.conf").display()
        )),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(": OK\n"), "{}", out.stdout);
    assert_eq!(
        out.stdout.lines().count(),
        1 + RULES.len(),
        "{}",
        out.stdout
    );
}

#[test]
fn a_site_trace_three_days_old_is_stale() {
    // The mirror last synced three days ago (from a master of three days and an hour).
    let s = Served::new(3 * 24 * HOUR + HOUR, &[]);
    set_trace_date(&s.m.trace_path(), now_epoch() - 3 * 24 * HOUR);
    let c = check_mirror(&s);
    assert_eq!(c.code, Some(2), "{}\n{}", c.stdout, c.stderr);
    let (level, reason) = c.rule("mirror-status", "age");
    assert_eq!(level, "error", "{reason}");
    assert!(
        reason.contains("stale") && reason.contains("-30"),
        "{reason}"
    );
    assert_eq!(c.not_ok(), vec!["mirror-status age: error"], "{}", c.stdout);
    assert_eq!(c.report()["status"], "error");
}

#[test]
fn a_lock_file_left_for_hours_is_a_warning() {
    let s = Served::new(HOUR, &[]);
    let lock = s.m.lock_path();
    std::fs::write(&lock, "").unwrap();
    let five_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(5 * 3600);
    std::fs::File::options()
        .write(true)
        .open(&lock)
        .unwrap()
        .set_modified(five_hours_ago)
        .unwrap();
    let c = check_mirror(&s);
    assert_eq!(c.code, Some(1), "{}", c.stdout);
    let (level, reason) = c.rule("mirror-status", "Archive-Update-in-Progress");
    assert_eq!(level, "warning");
    assert!(reason.contains("there for 5h00m"), "{reason}");
    assert_eq!(
        c.not_ok(),
        vec!["mirror-status Archive-Update-in-Progress: warning"]
    );
    // A sync under way for minutes is what a mirror does.
    std::fs::write(&lock, "").unwrap();
    let c = check_mirror(&s);
    assert_eq!(c.code, Some(0), "{}", c.stdout);
    assert!(c
        .rule("mirror-status", "Archive-Update-in-Progress")
        .1
        .contains("a sync is under way"));
}

#[test]
fn a_version_line_with_letters_is_a_bad_ftpsync() {
    let s = Served::new(HOUR, &[]);
    let trace = s.m.trace_path();
    let text = read_string(&trace);
    assert!(
        text.contains("\nUsed ftpsync version: 20180513\n"),
        "{text}"
    );
    std::fs::write(
        &trace,
        text.replace("version: 20180513", "version: 20180513-archvsync"),
    )
    .unwrap();
    let c = check_mirror(&s);
    assert_eq!(c.code, Some(2), "{}", c.stdout);
    let (level, reason) = c.rule("http-redirector", "ftpsync version");
    assert_eq!(level, "error");
    assert!(
        reason.contains("old ftpsync") && reason.contains("digits only"),
        "{reason}"
    );
    assert_eq!(c.not_ok(), vec!["http-redirector ftpsync version: error"]);
}

#[test]
fn a_mirror_without_sources_is_an_error() {
    // A real partial mirror: amd64 only, so its trace lists no source.
    let s = Served::new(HOUR, &[("ARCH_INCLUDE", "amd64")]);
    let archs = s.m.trace().words("Architectures");
    assert!(!archs.iter().any(|a| a == "source"), "{archs:?}");
    let c = check_mirror(&s);
    assert_eq!(c.code, Some(2), "{}", c.stdout);
    let (level, reason) = c.rule("http-redirector", "architectures");
    assert_eq!(level, "error");
    assert!(reason.contains("no sources"), "{reason}");
    assert_eq!(c.not_ok(), vec!["http-redirector architectures: error"]);
}

#[test]
fn release_files_served_before_the_master_trace_fail_the_two_stage_test() {
    let s = Served::new(2 * HOUR, &[]);
    assert_eq!(check_mirror(&s).code, Some(0));
    s.publish_and_take_dists_first(&["sid", "trixie"]);
    let c = check_mirror(&s);
    assert_eq!(c.code, Some(2), "{}", c.stdout);
    let (level, reason) = c.rule("http-redirector", "two-stage sync");
    assert_eq!(level, "error", "{reason}");
    assert!(
        reason.contains("412") && reason.contains("before its master trace"),
        "{reason}"
    );
    assert_eq!(c.not_ok(), vec!["http-redirector two-stage sync: error"]);
    assert!(
        s.web
            .access_log()
            .contains("\"HEAD /debian/dists/sid/Release HTTP/1.1\" 412"),
        "{}",
        s.web.access_log()
    );
}

#[test]
fn a_mirror_without_sid_is_tested_on_a_suite_it_carries() {
    let s = Served::with_suites(HOUR, &["bookworm", "trixie"]);
    let c = check_mirror(&s);
    assert_eq!(c.code, Some(0), "{}\n{}", c.stdout, c.stderr);
    assert!(c.not_ok().is_empty(), "{:?}\n{}", c.not_ok(), c.stdout);
    let (level, reason) = c.rule("http-redirector", "two-stage sync");
    assert_eq!(level, "ok", "{reason}");
    assert!(
        reason.contains(&format!("{}dists/trixie/Release is not newer", s.url())),
        "{reason}"
    );
    // sid first, as the redirector asks; then the suites in their order, trixie (stable)
    // before bookworm (oldstable), whose Release changes less often.
    let log = s.web.access_log();
    assert!(
        log.contains("\"HEAD /debian/dists/sid/Release HTTP/1.1\" 404")
            && log.contains("\"HEAD /debian/dists/trixie/Release HTTP/1.1\" 200")
            && !log.contains("/debian/dists/bookworm/"),
        "{log}"
    );

    // --suite asks for that one only.
    let c = check_mirror_with(&s.m, &["--suite", "bookworm", &s.url()]);
    assert_eq!(c.code, Some(0), "{}", c.stdout);
    assert!(
        c.rule("http-redirector", "two-stage sync")
            .1
            .contains("dists/bookworm/Release is not newer"),
        "{}",
        c.stdout
    );
    // A suite the operator names that the mirror does not carry is a warning: a typo in
    // --suite must not leave the rule untested for ever unnoticed.
    let c = check_mirror_with(&s.m, &["--suite", "sid", &s.url()]);
    assert_eq!(c.code, Some(1), "{}", c.stdout);
    assert_eq!(c.report()["status"], "warning", "{}", c.stdout);
    let (level, reason) = c.rule("http-redirector", "two-stage sync");
    assert_eq!(level, "warning", "{reason}");
    assert!(
        reason.contains("does not carry sid") && reason.contains("404"),
        "{reason}"
    );
}

#[test]
fn a_mirror_without_sid_that_breaks_two_stage_on_trixie_fails() {
    let s = Served::with_suites(2 * HOUR, &["bookworm", "trixie"]);
    assert_eq!(check_mirror(&s).code, Some(0));
    s.publish_and_take_dists_first(&["trixie"]);
    let c = check_mirror(&s);
    assert_eq!(c.code, Some(2), "{}\n{}", c.stdout, c.stderr);
    let (level, reason) = c.rule("http-redirector", "two-stage sync");
    assert_eq!(level, "error", "{reason}");
    assert!(
        reason.contains("412")
            && reason.contains("dists/trixie/Release")
            && reason.contains("before its master trace"),
        "{reason}"
    );
    assert_eq!(c.not_ok(), vec!["http-redirector two-stage sync: error"]);
    assert!(
        s.web
            .access_log()
            .contains("\"HEAD /debian/dists/trixie/Release HTTP/1.1\" 412"),
        "{}",
        s.web.access_log()
    );
    // bookworm's Release was not republished: forced onto it, the test passes.
    let c = check_mirror_with(&s.m, &["--suite", "bookworm", &s.url()]);
    assert_eq!(c.code, Some(0), "{}", c.stdout);
}

#[test]
fn an_unreachable_url_and_a_404_are_clear_errors() {
    let m = Mirror::new();
    // Nothing listens there.
    let url = format!("http://127.0.0.1:{}/debian/", free_port());
    let c = check_mirror_with(&m, &[&url]);
    assert_eq!(c.code, Some(2), "{}", c.stdout);
    let (level, reason) = c.rule("mirror-status", "master trace");
    assert_eq!(level, "error");
    assert!(
        reason.contains(&format!("cannot fetch {url}project/trace/master"))
            && reason.contains("Connection refused"),
        "{reason}"
    );
    // One reason, not a page of follow-up failures.
    assert_eq!(
        c.report()["rules"].as_array().unwrap().len(),
        2,
        "{}",
        c.stdout
    );

    // A web server, but no archive where the URL points.
    let empty = tempdir();
    let web = Nginx::start(&[("/debian/", empty.path())]);
    let c = check_mirror_with(&m, &[&web.url("/debian/")]);
    assert_eq!(c.code, Some(2), "{}", c.stdout);
    let (level, reason) = c.rule("mirror-status", "master trace");
    assert_eq!(level, "error");
    assert!(
        reason.contains("HTTP 404") && reason.contains("the top of a Debian archive"),
        "{reason}"
    );
    let (level, reason) = c.rule("http-redirector", "site trace");
    assert_eq!(level, "error");
    assert!(reason.contains("404"), "{reason}");

    // The text says the same.
    let bin = m.link_bin("archvsync");
    let out = m.run_cmd(m.command_prog(&bin, &["check-mirror", &url]));
    assert_eq!(out.code, Some(2));
    assert!(out.stdout.contains(": ERROR\n"), "{}", out.stdout);
    assert!(out.stdout.contains("Connection refused"), "{}", out.stdout);
}

#[test]
fn over_https_the_certificate_is_verified() {
    let up = upstream_dated(SERIAL_V1, now_epoch() - HOUR);
    let m = synced_mirror(&up, MIRRORNAME, &[]);
    let ca = common::tls::Ca::new("archvsync-check-mirror-test-ca");
    let web = Nginx::start_tls(&[("/debian/", &m.to)], &ca.issue(&["IP:127.0.0.1"]));
    let url = web.url("/debian/");
    let capath = ca.capath.to_string_lossy().into_owned();
    let c = check_mirror_with(&m, &["--ca", &capath, &url]);
    assert_eq!(c.code, Some(0), "{}\n{}", c.stdout, c.stderr);
    assert!(c.not_ok().is_empty(), "{:?}", c.not_ok());
    // The system's CAs do not know this one: the first request fails, and says why.
    let c = check_mirror_with(&m, &["--ca", "/etc/ssl/certs", &url]);
    assert_eq!(c.code, Some(2), "{}", c.stdout);
    let (level, reason) = c.rule("mirror-status", "master trace");
    assert_eq!(level, "error");
    assert!(
        reason.contains("cannot fetch") && reason.to_lowercase().contains("certificate"),
        "{reason}"
    );
    // From the config, RSYNC_SSL_CAPATH is the CA it trusts (as the TLS transport does).
    m.write_conf(
        &m.conf(&up.url())
            .set("MIRROR_URL", url.clone())
            .set("RSYNC_SSL_CAPATH", capath.clone()),
    );
    let bin = m.link_bin("archvsync");
    let out = m.run_cmd(m.command_prog(&bin, &["check-mirror"]));
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
}

#[test]
fn no_url_and_no_mirror_url_is_unknown() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    let bin = m.link_bin("archvsync");
    let out = m.run_cmd(m.command_prog(&bin, &["check-mirror"]));
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(
        out.stderr.contains("MIRROR_URL is not set in"),
        "{}",
        out.stderr
    );
    let out = m.run_cmd(m.command_prog(&bin, &["check-mirror", "rsync://h/debian/"]));
    assert_eq!(out.code, Some(64), "{}", out.stderr);
    // A MIRROR_URL that is no http URL is warned about with file and line.
    m.write_conf(
        &m.conf(&up.url())
            .set("MIRROR_URL", "ftp.example.org/debian"),
    );
    let out = m.run_cmd(m.command_prog(&bin, &["check-config"]));
    assert!(
        out.stdout
            .contains("MIRROR_URL=ftp.example.org/debian is not an http:// or https:// URL")
            && out.stdout.contains("ftpsync.conf:"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
}
