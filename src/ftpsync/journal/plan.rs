//! A journal sync's two file lists, from the upstream's entries since our last state.
//!
//! rsync gets each list with `--files-from --from0 --no-recursive`: it looks at exactly the
//! listed names (and the directories above them, sent with their attributes), applying the
//! stage's own filters to them as to a full walk — so stage 1 still leaves the index files
//! alone, ARCH_INCLUDE/EXCLUDE, EXCLUDE and our own files' protection still hold. A listed
//! directory is not descended into (its changed contents are listed themselves); two are
//! listed as `DIR/` so their contents are compared one level deep, as a full walk would:
//! the top directory (where the upstream's `Archive-Update-in-Progress-*` appears) and
//! `project/trace/` (trace files, `_hierarchy`: the upstream writes them itself, after its
//! rsync, so no journal names them).
//!
//! Stage 1 lists what still exists. Stage 2 lists it too, and for each name the upstream no
//! longer has, its parent directory as `DIR/`: rsync compares that directory one level deep
//! and the stage's own `--delete` removes what the upstream lacks there, under the same
//! filters and protections as a full walk (a deleted directory goes with its contents). Both
//! stages skip a listed name that is missing upstream (`--ignore-missing-args`, say a file
//! deleted after the journal named it). Deletions do not use `--delete-missing-args`: the
//! mode-0 entries it sends are refused as a protocol error by the hardened file-list reader
//! of rsync 3.4 and of distributions' security updates of older rsyncs (RsyncProject/rsync
//! issue 910), which would make every journal sync that deletes anything fall back to a
//! full walk. A parent directory stays small on a Debian-like tree (a source package's
//! directory in the pool, a `by-hash/SHA256/`, a letter directory such as `pool/main/libx/`
//! when a whole package goes).

use super::filter::Rules;
use super::format::{Changes, Entry, Kind};
use std::collections::{BTreeSet, HashMap};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The directories whose contents every journal sync compares (see the module docs).
pub const ALWAYS: [&[u8]; 2] = [b"./", b"project/trace/"];

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    pub stage1: Vec<Vec<u8>>,
    pub stage2: Vec<Vec<u8>>,
    /// Paths the entries name (after folding), for the log and the state record.
    pub paths: usize,
}

/// What the entries did to each path, the last one winning.
pub fn fold(entries: &[Entry]) -> Changes {
    let mut all = Changes::new();
    for e in entries {
        for (p, k) in &e.paths {
            all.insert(p.clone(), *k);
        }
    }
    all
}

/// The lists for `changes` into the tree `to`; `own` are our own files (relative to TO),
/// which a sync never touches; `rules` each stage's include/exclude rules: a path a full
/// stage would not reach is not listed in it (see [`super::filter`]).
///
/// A path below one that is gone or no longer a directory is left out: its fate is its
/// ancestor's (a deleted directory goes with everything in it, a directory that became a
/// file is deleted to make room for it), and naming it would make rsync fail (`Not a
/// directory`) or warn about vanished parents. A path that is a directory here but a file
/// or link upstream is left out of stage 1, which deletes nothing and so could not make
/// room for it; stage 2 replaces it.
///
/// A path below a symlink of our tree cannot be listed (rsync would replace the link with a
/// directory, and the tree would differ from the upstream's until a full walk): the `Err`
/// says why the sync must be a full one.
pub fn plan(
    changes: &Changes,
    to: &Path,
    own: &[String],
    rules: [&Rules; 2],
) -> Result<Plan, String> {
    let mut links = LinkCheck::default();
    let mut plan = Plan {
        stage1: ALWAYS.iter().map(|p| p.to_vec()).collect(),
        stage2: ALWAYS.iter().map(|p| p.to_vec()).collect(),
        paths: 0,
    };
    let mut caches = [HashMap::new(), HashMap::new()];
    // The directories whose listing removes what is gone, each once; `./` is always listed.
    let mut parents = BTreeSet::new();
    let mut reaches = |stage: usize, path: &[u8], kind: Kind| match kind {
        // Gone: a file or a directory, and listed only where either would be reached.
        Kind::Gone => {
            rules[stage].reaches(path, false, &mut caches[stage])
                && rules[stage].reaches(path, true, &mut caches[stage])
        }
        k => rules[stage].reaches(path, k == Kind::Dir, &mut caches[stage]),
    };
    for (path, kind) in changes {
        if own.iter().any(|o| o.as_bytes() == path.as_slice())
            || below_a_non_directory(path, changes)
        {
            continue;
        }
        if let Some(link) = links.below_a_link(to, path, changes) {
            return Err(format!(
                "the journal names {} below {}, a symlink here",
                super::format::escape(path),
                super::format::escape(link)
            ));
        }
        plan.paths += 1;
        if reaches(1, path, *kind) {
            if *kind == Kind::Gone {
                parents.insert(parent_listing(path));
            } else {
                plan.stage2.push(path.clone());
            }
        }
        let replaces_a_dir = matches!(kind, Kind::File | Kind::Link)
            && std::fs::symlink_metadata(to.join(std::ffi::OsStr::from_bytes(path)))
                .is_ok_and(|m| m.is_dir());
        if *kind != Kind::Gone && !replaces_a_dir && reaches(0, path, *kind) {
            plan.stage1.push(path.clone());
        }
    }
    for always in ALWAYS {
        parents.remove(always);
    }
    plan.stage2.extend(parents);
    Ok(plan)
}

/// Which ancestors of listed paths are symlinks in our tree, each directory looked at once.
#[derive(Default)]
struct LinkCheck {
    seen: HashMap<Vec<u8>, bool>,
}

impl LinkCheck {
    /// The nearest ancestor of `path` that is a symlink under `to`, if any. One the journal
    /// says became a directory does not count: the list makes it one, as upstream.
    fn below_a_link<'p>(
        &mut self,
        to: &Path,
        path: &'p [u8],
        changes: &Changes,
    ) -> Option<&'p [u8]> {
        let candidates = ancestors(path).filter(|dir| changes.get(*dir) != Some(&Kind::Dir));
        for dir in candidates {
            let is_link = *self.seen.entry(dir.to_vec()).or_insert_with(|| {
                std::fs::symlink_metadata(to.join(std::ffi::OsStr::from_bytes(dir)))
                    .is_ok_and(|m| m.file_type().is_symlink())
            });
            if is_link {
                return Some(dir);
            }
        }
        None
    }
}

/// `DIR/` for `DIR/NAME`, `./` for a name at the top.
fn parent_listing(path: &[u8]) -> Vec<u8> {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => path[..=i].to_vec(),
        None => ALWAYS[0].to_vec(),
    }
}

fn below_a_non_directory(path: &[u8], changes: &Changes) -> bool {
    ancestors(path).any(|dir| changes.get(dir).is_some_and(|k| *k != Kind::Dir))
}

/// The directories above `path`, top first (`a`, `a/b` for `a/b/c`).
fn ancestors(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.iter()
        .enumerate()
        .filter(|(_, &b)| b == b'/')
        .map(move |(i, _)| &path[..i])
}

/// A list as `--from0` reads it.
pub fn nul_list(paths: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(paths.iter().map(|p| p.len() + 1).sum());
    for p in paths {
        out.extend_from_slice(p);
        out.push(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(list: &[(&str, Kind)]) -> Entry {
        Entry {
            from: String::new(),
            to: String::new(),
            time: 0,
            paths: list
                .iter()
                .map(|(p, k)| (p.as_bytes().to_vec(), *k))
                .collect(),
        }
    }

    fn names(l: &[Vec<u8>]) -> Vec<String> {
        l.iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect()
    }

    #[test]
    fn later_entries_win_and_dead_subtrees_fold_into_their_root() {
        let d = tempfile::tempdir().unwrap();
        let to = d.path();
        std::fs::create_dir_all(to.join("was_dir/sub")).unwrap();
        let entries = [
            entry(&[
                ("pool/new.deb", Kind::File),
                ("pool/gone.deb", Kind::File),
                ("tree", Kind::Dir),
                ("tree/a", Kind::File),
                ("was_dir", Kind::Dir),
                ("was_dir/sub/f", Kind::File),
            ]),
            entry(&[
                ("pool/gone.deb", Kind::Gone),
                ("tree/a", Kind::Gone),
                ("tree", Kind::Gone),
                ("was_dir/sub/f", Kind::Gone),
                ("was_dir/sub", Kind::Gone),
                ("was_dir", Kind::File),
                ("Archive-Update-in-Progress-me", Kind::File),
                ("dists/sid/Release", Kind::File),
            ]),
        ];
        let all = fold(&entries);
        let none = Rules::default();
        let p = plan(
            &all,
            to,
            &["Archive-Update-in-Progress-me".to_string()],
            [&none, &none],
        )
        .unwrap();
        assert_eq!(
            names(&p.stage1),
            ["./", "project/trace/", "dists/sid/Release", "pool/new.deb"]
        );
        assert_eq!(
            names(&p.stage2),
            // Gone: pool/gone.deb through `pool/`, `tree` through `./`.
            [
                "./",
                "project/trace/",
                "dists/sid/Release",
                "pool/new.deb",
                "was_dir",
                "pool/"
            ]
        );
        assert_eq!(p.paths, 5);
        assert_eq!(nul_list(&p.stage1[..2]), b"./\0project/trace/\0");
    }

    #[test]
    fn deletions_list_each_parent_once_and_never_the_missing_name() {
        let d = tempfile::tempdir().unwrap();
        let all = fold(&[entry(&[
            ("pool/main/a/a1/a1_1.deb", Kind::Gone),
            ("pool/main/a/a1/a1_1.dsc", Kind::Gone),
            ("pool/main/a/a1/a1_2.deb", Kind::File),
            ("pool/main/b/b1", Kind::Gone),
            ("project/trace/old-mirror", Kind::Gone),
            ("top-file", Kind::Gone),
        ])]);
        let none = Rules::default();
        let p = plan(&all, d.path(), &[], [&none, &none]).unwrap();
        assert_eq!(
            names(&p.stage2),
            [
                "./",
                "project/trace/",
                "pool/main/a/a1/a1_2.deb",
                "pool/main/a/a1/",
                "pool/main/b/"
            ]
        );
        assert_eq!(
            names(&p.stage1),
            ["./", "project/trace/", "pool/main/a/a1/a1_2.deb"]
        );
        assert_eq!(p.paths, 6);
    }

    #[test]
    fn a_path_below_a_symlink_of_ours_is_a_reason_for_a_full_sync() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("real")).unwrap();
        std::os::unix::fs::symlink("real", d.path().join("dists-link")).unwrap();
        let none = Rules::default();
        let ok = fold(&[entry(&[("real/x", Kind::File), ("dists-link", Kind::Link)])]);
        assert!(plan(&ok, d.path(), &[], [&none, &none]).is_ok());
        // The link became a directory upstream: listed, rsync makes it one here too.
        let now_a_dir = fold(&[entry(&[
            ("dists-link", Kind::Dir),
            ("dists-link/Release", Kind::File),
        ])]);
        assert!(plan(&now_a_dir, d.path(), &[], [&none, &none]).is_ok());
        let lying = fold(&[entry(&[("dists-link/Release", Kind::File)])]);
        let why = plan(&lying, d.path(), &[], [&none, &none]).unwrap_err();
        assert!(why.contains("dists-link/Release below dists-link"), "{why}");
    }

    #[test]
    fn a_file_that_became_a_directory_goes_in_both_stages() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("x"), "file").unwrap();
        let all = fold(&[entry(&[("x", Kind::Dir), ("x/y", Kind::File)])]);
        let none = Rules::default();
        let p = plan(&all, d.path(), &[], [&none, &none]).unwrap();
        assert_eq!(names(&p.stage1)[2..], ["x", "x/y"]);
        assert_eq!(names(&p.stage2)[2..], ["x", "x/y"]);
    }

    #[test]
    fn each_stage_lists_only_what_its_walk_reaches() {
        let d = tempfile::tempdir().unwrap();
        let w = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        let one = Rules::from_words(&w("--exclude=Packages* --exclude=/skip/")).unwrap();
        let two = Rules::from_words(&w("--exclude=/skip/")).unwrap();
        let all = fold(&[entry(&[
            ("d/Packages", Kind::Dir),
            ("d/Packages/in", Kind::File),
            ("d/Packages.xz", Kind::File),
            ("skip", Kind::Gone),
            ("skip/x", Kind::File),
            ("ok", Kind::File),
        ])]);
        let p = plan(&all, d.path(), &[], [&one, &two]).unwrap();
        assert_eq!(names(&p.stage1)[2..], ["ok"]);
        assert_eq!(
            names(&p.stage2)[2..],
            ["d/Packages", "d/Packages.xz", "d/Packages/in", "ok"]
        );
    }
}
