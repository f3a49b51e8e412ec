//! Finding and loading config files (SPEC §3).
//!
//! Legacy configs are bash: operators use `$LOGNAME`, `` `hostname -f` ``, `$(...)` and
//! `export`. The only faithful reader is bash itself, so we let bash source the file and
//! hand back the variables over a private pipe. A typed `.toml` with the same keys is the
//! alternative for new setups. Either way the result is a flat map of key → value, and
//! each command turns that into its own typed settings with its own defaults.

use anyhow::Result;
use std::collections::BTreeMap;
use std::fmt;
use std::num::IntErrorKind;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

mod bash;
mod toml_file;
use bash::strip_crlf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Bool,
    Int,
    /// Space-separated words in bash, an array of strings in TOML.
    List,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(String),
    List(Vec<String>),
}

impl Value {
    pub fn as_string(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::List(l) => l.join(" "),
        }
    }
}

/// A loaded config: every known key that is set (in the file or, failing that, in the
/// caller's environment).
#[derive(Debug, Clone)]
pub struct RawConfig {
    pub path: PathBuf,
    pub values: BTreeMap<String, Value>,
    pub warnings: Vec<String>,
    pub(super) text: String,
    toml: bool,
}

/// The error a config problem ends in. Its exit status is EX_CONFIG.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

pub const EX_CONFIG: u8 = 78;

/// The original turns every character outside `[A-Za-z0-9._-]` into `_`, so a
/// `sync:archive:` word can never name a path outside the config directories.
pub fn sanitize_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// First hit wins: in each directory `NAME.conf`, then `NAME.toml`.
pub fn find(confdirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    let name = sanitize_name(name);
    confdirs.iter().find_map(|d| {
        [format!("{name}.conf"), format!("{name}.toml")]
            .into_iter()
            .map(|f| d.join(f))
            .find(|p| p.is_file())
    })
}

/// First existing `FILE` (an exact name, e.g. `runmirrors.mirror`) in the config dirs.
pub fn find_exact(confdirs: &[PathBuf], file: &str) -> Option<PathBuf> {
    let file = sanitize_name(file);
    confdirs.iter().map(|d| d.join(&file)).find(|p| p.is_file())
}

/// Load `path`. `keys` are the names the command knows (others are warned about);
/// `prelude` are variables the original defined before sourcing, which configs may use.
pub fn load(
    path: &Path,
    keys: &[(&str, Kind)],
    prelude: &[(&str, String)],
) -> Result<RawConfig, ConfigError> {
    load_in(path, keys, prelude, None)
}

/// An environment to source a config in instead of the caller's: only `vars` (and the
/// prelude), with `cwd` as the working directory. Comparing a config's values in it with
/// those in the caller's environment shows which depend on the caller.
#[derive(Debug, Clone)]
pub struct FixedEnv {
    pub vars: Vec<(String, String)>,
    pub cwd: PathBuf,
}

/// [`load`], in `fixed` instead of the caller's environment and working directory when given.
pub fn load_in(
    path: &Path,
    keys: &[(&str, Kind)],
    prelude: &[(&str, String)],
    fixed: Option<&FixedEnv>,
) -> Result<RawConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("{}: cannot read: {e}", path.display())))?;
    let toml = path.extension().is_some_and(|e| e == "toml");
    // A file saved by a Windows editor: bash would keep the \r in every value (a TO of
    // `/srv/mirror\r`) and run a blank line as the command `\r`. The operator meant the
    // file without them, so that is what is read, with one warning.
    let (text, crlf_line) = strip_crlf(text);
    let mut cfg = RawConfig {
        path: path.to_path_buf(),
        values: BTreeMap::new(),
        warnings: Vec::new(),
        text,
        toml,
    };
    if let Some(line) = crlf_line {
        cfg.warnings.push(format!(
            "{}:{line}: warning: the file has DOS/Windows line endings (CRLF, the first on this line): they are read as plain line ends, so no value keeps the \\r; convert the file with dos2unix",
            path.display()
        ));
    }
    if toml {
        cfg.load_toml(keys, fixed)?;
    } else {
        cfg.load_bash(keys, prelude, crlf_line.is_some(), fixed)
            .map_err(|e| ConfigError(format!("{e:#}")))?;
    }
    Ok(cfg)
}

impl RawConfig {
    pub(super) fn warn_unknown(&mut self, name: &str, known: &[&str]) {
        let hint = did_you_mean(name, known)
            .map(|k| format!(" (did you mean {k}?)"))
            .unwrap_or_default();
        let msg = format!(
            "{}: warning: unknown key {name}{hint}: archvsync does not use it",
            self.location(name)
        );
        self.warnings.push(msg);
    }

    /// `FILE:LINE` of the last assignment to `key`, or just `FILE` when it cannot be found
    /// (set by a command substitution, or only in the environment).
    pub fn location(&self, key: &str) -> String {
        match find_assignment(&self.text, key, self.toml) {
            Some(line) => format!("{}:{line}", self.path.display()),
            None => self.path.display().to_string(),
        }
    }

    /// Set, even to the empty string.
    pub fn is_set(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// Like bash's `${KEY:-default}`: empty counts as unset.
    pub fn string(&self, key: &str) -> Option<String> {
        self.values
            .get(key)
            .map(Value::as_string)
            .filter(|s| !s.is_empty())
    }

    pub fn string_or(&self, key: &str, default: &str) -> String {
        self.string(key).unwrap_or_else(|| default.to_string())
    }

    /// Word list. The original expands these unquoted, so bash splits them on white space
    /// (and we do not glob, which the original did by accident).
    pub fn words(&self, key: &str) -> Option<Vec<String>> {
        match self.values.get(key)? {
            Value::List(l) => Some(l.clone()),
            Value::Str(s) if s.trim().is_empty() => None,
            Value::Str(s) => Some(s.split_whitespace().map(str::to_string).collect()),
        }
    }

    pub fn words_or(&self, key: &str, default: &str) -> Vec<String> {
        self.words(key)
            .unwrap_or_else(|| default.split_whitespace().map(str::to_string).collect())
    }

    /// The original tests `[[ $X = true ]]`, so anything else is false. A value that is
    /// neither word is most likely a mistake, so say so.
    pub fn bool_or(&mut self, key: &str, default: bool) -> bool {
        match self.string(key).as_deref() {
            None => default,
            Some("true") => true,
            Some("false") => false,
            Some(other) => {
                let msg = format!(
                    "{}: warning: {key}={other} is neither true nor false; treated as false",
                    self.location(key)
                );
                self.warnings.push(msg);
                false
            }
        }
    }

    pub fn u64_or(&self, key: &str, default: u64) -> Result<u64, ConfigError> {
        self.u64_in(key, default, 0..=u64::MAX)
    }

    /// A whole number within `range` (the bound each key documents in its sample), or an
    /// error naming file, line and the range. Bounding every number here is what keeps
    /// `timeout + 10` or a sleep of u64::MAX seconds from panicking or overflowing later.
    pub fn u64_in(
        &self,
        key: &str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> Result<u64, ConfigError> {
        debug_assert!(range.contains(&default), "{key}: default outside its range");
        let Some(s) = self.string(key) else {
            return Ok(default);
        };
        let value = s.trim();
        let out_of_range = || {
            ConfigError(format!(
                "{}: {key}={value} is out of range: it must be a whole number from {} to {}",
                self.location(key),
                range.start(),
                range.end()
            ))
        };
        match value.parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            Ok(_) => Err(out_of_range()),
            Err(e) if *e.kind() == IntErrorKind::PosOverflow => Err(out_of_range()),
            Err(_) => Err(ConfigError(format!(
                "{}: {key}={s} is not a non-negative whole number",
                self.location(key)
            ))),
        }
    }

    /// A name that becomes part of file names (`TO/project/trace/NAME`, lock files) or a
    /// field of a space-separated line (`_hierarchy`): one word, no `/`, no control
    /// characters, not `.` or `..`. `used_for` says where it ends up, for the message.
    pub fn name(&self, key: &str, used_for: &str) -> Result<Option<String>, ConfigError> {
        let Some(v) = self.string(key) else {
            return Ok(None);
        };
        let why = if v.chars().any(char::is_whitespace) {
            Some("contains white space")
        } else if v.contains('/') {
            Some("contains a /")
        } else if v.chars().any(char::is_control) {
            Some("contains a control character")
        } else if v == "." || v == ".." {
            Some("is not a file name")
        } else {
            None
        };
        match why {
            None => Ok(Some(v)),
            Some(why) => Err(ConfigError(format!(
                "{}: {key}=\"{}\" {why}: it {used_for}, so it must be one word without / or control characters (a host name, say)",
                self.location(key),
                v.escape_debug()
            ))),
        }
    }
}

pub(super) fn looks_like_key(name: &str) -> bool {
    !name.starts_with("__archvsync")
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

pub(super) fn line_of_offset(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Line number (1-based) of the last line that assigns `key`.
fn find_assignment(text: &str, key: &str, toml: bool) -> Option<usize> {
    let mut found = None;
    for (i, line) in text.lines().enumerate() {
        let hit = if toml {
            line.trim_start()
                .strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with('='))
        } else {
            line.split(|c: char| c == ';' || c.is_whitespace())
                .any(|w| {
                    w.strip_prefix(key)
                        .is_some_and(|r| r.starts_with('=') || r.starts_with("+="))
                })
        };
        if hit && !line.trim_start().starts_with('#') {
            found = Some(i + 1);
        }
    }
    found
}

fn did_you_mean<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Optimal string alignment distance: a swap of two neighbours (HOTS for HOST) is one typo.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[(&str, Kind)] = &[
        ("TO", Kind::Str),
        ("HUB", Kind::Bool),
        ("RSYNC_HOST", Kind::Str),
        ("LOGROTATE", Kind::Int),
        ("ARCH_INCLUDE", Kind::List),
        ("MAILTO", Kind::Str),
    ];

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn sanitizes_archive_names() {
        assert_eq!(sanitize_name("ftpsync-x; rm -rf ~"), "ftpsync-x__rm_-rf__");
        assert_eq!(sanitize_name("ftpsync-../../etc"), "ftpsync-.._.._etc");
    }

    #[test]
    fn bash_config_expands_like_bash() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "ftpsync.conf",
            "export BASE=/srv\nTO=\"${BASE}/debian/$(echo x)\"\nRSYNC_HOST=`echo up`.example\nRSYNC_HOTS=typo\nMAILTO=\n",
        );
        let c = load(&p, KEYS, &[]).unwrap();
        assert_eq!(c.string("TO").as_deref(), Some("/srv/debian/x"));
        assert_eq!(c.string("RSYNC_HOST").as_deref(), Some("up.example"));
        assert!(c.is_set("MAILTO") && c.string("MAILTO").is_none());
        let w = c.warnings.join("\n");
        assert!(
            w.contains(
                "ftpsync.conf:4: warning: unknown key RSYNC_HOTS (did you mean RSYNC_HOST?)"
            ),
            "{w}"
        );
        assert_eq!(c.warnings.len(), 1, "{w}");
        assert!(
            !w.contains("BASE"),
            "exported helper vars are not keys we warn about: {w}"
        );
    }

    #[test]
    fn bash_syntax_error_names_the_file() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "ftpsync.conf", "TO=/x\nif then fi (\n");
        let e = load(&p, KEYS, &[]).unwrap_err().to_string();
        assert!(e.contains("ftpsync.conf"), "{e}");
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn toml_is_typed() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "ftpsync.toml",
            "TO = \"/m\"\nHUB = true\nLOGROTATE = 3\nARCH_INCLUDE = [\"amd64\", \"source\"]\n",
        );
        let mut c = load(&p, KEYS, &[]).unwrap();
        assert!(c.bool_or("HUB", false));
        assert_eq!(c.u64_or("LOGROTATE", 14).unwrap(), 3);
        assert_eq!(c.words("ARCH_INCLUDE").unwrap(), vec!["amd64", "source"]);
        let p = write(d.path(), "bad.toml", "TO = \"/m\"\n\nHUB = \"maybe\"\n");
        let e = load(&p, KEYS, &[]).unwrap_err().to_string();
        assert!(e.contains("bad.toml:3: HUB must be true or false"), "{e}");
    }

    #[test]
    fn finds_conf_before_toml_and_first_dir_first() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        write(b.path(), "ftpsync.conf", "");
        write(a.path(), "ftpsync.toml", "");
        let dirs = vec![a.path().to_path_buf(), b.path().to_path_buf()];
        assert_eq!(find(&dirs, "ftpsync"), Some(a.path().join("ftpsync.toml")));
        assert_eq!(find(&dirs, "ftpsync-x"), None);
    }

    #[test]
    fn crlf_is_stripped_and_its_first_line_named() {
        let (t, first) = strip_crlf("A=1\nB=2\r\n\r\nC=3\r".to_string());
        assert_eq!((t.as_str(), first), ("A=1\nB=2\n\nC=3", Some(2)));
        let (t, first) = strip_crlf("A=1\nB=x\ry\n".to_string());
        assert_eq!((t.as_str(), first), ("A=1\nB=x\ry\n", None));
        let d = tempfile::tempdir().unwrap();
        // A blank CRLF line is a command `\r` to bash; read as a plain line it is nothing.
        let p = write(
            d.path(),
            "ftpsync.conf",
            "TO=/m\r\n\r\nif true; then\r\n HUB=true\r\nfi\r\n",
        );
        let mut c = load(&p, KEYS, &[]).unwrap();
        assert_eq!(c.string("TO").as_deref(), Some("/m"));
        assert!(c.bool_or("HUB", false));
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(
            c.warnings[0].contains("ftpsync.conf:1: warning: "),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn numbers_are_bounded() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "ftpsync.conf",
            "LOGROTATE=1001\nTO=99999999999999999999999\nMAILTO=x\n",
        );
        let c = load(&p, KEYS, &[]).unwrap();
        let e = c.u64_in("LOGROTATE", 14, 0..=1000).unwrap_err().to_string();
        assert!(
            e.ends_with("ftpsync.conf:1: LOGROTATE=1001 is out of range: it must be a whole number from 0 to 1000"),
            "{e}"
        );
        let e = c.u64_in("TO", 1, 0..=10).unwrap_err().to_string();
        assert!(
            e.contains("ftpsync.conf:2: TO=9999") && e.contains("out of range"),
            "{e}"
        );
        let e = c.u64_in("MAILTO", 1, 0..=10).unwrap_err().to_string();
        assert!(
            e.contains("MAILTO=x is not a non-negative whole number"),
            "{e}"
        );
        assert_eq!(c.u64_in("HUB", 7, 0..=10).unwrap(), 7);
        assert_eq!(c.u64_or("LOGROTATE", 14).unwrap(), 1001);
    }

    #[test]
    fn names_must_be_one_word() {
        let d = tempfile::tempdir().unwrap();
        for bad in ["a b", "a/b", "a\u{1}b", ".."] {
            let p = write(d.path(), "ftpsync.conf", &format!("MAILTO='{bad}'\n"));
            let c = load(&p, KEYS, &[]).unwrap();
            let e = c.name("MAILTO", "is used").unwrap_err().to_string();
            assert!(e.starts_with(&format!("{}:1: MAILTO=", p.display())), "{e}");
        }
        let p = write(d.path(), "ftpsync.conf", "MAILTO=mirror.example.org\n");
        let c = load(&p, KEYS, &[]).unwrap();
        assert_eq!(
            c.name("MAILTO", "is used").unwrap().as_deref(),
            Some("mirror.example.org")
        );
        assert_eq!(c.name("TO", "is used").unwrap(), None);
    }

    #[test]
    fn edit_distance_counts_swaps_once() {
        assert_eq!(edit_distance("RSYNC_HOTS", "RSYNC_HOST"), 1);
        assert_eq!(edit_distance("TO", "TO"), 0);
        assert_eq!(edit_distance("ABC", "XYZ"), 3);
    }
}
