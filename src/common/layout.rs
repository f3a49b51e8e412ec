//! Where configs, logs and locks live (SPEC §3).
//!
//! The original came in two flavours: a "classic" checkout (`~/bin/ftpsync`, `~/etc`, `~/log`)
//! whose BASEDIR is the directory above the program, and the Debian package, which reads
//! `~/.config/ftpsync` and `/etc/ftpsync`. We pick the classic one when `$BASEDIR` is set or
//! `$BASEDIR/etc` holds an ftpsync or runmirrors config, so the same binary serves both.
//! Only the classic layout searches `$BASEDIR/etc`: otherwise it holds no config of ours by
//! that very test, and `/usr/etc` in a "no config" message only misleads.

use std::env;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Layout {
    pub basedir: Option<PathBuf>,
    /// The directory holding the program as it was invoked (links not followed).
    pub bindir: Option<PathBuf>,
    pub classic: bool,
    pub confdirs: Vec<PathBuf>,
    pub logdir: PathBuf,
    pub lockdir: PathBuf,
}

pub fn home() -> PathBuf {
    env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Resolve argv\[0\] to a path without following links: a name with a slash is taken
/// relative to the working directory, a bare name is looked up in PATH.
fn invoked_path(argv0: &OsStr) -> Option<PathBuf> {
    let p = Path::new(argv0);
    if argv0.is_empty() {
        return None;
    }
    if p.components().count() > 1 || p.is_absolute() {
        let cwd = env::current_dir().ok()?;
        // `./bin/ftpsync` names cwd/bin/ftpsync; drop the `.` so paths in messages read well.
        let joined: PathBuf = cwd
            .join(p)
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        return Some(joined);
    }
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|d| d.join(p))
        .find(|c| c.is_file())
        .map(|c| {
            if c.is_absolute() {
                c
            } else {
                env::current_dir().map(|d| d.join(&c)).unwrap_or(c)
            }
        })
}

/// `~/etc` of a classic setup holds our configs; `/usr/local/etc` of an installed binary
/// usually exists too but holds nothing of ours, and must not send logs to /usr/local/log.
fn has_our_configs(etc: &Path) -> bool {
    std::fs::read_dir(etc).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.starts_with("ftpsync") || n.starts_with("runmirrors")
        })
    })
}

impl Layout {
    /// The config search path as messages name it: `DIR, DIR, DIR`.
    pub fn searched(&self) -> String {
        self.confdirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Variables the original defined before it sourced a config; configs refer to them.
    pub fn config_prelude(&self, name: &str, archive: &str) -> Vec<(&'static str, String)> {
        let path_str = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        vec![
            ("BASEDIR", path_str(&self.basedir)),
            ("BINDIR", path_str(&self.bindir)),
            ("LOGDIR", self.logdir.display().to_string()),
            ("LOCKDIR", self.lockdir.display().to_string()),
            ("NAME", name.to_string()),
            ("ARCHIVE", archive.to_string()),
        ]
    }

    pub fn detect(argv0: &OsStr) -> Layout {
        let bindir = invoked_path(argv0).and_then(|p| p.parent().map(Path::to_path_buf));
        let (basedir, classic) = match env::var_os("BASEDIR").filter(|b| !b.is_empty()) {
            Some(b) => (Some(PathBuf::from(b)), true),
            None => {
                let base = bindir
                    .as_ref()
                    .and_then(|d| d.parent().map(Path::to_path_buf));
                let classic = base
                    .as_ref()
                    .is_some_and(|b| has_our_configs(&b.join("etc")));
                (base, classic)
            }
        };
        Layout::build(basedir, bindir, classic, &home())
    }

    pub fn build(
        basedir: Option<PathBuf>,
        bindir: Option<PathBuf>,
        classic: bool,
        home: &Path,
    ) -> Layout {
        let mut confdirs = Vec::new();
        if let (Some(b), true) = (&basedir, classic) {
            confdirs.push(b.join("etc"));
        }
        confdirs.push(home.join(".config/ftpsync"));
        confdirs.push(PathBuf::from("/etc/ftpsync"));
        let (logdir, lockdir) = match (&basedir, classic) {
            (Some(b), true) => (b.join("log"), b.join("locks")),
            _ => (
                home.join(".local/log/ftpsync"),
                home.join(".local/lock/ftpsync"),
            ),
        };
        Layout {
            basedir,
            bindir,
            classic,
            confdirs,
            logdir,
            lockdir,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_layout_uses_basedir() {
        let l = Layout::build(
            Some("/home/m".into()),
            Some("/home/m/bin".into()),
            true,
            Path::new("/home/m"),
        );
        assert_eq!(l.logdir, PathBuf::from("/home/m/log"));
        assert_eq!(l.lockdir, PathBuf::from("/home/m/locks"));
        assert_eq!(l.confdirs[0], PathBuf::from("/home/m/etc"));
        assert_eq!(l.confdirs[2], PathBuf::from("/etc/ftpsync"));
    }

    #[test]
    fn an_etc_without_our_configs_is_not_a_classic_layout() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/other.conf"), "").unwrap();
        assert!(!has_our_configs(&d.path().join("etc")));
        std::fs::write(d.path().join("etc/ftpsync-security.conf"), "").unwrap();
        assert!(has_our_configs(&d.path().join("etc")));
    }

    #[test]
    fn packaged_layout_uses_home_dirs() {
        let l = Layout::build(
            Some("/usr".into()),
            Some("/usr/bin".into()),
            false,
            Path::new("/h"),
        );
        assert_eq!(l.logdir, PathBuf::from("/h/.local/log/ftpsync"));
        assert_eq!(l.lockdir, PathBuf::from("/h/.local/lock/ftpsync"));
        // /usr/etc is not searched, so no message names it.
        assert_eq!(
            l.confdirs,
            [
                PathBuf::from("/h/.config/ftpsync"),
                PathBuf::from("/etc/ftpsync")
            ]
        );
        assert_eq!(l.searched(), "/h/.config/ftpsync, /etc/ftpsync");
    }
}
