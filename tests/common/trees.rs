//! Tree snapshots and comparisons, with the files ftpsync owns set aside.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Dir,
    File(Vec<u8>),
    Link(String),
}

impl Node {
    pub fn is_dir(&self) -> bool {
        matches!(self, Node::Dir)
    }
}

pub type Tree = BTreeMap<String, Node>;

/// All entries below `root` (not following symlinks), keyed by relative path.
pub fn snapshot(root: &Path) -> Tree {
    fn walk(root: &Path, p: &Path, out: &mut Tree) {
        let Ok(rd) = fs::read_dir(p) else { return };
        for e in rd {
            let e = e.unwrap();
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let md = fs::symlink_metadata(&path).unwrap();
            if md.file_type().is_symlink() {
                let t = fs::read_link(&path).unwrap();
                out.insert(rel, Node::Link(t.to_string_lossy().into_owned()));
            } else if md.is_dir() {
                out.insert(rel, Node::Dir);
                walk(root, &path, out);
            } else {
                out.insert(rel, Node::File(fs::read(&path).unwrap_or_default()));
            }
        }
    }
    let mut out = Tree::new();
    walk(root, root, &mut out);
    out
}

/// Files ftpsync itself owns in the mirror (and the upstream's copies of such files, which
/// the rsync filters keep out).
pub fn is_ftpsync_owned(rel: &str, mirrorname: &str) -> bool {
    rel == format!("Archive-Update-in-Progress-{mirrorname}")
        || rel == format!("Archive-Update-Required-{mirrorname}")
        || rel == format!("project/trace/{mirrorname}")
        || rel == format!("project/trace/{mirrorname}-stage1")
        || rel == "project/trace/_hierarchy"
        || rel == "project/trace/_hierarchy.mirror"
        || rel == "project/trace/_traces"
        || rel == "project/trace/_archvsync-journal"
}

pub fn without_owned(t: &Tree, mirrorname: &str) -> Tree {
    t.iter()
        .filter(|(k, _)| !is_ftpsync_owned(k, mirrorname))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Files and symlinks only.
pub fn non_dirs(t: &Tree) -> Tree {
    t.iter()
        .filter(|(_, v)| !v.is_dir())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Human-readable difference between two trees (empty when equal).
pub fn tree_diff(expected: &Tree, actual: &Tree) -> String {
    let mut out = String::new();
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .collect();
    let extra: Vec<_> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    let differ: Vec<_> = expected
        .iter()
        .filter(|(k, v)| actual.get(*k).is_some_and(|a| a != *v))
        .map(|(k, _)| k)
        .collect();
    let show = |label: &str, v: &[&String], out: &mut String| {
        if !v.is_empty() {
            out.push_str(&format!("{label} ({}):\n", v.len()));
            for k in v.iter().take(25) {
                out.push_str(&format!("    {k}\n"));
            }
        }
    };
    show("missing from mirror", &missing, &mut out);
    show("unexpected in mirror", &extra, &mut out);
    show("content differs", &differ, &mut out);
    out
}

/// Assert that the mirror equals the upstream, ignoring the files ftpsync owns.
pub fn assert_same_tree(upstream: &Path, mirror: &Path, mirrorname: &str) {
    let e = without_owned(&snapshot(upstream), mirrorname);
    let a = without_owned(&snapshot(mirror), mirrorname);
    let d = tree_diff(&e, &a);
    assert!(
        d.is_empty(),
        "mirror {} differs from upstream {}:\n{d}",
        mirror.display(),
        upstream.display()
    );
}

/// Relative paths of entries of `tree` whose last component satisfies `pred`.
pub fn names_matching(tree: &Tree, pred: impl Fn(&str) -> bool) -> BTreeSet<String> {
    tree.keys()
        .filter(|k| pred(k.rsplit('/').next().unwrap()))
        .cloned()
        .collect()
}

/// What `rsync -ani --delete -H a/ b/` itemizes, less what legitimately differs between two
/// mirrors of one tree: the trace directory (each mirror's own trace, `_hierarchy`,
/// journal), the lock and Update-Required files, and the top directory's own time (those
/// files come and go in it).
pub fn mirror_differences(a: &Path, b: &Path) -> Vec<String> {
    let out = std::process::Command::new(super::rsync_bin())
        .args(["-ani", "--delete", "-H"])
        .arg(format!("{}/", a.display()))
        .arg(format!("{}/", b.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            let name = l.get(12..).unwrap_or("");
            !(name.starts_with("project/trace/")
                || name == "./"
                || name.starts_with("Archive-Update-"))
        })
        .map(str::to_string)
        .collect()
}

/// `b` equals `a` as [`mirror_differences`] sees them.
pub fn assert_mirror_equal(a: &Path, b: &Path, ctx: &str) {
    let d = mirror_differences(a, b);
    assert!(
        d.is_empty(),
        "{ctx}: {} differs from {}:\n{}",
        b.display(),
        a.display(),
        d.join("\n")
    );
}
