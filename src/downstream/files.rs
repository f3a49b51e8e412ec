//! Every file `downstream add` and `remove` change, changed so that no reader ever sees a
//! half-written file (each is replaced whole, by the project's atomic writer) and a failing
//! step takes back the steps before it (a undo of what each file was).
//!
//! A kill cannot run the undo, so the callers also order their steps: each prefix of
//! them is a working setup (see add.rs).

use crate::common::atomic::write_exact_mode;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// Always this mode (a file holding passwords).
    Exactly(u32),
    /// The mode the file has, or this one for a new file.
    KeepOr(u32),
}

enum Undo {
    Restore {
        path: PathBuf,
        data: Vec<u8>,
        mode: u32,
    },
    Remove(PathBuf),
    /// A directory this run made; removed when empty.
    RemoveDir(PathBuf),
}

#[derive(Default)]
pub struct UndoLog {
    undo: Vec<Undo>,
}

/// Where a write to `path` must go: a link is followed (replacing it by a file would cut
/// the operator's link to, say, a config kept elsewhere).
pub fn target(path: &Path) -> PathBuf {
    match std::fs::symlink_metadata(path) {
        Ok(md) if md.file_type().is_symlink() => {
            std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
        }
        _ => path.to_path_buf(),
    }
}

impl UndoLog {
    /// Replace `path` by `data`; undone by [`UndoLog::rollback`].
    pub fn write(&mut self, path: &Path, data: &[u8], mode: Mode) -> Result<(), String> {
        let path = target(path);
        let before = match std::fs::read(&path) {
            Ok(d) => {
                let m = std::fs::metadata(&path)
                    .map(|m| m.permissions().mode() & 0o7777)
                    .unwrap_or(0o600);
                Some((d, m))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let new_mode = match (mode, &before) {
            (Mode::Exactly(m), _) => m,
            (Mode::KeepOr(_), Some((_, m))) => *m,
            (Mode::KeepOr(m), None) => m,
        };
        write_exact_mode(&path, data, new_mode)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        self.undo.push(match before {
            Some((data, mode)) => Undo::Restore { path, data, mode },
            None => Undo::Remove(path),
        });
        Ok(())
    }

    /// `path` was created by this run (a key): a rollback removes it.
    pub fn created(&mut self, path: &Path) {
        self.undo.push(Undo::Remove(path.to_path_buf()));
    }

    /// The directory `path` was made by this run: a rollback removes it if it is empty.
    pub fn created_dir(&mut self, path: &Path) {
        self.undo.push(Undo::RemoveDir(path.to_path_buf()));
    }

    /// [`UndoLog::rollback`] after the failure `msg`, and `msg` with what that did.
    pub fn take_back(self, mut msg: String) -> String {
        let steps = self.undo.len();
        let failed = self.rollback();
        if failed.is_empty() {
            if steps > 0 {
                msg.push_str("\nnothing was changed: every step before this one was taken back");
            }
        } else {
            msg.push_str("\nand taking back the steps before it failed too:");
            for e in failed {
                msg.push_str(&format!("\n  {e}"));
            }
        }
        msg
    }

    /// Takes back every step, the last first. What could not be taken back, in words.
    pub fn rollback(self) -> Vec<String> {
        let mut failed = Vec::new();
        for u in self.undo.into_iter().rev() {
            let r = match &u {
                Undo::Restore { path, data, mode } => write_exact_mode(path, data, *mode)
                    .map_err(|e| format!("could not restore {}: {e}", path.display())),
                Undo::Remove(path) => match std::fs::remove_file(path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        Err(format!("could not remove {}: {e}", path.display()))
                    }
                    _ => Ok(()),
                },
                Undo::RemoveDir(path) => {
                    // Not empty: someone else put something there; it stays.
                    let _ = std::fs::remove_dir(path);
                    Ok(())
                }
            };
            if let Err(e) = r {
                failed.push(e);
            }
        }
        failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_keep_or_set_the_mode_and_roll_back() {
        let d = tempfile::tempdir().unwrap();
        let kept = d.path().join("kept");
        std::fs::write(&kept, "old\n").unwrap();
        std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o640)).unwrap();
        let real = d.path().join("real");
        std::fs::write(&real, "r\n").unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let fresh = d.path().join("fresh");

        let mut j = UndoLog::default();
        j.write(&kept, b"new\n", Mode::KeepOr(0o644)).unwrap();
        j.write(&fresh, b"s\n", Mode::Exactly(0o600)).unwrap();
        j.write(&link, b"via link\n", Mode::KeepOr(0o644)).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(
            (std::fs::read(&kept).unwrap(), mode(&kept)),
            (b"new\n".to_vec(), 0o640)
        );
        assert_eq!(mode(&fresh), 0o600);
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"via link\n");

        assert!(j.rollback().is_empty());
        assert_eq!(
            (std::fs::read(&kept).unwrap(), mode(&kept)),
            (b"old\n".to_vec(), 0o640)
        );
        assert!(!fresh.exists());
        assert_eq!(std::fs::read(&real).unwrap(), b"r\n");
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 3, "no .new files left: {names:?}");
    }

    #[test]
    fn a_failing_write_changes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, "old").unwrap();
        // `.new` taken by a directory: the write cannot even start.
        std::fs::create_dir(d.path().join("f.new")).unwrap();
        let mut j = UndoLog::default();
        let e = j.write(&p, b"new", Mode::KeepOr(0o644)).unwrap_err();
        assert!(e.contains("cannot write"), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert!(j.rollback().is_empty());
    }
}
