//! `archvsync status --mirrorz` (issue 21): the archives as a mirrorz.json after real syncs
//! from a real rsync daemon — a success, a failure, a failure after a success, a sync in
//! progress — checked against MirrorZ's own description of the format.
//!
//! The format is MirrorZ's "Data Format v1.7": github.com/mirrorz-org/mirrorz, README.md,
//! section "Data Format v1.7" and its "Notes" (the validator below follows those notes;
//! the site's TypeScript schema, src/schema/index.ts, agrees on which fields are required).

mod common;
use common::*;
use serde_json::{Map, Value};
use std::time::Duration;

fn status(m: &Mirror, args: &[&str]) -> RunOutput {
    let mut all = vec!["status"];
    all.extend_from_slice(args);
    m.run_cmd(m.command_prog(&m.link_bin("archvsync"), &all))
}

fn mirrorz(m: &Mirror) -> (Option<i32>, Value) {
    let out = status(m, &["--mirrorz"]);
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", out.stdout, out.stderr));
    validate(&v);
    (out.code, v)
}

/// The status letters of the format: one main status, any number of auxiliary ones.
const MAIN: &[char] = &['S', 'D', 'Y', 'F', 'P', 'C', 'R', 'U'];
const AUXILIARY: &[char] = &['X', 'N', 'O'];
/// The main statuses the notes give no timestamp: reverse proxies and unknown.
const WITHOUT_TIME: &[char] = &['C', 'R', 'U'];

/// `mirrors.status`: "a concat of strings of pattern `[A-Z](\d+)?`", read without a regex:
/// the letters in order, each with its number if it has one.
fn parse_status(s: &str) -> Result<Vec<(char, Option<i64>)>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if !c.is_ascii_uppercase() {
            return Err(format!("{s:?}: {c:?} where a status letter belongs"));
        }
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        let n = if digits.is_empty() {
            None
        } else {
            Some(
                digits
                    .parse::<i64>()
                    .map_err(|e| format!("{s:?}: {digits}: {e}"))?,
            )
        };
        out.push((c, n));
    }
    if out.is_empty() {
        return Err("an empty status".into());
    }
    Ok(out)
}

fn validate_status(s: &str) {
    let parts = parse_status(s).unwrap();
    let mains: Vec<char> = parts
        .iter()
        .map(|p| p.0)
        .filter(|c| MAIN.contains(c))
        .collect();
    assert_eq!(mains.len(), 1, "{s:?}: exactly one main status");
    let main = mains[0];
    let now = now_epoch();
    for (c, t) in &parts {
        assert!(
            MAIN.contains(c) || AUXILIARY.contains(c),
            "{s:?}: {c} is no status of the format"
        );
        if WITHOUT_TIME.contains(c) {
            assert_eq!(*t, None, "{s:?}: {c} carries no timestamp");
        }
        if let Some(t) = t {
            // Unix seconds of this test's runs: after the format existed, not in the future.
            assert!(
                (1_600_000_000..=now + 60).contains(t),
                "{s:?}: {t} is no plausible timestamp (now {now})"
            );
        }
        if *c == 'O' {
            assert!(
                main == 'Y' || main == 'F',
                "{s:?}: O is only used when syncing or failed"
            );
        }
    }
}

fn string_field(o: &Map<String, Value>, k: &str, what: &str) -> Option<String> {
    o.get(k).map(|v| {
        v.as_str()
            .unwrap_or_else(|| panic!("{what}.{k} is not a string: {v}"))
            .to_string()
    })
}

/// A url of `mirrors`: a path on the site (beginning with a slash) or a URL of its own,
/// never ending with a slash.
fn validate_mirror_url(u: &str, what: &str) {
    assert!(
        u.starts_with('/') || u.starts_with("http://") || u.starts_with("https://"),
        "{what} {u:?}"
    );
    assert!(!u.ends_with('/'), "{what} {u:?} ends with a slash");
}

/// Everything the format's notes say of a mirrorz.json, as far as data can show it.
fn validate(v: &Value) {
    let top = v.as_object().expect("an object");
    for k in top.keys() {
        assert!(
            ["version", "site", "info", "mirrors"].contains(&k.as_str()),
            "unknown top-level field {k}"
        );
    }
    // Optional in 1.x; when given, the version this is.
    if let Some(ver) = top.get("version") {
        assert_eq!(ver.as_f64(), Some(1.7), "version {ver}");
    }
    let site = top
        .get("site")
        .and_then(Value::as_object)
        .expect("site is an object");
    let site_fields = [
        "url",
        "logo",
        "logo_darkmode",
        "abbr",
        "name",
        "homepage",
        "issue",
        "request",
        "email",
        "group",
        "disk",
        "note",
        "big",
    ];
    for (k, val) in site {
        if k == "disable" {
            assert!(val.is_boolean(), "site.disable {val}");
        } else {
            assert!(site_fields.contains(&k.as_str()), "unknown site.{k}");
            assert!(val.is_string(), "site.{k} is not a string: {val}");
        }
    }
    // Only url and abbr are mandatory; url without a trailing slash.
    let url = string_field(site, "url", "site").expect("site.url");
    assert!(
        url.starts_with("http://") || url.starts_with("https://"),
        "site.url {url:?}"
    );
    assert!(!url.ends_with('/'), "site.url {url:?} ends with a slash");
    let abbr = string_field(site, "abbr", "site").expect("site.abbr");
    assert!(!abbr.is_empty(), "site.abbr is empty");
    // info: every field mandatory, may be empty.
    let info = top
        .get("info")
        .and_then(Value::as_array)
        .expect("info is an array");
    for i in info {
        let i = i.as_object().expect("an info entry is an object");
        for k in ["distro", "category"] {
            string_field(i, k, "info").unwrap_or_else(|| panic!("info.{k}"));
        }
        for u in i["urls"].as_array().expect("info.urls") {
            for k in ["name", "url"] {
                assert!(u[k].is_string(), "info.urls.{k}");
            }
        }
    }
    let mirrors = top
        .get("mirrors")
        .and_then(Value::as_array)
        .expect("mirrors is an array");
    for m in mirrors {
        let m = m.as_object().expect("a mirror is an object");
        for (k, val) in m {
            assert!(
                ["cname", "desc", "url", "status", "help", "upstream", "size", "disable"]
                    .contains(&k.as_str()),
                "unknown mirrors.{k}"
            );
            if k == "disable" {
                assert!(val.is_boolean(), "mirrors.disable {val}");
            } else {
                assert!(val.is_string(), "mirrors.{k} is not a string: {val}");
            }
        }
        let cname = string_field(m, "cname", "mirrors").expect("mirrors.cname");
        assert!(!cname.is_empty());
        validate_mirror_url(
            &string_field(m, "url", "mirrors").expect("mirrors.url"),
            "mirrors.url",
        );
        if let Some(h) = string_field(m, "help", "mirrors").filter(|h| !h.is_empty()) {
            validate_mirror_url(&h, "mirrors.help");
        }
        // The site's loader reads a missing status as unknown; we always say.
        validate_status(&string_field(m, "status", "mirrors").expect("mirrors.status"));
    }
}

fn mirror<'a>(v: &'a Value, cname: &str) -> &'a Value {
    v["mirrors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["cname"] == cname)
        .unwrap_or_else(|| panic!("no mirror {cname} in {v:#}"))
}

fn status_of(v: &Value, cname: &str) -> Vec<(char, Option<i64>)> {
    parse_status(mirror(v, cname)["status"].as_str().unwrap()).unwrap()
}

fn state(m: &Mirror, name: &str) -> Value {
    serde_json::from_str(&read_string(&m.logdir().join(format!("{name}.state.json")))).unwrap()
}

#[test]
fn the_validator_refuses_what_the_format_does_not_allow() {
    for good in ["S1700000000", "F1700000000O1690000000", "YO1690000000", "U"] {
        validate_status(good);
    }
    // Empty, a small letter, two main statuses, none, a time on U, O beside a success, a
    // letter the format has not, a time before the format, one in the future.
    for bad in [
        "",
        "s1700000000",
        "SF",
        "O1690000000",
        "U5",
        "S1700000000O1690000000",
        "Z",
        "S1",
        "S99999999999",
    ] {
        let r = std::panic::catch_unwind(|| validate_status(bad));
        assert!(r.is_err(), "{bad:?} passed");
    }
}

#[test]
fn mirrorz_json_of_a_success_a_failure_and_a_sync_in_progress() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(
        &m.conf(&up.url())
            .set("MIRROR_URL", "https://mirror.test.example/debian/"),
    );
    // A second archive whose upstream is gone: it has never synced.
    let dead = format!("rsync://bob@127.0.0.1:{}/extra/", free_port());
    std::fs::create_dir_all(m.dir.join("extra")).unwrap();
    m.write_conf_file(
        "ftpsync-extra.conf",
        &m.conf(&dead)
            .set("MIRRORNAME", "extra.test.example")
            .set("TO", m.dir.join("extra").to_string_lossy()),
    );
    m.expect_code(&m.run(&["sync:all"]), 0);
    let out = m.run(&["sync:archive:extra"]);
    assert_ne!(out.code, Some(0), "{}", m.diagnostics(&out));

    let (code, v) = mirrorz(&m);
    assert_eq!(code, Some(2), "a failed archive makes it CRITICAL: {v:#}");
    assert_eq!(v["site"]["url"], "https://mirror.test.example");
    assert_eq!(v["site"]["abbr"], MIRRORNAME);
    assert_eq!(v["info"], serde_json::json!([]));
    let debian = mirror(&v, "debian");
    assert_eq!(debian["url"], "/debian");
    assert_eq!(debian["upstream"], up.url());
    let ok = state(&m, "ftpsync");
    assert_eq!(
        status_of(&v, "debian"),
        vec![('S', ok["last_success"]["ended"].as_i64())]
    );
    let extra = mirror(&v, "extra");
    assert_eq!(extra["url"], "/extra", "no MIRROR_URL: the cname");
    assert_eq!(
        extra["upstream"],
        dead.replace("bob@", ""),
        "the login name is not published"
    );
    let failed = state(&m, "ftpsync-extra");
    assert_eq!(
        status_of(&v, "extra"),
        vec![('F', failed["last_run"]["ended"].as_i64())],
        "failed, and never a success to name"
    );

    // The default archive fails next: F with its end, O with the last success.
    let success_end = ok["last_success"]["ended"].as_i64();
    std::thread::sleep(Duration::from_millis(1100));
    let gone = format!("rsync://127.0.0.1:{}/debian/", free_port());
    m.write_conf(
        &m.conf(&gone)
            .set("MIRROR_URL", "https://mirror.test.example/debian/"),
    );
    let out = m.run(&["sync:all"]);
    assert_ne!(out.code, Some(0), "{}", m.diagnostics(&out));
    let (_, v) = mirrorz(&m);
    let now_failed = state(&m, "ftpsync");
    assert_eq!(
        status_of(&v, "debian"),
        vec![
            ('F', now_failed["last_run"]["ended"].as_i64()),
            ('O', success_end)
        ]
    );
    assert!(now_failed["last_run"]["ended"].as_i64() > success_end);

    // During a run: Y with when it took its lock, O with the last success.
    let (hook, started, release) = waiting_hook(&m.dir);
    m.write_conf(
        &m.conf(&up.url())
            .set("MIRROR_URL", "https://mirror.test.example/debian/")
            .set("HOOK1", hook.to_string_lossy()),
    );
    let mut running = m.spawn(&["sync:all"], &[]);
    assert!(running.reaches(&started, "HOOK1"));
    let (_, v) = mirrorz(&m);
    let lock_time = std::fs::metadata(m.lock_path())
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert_eq!(
        status_of(&v, "debian"),
        vec![('Y', Some(lock_time)), ('O', success_end)]
    );
    std::fs::write(&release, "").unwrap();
    m.expect_code(&running.wait(RUN_TIMEOUT), 0);
    let (_, v) = mirrorz(&m);
    assert_eq!(
        status_of(&v, "debian"),
        vec![('S', state(&m, "ftpsync")["last_success"]["ended"].as_i64())]
    );

    // One output form at a time.
    assert_eq!(status(&m, &["--mirrorz", "--json"]).code, Some(64));
    assert_eq!(status(&m, &["--mirrorz", "--prometheus"]).code, Some(64));
}

/// Without MIRROR_URL anywhere, the site is MIRRORNAME over https and each archive a path
/// named after it; an archive whose config is refused is there, unknown.
#[test]
fn mirrorz_json_without_mirror_url_and_with_a_refused_config() {
    let m = Mirror::new();
    m.write_conf(&m.conf("rsync://127.0.0.1:9/debian/"));
    m.write_raw("ftpsync-broken.conf", "HISTORY_DAYS=0\n");
    let (code, v) = mirrorz(&m);
    assert_eq!(code, Some(3), "{v:#}");
    assert_eq!(v["site"]["url"], format!("https://{MIRRORNAME}"));
    assert_eq!(mirror(&v, "debian")["url"], "/debian");
    assert_eq!(mirror(&v, "debian")["status"], "U", "never ran");
    assert_eq!(mirror(&v, "broken")["status"], "U");
    assert_eq!(mirror(&v, "broken")["upstream"], "");
}
