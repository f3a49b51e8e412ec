//! The one atomic file writer: readers see the old file or the new one, never a part.
//!
//! The data goes to `NAME.new` beside the target, is flushed to disk, and is renamed over
//! the target; the directory is flushed too, so that after a crash the name points at
//! complete data (a trace file or state record that a monitor, a downstream or the next run
//! reads must not come back empty).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Replace `path` with `data`, mode 0666 less the umask, as `File::create` gives.
pub fn write(path: &Path, data: &[u8]) -> std::io::Result<()> {
    write_mode(path, data, 0o666)
}

/// Replace `path` with `data`; the file gets `mode` from its first byte on (less the umask),
/// so a secret is never readable by others, not even for a moment.
pub fn write_mode(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = temp_name(path);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        if mode & 0o077 == 0 {
            // An older `.new` left by a crash may have had looser bits.
            std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
        }
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Best effort: some file systems refuse to sync a directory.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn temp_name(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    PathBuf::from(tmp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaces_and_sets_the_mode() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        write(&p, b"one").unwrap();
        write_mode(&p, b"two", 0o600).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!d.path().join("f.new").exists());
    }

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("gone/f");
        assert!(write(&p, b"x").is_err());
        assert!(!d.path().join("gone").exists());
    }
}
