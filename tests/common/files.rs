//! Files and directories: the harness's temp dirs (prefix `archvsync-test-`, which
//! scripts/test's leftover check looks for), scripts, lossy reads, permissions.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("archvsync-test-")
        .tempdir()
        .expect("create temp dir")
}

/// Write an executable `/bin/sh` script.
pub fn write_script(path: &Path, body: &str) {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).unwrap();
    }
    fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

pub fn read_string(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Recursively make a tree world readable/traversable (dirs 0755, files 0644), and the
/// directory itself plus its ancestors up to (excluding) `/tmp`-like sticky roots.
pub fn make_world_readable(root: &Path) {
    fn walk(p: &Path) {
        let md = fs::symlink_metadata(p).unwrap();
        if md.file_type().is_symlink() {
            return;
        }
        if md.is_dir() {
            fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
            for e in fs::read_dir(p).unwrap() {
                walk(&e.unwrap().path());
            }
        } else {
            fs::set_permissions(p, fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    walk(root);
    let mut cur = root.parent();
    while let Some(p) = cur {
        let md = fs::metadata(p).unwrap();
        // stop at sticky world-writable dirs such as /tmp and at /
        if md.permissions().mode() & 0o1000 != 0 || p == Path::new("/") {
            break;
        }
        let mode = md.permissions().mode() & 0o7777;
        fs::set_permissions(p, fs::Permissions::from_mode(mode | 0o555)).unwrap();
        cur = p.parent();
    }
}

/// `dir/file` after its rotated copies `file.N` .. `file.0` (N < `copies`), oldest first.
pub fn log_with_rotated(dir: &Path, file: &str, copies: usize) -> String {
    let mut s = String::new();
    for i in (0..copies).rev() {
        let p = dir.join(format!("{file}.{i}"));
        if p.exists() {
            s.push_str(&read_string(&p));
        }
    }
    s.push_str(&read_string(&dir.join(file)));
    s
}
