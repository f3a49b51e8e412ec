//! `archvsync downstream add NAME HOST`: everything a push server needs for one more
//! downstream, then what the downstream's operator must do, printed.
//!
//! The order of the steps is what makes a kill harmless: each prefix is a setup that works.
//! 1. The push key, when there is none: unused until a mirror line names a downstream.
//! 2. runmirrors.conf, when there is none: comments only, every key at its default (which
//!    is what the steps before and after it assume when there is no file).
//! 3. `NAME:password` in the secrets file: the downstream may pull, nobody pushes it yet.
//! 4. HUB=true: ftpsync pushes the mirror list after each sync (nobody new, yet).
//! 5. The mirror line: from now on NAME is pushed, and everything it needs is in place.
//!
//! A step that fails takes the earlier ones back (the undo). After a kill between 3 and
//! 5 the password is left without a mirror line: `list` shows it as "pull only", and
//! the next `add NAME` keeps and prints it instead of making another.

use super::files::{Mode, UndoLog};
use super::hub::{self, Edit};
use super::{keys, secrets, AddOptions, Failure, Hub, MirrorList, EX_FAILED, EX_USAGE};
use crate::common::layout::Layout;
use crate::settings::archive::ArchiveSettings;
use crate::settings::mirrorlist::{self, Entry, Target};

pub fn main(layout: &Layout, archive: &str, req: AddOptions) -> u8 {
    if let Err(why) = validate(&req) {
        eprintln!("error: {why}");
        return EX_USAGE;
    }
    match add(layout, archive, &req) {
        Ok(()) => 0,
        Err(f) => f.print(),
    }
}

/// Names end up in file names, rsync's secrets file and `auth users`, ssh's command line and
/// authorized_keys: one plain word each.
fn validate(r: &AddOptions) -> Result<(), String> {
    let word = |what: &str, v: &str, extra: &[char]| -> Result<(), String> {
        let ok = !v.is_empty()
            && v.len() <= 255
            && !v.starts_with(['-', '.'])
            && v.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') || extra.contains(&c)
            });
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{what} {v:?} must be one word of letters, digits, `.`, `_` and `-`{} (not starting with - or .)",
                if extra.is_empty() { String::new() } else { format!(" or {extra:?}") }
            ))
        }
    };
    word("the name", &r.name, &[])?;
    word("the user", &r.user, &[])?;
    // Host names, IPv4 and IPv6 addresses.
    word("the host", &r.host, &[':'])?;
    if let Some(o) = &r.ssh_opts {
        if !o.trim_start().starts_with('-') {
            return Err(format!(
                "--ssh-opts {o:?} must be ssh options, starting with -"
            ));
        }
        shell_words::split(o).map_err(|e| format!("--ssh-opts {o:?}: {e}"))?;
        if o.contains(['\n', '\r', '#']) {
            return Err(format!("--ssh-opts {o:?} cannot hold a line break or #"));
        }
    }
    if r.command.is_empty() || r.command.contains(['"', '\n', '\r', '\\']) {
        return Err(format!(
            "--command {:?} must be a path without quotes, backslashes or line breaks",
            r.command
        ));
    }
    Ok(())
}

/// The mirror line, as runmirrors.mirror.sample spells it.
fn mirror_line(r: &AddOptions) -> String {
    let mut l = format!("{} {} {} {}", r.kind.as_str(), r.name, r.host, r.user);
    if let Some(o) = &r.ssh_opts {
        l.push(' ');
        l.push_str(o.trim());
    }
    l
}

fn add(layout: &Layout, archive: &str, req: &AddOptions) -> Result<(), Failure> {
    let hub = Hub::load(layout, archive)?;
    let _lock = hub.lock()?;
    let mut undo = UndoLog::default();
    steps(layout, archive, req, &hub, &mut undo).map_err(|f| Failure(f.0, undo.take_back(f.1)))
}

fn steps(
    layout: &Layout,
    archive: &str,
    req: &AddOptions,
    hub: &Hub,
    undo: &mut UndoLog,
) -> Result<(), Failure> {
    let Some(ftpsync) = &hub.ftpsync else {
        return Err(Failure(
            crate::common::config::EX_CONFIG,
            format!(
                "no ftpsync config for this archive (searched {}): a push server is a mirror first; set up its ftpsync.conf",
                layout.confdirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
            ),
        ));
    };
    let mut done = Vec::new();
    let ftpsync_path = ftpsync.core.config_path.clone();

    // Everything is checked before anything else is written.
    let list = MirrorList::read(&hub.mirrors())?;
    let named = list.lines_naming(&req.name);
    if !named.is_empty() {
        return Err(Failure(
            EX_FAILED,
            format!(
                "{}:{}: there is a downstream {} already; nothing was changed (`archvsync downstream remove {}` first to replace it)",
                list.path.display(),
                named[0],
                req.name,
                req.name
            ),
        ));
    }
    let line = mirror_line(req);
    let (parsed, errors) = mirrorlist::parse(&line);
    let target = match (parsed.as_slice(), errors.as_slice()) {
        ([Entry::Mirror(t)], []) if t.name == req.name && t.user == req.user => t.clone(),
        (_, [e, ..]) => {
            return Err(Failure(
                EX_USAGE,
                format!("the mirror line `{line}` would not work: {}", e.message),
            ))
        }
        _ => {
            return Err(Failure(
                EX_USAGE,
                format!("the mirror line `{line}` would not mean what was asked"),
            ))
        }
    };
    let rsyncd = hub.rsyncd();
    let (_, secrets_text) = hub.secrets()?;
    let existing = secrets::find(&secrets::parse(&secrets_text), &req.name).cloned();
    let keyfile = hub.keyfile();
    let key_exists = std::fs::symlink_metadata(&keyfile).is_ok();
    // Fails for a key ssh could not use in a push either (a passphrase, unreadable).
    let existing_public = if key_exists {
        Some(
            keys::public(&keyfile)
                .map_err(|e| Failure(EX_FAILED, format!("KEYFILE {}: {e}", keyfile.display())))?,
        )
    } else {
        None
    };
    let hub_edit = if ftpsync.hub {
        None
    } else {
        let text = std::fs::read(super::files::target(&ftpsync_path)).map_err(|e| {
            Failure(
                EX_FAILED,
                format!("cannot read {}: {e}", ftpsync_path.display()),
            )
        })?;
        let toml = ftpsync_path.extension().is_some_and(|e| e == "toml");
        Some(hub::plan(&text, toml))
    };

    // Step 1: the key.
    if !key_exists {
        let comment = format!("archvsync-push@{}", ftpsync.mirrorname);
        let dirs = keys::create(&keyfile, &comment).map_err(|e| Failure(EX_FAILED, e))?;
        for d in &dirs {
            undo.created_dir(d);
        }
        undo.created(&keyfile);
        let mut public = keyfile.as_os_str().to_owned();
        public.push(".pub");
        undo.created(std::path::Path::new(&public));
        done.push(format!(
            "{}: the push key, created (ed25519, mode 600; KEYFILE)",
            keyfile.display()
        ));
    }
    let public = match existing_public {
        Some(p) => p,
        None => keys::public(&keyfile).map_err(|e| Failure(EX_FAILED, e))?,
    };

    // Step 2, as the seed says: "copy runmirrors.conf.sample to runmirrors.conf".
    if hub.push.is_none() {
        let template = runmirrors_template(hub);
        undo.write(&hub.push_conf, template.as_bytes(), Mode::KeepOr(0o644))?;
        done.push(format!(
            "{}: created (every key at its default)",
            hub.push_conf.display()
        ));
    }

    // Step 3: the password.
    let password = match existing {
        Some(e) => {
            done.push(format!(
                "{}:{}: {} has a password already; it is kept (an earlier add that was interrupted, or a mirror that pulled without being pushed)",
                rsyncd.secrets.display(),
                e.line,
                req.name
            ));
            e.password
        }
        None => {
            let pw = secrets::generate_password()
                .map_err(|e| Failure(EX_FAILED, format!("cannot read /dev/urandom: {e}")))?;
            let text = secrets::with_added(&secrets_text, &req.name, &pw);
            undo.write(&rsyncd.secrets, &text, Mode::Exactly(0o600))?;
            done.push(format!(
                "{}: {}:******** added (mode 600): the downstream's rsync password",
                rsyncd.secrets.display(),
                req.name
            ));
            pw
        }
    };

    // Step 4: HUB=true.
    match hub_edit {
        None => {}
        Some(Edit::Manual(why)) => done.push(format!(
            "warning: {}: HUB is not true and {why}: set HUB=true there yourself, or ftpsync will not push the downstreams after a sync",
            ftpsync_path.display()
        )),
        Some(Edit::Change(text, what)) => {
            undo.write(&ftpsync_path, &text, Mode::KeepOr(0o644))?;
            let (mut raw, _) = ArchiveSettings::load_raw(layout, archive).map_err(|r| Failure(r.code, r.message))?;
            if !raw.bool_or("HUB", false) {
                return Err(Failure(
                    EX_FAILED,
                    format!(
                        "{}: {what}, but HUB is still not true when the file is read (does it end early, or set HUB again?): set HUB=true yourself",
                        ftpsync_path.display()
                    ),
                ));
            }
            done.push(format!(
                "{}: {what}: ftpsync now pushes the downstreams after each sync (HUB=true)",
                ftpsync_path.display()
            ));
        }
    }

    // Step 5: the mirror line, last: the downstream is pushed from now on.
    let mut text = list.text.clone();
    if !text.is_empty() && !text.ends_with(b"\n") {
        text.push(b'\n');
    }
    text.extend_from_slice(line.as_bytes());
    text.push(b'\n');
    undo.write(&list.path, &text, Mode::KeepOr(0o644))?;
    let n = String::from_utf8_lossy(&text).lines().count();
    done.push(format!("{}:{n}: {line}", list.path.display()));

    println!("Added downstream {}:", req.name);
    for d in &done {
        println!("  {d}");
    }
    println!();
    print_instructions(hub, &target, Some(&password), &public, &req.command);
    Ok(())
}

impl From<String> for Failure {
    fn from(s: String) -> Failure {
        Failure(EX_FAILED, s)
    }
}

/// runmirrors.conf as `add` creates it: the keys that matter for a push server, commented
/// out at their defaults.
fn runmirrors_template(hub: &Hub) -> String {
    let r = hub.rsyncd();
    format!(
        "## {name}.conf, created by `archvsync downstream add`. Every key, with its default, is\n\
         ## explained in runmirrors.conf.sample; the ones a push server is made of:\n\
         ##\n\
         ## The push key (relative to your home directory).\n\
         #KEYFILE=.ssh/pushmirror\n\
         ## The rsync daemon's secrets file: one NAME:password line per downstream.\n\
         #RSYNCD_SECRETS={secrets}\n\
         ## The rsync module, host and port the downstreams pull from.\n\
         #RSYNCD_MODULE={module}\n\
         #RSYNCD_HOST={host}\n\
         #RSYNCD_PORT={port}\n",
        name = hub.push_name,
        secrets = r.secrets.display(),
        module = r.module,
        host = hub.rsync_host(),
        port = r.port,
    )
}

/// The rsync source a downstream pulls with, when RSYNC_HOST and RSYNC_PATH cannot say it
/// (a port other than 873).
fn rsync_url(host: &str, port: u16, user: &str, module: &str) -> String {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    format!("rsync://{user}@{host}:{port}/{module}/")
}

/// What the downstream's operator must do: the authorized_keys line (both spellings) and
/// the lines for their ftpsync config. `password` is None when the secrets file has none.
pub(crate) fn print_instructions(
    hub: &Hub,
    t: &Target,
    password: Option<&str>,
    public_key: &str,
    command: &str,
) {
    let rsyncd = hub.rsyncd();
    let host = hub.rsync_host();
    let q = |s: &str| shell_words::quote(s).into_owned();
    println!(
        "What the operator of {} must do, as the account {}:",
        t.host, t.user
    );
    println!();
    println!(
        "1. Add this line to ~/.ssh/authorized_keys (one line; `{command}` is their ftpsync):"
    );
    println!();
    println!("command=\"{command}\",restrict {public_key}");
    println!();
    println!("   An sshd older than OpenSSH 7.2 does not know `restrict`; there, the long form:");
    println!();
    println!(
        "command=\"{command}\",no-port-forwarding,no-X11-forwarding,no-agent-forwarding,no-pty {public_key}"
    );
    println!();
    println!(
        "2. Pull from us with these lines in their {} (chmod 600 it: it holds the password):",
        hub.downstream_config()
    );
    println!();
    println!("RSYNC_HOST={}", q(&host));
    println!("RSYNC_PATH={}", q(&rsyncd.module));
    if rsyncd.port != crate::settings::rsyncd::DEFAULT_PORT {
        println!(
            "RSYNC_SOURCE={}",
            q(&rsync_url(&host, rsyncd.port, &t.name, &rsyncd.module))
        );
    }
    println!("RSYNC_USER={}", q(&t.name));
    match password {
        Some(p) => println!("RSYNC_PASSWORD={}", q(p)),
        None => println!(
            "# no password for {} in {}: `archvsync downstream remove {}` and add it again",
            t.name,
            rsyncd.secrets.display(),
            t.name
        ),
    }
    println!();
    println!(
        "Our side: serve the archive with rsync (`archvsync rsyncd-config{}` prints an rsyncd.conf \
         that lets {} pull with this password), check with `archvsync check-config{}` and \
         `archvsync downstream test {}`; the real test is a push (`runmirrors{}`, or our next sync).",
        archive_flag(&hub.archive),
        t.name,
        if hub.archive.is_empty() { String::new() } else { format!(" {}", hub.archive) },
        t.name,
        if hub.archive.is_empty() { String::new() } else { format!(" {}", hub.archive) },
    );
}

fn archive_flag(archive: &str) -> String {
    if archive.is_empty() {
        String::new()
    } else {
        format!(" -a {archive}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::mirrorlist::MirrorType;

    fn req(name: &str, host: &str, user: &str, opts: Option<&str>) -> AddOptions {
        AddOptions {
            name: name.into(),
            host: host.into(),
            user: user.into(),
            kind: MirrorType::Staged,
            ssh_opts: opts.map(str::to_string),
            command: super::super::DEFAULT_COMMAND.into(),
        }
    }

    #[test]
    fn names_are_plain_words() {
        assert!(validate(&req(
            "eu",
            "ftp.eu.example.org",
            "archvsync",
            Some("-p 2222")
        ))
        .is_ok());
        assert!(validate(&req("v6", "::1", "m", None)).is_ok());
        for bad in [
            req("e u", "h", "u", None),
            req("eu:x", "h", "u", None),
            req("../x", "h", "u", None),
            req("-x", "h", "u", None),
            req("x", "h/x", "u", None),
            req("x", "h", "u;rm", None),
            req("x", "h", "u", Some("2 /key")),
            req("x", "h", "u", Some("-o 'unclosed")),
            req("x", "h", "u", Some("-p 1 # c")),
        ] {
            assert!(validate(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_line_reads_like_the_sample() {
        assert_eq!(
            mirror_line(&req("us", "us.example.org", "mirror", Some(" -p 2222 "))),
            "staged us us.example.org mirror -p 2222"
        );
        assert_eq!(
            rsync_url("::1", 8873, "eu", "debian"),
            "rsync://eu@[::1]:8873/debian/"
        );
    }
}
