//! The change set between our tree's metadata and the upstream's, from the metadata alone.
//!
//! Four sources, each covering what the others cannot see:
//! - **`ls-lR.gz`**, old against new: every entry whose type, size, time or link target
//!   differs, and every entry that is gone. It is the only source that sees deletions (dak
//!   keeps a file an index dropped for a day and a half, so an index diff only names
//!   candidates), symlinks and directories, and the only listing Ubuntu's archive has.
//! - **Release files**: an index whose SHA256 changed, with its `by-hash` copy, even where
//!   the listing's minute-resolution time and size look the same.
//! - **Packages / Sources** that changed: the pool files the new version adds. The listing
//!   names them too; these are what the sync checks before it publishes.
//! - **`extrafiles`**: a regular file outside the indices whose SHA256 changed.
//!
//! Paths are relative to the archive's top. Paths the Release files give are resolved
//! through the new listing's symlinks (`dists/sid -> ../zzz-dists/sid`, an installer's
//! `current -> 20261201`), so rsync is never asked for a name below a link.

use crate::debian::index::{IndexKind, PoolFile};
use crate::debian::lslr;
use crate::debian::release::{Listed, Release};
use crate::ftpsync::journal::format::{Changes, Kind};
use std::collections::{BTreeMap, BTreeSet, HashSet};

pub type Listing = BTreeMap<Vec<u8>, lslr::Entry>;

/// How many symlinks one path may pass through (the kernel's own limit).
const MAX_LINKS: usize = 40;

/// A suite of the upstream: its real directory and Release files, old (ours) and new.
#[derive(Debug, Clone)]
pub struct Suite {
    /// The suite's real directory, relative to the top (`zzz-dists/sid`, `dists/noble`).
    pub dir: String,
    pub old: Option<Release>,
    pub new: Release,
}

/// An index whose new version must be read: where it is (resolved), and our old version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexToRead {
    pub kind: IndexKind,
    /// The new version's Release entry (path relative to the suite's directory).
    pub listed: Listed,
    /// The new version's path on the upstream, through no symlink.
    pub new_path: Vec<u8>,
}

/// The compressed forms, in the order an index is read in: gzip decompresses about three
/// times as fast as xz, and only the new version is read (what it adds is what our
/// listing lacks), so the larger transfer is the cheaper plan; the stages then take that
/// copy instead of sending it again.
const READ_PREFERENCE: [&str; 3] = [".gz", ".xz", ""];

/// `path` with every symlink `listing` shows on the way replaced by its target: the path of
/// what it names. None when a target is absolute, leaves the tree, or links loop.
pub fn resolve(listing: &Listing, path: &[u8]) -> Option<Vec<u8>> {
    let mut todo: Vec<Vec<u8>> = split(path).rev().map(<[u8]>::to_vec).collect();
    let mut done: Vec<Vec<u8>> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        match c.as_slice() {
            b"" | b"." => continue,
            b".." => {
                done.pop()?;
                continue;
            }
            _ => {}
        }
        done.push(c);
        let here = done.join(&b'/');
        if let Some(lslr::Entry {
            kind: b'l',
            target: Some(t),
            ..
        }) = listing.get(&here)
        {
            links += 1;
            if links > MAX_LINKS || t.first() == Some(&b'/') {
                return None;
            }
            done.pop();
            todo.extend(split(t).rev().map(<[u8]>::to_vec));
        }
    }
    (!done.is_empty()).then(|| done.join(&b'/'))
}

fn split(path: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    path.split(|&b| b == b'/')
}

fn kind_of(e: &lslr::Entry) -> Kind {
    match e.kind {
        b'd' => Kind::Dir,
        b'l' => Kind::Link,
        _ => Kind::File,
    }
}

/// Every entry of `new` that `old` lacks or shows differently, and every one that is gone.
pub fn listing_changes(old: &Listing, new: &Listing, changes: &mut Changes) {
    for (path, e) in new {
        if old.get(path) != Some(e) {
            changes.insert(path.clone(), kind_of(e));
        }
    }
    for path in old.keys() {
        if !new.contains_key(path) {
            changes.insert(path.clone(), Kind::Gone);
        }
    }
}

/// Each path of the new sha256 list whose hash is new or differs.
pub fn sums_changes(old: &[(String, String)], new: &[(String, String)], changes: &mut Changes) {
    let before: HashSet<(&str, &str)> = old.iter().map(|(h, p)| (h.as_str(), p.as_str())).collect();
    for (h, p) in new {
        if !before.contains(&(h.as_str(), p.as_str())) {
            changes.entry(p.as_bytes().to_vec()).or_insert(Kind::File);
        }
    }
}

/// The suites' real directories, from the `dists/*` entries of `listing` (links resolved).
pub fn suite_dirs(listing: &Listing) -> BTreeSet<Vec<u8>> {
    listing
        .keys()
        .filter(|p| {
            p.strip_prefix(b"dists/")
                .is_some_and(|rest| !rest.is_empty() && !rest.contains(&b'/'))
        })
        .filter_map(|p| resolve(listing, p))
        .filter(|real| listing.get(real).is_some_and(|e| e.kind == b'd'))
        .collect()
}

/// The name without a compression suffix, and the suffix's rank in `SUFFIXES`.
fn base_and_rank(path: &str) -> (&str, usize) {
    for (rank, suffix) in crate::debian::compress::SUFFIXES.iter().enumerate() {
        if suffix.is_empty() {
            return (path, rank);
        }
        if let Some(base) = path.strip_suffix(suffix) {
            return (base, rank);
        }
    }
    (path, usize::MAX)
}

fn join(dir: &str, path: &str) -> Vec<u8> {
    format!("{dir}/{path}").into_bytes()
}

/// The resolved path of a Release entry's file, when the listing has that file.
fn existing(listing: &Listing, dir: &str, path: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let name = join(dir, path);
    let (parent, base) = match name.iter().rposition(|&b| b == b'/') {
        Some(i) => (resolve(listing, &name[..i])?, name[i + 1..].to_vec()),
        None => return None,
    };
    let real_name = [parent.as_slice(), b"/", base.as_slice()].concat();
    listing.get(&real_name)?;
    let target = resolve(listing, &real_name)?;
    listing.get(&target).filter(|e| e.kind == b'-')?;
    Some((real_name, target))
}

/// What the suites' Release files changed: each changed index (its name, its by-hash copy,
/// the file its name links to) into `changes`; the Packages and Sources to read returned,
/// one compressed form of each.
pub fn release_changes(
    suites: &[Suite],
    new_listing: &Listing,
    changes: &mut Changes,
) -> Vec<IndexToRead> {
    let mut to_read = Vec::new();
    for s in suites {
        let had: HashSet<(&str, &str)> = s
            .old
            .iter()
            .flat_map(|r| &r.files)
            .map(|l| (l.path.as_str(), l.sha256.as_str()))
            .collect();
        // For each index to read, by (kind, base name): the best form the upstream has.
        let mut best: BTreeMap<(String, bool), (usize, &Listed, Vec<u8>)> = BTreeMap::new();
        for l in &s.new.files {
            if had.contains(&(l.path.as_str(), l.sha256.as_str())) {
                continue;
            }
            let Some((real_name, target)) = existing(new_listing, &s.dir, &l.path) else {
                // Listed but not on the upstream (Release lists uncompressed forms dak
                // does not keep): nothing to fetch; the check before publishing decides
                // whether it had to be there.
                continue;
            };
            let kind = new_listing.get(&real_name).map_or(Kind::File, kind_of);
            changes.insert(real_name.clone(), kind);
            changes.insert(target.clone(), Kind::File);
            // Where the index is read from: its by-hash copy when there is one (stage 1
            // brings it, where the name itself waits for stage 2), else what its name is.
            let mut read_at = target;
            if s.new.by_hash {
                if let Some(i) = real_name.iter().rposition(|&b| b == b'/') {
                    let by_hash =
                        [&real_name[..i], b"/by-hash/SHA256/", l.sha256.as_bytes()].concat();
                    if new_listing.get(&by_hash).is_some_and(|e| e.kind == b'-') {
                        changes.insert(by_hash.clone(), Kind::File);
                        read_at = by_hash;
                    }
                }
            }
            if let Some(k) = IndexKind::of(&l.path) {
                let (base, _) = base_and_rank(&l.path);
                let rank = READ_PREFERENCE
                    .iter()
                    .position(|suffix| !suffix.is_empty() && l.path.ends_with(suffix))
                    .unwrap_or(READ_PREFERENCE.len() - 1);
                let key = (base.to_string(), k == IndexKind::Packages);
                if best.get(&key).is_none_or(|(r, _, _)| rank < *r) {
                    best.insert(key, (rank, l, read_at));
                }
            }
        }
        for (_, (_, l, new_path)) in best {
            let Some(kind) = IndexKind::of(&l.path) else {
                continue;
            };
            to_read.push(IndexToRead {
                kind,
                listed: l.clone(),
                new_path,
            });
        }
    }
    to_read
}

/// The pool files `new` lists that our last sync's listing did not have as regular files
/// of that size: what a changed index adds. Pool files are immutable (dak refuses a file
/// whose checksum differs from one of the same name), so name and size tell, and the old
/// index need not be read at all.
pub fn pool_additions(old_listing: &Listing, new: Vec<PoolFile>) -> Vec<PoolFile> {
    new.into_iter()
        .filter(|f| {
            !old_listing
                .get(f.path.as_bytes())
                .is_some_and(|e| e.kind == b'-' && e.size == f.size)
        })
        .collect()
}

/// The Release entries a complete tree has: every entry, but an uncompressed form dak does
/// not keep (`Packages` beside `Packages.xz`) when the listing lacks it.
pub fn required<'r>(release: &'r Release, dir: &str, listing: &Listing) -> Vec<&'r Listed> {
    let names: HashSet<&str> = release.files.iter().map(|l| l.path.as_str()).collect();
    release
        .files
        .iter()
        .filter(|l| {
            let compressed_form_listed = crate::debian::compress::SUFFIXES
                .iter()
                .filter(|s| !s.is_empty())
                .any(|s| names.contains(format!("{}{s}", l.path).as_str()));
            !compressed_form_listed || existing(listing, dir, &l.path).is_some()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: u8, size: u64, stamp: &str, target: Option<&str>) -> lslr::Entry {
        lslr::Entry {
            kind,
            size,
            stamp: stamp.into(),
            target: target.map(|t| t.as_bytes().to_vec()),
        }
    }

    fn listing(items: &[(&str, lslr::Entry)]) -> Listing {
        items
            .iter()
            .map(|(p, e)| (p.as_bytes().to_vec(), e.clone()))
            .collect()
    }

    fn archive() -> Listing {
        listing(&[
            ("dists", entry(b'd', 0, "t", None)),
            ("dists/sid", entry(b'l', 0, "t", Some("../zzz-dists/sid"))),
            ("dists/unstable", entry(b'l', 0, "t", Some("sid"))),
            ("dists/loop", entry(b'l', 0, "t", Some("loop"))),
            ("dists/out", entry(b'l', 0, "t", Some("../../etc"))),
            ("dists/abs", entry(b'l', 0, "t", Some("/etc"))),
            ("zzz-dists", entry(b'd', 0, "t", None)),
            ("zzz-dists/sid", entry(b'd', 0, "t", None)),
            ("zzz-dists/sid/main", entry(b'd', 0, "t", None)),
            ("zzz-dists/sid/main/binary-amd64", entry(b'd', 0, "t", None)),
            (
                "zzz-dists/sid/main/binary-amd64/Packages.xz",
                entry(b'l', 0, "t", Some("by-hash/SHA256/aa")),
            ),
            (
                "zzz-dists/sid/main/binary-amd64/by-hash/SHA256/aa",
                entry(b'-', 10, "t", None),
            ),
        ])
    }

    #[test]
    fn resolve_follows_links_and_refuses_leaving_the_tree() {
        let l = archive();
        let r = |p: &str| resolve(&l, p.as_bytes()).map(|v| String::from_utf8(v).unwrap());
        assert_eq!(r("dists/unstable").as_deref(), Some("zzz-dists/sid"));
        assert_eq!(
            r("dists/unstable/main/binary-amd64/Packages.xz").as_deref(),
            Some("zzz-dists/sid/main/binary-amd64/by-hash/SHA256/aa")
        );
        assert_eq!(r("dists/loop"), None);
        assert_eq!(r("dists/out"), None);
        assert_eq!(r("dists/abs"), None);
        let suites = suite_dirs(&l);
        assert_eq!(
            suites.into_iter().collect::<Vec<_>>(),
            vec![b"zzz-dists/sid".to_vec()]
        );
    }

    #[test]
    fn listing_changes_names_the_changed_and_the_gone() {
        let old = archive();
        let mut new = archive();
        new.remove(b"dists/out".as_slice());
        new.insert(
            b"dists/sid".to_vec(),
            entry(b'l', 0, "t2", Some("../zzz-dists/sid")),
        );
        new.insert(b"pool/x".to_vec(), entry(b'-', 3, "t", None));
        let mut c = Changes::new();
        listing_changes(&old, &new, &mut c);
        let got: Vec<(String, Kind)> = c
            .into_iter()
            .map(|(p, k)| (String::from_utf8(p).unwrap(), k))
            .collect();
        assert_eq!(
            got,
            vec![
                ("dists/out".into(), Kind::Gone),
                ("dists/sid".into(), Kind::Link),
                ("pool/x".into(), Kind::File)
            ]
        );
    }

    fn listed(path: &str, sha: &str) -> Listed {
        Listed {
            path: path.into(),
            size: 10,
            sha256: sha.into(),
        }
    }

    #[test]
    fn a_changed_index_brings_its_name_its_by_hash_copy_and_is_read_in_one_form() {
        let mut new_l = archive();
        new_l.insert(
            b"zzz-dists/sid/main/binary-amd64/Packages.xz".to_vec(),
            entry(b'l', 0, "t2", Some("by-hash/SHA256/bb")),
        );
        new_l.insert(
            b"zzz-dists/sid/main/binary-amd64/by-hash/SHA256/bb".to_vec(),
            entry(b'-', 10, "t2", None),
        );
        let old = Release {
            by_hash: true,
            files: vec![
                listed("main/binary-amd64/Packages.xz", "aa"),
                listed("main/binary-amd64/Packages", "cc"),
            ],
            ..Release::default()
        };
        let new = Release {
            by_hash: true,
            files: vec![
                listed("main/binary-amd64/Packages.xz", "bb"),
                listed("main/binary-amd64/Packages", "dd"),
            ],
            ..Release::default()
        };
        let suites = [Suite {
            dir: "zzz-dists/sid".into(),
            old: Some(old),
            new: new.clone(),
        }];
        let mut c = Changes::new();
        let read = release_changes(&suites, &new_l, &mut c);
        let names: Vec<String> = c
            .keys()
            .map(|p| String::from_utf8(p.clone()).unwrap())
            .collect();
        assert_eq!(
            names,
            vec![
                "zzz-dists/sid/main/binary-amd64/Packages.xz",
                "zzz-dists/sid/main/binary-amd64/by-hash/SHA256/bb"
            ]
        );
        assert_eq!(read.len(), 1);
        assert_eq!(
            read[0].new_path,
            b"zzz-dists/sid/main/binary-amd64/by-hash/SHA256/bb"
        );
        // The uncompressed form is not on disk and need not be; the .xz must be.
        let req: Vec<&str> = required(&new, "zzz-dists/sid", &new_l)
            .iter()
            .map(|l| l.path.as_str())
            .collect();
        assert_eq!(req, vec!["main/binary-amd64/Packages.xz"]);
    }

    #[test]
    fn pool_additions_are_new_or_changed_entries() {
        let f = |p: &str, s: u64| PoolFile {
            path: p.into(),
            size: s,
            sha256: None,
        };
        let old = listing(&[
            ("pool/a", entry(b'-', 1, "t", None)),
            ("pool/b", entry(b'-', 2, "t", None)),
            ("pool/d", entry(b'l', 4, "t", Some("a"))),
        ]);
        let add = pool_additions(
            &old,
            vec![
                f("pool/a", 1),
                f("pool/b", 3),
                f("pool/c", 4),
                f("pool/d", 4),
            ],
        );
        assert_eq!(add, vec![f("pool/b", 3), f("pool/c", 4), f("pool/d", 4)]);
    }

    #[test]
    fn sums_changes_names_new_and_rehashed_paths() {
        let s = |h: &str, p: &str| (h.to_string(), p.to_string());
        let mut c = Changes::new();
        sums_changes(
            &[s("1", "README"), s("2", "doc/a")],
            &[s("1", "README"), s("3", "doc/a"), s("4", "doc/b")],
            &mut c,
        );
        assert_eq!(c.len(), 2);
        assert!(c.contains_key(b"doc/a".as_slice()) && c.contains_key(b"doc/b".as_slice()));
    }
}
