//! The rail that keeps stage 2's `rsync --delete` away from what is not a mirror tree: a TO
//! that is `/`, `$HOME` or above it, and a TO another archive's config uses too.

use super::archive::Settings;
use super::Refusal;
use crate::common::config::{self, RawConfig};
use crate::common::layout::Layout;
use std::path::{Component, Path, PathBuf};

/// The other archives' configs whose TO is ours (the same directory, however spelt: links
/// followed, `..` and trailing slashes applied). Two archives in one tree delete each other's
/// files (stage 2 runs `rsync --delete`) and each other's trace files, so a run refuses this.
///
/// The other archives are found as `archvsync status` lists them ([`discover`]:
/// every `ftpsync.conf` and `ftpsync-NAME.conf`/`.toml` in the config search path), each
/// config the one a run of that archive would load. Only their TO is needed, so they are
/// sourced without defaults ([`Settings::load_raw`]: no rsync probe); one that does not load
/// is skipped (it cannot run either; `check-config NAME` reports it). Relative TOs are
/// resolved against the working directory, so call this where a run works (BASEDIR).
pub fn configs_sharing_to(layout: &Layout, s: &Settings) -> Vec<PathBuf> {
    let ours = resolve(&s.to);
    let mut found = Vec::new();
    for archive in discover(layout) {
        let name = if archive.is_empty() {
            "ftpsync".to_string()
        } else {
            config::sanitize_name(&format!("ftpsync-{archive}"))
        };
        match config::find(&layout.confdirs, &name) {
            Some(p) if p != s.core.config_path => {}
            _ => continue,
        }
        let Ok((raw, _)) = Settings::load_raw(layout, &archive) else {
            continue;
        };
        if resolve(Path::new(&raw.string_or("TO", DEFAULT_TO))) == ours
            && !found.contains(&raw.path)
        {
            found.push(raw.path);
        }
    }
    found
}

/// The refusal of a TO shared with `others` ([`configs_sharing_to`]), naming every file.
pub fn shared_to_message(s: &Settings, others: &[PathBuf]) -> String {
    format!(
        "{}: TO={} is also the TO of {} (both are {}): two archives in one tree delete each other's files (stage 2 runs rsync --delete) and trace files; give each archive its own TO",
        s.core.config_path.display(),
        s.to.display(),
        others
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" and "),
        resolve(&s.to).display()
    )
}

/// The default TO, as the original's `${TO:-/srv/mirrors/debian/}`.
pub const DEFAULT_TO: &str = "/srv/mirrors/debian/";

/// Refuse (exit 1, naming the config file) a TO that stage 2's `rsync --delete` would turn
/// into a disaster: empty, `/`, `$HOME`, or a directory above `$HOME`.
pub fn refuse_dangerous_to(raw: &RawConfig) -> Result<(), Refusal> {
    let refuse = |why: String| Refusal {
        code: 1,
        message: format!("{}: {why}; refusing to run", raw.location("TO")),
    };
    if raw.is_set("TO") && raw.string("TO").is_none_or(|t| t.trim().is_empty()) {
        return Err(refuse(
            "TO is set but empty (stage 2 would delete with rsync --delete in the working directory)"
                .into(),
        ));
    }
    let to = raw.string_or("TO", DEFAULT_TO);
    match dangerous_to(Path::new(&to), &crate::common::layout::home()) {
        Some(why) => Err(refuse(why)),
        None => Ok(()),
    }
}

/// Why `to` must never be a mirror tree, if it must not. `home` is `$HOME`.
pub fn dangerous_to(to: &Path, home: &Path) -> Option<String> {
    if to.as_os_str().is_empty() {
        return Some("TO is empty".into());
    }
    let resolved = resolve(to);
    if resolved == Path::new("/") {
        return Some(format!(
            "TO={} is the root directory: stage 2 (rsync --delete) would delete everything the upstream does not have",
            to.display()
        ));
    }
    let home_resolved = resolve(home);
    if resolved == home_resolved {
        return Some(format!(
            "TO={} is your home directory ($HOME): stage 2 (rsync --delete) would delete your files",
            to.display()
        ));
    }
    if home_resolved.starts_with(&resolved) {
        return Some(format!(
            "TO={} contains your home directory ($HOME={}): stage 2 (rsync --delete) would delete it",
            to.display(),
            home.display()
        ));
    }
    None
}

/// Absolute, `..` applied, links of existing components followed.
pub fn resolve(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    let mut out = PathBuf::from("/");
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => {
                out.push(n);
                if let Ok(real) = std::fs::canonicalize(&out) {
                    out = real;
                }
            }
            _ => {}
        }
    }
    out
}

/// Archives with a config: `ftpsync.conf` is the default archive, `ftpsync-NAME.conf` NAME.
pub fn discover(layout: &Layout) -> Vec<String> {
    let mut found = std::collections::BTreeSet::new();
    for dir in &layout.confdirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(stem) = name
                .strip_suffix(".conf")
                .or_else(|| name.strip_suffix(".toml"))
            else {
                continue;
            };
            if stem == "ftpsync" {
                found.insert(String::new());
            } else if let Some(a) = stem.strip_prefix("ftpsync-") {
                found.insert(a.to_string());
            }
        }
    }
    found.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_dot_dot_and_root() {
        use super::resolve;
        use std::path::{Path, PathBuf};
        assert_eq!(resolve(Path::new("/")), PathBuf::from("/"));
        assert_eq!(resolve(Path::new("//.")), PathBuf::from("/"));
        assert_eq!(resolve(Path::new("/nonexistent-x/..")), PathBuf::from("/"));
        assert_eq!(
            resolve(Path::new("/nonexistent-x/y/")),
            PathBuf::from("/nonexistent-x/y")
        );
    }

    #[test]
    fn dangerous_targets() {
        let home = Path::new("/nonexistent-home/u");
        for to in [
            "/",
            "//",
            "/.",
            "/nonexistent-x/..",
            "/nonexistent-home/u",
            "/nonexistent-home/u/",
            "/nonexistent-home/u/x/..",
            "/nonexistent-home",
            "/nonexistent-home/",
        ] {
            assert!(dangerous_to(Path::new(to), home).is_some(), "{to}");
        }
        for to in [
            "/srv/mirrors/debian/",
            "/nonexistent-home/u/mirror",
            "/nonexistent-home/v",
        ] {
            assert!(dangerous_to(Path::new(to), home).is_none(), "{to}");
        }
        assert!(dangerous_to(Path::new(""), home).is_some());
    }
}
