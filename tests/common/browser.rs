//! Headless Chromium (Debian's `chromium`, installed by scripts/setup-deps), for what only a
//! browser shows of a page: the DOM as Chromium built it from the file (`--dump-dom`) and a
//! screenshot. Every run gets a fresh profile (`--user-data-dir`, HOME and XDG dirs in a
//! temp dir of its own), no network of its own (no background requests, updates, sync or
//! QUIC), and is bounded in time: on timeout its whole process group is killed and the test
//! panics. Whatever it leaves running when it exits is killed too.

use super::{kill_group, read_string, tail, tempdir, wait_or_kill_group};
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Upper bound for one Chromium run (a cold start takes a second or two).
pub const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(90);

/// Where tests keep what a person may want to look at after the run (screenshots).
pub fn artifact_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    fs::create_dir_all(&d).unwrap();
    d
}

/// The chromium binary. A test that needs it must not pass without it: CI installs it.
pub fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!("chromium is missing: run scripts/setup-deps (it installs Debian's chromium)");
}

/// `chromium --headless ... ARGS file://PAGE`; its stdout. Panics (with its stderr) when it
/// fails or outlives [`CHROMIUM_TIMEOUT`].
fn run(page: &Path, args: &[String]) -> String {
    assert!(page.is_absolute(), "{} is not absolute", page.display());
    let profile = tempdir();
    let p = profile.path();
    let mut c = Command::new(chromium());
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--mute-audio",
    ])
    .arg(format!("--user-data-dir={}", p.join("profile").display()))
    .args(args)
    .arg(format!("file://{}", page.display()));
    c.env_clear();
    c.env(
        "PATH",
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
    );
    c.env("HOME", p);
    c.env("XDG_CONFIG_HOME", p.join("config"));
    c.env("XDG_CACHE_HOME", p.join("cache"));
    c.env("LANG", "C.UTF-8");
    c.env("TZ", "UTC");
    let (out, err) = (p.join("stdout"), p.join("stderr"));
    c.stdout(fs::File::create(&out).unwrap());
    c.stderr(fs::File::create(&err).unwrap());
    c.stdin(Stdio::null());
    c.process_group(0);
    let mut child = c.spawn().expect("start chromium");
    let pid = child.id();
    let Some(status) = wait_or_kill_group(&mut child, CHROMIUM_TIMEOUT, Duration::from_millis(50))
    else {
        panic!(
            "chromium {args:?} did not finish within {CHROMIUM_TIMEOUT:?}\n{}",
            tail(&read_string(&err), 4000)
        );
    };
    // Its helpers (zygote, renderer, utility processes) share its process group.
    kill_group(pid);
    assert!(
        status.success(),
        "chromium {args:?}: {status}\n{}",
        tail(&read_string(&err), 4000)
    );
    read_string(&out)
}

/// The page's DOM after Chromium parsed and laid it out, serialised.
pub fn dump_dom(page: &Path) -> String {
    let dom = run(page, &["--dump-dom".to_string()]);
    assert!(
        dom.contains("<html") && dom.contains("</html>"),
        "chromium printed no DOM for {}:\n{}",
        page.display(),
        tail(&dom, 2000)
    );
    dom
}

/// A PNG of the page in a window of `width` x `height`, written to `png`.
pub fn screenshot(page: &Path, png: &Path, (width, height): (u32, u32)) {
    let _ = fs::remove_file(png);
    run(
        page,
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size={width},{height}"),
        ],
    );
    let data = fs::read(png).unwrap_or_else(|e| panic!("no screenshot {}: {e}", png.display()));
    assert!(
        data.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        png.display()
    );
}

/// How many elements of `html` carry all of `classes` among their classes (`class="a b"`,
/// as Chromium serialises every attribute).
pub fn count_classes(html: &str, classes: &[&str]) -> usize {
    html.split(" class=\"")
        .skip(1)
        .filter(|rest| {
            rest.split('"').next().is_some_and(|c| {
                classes
                    .iter()
                    .all(|want| c.split_whitespace().any(|w| w == *want))
            })
        })
        .count()
}

pub fn count_class(html: &str, class: &str) -> usize {
    count_classes(html, &[class])
}

/// The element that starts with `start` (e.g. `<section class="archive" id="archive-0"`),
/// up to its `end` tag: a part of a serialised DOM to look into.
pub fn element<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in the DOM:\n{}", tail(html, 3000)));
    let rest = &html[from..];
    let to = rest
        .find(end)
        .unwrap_or_else(|| panic!("{start} has no {end}"));
    &rest[..to + end.len()]
}
