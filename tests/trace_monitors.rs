//! Our trace files as Debian's monitors read them, after real syncs from an rsync daemon.
//!
//! The rules are those of the http-redirector's checker (`Mirror::Trace`): the first line is
//! a `date -u` date; every later line must match `^([\w -]+):(.*)$` or the whole trace is
//! rejected; the software is the `Used ftpsync version` line, which must match
//! `^Used ftpsync version: ([0-9]+)$` (anything else is a "bad ftpsync" whose InRelease,
//! i18n and Archive-Update-in-Progress support is assumed missing; the last came with
//! 20130501); an architecture counts when `Architectures:` names it as a word.
//! mirror-status reads `Creator:` first to name the software.

mod common;
use common::*;

/// Perl's `\w` in the checker's key pattern, for the ASCII keys a trace has.
fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ' ' || c == '-'
}

/// What the monitors conclude from a trace; a broken rule is an error naming the line.
struct Verdict {
    ftpsync_version: u64,
    architectures: Option<Vec<String>>,
    creator: Option<String>,
}

fn as_debian_monitors_read_it(text: &str) -> Result<Verdict, String> {
    let mut lines = text.split('\n');
    let date = lines.next().unwrap_or_default();
    parse_date_u(date).map_err(|e| format!("first line: {e}"))?;
    let mut version = None;
    let mut architectures = None;
    let mut creator = None;
    // Perl's split drops trailing empty fields: the final newline ends the last line.
    let body: Vec<&str> = lines.collect();
    let body = match body.split_last() {
        Some((&"", rest)) => rest,
        _ => &body[..],
    };
    for line in body {
        let (key, value) = line
            .split_once(':')
            .filter(|(k, _)| !k.is_empty() && k.chars().all(is_key_char))
            .ok_or_else(|| format!("line {line:?} does not match ^([\\w -]+):(.*)$"))?;
        match key {
            "Used ftpsync version" => {
                let digits = line
                    .strip_prefix("Used ftpsync version: ")
                    .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| {
                        format!("{line:?} does not match ^Used ftpsync version: ([0-9]+)$")
                    })?;
                version = Some(digits.parse::<u64>().map_err(|e| e.to_string())?);
            }
            "Architectures" => {
                architectures = Some(value.split_whitespace().map(str::to_string).collect())
            }
            "Creator" => creator = Some(value.trim().to_string()),
            _ => {}
        }
    }
    Ok(Verdict {
        ftpsync_version: version.ok_or("no Used ftpsync version line")?,
        architectures,
        creator,
    })
}

fn assert_monitors_accept(path: &std::path::Path) -> Verdict {
    let text = read_string(path);
    let v = as_debian_monitors_read_it(&text)
        .unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()));
    assert!(
        v.ftpsync_version >= 20130501,
        "ftpsync version {} predates Archive-Update-in-Progress support:\n{text}",
        v.ftpsync_version
    );
    assert_eq!(
        v.creator.as_deref(),
        Some(concat!("archvsync ", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    v
}

#[test]
fn full_mirror_trace_passes_debian_monitor_rules() {
    let up = Upstream::v1();
    let m = Mirror::new();
    // A multi-line value (bash $'...' or a quoted newline) must not break the trace.
    m.write_conf(
        &m.conf(&up.url())
            .set("INFO_MAINTAINER", "Ops <ops@example.org>\n(none)")
            .set("INFO_COUNTRY", "DE"),
    );
    m.expect_code(&m.run(&["sync:all"]), 0);
    let v = assert_monitors_accept(&m.trace_path());
    // The version is the upstream release we are compatible with (SPEC: 20180513).
    assert_eq!(v.ftpsync_version, 20180513);
    let archs = v.architectures.expect("no Architectures line");
    for a in ["source", "all", "amd64", "arm64", "i386"] {
        assert!(archs.iter().any(|x| x == a), "{a} missing from {archs:?}");
    }
    let t = m.trace();
    assert_eq!(t.req("Maintainer"), "Ops <ops@example.org> (none)");
    assert_trace_key_order(&t);
}

#[test]
fn source_is_listed_only_when_sources_are_mirrored() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()).set("ARCH_INCLUDE", "amd64 source"));
    m.expect_code(&m.run(&[]), 0);
    let archs = assert_monitors_accept(&m.trace_path())
        .architectures
        .expect("no Architectures line");
    assert!(archs.iter().any(|x| x == "source"), "{archs:?}");

    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()).set("ARCH_INCLUDE", "amd64"));
    m.expect_code(&m.run(&[]), 0);
    let archs = assert_monitors_accept(&m.trace_path())
        .architectures
        .expect("no Architectures line");
    assert!(!archs.iter().any(|x| x == "source"), "{archs:?}");
    assert!(archs.iter().any(|x| x == "amd64"), "{archs:?}");
}

#[test]
fn stage1_trace_passes_debian_monitor_rules_too() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()));
    m.expect_code(&m.run(&["sync:stage1"]), 0);
    assert_monitors_accept(&m.stage1_trace_path());
}
