//! `archvsync check-config [ARCHIVE]`: load the configs exactly as a run would, report what
//! would go wrong, and print the command lines a run would use, without running rsync or ssh.
//!
//! Every problem is one line starting with `error:`, `warning:` or `note:`. The rsync lines
//! come from [`Settings::stage_commands`], the very function a run executes, and the ssh
//! lines from the functions runmirrors' triggers use, so what is printed is what runs.
//! Exit status: 0 without errors, 1 with any, 78 when the ftpsync config itself is missing
//! or does not load (as ftpsync).

use crate::common::config;
use crate::common::layout::{self, Layout};
use crate::common::rsync::{self, Transport};
use crate::runmirrors::mirrorlist::{self, Entry};
use crate::runmirrors::push;
use crate::runmirrors::ssh::{self, PushKind};
use crate::runmirrors::trigger;
use crate::settings::archive::Settings;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

mod push_server;

const MASK: &str = "********";

/// The report, printed as it is built. The password is masked in every line.
#[derive(Default)]
struct Report {
    errors: usize,
    warnings: usize,
    secrets: Vec<String>,
}

impl Report {
    fn out(&self, line: &str) {
        let mut line = line.to_string();
        for s in self.secrets.iter().filter(|s| !s.is_empty()) {
            line = line.replace(s.as_str(), MASK);
        }
        println!("{line}");
    }

    fn section(&self, title: &str) {
        println!();
        self.out(&format!("== {title} =="));
    }

    fn info(&self, msg: impl AsRef<str>) {
        self.out(msg.as_ref());
    }

    fn error(&mut self, msg: impl AsRef<str>) {
        self.errors += 1;
        self.out(&format!("error: {}", msg.as_ref()));
    }

    fn warning(&mut self, msg: impl AsRef<str>) {
        self.warnings += 1;
        self.out(&format!("warning: {}", msg.as_ref()));
    }

    fn note(&self, msg: impl AsRef<str>) {
        self.out(&format!("note: {}", msg.as_ref()));
    }

    fn loader_warning(&mut self, w: &str) {
        self.warning(loader_warning_text(w));
    }
}

/// A loader's warning (`FILE:LINE: warning: ...`, or a line the config printed) without
/// its `warning:`, which goes in front.
fn loader_warning_text(w: &str) -> String {
    match w.split_once(": warning: ") {
        Some((loc, rest)) => format!("{loc}: {rest}"),
        None => w.to_string(),
    }
}

/// `check-config [ARCHIVE]`: the archive, empty for the default one.
pub fn main(layout: &Layout, archive: String) -> u8 {
    let mut r = Report::default();
    r.out(&format!(
        "== ftpsync{} ==",
        if archive.is_empty() {
            String::new()
        } else {
            format!(" (archive {archive})")
        }
    ));

    // The same loading as ftpsync: find and source the file, then apply the defaults.
    let (raw, name) = match Settings::load_raw(layout, &archive) {
        Ok(x) => x,
        Err(refusal) => {
            r.error(&refusal.message);
            return refusal.code;
        }
    };
    r.secrets.extend(raw.string("RSYNC_PASSWORD"));
    r.info(format!("config: {}", raw.path.display()));
    check_secret_file(&mut r, &raw.path);
    let to_empty = raw.is_set("TO") && raw.string("TO").is_none();
    let to_location = raw.location("TO");
    let settings = match Settings::from_raw(raw, layout, name, &archive, None) {
        Ok(s) => {
            for w in &s.warnings {
                r.loader_warning(w);
            }
            Some(s)
        }
        Err(refused) => {
            for w in &refused.warnings {
                r.loader_warning(w);
            }
            r.error(format!(
                "{} (a run exits {})",
                refused.refusal.message, refused.refusal.code
            ));
            None
        }
    };

    // A run in the classic layout works from BASEDIR: relative paths mean the same here.
    if layout.classic {
        if let Some(b) = &layout.basedir {
            let _ = std::env::set_current_dir(b);
        }
    }

    if let Some(s) = &settings {
        let shared = crate::settings::to_guard::configs_sharing_to(layout, s);
        if !shared.certain.is_empty() {
            r.error(format!(
                "{} (certain: the same whatever the environment; a run exits 1)",
                crate::settings::to_guard::shared_to_message(s, &shared.certain)
            ));
        }
        for l in &shared.likely {
            r.loader_warning(&format!(
                "{} (likely, not certain: a run warns and goes on)",
                crate::settings::to_guard::likely_shared_to_message(s, l)
            ));
        }
        if to_empty {
            r.error(format!(
                "{to_location}: TO is set but empty; a run would use the default {}",
                s.to.display()
            ));
        }
        check_ftpsync(&mut r, s);
    }

    check_runmirrors(&mut r, layout, &archive, settings.as_ref().map(|s| s.hub));

    println!();
    r.out(&format!(
        "{} error{}, {} warning{}",
        r.errors,
        if r.errors == 1 { "" } else { "s" },
        r.warnings,
        if r.warnings == 1 { "" } else { "s" }
    ));
    u8::from(r.errors > 0)
}

fn check_ftpsync(r: &mut Report, s: &Settings) {
    r.info(format!("source: {}", s.rsync_source));
    r.info(format!("TO: {}", s.to.display()));
    check_to(r, &s.to);
    r.info(format!("LOGDIR: {}", s.core.logdir.display()));
    check_dir(r, "LOGDIR", &s.core.logdir);
    check_rsync(r, &s.rsync);
    match &s.transport {
        Transport::Undefined => {
            r.info("transport: rsync daemon or local path (RSYNC_TRANSPORT=undefined)")
        }
        Transport::Ssh(e) => {
            r.info(format!("transport: ssh (-e {e})"));
            if let Err(e) = find_program("ssh") {
                r.error(format!("RSYNC_TRANSPORT=ssh: {e}"));
            }
        }
        Transport::Ssl(e) => {
            r.info(format!("transport: ssl (-e {e})"));
            let ca = Path::new(&s.ssl_capath);
            match crate::common::tls::load_ca(ca) {
                Ok(certs) => r.info(format!(
                    "RSYNC_SSL_CAPATH: {} ({} CA certificate{})",
                    ca.display(),
                    certs.len(),
                    if certs.len() == 1 { "" } else { "s" }
                )),
                Err(e) => r.error(format!("RSYNC_SSL_CAPATH: {e:#}")),
            }
            if s.ssl_method.checks_hostname().is_none() {
                r.error(format!(
                    "RSYNC_SSL_METHOD={} is not one of stunnel, stunnel-old, socat: the tunnel would refuse it",
                    s.ssl_method.as_str()
                ));
            }
        }
    }
    if let Some(proxy) = &s.rsync_proxy {
        r.info(format!("RSYNC_PROXY={}", mask_userinfo(proxy)));
    }
    match &s.rsync_password {
        Some(_) => r.info(format!(
            "RSYNC_PASSWORD={MASK} (set; rsync gets it through its environment only)"
        )),
        None => r.info("RSYNC_PASSWORD is not set"),
    }
    if !s.core.mailto.is_empty() && !is_executable(&s.core.sendmail) {
        r.warning(format!(
            "SENDMAIL {} is not an executable file: mail to {} cannot be sent",
            s.core.sendmail.display(),
            s.core.mailto.join(" ")
        ));
    }

    let (stage1, stage2) = s.stage_commands();
    r.section("rsync command lines (as a run logs them after `Running stageN: `)");
    r.info(format!("stage1: {}", rsync::display(&stage1)));
    r.info(format!("stage2: {}", rsync::display(&stage2)));
}

/// A config that sets RSYNC_PASSWORD must not be readable by group or others: the run's
/// own rule ([`crate::settings::archive::readable_password_file`]).
fn check_secret_file(r: &mut Report, path: &Path) {
    use crate::settings::archive::{readable_password_file, readable_password_message};
    if let Some((line, mode)) = readable_password_file(path) {
        r.warning(format!(
            "{}:{line}: {}",
            path.display(),
            readable_password_message(mode)
        ));
    }
}

fn check_rsync(r: &mut Report, rsync: &[String]) {
    let Some(prog) = rsync.first() else {
        r.error("RSYNC is empty");
        return;
    };
    match find_program(prog) {
        Err(e) => r.error(format!("RSYNC: {e}")),
        Ok(path) => match rsync::protocol_version(rsync) {
            Some(p) => {
                r.info(format!("rsync: {} (protocol version {p})", path.display()));
                if p < 31 {
                    r.note("rsync's protocol is older than 31: the default RSYNC_OPTIONS leave out --chmod");
                }
            }
            None => r.warning(format!(
                "RSYNC: `{} --version` names no protocol version; is {} rsync?",
                rsync.join(" "),
                path.display()
            )),
        },
    }
}

/// rsync with `--delete` on these would destroy far more than a mirror.
fn check_to(r: &mut Report, to: &Path) {
    // The same rule a run refuses to start with (ftpsync::settings::dangerous_to).
    if let Some(why) = crate::settings::to_guard::dangerous_to(to, &layout::home()) {
        r.error(why);
        return;
    }
    if to.is_relative() {
        r.note(format!(
            "TO is relative: it means {}",
            std::env::current_dir()
                .map(|d| d.join(to).display().to_string())
                .unwrap_or_else(|_| to.display().to_string())
        ));
    }
    check_dir(r, "TO", to);
}

/// An existing writable directory, or one that can be created.
fn check_dir(r: &mut Report, what: &str, dir: &Path) {
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

fn check_runmirrors(r: &mut Report, layout: &Layout, archive: &str, hub: Option<bool>) {
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
    let s = match crate::runmirrors::load_settings(layout, archive) {
        Ok(s) => s,
        Err(refused) => {
            for w in &refused.warnings {
                r.loader_warning(w);
            }
            r.error(format!(
                "{} (runmirrors exits {})",
                refused.refusal.message, refused.refusal.code
            ));
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
    if let Err(e) = find_program(trigger::SSH) {
        r.error(format!("triggers run ssh: {e}"));
    }

    let Some(list) = &s.mirrors else {
        let msg = crate::runmirrors::no_mirror_list(&name, &layout.searched(), hub == Some(true));
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
    for p in push_server::check(&s, list, &entries, hub) {
        use push_server::Level;
        match p.level {
            Level::Info => r.info(p.message),
            Level::Note => r.note(p.message),
            Level::Warning => r.warning(p.message),
            Level::Error => r.error(p.message),
        }
    }
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
                    let mut cmd = vec![trigger::SSH.to_string()];
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

/// The program as `Command::new` finds it: a path when it has a slash, else PATH.
fn find_program(prog: &str) -> Result<PathBuf, String> {
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

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file()) && access(p, libc::X_OK)
}

fn access(p: &Path, mode: libc::c_int) -> bool {
    crate::common::system::access(p, mode)
}

/// `http://user:secret@proxy:3128` → `http://user:********@proxy:3128`.
fn mask_userinfo(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let Some(at) = url[start..].find('@').map(|i| start + i) else {
        return url.to_string();
    };
    match url[start..at].find(':') {
        Some(colon) => format!("{}{MASK}{}", &url[..start + colon + 1], &url[at..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_proxy_passwords() {
        assert_eq!(
            mask_userinfo("http://u:pw@proxy:3128"),
            "http://u:********@proxy:3128"
        );
        assert_eq!(mask_userinfo("proxy:3128"), "proxy:3128");
        assert_eq!(mask_userinfo("u@proxy:3128"), "u@proxy:3128");
    }

    #[test]
    fn loader_warnings_keep_their_location() {
        assert_eq!(
            loader_warning_text("/e/ftpsync.conf:4: warning: unknown key X"),
            "/e/ftpsync.conf:4: unknown key X"
        );
        assert_eq!(loader_warning_text("/e/f.conf: hello"), "/e/f.conf: hello");
    }
}
