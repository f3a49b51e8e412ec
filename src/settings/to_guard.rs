//! The rail that keeps stage 2's `rsync --delete` away from what is not a mirror tree: a TO
//! that is `/`, `$HOME` or above it, and a TO another archive's config uses too.

use super::archive::ArchiveSettings;
use super::Refusal;
use crate::common::config::{self, FixedEnv, RawConfig};
use crate::common::layout::Layout;
use std::path::{Component, Path, PathBuf};

/// The other archives' configs whose TO is ours (the same directory, however spelt: links
/// followed, `..` and trailing slashes applied). Two archives in one tree delete each other's
/// files (stage 2 runs `rsync --delete`) and each other's trace files.
///
/// A config is bash, and its TO may come from the caller's environment (`TO=out/$ID/`, or
/// TO itself exported) or working directory, which another archive's runs need not share:
/// this run cannot tell where that archive's runs will sync. So every config is sourced
/// twice, in this run's environment and in [`fixed_env`] (what cron gives a job), and the
/// conflict is [`SharedTo::certain`] only when both TOs are the same in both (a run refuses
/// it); when they meet in one of the two only it is [`SharedTo::likely`] (a run warns).
///
/// The other archives are found as `archvsync status` lists them ([`discover`]:
/// every `ftpsync.conf` and `ftpsync-NAME.conf`/`.toml` in the config search path), each
/// config the one a run of that archive would load. Only their TO is needed, so they are
/// sourced without defaults ([`ArchiveSettings::load_raw`]: no rsync probe); one that loads in
/// neither environment is skipped (it cannot run either; `check-config NAME` reports it).
/// Relative TOs are resolved against the working directory, so call this where a run works
/// (BASEDIR in the classic layout).
pub fn configs_sharing_to(layout: &Layout, s: &ArchiveSettings) -> SharedTo {
    let mut shared = SharedTo::default();
    // Two names can find one file (`ftpsync-a b.conf` is looked up as `ftpsync-a_b`).
    let mut seen = std::collections::BTreeSet::new();
    let others: Vec<(String, PathBuf)> = discover(layout)
        .into_iter()
        .filter_map(|archive| {
            let name = if archive.is_empty() {
                "ftpsync".to_string()
            } else {
                config::sanitize_name(&format!("ftpsync-{archive}"))
            };
            let path = config::find(&layout.confdirs, &name)?;
            (path != s.core.config_path && seen.insert(path.clone())).then_some((archive, path))
        })
        .collect();
    // Nothing to compare with: no need to source our own config again.
    if others.is_empty() {
        return shared;
    }
    let fixed = fixed_env(layout);
    let to_in = |archive: &str, env: Option<&FixedEnv>| {
        let (raw, _) = ArchiveSettings::load_raw_in(layout, archive, env).ok()?;
        let base = match env {
            Some(f) => f.cwd.clone(),
            None => std::env::current_dir().ok()?,
        };
        Some(resolve_in(
            &base,
            Path::new(&raw.string_or("TO", DEFAULT_TO)),
        ))
    };
    let ours = Evaluated {
        here: Some(resolve(&s.to)),
        fixed: to_in(&s.archive, Some(&fixed)),
    };
    for (archive, path) in others {
        let theirs = Evaluated {
            here: to_in(&archive, None),
            fixed: to_in(&archive, Some(&fixed)),
        };
        let meet_here = theirs.here.is_some() && theirs.here == ours.here;
        let meet_fixed = theirs.fixed.is_some() && theirs.fixed == ours.fixed;
        if meet_here && ours.stable() && theirs.stable() {
            shared.certain.push(path);
        } else if meet_here || meet_fixed {
            shared.likely.push(Likely {
                path,
                ours: ours.clone(),
                theirs,
            });
        }
    }
    shared
}

/// What [`configs_sharing_to`] found.
#[derive(Debug, Default)]
pub struct SharedTo {
    /// Configs whose TO is ours whatever the environment: a run refuses to start.
    pub certain: Vec<PathBuf>,
    /// Configs whose TO is ours in this run's environment or in the fixed one, but not in
    /// both (one of the two TOs depends on the caller): a run warns and goes on.
    pub likely: Vec<Likely>,
}

/// One config's TO, resolved, as sourced in the caller's environment (`here`) and in
/// [`fixed_env`]; None where the config did not load.
#[derive(Debug, Clone)]
pub struct Evaluated {
    pub here: Option<PathBuf>,
    pub fixed: Option<PathBuf>,
}

impl Evaluated {
    /// The same TO whoever runs it: it does not depend on the caller.
    fn stable(&self) -> bool {
        self.here.is_some() && self.here == self.fixed
    }
}

/// A config whose TO may be ours ([`SharedTo::likely`]), with both evaluations of each.
#[derive(Debug)]
pub struct Likely {
    pub path: PathBuf,
    pub ours: Evaluated,
    pub theirs: Evaluated,
}

/// The environment configs are sourced in the second time: nothing of the caller's, only
/// what cron gives a job (a fixed PATH, and HOME, LOGNAME and USER from the user database,
/// left out when it has no entry for us). The working directory is the run's in the classic
/// layout (a run always works in BASEDIR); elsewhere a run works where it was started, so
/// one other than ours is taken: a TO relative to it, or made from `$PWD`, then differs.
pub fn fixed_env(layout: &Layout) -> FixedEnv {
    let mut vars = vec![("PATH".to_string(), FIXED_PATH.to_string())];
    if let Some((name, home)) = crate::common::system::account() {
        vars.push(("HOME".into(), home.display().to_string()));
        vars.push(("LOGNAME".into(), name.clone()));
        vars.push(("USER".into(), name));
    }
    let here = std::env::current_dir().unwrap_or_default();
    let cwd = if layout.classic {
        here
    } else {
        let here = resolve(&here);
        [
            PathBuf::from("/"),
            crate::common::layout::home(),
            std::env::temp_dir(),
        ]
        .into_iter()
        .find(|d| resolve(d) != here)
        .unwrap_or_else(|| PathBuf::from("/"))
    };
    FixedEnv { vars, cwd }
}

/// PATH in [`fixed_env`]: Debian's default for login shells, a superset of cron's.
const FIXED_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The refusal of a TO certainly shared with `others` ([`SharedTo::certain`]), naming every
/// file.
pub fn shared_to_message(s: &ArchiveSettings, others: &[PathBuf]) -> String {
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

/// The warning about a TO that may be shared ([`SharedTo::likely`]), `FILE: warning: ...` as
/// a config's own warnings: both files, where the TOs meet and which of them depends on the
/// caller, so why it is not refused.
pub fn likely_shared_to_message(s: &ArchiveSettings, l: &Likely) -> String {
    let shown = |p: &Option<PathBuf>| match p {
        Some(p) => p.display().to_string(),
        None => "nothing (the config does not load)".to_string(),
    };
    let pair = |a: &Option<PathBuf>, b: &Option<PathBuf>, verb: &str| {
        if a == b {
            format!("both {verb} {}", shown(a))
        } else {
            format!("they {verb} {} and {}", shown(a), shown(b))
        }
    };
    let (ours, theirs) = (&l.ours, &l.theirs);
    format!(
        "{}: warning: TO={} may also be the TO of {}: in this run {}, but sourced with only PATH, HOME, LOGNAME and USER set (as cron runs a job) {}, so a TO depends on the caller's environment or working directory and that archive's own runs may use another. Not refused, as this run cannot know; two archives in one tree delete each other's files (stage 2 runs rsync --delete): give each archive its own TO",
        s.core.config_path.display(),
        s.to.display(),
        l.path.display(),
        pair(&ours.here, &theirs.here, "are"),
        pair(&ours.fixed, &theirs.fixed, "give"),
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
    resolve_in(&std::env::current_dir().unwrap_or_default(), p)
}

/// [`resolve`], a relative `p` taken from `base` instead of the working directory.
pub fn resolve_in(base: &Path, p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
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
