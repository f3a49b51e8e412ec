//! What a sync changed in the tree, read from the lines rsync wrote to LOG_RSYNC.
//!
//! Every stage already runs with `--log-file LOG_RSYNC`, whose default format is
//! `%i %n%L`: one itemized line for each created, updated or deleted entry, attribute-only
//! changes (permissions, times) included, written after the change was made:
//!
//! ```text
//! 2026/11/21 10:27:16 [25689] >f+++++++++ pool/main/h/hello/hello_1_amd64.deb
//! 2026/11/21 10:27:16 [25689] .d..t...... pool/main/h/hello/
//! 2026/11/21 10:27:16 [25689] cL+++++++++ dists/stable -> trixie
//! 2026/11/21 10:27:16 [25689] hf+++++++++ pool/b => pool/a
//! 2026/11/21 10:27:16 [25689] *deleting   pool/main/z/zsh/
//! ```
//!
//! rsync takes one `--log-file` only, so the journal reads this one instead of adding its
//! own (which would empty LOG_RSYNC, and with it the trace's byte count and the progress
//! line). Names come escaped: control characters as `\#ooo`, a backslash as `\#134` where it
//! would read as an escape. A symlink's `%L` is ` -> TARGET`, a hard link's ` => LEADER`;
//! a name can hold those arrows itself, so an ambiguous line is settled by looking at the
//! tree (which split names a symlink with that target, or two names of one inode), and when
//! nothing settles it every candidate name is recorded: naming a path that did not change
//! costs a downstream one stat, missing one would lose a change.

use super::format::{check_path, Changes, Kind};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Longer than any path Linux accepts: a line this long was cut, and its name is not the
/// real one.
const MAX_NAME: usize = 4096;

/// One itemized line, its name unescaped.
#[derive(Debug, PartialEq, Eq)]
pub enum Item {
    Deleted(Vec<u8>),
    /// `rest` is the name followed by rsync's `%L` (a link's arrow and target).
    Changed {
        kind: Kind,
        hard: bool,
        rest: Vec<u8>,
    },
}

/// The itemized line in one LOG_RSYNC line, if it is one: `YYYY/MM/DD HH:MM:SS [PID] `,
/// eleven itemize characters, a space, the name. Anything else rsync logs (`receiving file
/// list`, statistics, errors, `created directory`) is `None`.
pub fn parse_line(line: &[u8]) -> Option<Item> {
    let msg = crate::common::rsync::log_message(line)?;
    let (flags, rest) = (msg.get(..11)?, msg.get(11..)?);
    let rest = rest.strip_prefix(b" ")?;
    if rest.is_empty() {
        return None;
    }
    let name = crate::common::rsync::unescape_log_name(rest);
    if flags == b"*deleting  " {
        return Some(Item::Deleted(name));
    }
    let kind = match flags[1] {
        b'f' | b'D' | b'S' => Kind::File,
        b'd' => Kind::Dir,
        b'L' => Kind::Link,
        _ => return None,
    };
    if !b"<>ch.".contains(&flags[0]) || !flags[2..].iter().all(|c| b".+ ?cstTpogunbax".contains(c))
    {
        return None;
    }
    Some(Item::Changed {
        kind,
        hard: flags[0] == b'h',
        rest: name,
    })
}

/// How many files and links the log text `log` says rsync created, changed or deleted: the
/// history's `files_changed`. Directories are left out (a new file touches its directory's
/// times too); an entry changed in both stages counts twice. Complete only when rsync
/// itemized every change (`--itemize-changes`, which JOURNAL adds).
pub fn count_changes(log: &[u8]) -> u64 {
    log.split(|&b| b == b'\n')
        .filter(|l| match parse_line(l) {
            Some(Item::Deleted(name)) => !name.ends_with(b"/"),
            Some(Item::Changed { kind, .. }) => kind != Kind::Dir,
            None => false,
        })
        .count() as u64
}

/// Everything the log text `log` (this stage's part of LOG_RSYNC) says was changed under
/// `to`, with the last thing that happened to each path. An error means the log cannot be
/// trusted to name every change (a line cut short, a name no tree can hold).
pub fn changes(log: &[u8], to: &Path) -> Result<Changes, String> {
    let mut out = Changes::new();
    for line in log.split(|&b| b == b'\n') {
        let Some(item) = parse_line(line) else {
            continue;
        };
        let mut note = |name: &[u8], kind: Kind| -> Result<(), String> {
            let name = name.strip_suffix(b"/").unwrap_or(name);
            if name == b"." {
                // The top directory: a downstream looks at it every time anyway.
                return Ok(());
            }
            if name.len() >= MAX_NAME {
                return Err("rsync logged a name longer than any path (a cut line?)".into());
            }
            check_path(name).map_err(|e| format!("rsync logged a name that {}", &e[3..]))?;
            // Last wins: created in stage 1 and deleted in stage 2 is deleted.
            out.insert(name.to_vec(), kind);
            Ok(())
        };
        match item {
            Item::Deleted(name) => note(&name, Kind::Gone)?,
            Item::Changed {
                kind: Kind::Link,
                hard: false,
                rest,
            } => {
                for name in symlink_names(&rest, to) {
                    note(&name, Kind::Link)?;
                }
            }
            Item::Changed {
                kind,
                hard: true,
                rest,
            } => {
                for name in hard_link_names(&rest, to) {
                    note(&name, kind)?;
                }
            }
            Item::Changed { kind, rest, .. } => note(&rest, kind)?,
        }
    }
    Ok(out)
}

/// Every way to split `rest` at `sep`: (before, after).
fn splits<'a>(rest: &'a [u8], sep: &'a [u8]) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
    (0..rest.len().saturating_sub(sep.len() - 1))
        .filter(move |&i| rest[i..].starts_with(sep))
        .map(move |i| (&rest[..i], &rest[i + sep.len()..]))
}

/// The symlink's name in `NAME -> TARGET`.
fn symlink_names(rest: &[u8], to: &Path) -> Vec<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let candidates: Vec<_> = splits(rest, b" -> ").collect();
    if candidates.len() <= 1 {
        return vec![candidates.first().map_or(rest, |c| c.0).to_vec()];
    }
    let is_it = |name: &[u8], target: &[u8]| {
        std::fs::read_link(to.join(std::ffi::OsStr::from_bytes(name)))
            .is_ok_and(|t| t.as_os_str().as_bytes() == target)
    };
    match candidates.iter().find(|(n, t)| is_it(n, t)) {
        Some((n, _)) => vec![n.to_vec()],
        None => candidates.iter().map(|(n, _)| n.to_vec()).collect(),
    }
}

/// Both names in `NAME => LEADER`: a downstream links them only when it is given both.
fn hard_link_names(rest: &[u8], to: &Path) -> Vec<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let candidates: Vec<_> = splits(rest, b" => ").collect();
    if candidates.is_empty() {
        return vec![rest.to_vec()];
    }
    if candidates.len() > 1 {
        let inode = |p: &[u8]| {
            std::fs::symlink_metadata(to.join(std::ffi::OsStr::from_bytes(p)))
                .ok()
                .map(|m| (m.dev(), m.ino()))
        };
        if let Some((n, l)) = candidates
            .iter()
            .find(|(n, l)| inode(n).is_some() && inode(n) == inode(l))
        {
            return vec![n.to_vec(), l.to_vec()];
        }
    }
    candidates
        .iter()
        .flat_map(|(n, l)| [n.to_vec(), l.to_vec()])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    const P: &str = "2026/11/21 10:27:16 [25689] ";

    fn line(msg: &str) -> Vec<u8> {
        format!("{P}{msg}").into_bytes()
    }

    #[test]
    fn itemized_lines_and_the_rest() {
        assert_eq!(
            parse_line(&line(">f+++++++++ pool/a b.deb")),
            Some(Item::Changed {
                kind: Kind::File,
                hard: false,
                rest: b"pool/a b.deb".to_vec()
            })
        );
        assert_eq!(
            parse_line(&line("*deleting   old/dir/")),
            Some(Item::Deleted(b"old/dir/".to_vec()))
        );
        assert_eq!(
            parse_line(&line("*deleting    leading space")),
            Some(Item::Deleted(b" leading space".to_vec()))
        );
        assert_eq!(
            parse_line(&line(".d..t...... pool/")),
            Some(Item::Changed {
                kind: Kind::Dir,
                hard: false,
                rest: b"pool/".to_vec()
            })
        );
        assert_eq!(
            parse_line(&line(".f...p..... a\\#012b\\#134#012c")),
            Some(Item::Changed {
                kind: Kind::File,
                hard: false,
                rest: b"a\nb\\#012c".to_vec()
            })
        );
        assert!(matches!(
            parse_line(&line("hf+++++++++ b => a")),
            Some(Item::Changed { hard: true, .. })
        ));
        for other in [
            "receiving file list",
            "done",
            "created directory /srv/m",
            "sent 1 bytes  received 2 bytes  3.00 bytes/sec",
            "total size is 21  speedup is 0.03",
            "rsync: [sender] link_stat \"x\" failed: No such file or directory (2)",
            "file has vanished: \"pool/x\" (in debian)",
            "cannot delete non-empty directory: pool/x",
            ">f+++++++++",
            ">f+++++++++ ",
            "Xf+++++++++ x",
            ">fZ++++++++ x",
        ] {
            assert_eq!(parse_line(&line(other)), None, "{other}");
        }
        assert_eq!(parse_line(b">f+++++++++ no prefix"), None);
        assert_eq!(parse_line(b"2026/11/21 10:27:16 [] >f+++++++++ x"), None);
        assert_eq!(parse_line(b"2026/11/2x 10:27:16 [1] >f+++++++++ x"), None);
    }

    #[test]
    fn changes_with_links_deletions_and_ambiguous_arrows() {
        let d = tempfile::tempdir().unwrap();
        let to = d.path();
        std::fs::create_dir_all(to.join("a")).unwrap();
        symlink("x -> y", to.join("a/l -> k")).unwrap();
        symlink("target", to.join("a/plain")).unwrap();
        std::fs::write(to.join("a/h0"), "x").unwrap();
        std::fs::hard_link(to.join("a/h0"), to.join("a/h => 1")).unwrap();
        let log = [
            "receiving file list",
            "cd+++++++++ ./",
            "cd+++++++++ a/",
            "cL+++++++++ a/plain -> target",
            "cL+++++++++ a/l -> k -> x -> y",
            "cL+++++++++ a/gone -> s -> t",
            "hf+++++++++ a/h => 1 => a/h0",
            "hf+++++++++ a/p => a/q",
            ">f+++++++++ created/then/deleted",
            "*deleting   created/then/deleted",
            "*deleting   olddir/",
            "sent 1 bytes  received 2 bytes  3.00 bytes/sec",
        ]
        .iter()
        .map(|m| format!("{P}{m}\n"))
        .collect::<String>();
        let c = changes(log.as_bytes(), to).unwrap();
        let got: Vec<(String, Kind)> = c
            .iter()
            .map(|(p, k)| (String::from_utf8_lossy(p).into_owned(), *k))
            .collect();
        let want: Vec<(String, Kind)> = [
            ("a", Kind::Dir),
            // Not in the tree: both readings are recorded.
            ("a/gone", Kind::Link),
            ("a/gone -> s", Kind::Link),
            ("a/h => 1", Kind::File),
            ("a/h0", Kind::File),
            ("a/l -> k", Kind::Link),
            ("a/p", Kind::File),
            ("a/plain", Kind::Link),
            ("a/q", Kind::File),
            ("created/then/deleted", Kind::Gone),
            ("olddir", Kind::Gone),
        ]
        .iter()
        .map(|(p, k)| (p.to_string(), *k))
        .collect();
        assert_eq!(got, want);
        // Six files and links made, one file deleted; the directories are not counted.
        assert_eq!(count_changes(log.as_bytes()), 7);
    }

    #[test]
    fn a_name_no_tree_holds_makes_the_log_untrustworthy() {
        let d = tempfile::tempdir().unwrap();
        let long = "x".repeat(MAX_NAME);
        for bad in [
            format!(">f+++++++++ {long}"),
            ">f+++++++++ a//b".to_string(),
        ] {
            let log = format!("{P}{bad}\n");
            assert!(changes(log.as_bytes(), d.path()).is_err(), "{bad}");
        }
    }
}
