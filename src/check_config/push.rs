//! check-config's look at runmirrors[-ARCHIVE].conf: its loading, LOGDIR, KEYFILE, the
//! mirror list, the push server's chain (`push_server`), and every trigger's ssh command
//! line as a push would run it.

use super::paths::{check_dir, check_secret_file, find_program};
use super::push_server;
use super::Report;
use crate::common::config;
use crate::common::kinds::PushKind;
use crate::common::layout::Layout;
use crate::common::rsync;
use crate::common::ssh::{self, SSH};
use crate::settings::mirrorlist::{self, Entry};
use crate::settings::push;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

pub(super) fn check_runmirrors(r: &mut Report, layout: &Layout, archive: &str, hub: Option<bool>) {
    let name = if archive.is_empty() {
        "runmirrors".to_string()
    } else {
        config::sanitize_name(&format!("runmirrors-{archive}"))
    };
    r.section(&name);
    if config::find(&layout.confdirs, &name).is_none() {
        let searched = layout.searched();
        if hub == Some(true) {
            r.error(format!(
                "HUB=true but there is no {name}.conf (searched {searched}): the push after a sync would fail"
            ));
        } else {
            r.note(format!(
                "no {name}.conf (searched {searched}): this mirror pushes no downstreams"
            ));
        }
        return;
    }
    // The same loading as runmirrors (and a hub's ftpsync, which runs it in-process).
    let s = match push::PushSettings::load_for_push(layout, archive) {
        Ok(s) => s,
        Err(refused) => {
            r.refused(&refused, "runmirrors");
            return;
        }
    };
    r.info(format!("config: {}", s.core.config_path.display()));
    check_secret_file(r, &s.core.config_path);
    for w in &s.warnings {
        r.loader_warning(w);
    }
    r.info(format!("LOGDIR: {}", s.core.logdir.display()));
    check_dir(r, "LOGDIR", &s.core.logdir);
    r.info(format!("KEYFILE: {}", s.keyfile.display()));
    check_key(
        r,
        "KEYFILE",
        &s.keyfile,
        " (runmirrors exits 5; `archvsync downstream add` makes the key)",
    );
    if let Err(e) = find_program(SSH) {
        r.error(format!("triggers run ssh: {e}"));
    }

    let Some(list) = &s.mirrors else {
        let msg = push::no_mirror_list(&name, &layout.searched(), hub == Some(true));
        // A run warns about it (log and stderr) when HUB=true; without, nothing pushes anyway.
        if hub == Some(true) {
            r.warning(msg);
        } else {
            r.note(msg);
        }
        return;
    };
    r.info(format!("mirrors: {}", list.display()));
    let (entries, errors) = match mirrorlist::read(list) {
        Ok(x) => x,
        Err(e) => {
            r.error(format!("cannot read {}: {e}", list.display()));
            return;
        }
    };
    for e in &errors {
        r.error(format!(
            "{}:{}: {}; a push skips this line",
            list.display(),
            e.line,
            e.message
        ));
    }
    // The rest of the push server's chain: HUB, the downstreams' rsync passwords.
    push_server::check(r, &s, list, &entries, hub);
    // `runmirrors` as run by hand: kind mhop, not from ftpsync.
    let kind = PushKind::Mhop;
    r.section(&format!(
        "ssh triggers (`runmirrors{} -k {}`)",
        if archive.is_empty() {
            String::new()
        } else {
            format!(" -a {archive}")
        },
        kind.as_str()
    ));
    for entry in &entries {
        match entry {
            Entry::Mirror(t) => {
                if let Some(h) = &t.http {
                    r.info(format!("{} http: {} (status --downstreams)", t.name, h.url));
                }
                if let Some(key) = &t.keyfile {
                    check_key(
                        r,
                        &format!("{}:{}: key file", list.display(), t.line),
                        key,
                        "",
                    );
                }
                // The stages, words and ssh arguments a push would use, from the same
                // function the push uses.
                let stages = push::job(t, &s, kind, false)
                    .map(|j| j.stages)
                    .unwrap_or_default();
                if stages.iter().any(|st| ssh::sets_local_command(&st.args)) {
                    r.note(format!(
                        "{}:{}: {}: these options set LocalCommand themselves; they stand, and \
                         a trigger counts as accepted only when its ssh returns",
                        list.display(),
                        t.line,
                        t.name
                    ));
                }
                for st in stages {
                    let mut cmd = vec![SSH.to_string()];
                    cmd.extend(st.args);
                    r.info(format!(
                        "{} {}: {}",
                        t.name,
                        st.stage.as_str(),
                        rsync::display(&cmd)
                    ));
                }
            }
            Entry::Delay {
                line,
                seconds,
                stage1,
            } => r.info(format!(
                "DELAY {seconds}{} (line {line})",
                if *stage1 { " stage1" } else { "" }
            )),
            Entry::Skipped { line, name, host } => r.note(format!(
                "{}:{line}: {name}: {host} is not an ssh+ftpsync:// URL; runmirrors skips it",
                list.display()
            )),
        }
    }
    if !entries.iter().any(|e| matches!(e, Entry::Mirror(_))) {
        r.note(format!("{} lists no mirror", list.display()));
    } else {
        r.info(
            "each trigger's ssh also gets `-o PermitLocalCommand=yes -o LocalCommand=echo 1<>FIFO` \
             first (FIFO: its own, in a private directory under $TMPDIR): that tells the push \
             follower the moment the downstream accepted",
        );
    }
}

/// A private key ssh will use: present, readable, and (ssh insists) not open to others.
fn check_key(r: &mut Report, what: &str, key: &Path, consequence: &str) {
    match std::fs::metadata(key) {
        Err(e) => r.error(format!("{what} {}: {e}{consequence}", key.display())),
        Ok(md) if !md.is_file() => r.error(format!(
            "{what} {} is not a file{consequence}",
            key.display()
        )),
        Ok(md) => {
            if let Err(e) = std::fs::File::open(key) {
                r.error(format!("{what} {} cannot be read: {e}", key.display()));
            } else if md.uid() == crate::common::system::geteuid()
                && md.permissions().mode() & 0o077 != 0
            {
                r.error(format!(
                    "{what} {} is accessible by others (mode {:o}): ssh refuses to use such a key; chmod 600 it",
                    key.display(),
                    md.permissions().mode() & 0o7777
                ));
            }
        }
    }
}
