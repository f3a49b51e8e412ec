//! A private temporary directory for files another local user must not plant or read.
//!
//! A predictable name in a shared directory (`/tmp/archvsync-cron-PID`) can be created
//! first by anyone, with a file of their choosing inside. So the name is random, the
//! directory is made with `mkdir` (which fails on anything that already exists, a link
//! included) with mode 0700, and it is removed when dropped.

use std::io::{self, Read};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    /// A new directory `PREFIX` + 16 random hex digits under `parent`.
    pub fn new_in(parent: &Path, prefix: &str) -> io::Result<PrivateDir> {
        // A collision with 64 random bits is someone guessing; try a few other names.
        for _ in 0..8 {
            let path = parent.join(format!("{prefix}{}", random_hex()?));
            match PrivateDir::create_at(&path) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                other => return other,
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "cannot make a new directory in {}: every name tried exists",
                parent.display()
            ),
        ))
    }

    /// Make exactly `path`, mode 0700; an existing file, directory or link is an error.
    pub fn create_at(path: &Path) -> io::Result<PrivateDir> {
        std::fs::DirBuilder::new().mode(0o700).create(path)?;
        Ok(PrivateDir {
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn random_hex() -> io::Result<String> {
    let mut bytes = [0u8; 8];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn private_new_and_removed() {
        let parent = tempfile::tempdir().unwrap();
        let d = PrivateDir::new_in(parent.path(), "x-").unwrap();
        let md = std::fs::symlink_metadata(d.path()).unwrap();
        assert!(md.is_dir());
        assert_eq!(md.permissions().mode() & 0o777, 0o700);
        let name = d.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("x-") && name.len() == 2 + 16, "{name}");
        let other = PrivateDir::new_in(parent.path(), "x-").unwrap();
        assert_ne!(d.path(), other.path());
        let p = d.path().to_path_buf();
        std::fs::write(p.join("f"), "x").unwrap();
        drop(d);
        assert!(!p.exists());
    }

    #[test]
    fn an_existing_entry_is_never_taken_over() {
        let parent = tempfile::tempdir().unwrap();
        let planted = parent.path().join("planted");
        std::fs::create_dir(&planted).unwrap();
        let e = PrivateDir::create_at(&planted).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert!(planted.exists(), "someone else's directory was removed");
        let link = parent.path().join("link");
        symlink(&planted, &link).unwrap();
        let e = PrivateDir::create_at(&link).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
    }
}
