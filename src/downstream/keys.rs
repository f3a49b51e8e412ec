//! The push key: made with `ssh-keygen -t ed25519` where KEYFILE says, and its public half
//! for the downstreams' authorized_keys.
//!
//! ssh-keygen writes its files in place, one after the other, so it writes them into a
//! private directory beside KEYFILE and the private key is then linked into place (a link
//! never replaces a file, so a key that appeared meanwhile is not overwritten). Nobody ever
//! sees a half-written key at KEYFILE.

use crate::common::private_dir::PrivateDir;
use crate::common::process;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// ssh-keygen makes an ed25519 key in milliseconds; this is for a machine in trouble.
const KEYGEN_TIMEOUT: Duration = Duration::from_secs(30);
const TMP_PREFIX: &str = ".archvsync-newkey-";

fn pub_path(key: &Path) -> PathBuf {
    let mut p = key.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

/// Makes an ed25519 key without passphrase at `key` (mode 600; its directory, when we make
/// it, 700), with `KEY.pub` beside it. The caller has checked that `key` does not exist.
/// The directories it had to make, outermost first, for a rollback to remove.
pub fn create(key: &Path, comment: &str) -> Result<Vec<PathBuf>, String> {
    let dir = key
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let made: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .map(Path::to_path_buf)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if !made.is_empty() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    remove_leftovers(dir);
    let tmp = PrivateDir::new_in(dir, TMP_PREFIX)
        .map_err(|e| format!("cannot make a directory in {}: {e}", dir.display()))?;
    let new = tmp.path().join("key");
    let mut cmd = std::process::Command::new("ssh-keygen");
    cmd.args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(&new);
    // Killed with us: a kill mid-way must not leave it writing on.
    process::tie_to_us(&mut cmd);
    let out = process::output_within(cmd, b"", KEYGEN_TIMEOUT)
        .map_err(|e| format!("cannot run ssh-keygen: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ssh-keygen -t ed25519 failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    std::fs::set_permissions(&new, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot chmod 600 {}: {e}", new.display()))?;
    std::fs::File::open(&new)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("cannot flush {}: {e}", new.display()))?;
    std::fs::hard_link(&new, key).map_err(|e| format!("cannot create {}: {e}", key.display()))?;
    // The public half is a convenience (the key itself gives it, see `public`): replacing
    // a stale one is fine.
    if let Err(e) = std::fs::rename(pub_path(&new), pub_path(key)) {
        let _ = std::fs::remove_file(key);
        return Err(format!("cannot create {}: {e}", pub_path(key).display()));
    }
    let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    Ok(made)
}

/// Removes what [`create`] made.
pub fn remove(key: &Path) {
    let _ = std::fs::remove_file(key);
    let _ = std::fs::remove_file(pub_path(key));
}

/// Private directories of a [`create`] that was killed: nothing reads them.
fn remove_leftovers(dir: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let me = crate::common::system::geteuid();
    for e in rd.flatten() {
        let name = e.file_name();
        if !name.to_string_lossy().starts_with(TMP_PREFIX) {
            continue;
        }
        if let Ok(md) = std::fs::symlink_metadata(e.path()) {
            if md.is_dir() && md.uid() == me {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// The public key line (`ssh-ed25519 AAAA... comment`) of the private key `key`: from
/// `ssh-keygen -y`, which proves the key is usable without a passphrase, with the comment
/// of `KEY.pub` when that file holds the same key.
pub fn public(key: &Path) -> Result<String, String> {
    let mut cmd = std::process::Command::new("ssh-keygen");
    cmd.args(["-y", "-P", "", "-f"]).arg(key);
    let out = process::output_within(cmd, b"", KEYGEN_TIMEOUT)
        .map_err(|e| format!("cannot run ssh-keygen -y: {e}"))?;
    let derived = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || derived.is_empty() {
        return Err(format!(
            "ssh-keygen -y -f {} cannot read the key (a passphrase? runmirrors' ssh runs with BatchMode and cannot ask for one): {}",
            key.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let key_part = |l: &str| l.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    if let Ok(text) = std::fs::read_to_string(pub_path(key)) {
        let line = text.trim();
        if key_part(line) == key_part(&derived) {
            return Ok(line.to_string());
        }
    }
    Ok(derived)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_a_private_key_and_reads_its_public_half() {
        let d = tempfile::tempdir().unwrap();
        let key = d.path().join("ssh/pushmirror");
        std::fs::create_dir_all(d.path().join("ssh")).unwrap();
        std::fs::create_dir(d.path().join(format!("ssh/{TMP_PREFIX}old"))).unwrap();
        create(&key, "archvsync test").unwrap();
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let line = public(&key).unwrap();
        assert!(line.starts_with("ssh-ed25519 AAAA"), "{line}");
        assert!(line.ends_with(" archvsync test"), "{line}");
        let left: Vec<_> = std::fs::read_dir(d.path().join("ssh"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let mut left = left;
        left.sort();
        assert_eq!(left, vec!["pushmirror", "pushmirror.pub"]);
        // An existing key is never replaced.
        assert!(create(&key, "again").is_err());
        assert_eq!(public(&key).unwrap(), line);
    }

    #[test]
    fn a_missing_key_has_no_public_half() {
        let d = tempfile::tempdir().unwrap();
        assert!(public(&d.path().join("none")).is_err());
    }
}
