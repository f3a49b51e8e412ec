//! The paths a run uses, checked as the run will meet them: a config others can read,
//! directories it writes, programs it starts.

use super::Report;
use std::path::{Path, PathBuf};

/// A config that sets RSYNC_PASSWORD must not be readable by group or others: the run's
/// own rule ([`crate::settings::archive::readable_password_file`]).
pub(super) fn check_secret_file(r: &mut Report, path: &Path) {
    use crate::settings::archive::{readable_password_file, readable_password_message};
    if let Some((line, mode)) = readable_password_file(path) {
        r.warning(format!(
            "{}:{line}: {}",
            path.display(),
            readable_password_message(mode)
        ));
    }
}

/// An existing writable directory, or one that can be created.
pub(super) fn check_dir(r: &mut Report, what: &str, dir: &Path) {
    match std::fs::metadata(dir) {
        Ok(md) if !md.is_dir() => r.error(format!(
            "{what} {} exists but is not a directory",
            dir.display()
        )),
        Ok(_) if !access(dir, libc::W_OK | libc::X_OK) => {
            r.error(format!("{what} {} is not writable by us", dir.display()))
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = dir
                .ancestors()
                .skip(1)
                .map(|a| {
                    if a.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        a
                    }
                })
                .find(|a| a.exists());
            match parent {
                Some(p) if p.is_dir() && access(p, libc::W_OK | libc::X_OK) => r.note(format!(
                    "{what} {} does not exist yet; a run creates it",
                    dir.display()
                )),
                Some(p) => r.error(format!(
                    "{what} {} does not exist and cannot be created: {} is not a writable directory",
                    dir.display(),
                    p.display()
                )),
                None => r.error(format!("{what} {} cannot be created", dir.display())),
            }
        }
        Err(e) => r.error(format!("{what} {}: {e}", dir.display())),
    }
}

/// The program as `Command::new` finds it: a path when it has a slash, else PATH.
pub(super) fn find_program(prog: &str) -> Result<PathBuf, String> {
    if prog.contains('/') {
        let p = PathBuf::from(prog);
        return match std::fs::metadata(&p) {
            Err(e) => Err(format!("{prog}: {e}")),
            Ok(_) if !is_executable(&p) => Err(format!("{prog} is not an executable file")),
            Ok(_) => Ok(p),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|c| is_executable(c))
        .ok_or_else(|| {
            format!(
                "{prog} not found in PATH ({})",
                std::env::var("PATH").unwrap_or_default()
            )
        })
}

pub(super) fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file()) && access(p, libc::X_OK)
}

fn access(p: &Path, mode: libc::c_int) -> bool {
    crate::common::system::access(p, mode)
}
