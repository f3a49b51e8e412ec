//! check-config's look at the push server's chain beyond the key: the secrets file the
//! rsync daemon authenticates the downstreams with, and HUB=true when there are downstreams.

use super::Report;
use crate::settings::mirrorlist::Entry;
use crate::settings::push::PushSettings;
use crate::settings::rsyncd_secrets as secrets;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// `hub`: ftpsync's HUB, None when there is no (loadable) ftpsync config.
pub(super) fn check(
    r: &mut Report,
    s: &PushSettings,
    list: &Path,
    entries: &[Entry],
    hub: Option<bool>,
) {
    let targets: Vec<_> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Mirror(t) => Some(t),
            _ => None,
        })
        .collect();
    if hub == Some(false) {
        if targets.is_empty() {
            r.note("HUB is not true: ftpsync does not push downstreams after a sync (runmirrors by hand does)");
        } else {
            r.warning(format!(
                    "HUB is not true, but {} lists {} downstream{}: ftpsync does not push them after a sync, only runmirrors by hand does (set HUB=true in the ftpsync config; `archvsync downstream add` does)",
                    list.display(),
                    targets.len(),
                    if targets.len() == 1 { "" } else { "s" }
                ));
        }
    }

    let file = &s.rsyncd.secrets;
    let md = match std::fs::metadata(file) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if s.rsyncd.secrets_configured {
                r.error(format!("RSYNCD_SECRETS {} does not exist: no downstream can pull from us with a password", file.display()));
            } else if !targets.is_empty() {
                r.note(format!(
                    "no secrets file {}: downstreams pull without a password (if our rsync daemon uses `auth users`, they need one there: `archvsync downstream add` writes it)",
                    file.display()
                ));
            }
            return;
        }
        Err(e) => {
            r.error(format!("RSYNCD_SECRETS {}: {e}", file.display()));
            return;
        }
    };
    let text = match secrets::read(file) {
        Ok(t) => t,
        Err(e) => {
            r.error(format!(
                "RSYNCD_SECRETS {} cannot be read: {e}",
                file.display()
            ));
            return;
        }
    };
    let entries = secrets::parse(&text);
    r.info(format!(
        "RSYNCD_SECRETS: {} ({} password{})",
        file.display(),
        entries.len(),
        if entries.len() == 1 { "" } else { "s" }
    ));
    let mode = md.permissions().mode() & 0o7777;
    if mode & 0o007 != 0 {
        r.error(format!(
            "RSYNCD_SECRETS {} is accessible by others (mode {mode:o}): the passwords are exposed and rsync (strict modes) refuses the file; chmod 600 it",
            file.display()
        ));
    } else if mode & 0o070 != 0 {
        r.warning(format!(
            "RSYNCD_SECRETS {} is accessible by its group (mode {mode:o}); chmod 600 it",
            file.display()
        ));
    }
    for t in targets {
        if secrets::find(&entries, &t.name).is_none() {
            r.error(format!(
                "{}:{}: downstream {} has no password in {}: its ftpsync cannot pull from us (`archvsync downstream remove {}`, then add it again)",
                list.display(),
                t.line,
                t.name,
                file.display(),
                t.name
            ));
        }
    }
}
