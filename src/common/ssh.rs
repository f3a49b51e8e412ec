//! Every ssh word we use (SPEC §7), as every rsync word is in rsync.rs: a trigger's command
//! line and the options that watch for its acceptance, ftpsync's `sync:callback` to the
//! upstream, the `ssh -G` questions (the key exchange a trigger prefers, where `downstream
//! test` connects), and the program rsync's ssh transport starts.

use crate::common::kinds::{PushKind, Stage};
use std::path::Path;

/// The ssh program, as every ssh we start is found on PATH.
pub const SSH: &str = "ssh";

/// What a trigger's words need of a downstream's mirror line. The line's grammar is the
/// settings' (settings::mirrorlist::Target); the words made of it are ours.
pub trait Downstream {
    fn user(&self) -> &str;
    fn host(&self) -> &str;
    /// The port of an `ssh+ftpsync://` URL.
    fn port(&self) -> Option<u16>;
    /// The line's own key file; None is KEYFILE's.
    fn keyfile(&self) -> Option<&Path>;
    /// The ssh options given on the line.
    fn ssh_options(&self) -> &[String];
    /// The line's own archive (an `ssh+ftpsync://` URL's path); None is PUSHARCHIVE.
    fn archive(&self) -> Option<&str>;
    /// An mhop mirror: it passes stage 1 on to its own downstreams.
    fn is_mhop(&self) -> bool;
}

/// The words the downstream's forced command receives in SSH_ORIGINAL_COMMAND.
/// `sync:archive:` always comes first, even empty: ftpsync reads it as the default archive,
/// and ssh needs a command word to run at all.
pub fn words(
    target: &impl Downstream,
    pusharchive: &str,
    kind: PushKind,
    stage: Stage,
) -> Vec<String> {
    let archive = target.archive().unwrap_or(pusharchive);
    let mut w = vec![format!("sync:archive:{archive}")];
    if kind == PushKind::Mhop && target.is_mhop() {
        w.push("sync:mhop".into());
    }
    w.push(
        match stage {
            Stage::All => "sync:all",
            Stage::Stage1 => "sync:stage1",
            Stage::Stage2 => "sync:stage2",
        }
        .into(),
    );
    w
}

/// ssh's arguments (without the program). ssh keeps the first value it is given for an
/// option, so the most specific come first: the line's user and its own options (and URL
/// port), then SSH_OPTS, then the key, then the original's fixed defaults — a mirror line's
/// `-o ConnectTimeout=5` wins over SSH_OPTS and over our `ConnectTimeout=45`. Then `-n`, the
/// host and the words.
pub fn args(
    target: &impl Downstream,
    ssh_opts: &[String],
    default_key: &Path,
    kex: Option<&str>,
    words: &[String],
) -> Vec<String> {
    let mut a: Vec<String> = vec!["-o".into(), format!("user={}", target.user())];
    a.extend(target.ssh_options().iter().cloned());
    if let Some(p) = target.port() {
        a.push("-p".into());
        a.push(p.to_string());
    }
    a.extend(ssh_opts.iter().cloned());
    a.push("-i".into());
    a.push(
        target
            .keyfile()
            .unwrap_or(default_key)
            .to_string_lossy()
            .into_owned(),
    );
    for o in FIXED_OPTIONS {
        a.push("-o".into());
        a.push(o.into());
    }
    if let Some(k) = kex {
        a.push("-o".into());
        a.push(format!("KexAlgorithms={k}"));
    }
    a.push("-n".into());
    a.push(target.host().to_string());
    a.extend(words.iter().cloned());
    a
}

/// The options, put before a trigger's own, that make ssh write into `fifo` once the
/// downstream authenticated us (runmirrors/accept.rs). ssh expands `%` in a LocalCommand, and runs it
/// with $SHELL, which the trigger sets to /bin/sh; `<>` opens a FIFO without waiting for a
/// reader.
pub fn on_accept(fifo: &Path) -> Vec<String> {
    let command = format!("echo 1<>{}", shell_words::quote(&fifo.to_string_lossy()));
    vec![
        "-o".into(),
        "PermitLocalCommand=yes".into(),
        "-o".into(),
        format!("LocalCommand={}", command.replace('%', "%%")),
    ]
}

/// Whether a trigger's options (a mirror line's, SSH_OPTS) set LocalCommand or
/// PermitLocalCommand themselves: the operator's stand, and the trigger learns of acceptance
/// only when ssh ends.
pub fn sets_local_command(args: &[String]) -> bool {
    args.iter()
        .filter(|a| !a.starts_with("sync:"))
        .any(|a| a.to_ascii_lowercase().contains("localcommand"))
}

/// The original's options for every ssh it runs: never ask, notice a dead peer.
const FIXED_OPTIONS: [&str; 4] = [
    "BatchMode=yes",
    "ServerAliveInterval=45",
    "ConnectTimeout=45",
    "PasswordAuthentication=no",
];

/// ssh's arguments for `sync:callback` (CALLBACKKEY, CALLBACKUSER, CALLBACKHOST): the
/// original's `ssh -n -o ... -i KEY -ouser USER HOST callback:NODENAME`.
pub fn callback_args(key: &str, user: &str, host: &str, nodename: &str) -> Vec<String> {
    let mut a: Vec<String> = vec!["-n".into()];
    for o in FIXED_OPTIONS {
        a.push("-o".into());
        a.push(o.into());
    }
    a.extend([
        "-i".into(),
        key.to_string(),
        format!("-ouser {user}"),
        host.to_string(),
        format!("callback:{nodename}"),
    ]);
    a
}

/// ssh's arguments that print the configuration `args` resolve to (`ssh -G`) without
/// connecting: ~/.ssh/config and the options together, as ssh itself reads them.
pub fn resolve_args(args: &[String]) -> Vec<String> {
    let mut a = vec!["-G".to_string()];
    a.extend(args.iter().cloned());
    a
}

/// The key exchange a trigger should prefer, as a full `KexAlgorithms` list, or None to
/// leave ssh's choice alone.
///
/// OpenSSH 9.0 to 9.8 lead with sntrup761x25519, whose key generation costs the client
/// (the hub) about 65 ms of CPU per connection, against about 10 ms for
/// curve25519-sha256: on a hub with hundreds of downstreams that is most of its work. A
/// trigger carries nothing that needs confidentiality against a future quantum computer
/// (the words `sync:...` and the downstream's log lines), and the host is authenticated
/// by its host key either way, so curve25519 is moved to the head of ssh's own list. Only
/// then, though: when any ssh configuration file mentions KexAlgorithms (or includes files
/// we cannot read) the operator chose, and ssh's choice stands; a KexAlgorithms in SSH_OPTS
/// or on a mirror line comes before ours and wins anyway. Newer defaults (mlkem768x25519,
/// cheap) are left alone. PUSH_FAST_KEX=false turns this off.
pub fn fast_kex() -> Option<String> {
    let home = crate::common::layout::home();
    let configs = [
        home.join(".ssh/config"),
        std::path::PathBuf::from("/etc/ssh/ssh_config"),
    ];
    for c in &configs {
        if config_may_choose_kex(c, 0) {
            return None;
        }
    }
    let mut cmd = std::process::Command::new(SSH);
    cmd.args(["-G", "-F", "/dev/null", "-o", "user=archvsync", "localhost"]);
    let out =
        crate::common::process::output_within(cmd, &[], std::time::Duration::from_secs(5)).ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let list = text
        .lines()
        .find_map(|l| l.strip_prefix("kexalgorithms "))?
        .trim();
    prefer_curve25519(list)
}

/// `list` with curve25519-sha256 first, when ssh would start with sntrup761.
fn prefer_curve25519(list: &str) -> Option<String> {
    let algs: Vec<&str> = list.split(',').collect();
    if !algs.first()?.starts_with("sntrup761") || !algs.contains(&"curve25519-sha256") {
        return None;
    }
    let mut out = vec!["curve25519-sha256"];
    out.extend(algs.iter().filter(|a| **a != "curve25519-sha256"));
    Some(out.join(","))
}

/// Does this ssh configuration file, or one it includes, set KexAlgorithms? Unreadable
/// includes and deep nesting count as yes: we only act when sure.
fn config_may_choose_kex(path: &Path, depth: usize) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        // A missing file chooses nothing; one we cannot read might.
        return path.exists();
    };
    if depth > 8 {
        return true;
    }
    for line in text.lines() {
        let line = line.trim();
        let mut words = line
            .split(|c: char| c.is_whitespace() || c == '=')
            .filter(|w| !w.is_empty());
        let Some(key) = words.next() else { continue };
        if key.starts_with('#') {
            continue;
        }
        if key.eq_ignore_ascii_case("kexalgorithms") {
            return true;
        }
        if key.eq_ignore_ascii_case("include") {
            for pattern in words {
                let base = path.parent().unwrap_or(Path::new("/"));
                let pattern = if pattern.starts_with('/') || pattern.starts_with('~') {
                    pattern.replacen('~', &crate::common::layout::home().to_string_lossy(), 1)
                } else {
                    base.join(pattern).to_string_lossy().into_owned()
                };
                match expand(&pattern) {
                    Some(files) => {
                        if files.iter().any(|f| config_may_choose_kex(f, depth + 1)) {
                            return true;
                        }
                    }
                    None => return true,
                }
            }
        }
    }
    false
}

/// The files an Include pattern names; only `*` in the last component is understood.
fn expand(pattern: &str) -> Option<Vec<std::path::PathBuf>> {
    let p = Path::new(pattern);
    let name = p.file_name()?.to_str()?;
    let dir = p.parent()?;
    if dir.to_string_lossy().contains(['*', '?', '[']) || name.contains(['?', '[']) {
        return None;
    }
    let Some((prefix, suffix)) = name.split_once('*') else {
        return Some(vec![p.to_path_buf()]);
    };
    if suffix.contains('*') {
        return None;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Some(vec![]);
    };
    Some(
        rd.flatten()
            .filter(|e| {
                let n = e.file_name();
                let n = n.to_string_lossy();
                n.starts_with(prefix)
                    && n.ends_with(suffix)
                    && n.len() >= prefix.len() + suffix.len()
            })
            .map(|e| e.path())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_words_are_the_originals() {
        assert_eq!(
            callback_args("/k/key", "up", "up.example", "leaf").join(" "),
            "-n -o BatchMode=yes -o ServerAliveInterval=45 -o ConnectTimeout=45 \
             -o PasswordAuthentication=no -i /k/key -ouser up up.example callback:leaf"
        );
    }

    #[test]
    fn the_accept_command_survives_ssh_and_the_shell() {
        let a = on_accept(Path::new("/tmp/it's 100%/accepted.1"));
        assert_eq!(a[..3], ["-o", "PermitLocalCommand=yes", "-o"]);
        assert_eq!(
            a[3],
            "LocalCommand=echo 1<>'/tmp/it'\\''s 100%%/accepted.1'"
        );
        let own = |w: &str| sets_local_command(&[w.to_string(), "sync:all".to_string()]);
        assert!(own("-oPermitLocalCommand=no"));
        assert!(own("localcommand=true"));
        assert!(!own("Compression=yes"));
        assert!(!sets_local_command(&[
            "sync:archive:localcommand".to_string()
        ]));
    }

    #[test]
    fn curve25519_leads_only_instead_of_sntrup761() {
        assert_eq!(
            prefer_curve25519(
                "sntrup761x25519-sha512@openssh.com,curve25519-sha256,ecdh-sha2-nistp256"
            )
            .as_deref(),
            Some("curve25519-sha256,sntrup761x25519-sha512@openssh.com,ecdh-sha2-nistp256")
        );
        assert_eq!(
            prefer_curve25519("mlkem768x25519-sha256,curve25519-sha256"),
            None
        );
        assert_eq!(
            prefer_curve25519("sntrup761x25519-sha512@openssh.com"),
            None
        );
    }

    #[test]
    fn a_config_that_chooses_kex_is_respected() {
        let d = tempfile::tempdir().unwrap();
        let inc = d.path().join("conf.d");
        std::fs::create_dir(&inc).unwrap();
        let main = d.path().join("config");
        std::fs::write(
            &main,
            "Host *\n  Include conf.d/*.conf\n  # KexAlgorithms x\n",
        )
        .unwrap();
        std::fs::write(inc.join("a.conf"), "ServerAliveInterval 5\n").unwrap();
        assert!(!config_may_choose_kex(&main, 0));
        std::fs::write(inc.join("b.conf"), "  kexalgorithms=curve25519-sha256\n").unwrap();
        assert!(config_may_choose_kex(&main, 0));
        std::fs::write(&main, "Include /nonexistent/dir/*/x\n").unwrap();
        assert!(config_may_choose_kex(&main, 0));
        assert!(!config_may_choose_kex(&d.path().join("missing"), 0));
    }
}
