//! `archvsync rsyncd-config`: an rsyncd.conf serving TO to the downstreams, with `auth
//! users` and the secrets file `downstream add` fills.
//!
//! The seed's rsyncd.conf works only for rsync started as root: `uid = nobody` makes any
//! other account fail with "setgid failed", and `max connections` needs a `lock file`
//! that defaults to /var/run/rsyncd.lock. This one works either way: no uid or gid (a root
//! rsync changes to nobody/nogroup by itself, any other keeps its own), the lock file in
//! LOCKDIR, `use chroot` unset (rsync then chroots only when it can), and, when the secrets
//! file is not root's, `strict modes = false`, without which a root rsync refuses it.

use super::{secrets, Failure, Hub};
use crate::common::layout::Layout;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub archive: String,
}

pub fn main(layout: &Layout, opts: Options) -> u8 {
    match render_for(layout, &opts.archive) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(f) => f.print(),
    }
}

fn render_for(layout: &Layout, archive: &str) -> Result<String, Failure> {
    let hub = Hub::load(layout, archive)?;
    let Some(ftpsync) = &hub.ftpsync else {
        return Err(Failure(
            crate::common::config::EX_CONFIG,
            "no ftpsync config for this archive: its TO is what rsync serves".into(),
        ));
    };
    std::fs::create_dir_all(&hub.lockdir).map_err(|e| {
        Failure(
            super::EX_FAILED,
            format!("cannot create LOCKDIR {}: {e}", hub.lockdir.display()),
        )
    })?;
    let rsyncd = hub.rsyncd();
    let users: Vec<String> = secrets::read(&rsyncd.secrets)
        .map(|t| secrets::parse(&t).into_iter().map(|e| e.user).collect())
        .unwrap_or_default();
    let secrets_owner = std::fs::metadata(&rsyncd.secrets)
        .map(|m| m.uid())
        .unwrap_or_else(|_| crate::common::system::geteuid());
    let account = account_name();
    let conf_file = hub.push_conf.with_file_name(format!(
        "{}.conf",
        hub.push_name.replacen("runmirrors", "rsyncd", 1)
    ));
    Ok(render(&Params {
        ftpsync_conf: &ftpsync.core.config_path,
        to: &ftpsync.to,
        archive,
        module: &rsyncd.module,
        lock_file: &hub.lockdir.join("rsyncd.lock"),
        secrets: &rsyncd.secrets,
        secrets_root_owned: secrets_owner == 0,
        users: &users,
        account: &account,
        conf_file: &conf_file,
        port: rsyncd.port,
        rsync: if Path::new("/usr/bin/rsync").exists() {
            "/usr/bin/rsync"
        } else {
            "rsync"
        },
    }))
}

/// Our account's name, for the inetd line and systemd's User=: the password database's
/// (local accounts), else the login's.
fn account_name() -> String {
    let uid = crate::common::system::geteuid().to_string();
    let local = std::fs::read_to_string("/etc/passwd").ok().and_then(|t| {
        t.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2] == uid).then(|| f[0].to_string())
        })
    });
    local
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .unwrap_or_else(|| "mirror".into())
}

pub struct Params<'a> {
    pub ftpsync_conf: &'a Path,
    pub to: &'a Path,
    pub archive: &'a str,
    pub module: &'a str,
    pub lock_file: &'a Path,
    pub secrets: &'a Path,
    pub secrets_root_owned: bool,
    pub users: &'a [String],
    /// The account running archvsync (owner of TO, LOCKDIR and the secrets file).
    pub account: &'a str,
    /// Where we suggest to save it.
    pub conf_file: &'a Path,
    pub port: u16,
    pub rsync: &'a str,
}

pub fn render(p: &Params) -> String {
    let conf = p.conf_file.display();
    let comment = if p.archive.is_empty() {
        "The Debian Archive (https://www.debian.org/mirror/size)".to_string()
    } else {
        format!("The {} archive", p.archive)
    };
    let now = if p.users.is_empty() {
        "none yet".to_string()
    } else {
        p.users.join(", ")
    };
    let mut s = format!(
        "# rsyncd.conf serving TO of {ftpsync} to the downstreams, printed by\n\
         # `archvsync rsyncd-config`. Save it as {conf} (or add its [{module}] section to an\n\
         # existing rsyncd.conf).\n\
         #\n\
         # The same file works whoever starts rsync:\n\
         # - inetd, as the seeds say: this line in /etc/inetd.conf, then send inetd a HUP\n\
         #     rsync stream tcp nowait {account} {rsync} rsyncd --daemon --config={conf}\n\
         {root_too}\
         # - a systemd socket: rsyncd.socket with [Socket] ListenStream=873 and Accept=yes, and\n\
         #   rsyncd@.service with [Service] User={account}, StandardInput=socket and\n\
         #   ExecStart=-{rsync} --daemon --config={conf}\n\
         # - this account, without root, on a port above 1023{port_note}:\n\
         #     {rsync} --daemon --no-detach --port={port} --config={conf}\n\
         # There is no uid or gid: rsync started as root changes to nobody/nogroup by itself, and\n\
         # any other account keeps its own (`uid = nobody` there fails with \"setgid failed\").\n\
         # The lock file `max connections` needs is in LOCKDIR, which {account} can write (the\n\
         # default, /var/run/rsyncd.lock, only root can). `use chroot` is not set: rsync then\n\
         # chroots when it can (as root) and goes on without when it cannot.\n\
         \n\
         socket options = SO_KEEPALIVE\n\
         \n\
         [{module}]\n\
         \x20   path = {to}\n\
         \x20   comment = {comment}\n\
         \x20   read only = true\n\
         \x20   max connections = 50\n\
         \x20   lock file = {lock}\n\
         \x20   # Everybody with a password in the secrets file, where `archvsync downstream add NAME`\n\
         \x20   # puts one and `downstream remove NAME` takes it out again: this file needs no change\n\
         \x20   # when downstreams come and go (now: {now}).\n\
         \x20   auth users = *\n\
         \x20   secrets file = {secrets}\n",
        ftpsync = p.ftpsync_conf.display(),
        module = p.module,
        account = p.account,
        rsync = p.rsync,
        // A non-root rsync cannot listen on 873: suggest a port it can, and the key that
        // tells the downstreams.
        root_too = if p.account == "root" {
            String::new()
        } else {
            format!("#   ({} runs rsync; `root` in its place works too.)\n", p.account)
        },
        port = if p.port < 1024 { 8873 } else { p.port },
        port_note = if p.port < 1024 {
            " (and RSYNCD_PORT=8873 in runmirrors.conf,\n#   so that `archvsync downstream add` tells the downstreams)"
        } else {
            " (RSYNCD_PORT)"
        },
        to = p.to.display(),
        lock = p.lock_file.display(),
        secrets = p.secrets.display(),
    );
    if !p.secrets_root_owned {
        s.push_str(&format!(
            "    # rsync started as root refuses a secrets file that root does not own; this one is\n\
             \x20   # {account}'s, who adds and removes the downstreams, and archvsync keeps it mode 600\n\
             \x20   # (`archvsync check-config` says when it is not).\n\
             \x20   strict modes = false\n",
            account = p.account
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params<'a>(users: &'a [String], root: bool) -> Params<'a> {
        Params {
            ftpsync_conf: Path::new("/home/m/etc/ftpsync.conf"),
            to: Path::new("/srv/mirror"),
            archive: "",
            module: "debian",
            lock_file: Path::new("/home/m/locks/rsyncd.lock"),
            secrets: Path::new("/home/m/etc/runmirrors.secrets"),
            secrets_root_owned: root,
            users,
            account: "m",
            conf_file: Path::new("/home/m/etc/rsyncd.conf"),
            port: 8873,
            rsync: "/usr/bin/rsync",
        }
    }

    /// The settings, without comments: `key = value` lines and section headers.
    fn settings(text: &str) -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn one_module_for_root_and_for_the_account() {
        let users = vec!["eu".to_string(), "us".to_string()];
        let text = render(&params(&users, false));
        assert_eq!(
            settings(&text),
            vec![
                "socket options = SO_KEEPALIVE",
                "[debian]",
                "path = /srv/mirror",
                "comment = The Debian Archive (https://www.debian.org/mirror/size)",
                "read only = true",
                "max connections = 50",
                "lock file = /home/m/locks/rsyncd.lock",
                "auth users = *",
                "secrets file = /home/m/etc/runmirrors.secrets",
                "strict modes = false",
            ]
        );
        assert!(text.contains("(now: eu, us)"), "{text}");
        assert!(text.contains("--port=8873 --config=/home/m/etc/rsyncd.conf"));
        assert!(text.contains("rsync stream tcp nowait m /usr/bin/rsync rsyncd --daemon"));
        // A secrets file root owns needs no relaxing.
        let text = render(&params(&[], true));
        assert!(!text.contains("strict modes"), "{text}");
        assert!(text.contains("(now: none yet)"));
    }
}
