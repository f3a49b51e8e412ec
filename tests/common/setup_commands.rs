//! archvsync's setup commands (`downstream ...`, `rsyncd-config`) as an operator runs them:
//! run to their end within a deadline ([`run_to_end`]), what they print for the other side
//! ([`printed`]), and the files they leave with their modes ([`files`]).

use super::files::tempdir;
use super::mirror::Running;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

pub const TIMEOUT: Duration = Duration::from_secs(60);

pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn all(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        )
    }
    /// Its stdout or stderr says `needle`.
    pub fn has(&self, needle: impl AsRef<str>) -> &Out {
        let needle = needle.as_ref();
        assert!(
            self.stdout.contains(needle) || self.stderr.contains(needle),
            "no {needle:?} in\n{}",
            self.all()
        );
        self
    }
    pub fn expect(&self, code: i32, what: &str) -> &Out {
        assert_eq!(
            self.code,
            Some(code),
            "{what}: exit {:?}\n{}",
            self.code,
            self.all()
        );
        self
    }
}

/// Run `cmd` to its end, at most TIMEOUT (then its process group is killed).
pub fn run_to_end(mut cmd: Command) -> Out {
    use std::os::unix::process::CommandExt;
    let dir = tempdir();
    cmd.stdin(Stdio::null()).process_group(0);
    let o = Running::start(cmd, dir.path()).wait(TIMEOUT);
    Out {
        code: o.code,
        stdout: o.stdout,
        stderr: o.stderr,
    }
}

pub fn mode(p: &Path) -> u32 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Every file under `root` (but logs, locks and mirror trees): bytes and mode.
pub fn files(root: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let md = fs::symlink_metadata(&p).unwrap();
            if md.is_dir() {
                // LOCKDIR is where add takes its lock; logs and trees are not config.
                if !["log", "locks", "mirror", "bin"].contains(&name.as_str()) {
                    stack.push(p.clone());
                    out.insert(p, (Vec::new(), md.permissions().mode() & 0o7777));
                }
            } else if md.is_file() {
                out.insert(
                    p.clone(),
                    (fs::read(&p).unwrap(), md.permissions().mode() & 0o7777),
                );
            }
        }
    }
    out
}

pub fn assert_same_files(
    before: &BTreeMap<PathBuf, (Vec<u8>, u32)>,
    after: &BTreeMap<PathBuf, (Vec<u8>, u32)>,
    what: &str,
) {
    let mut diff = Vec::new();
    for (p, v) in before {
        match after.get(p) {
            None => diff.push(format!("gone: {}", p.display())),
            Some(a) if a != v => diff.push(format!(
                "changed: {} (mode {:o} -> {:o})\n{}\n->\n{}",
                p.display(),
                v.1,
                a.1,
                String::from_utf8_lossy(&v.0),
                String::from_utf8_lossy(&a.0)
            )),
            _ => {}
        }
    }
    for p in after.keys().filter(|p| !before.contains_key(*p)) {
        diff.push(format!("new: {}", p.display()));
    }
    assert!(diff.is_empty(), "{what}:\n{}", diff.join("\n"));
}

/// The lines of `add`'s output the downstream's operator pastes.
pub struct Printed {
    pub restrict: String,
    pub long_form: String,
    pub rsync_lines: Vec<String>,
    pub password: String,
}

pub fn printed(out: &str, command: &str) -> Printed {
    let find = |prefix: &str| {
        out.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{out}"))
            .to_string()
    };
    let restrict = find(&format!("command=\"{command}\",restrict "));
    let long_form = find(&format!(
        "command=\"{command}\",no-port-forwarding,no-X11-forwarding,no-agent-forwarding,no-pty "
    ));
    let rsync_lines: Vec<String> = out
        .lines()
        .filter(|l| l.starts_with("RSYNC_"))
        .map(str::to_string)
        .collect();
    let password = find("RSYNC_PASSWORD=")["RSYNC_PASSWORD=".len()..].to_string();
    Printed {
        restrict,
        long_form,
        rsync_lines,
        password,
    }
}
