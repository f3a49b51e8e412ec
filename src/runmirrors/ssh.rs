//! The ssh command line of a trigger (SPEC §7). Every ssh word is added here.

use super::mirrorlist::{MirrorType, Target};
use std::path::Path;

/// Which of the original's push kinds runmirrors was asked for (`-k`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushKind {
    All,
    Stage2,
    Mhop,
}

impl PushKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PushKind::All => "all",
            PushKind::Stage2 => "stage2",
            PushKind::Mhop => "mhop",
        }
    }

    pub fn parse(s: &str) -> Option<PushKind> {
        match s {
            "all" => Some(PushKind::All),
            "stage2" => Some(PushKind::Stage2),
            "mhop" => Some(PushKind::Mhop),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    All,
    Stage1,
    Stage2,
}

impl Stage {
    /// How the original named each trigger in its logs.
    pub fn label(self) -> &'static str {
        match self {
            Stage::All => "normal",
            Stage::Stage1 => "first stage",
            Stage::Stage2 => "second stage",
        }
    }

    /// The name in the state record and `status --json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::All => "all",
            Stage::Stage1 => "stage1",
            Stage::Stage2 => "stage2",
        }
    }
}

/// The words the downstream's forced command receives in SSH_ORIGINAL_COMMAND.
/// `sync:archive:` always comes first, even empty: ftpsync reads it as the default archive,
/// and ssh needs a command word to run at all.
pub fn words(target: &Target, pusharchive: &str, kind: PushKind, stage: Stage) -> Vec<String> {
    let archive = target.archive.as_deref().unwrap_or(pusharchive);
    let mut w = vec![format!("sync:archive:{archive}")];
    if kind == PushKind::Mhop && target.kind == MirrorType::Mhop {
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
/// `-o ConnectTimeout=5` wins over SSH_OPTS and over our `ConnectTimeout=45`. Then `-f`
/// when asked, `-n`, the host and the words. `background` (`-f`): ssh returns once
/// authenticated, leaving the session running in the background (see follower.rs).
pub fn args(
    target: &Target,
    ssh_opts: &[String],
    default_key: &Path,
    background: bool,
    words: &[String],
) -> Vec<String> {
    let mut a: Vec<String> = vec!["-o".into(), format!("user={}", target.user)];
    a.extend(target.ssh_options.iter().cloned());
    if let Some(p) = target.port {
        a.push("-p".into());
        a.push(p.to_string());
    }
    a.extend(ssh_opts.iter().cloned());
    a.push("-i".into());
    a.push(
        target
            .keyfile
            .as_deref()
            .unwrap_or(default_key)
            .to_string_lossy()
            .into_owned(),
    );
    for o in [
        "BatchMode=yes",
        "ServerAliveInterval=45",
        "ConnectTimeout=45",
        "PasswordAuthentication=no",
    ] {
        a.push("-o".into());
        a.push(o.into());
    }
    if background {
        a.push("-f".into());
    }
    a.push("-n".into());
    a.push(target.host.clone());
    a.extend(words.iter().cloned());
    a
}

#[cfg(test)]
mod tests {
    use super::super::mirrorlist::{parse, Entry};
    use super::*;

    fn target(line: &str) -> Target {
        match parse(line).0.remove(0) {
            Entry::Mirror(t) => t,
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn the_most_specific_options_come_first() {
        let t = target("mhop m h.example archvsync -o Compression=yes -o ConnectTimeout=5");
        let w = words(&t, "security", PushKind::Mhop, Stage::Stage1);
        assert_eq!(w, vec!["sync:archive:security", "sync:mhop", "sync:stage1"]);
        let opts = vec!["-o".to_string(), "StrictHostKeyChecking=no".to_string()];
        let a = args(&t, &opts, Path::new("/k/push"), false, &w);
        assert_eq!(
            a.join(" "),
            "-o user=archvsync -o Compression=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=no \
             -i /k/push -o BatchMode=yes -o ServerAliveInterval=45 -o ConnectTimeout=45 \
             -o PasswordAuthentication=no -n h.example sync:archive:security sync:mhop sync:stage1"
        );
        // ssh keeps the first value: the line's ConnectTimeout=5 is the one in force.
        let first = a
            .iter()
            .position(|w| w.starts_with("ConnectTimeout="))
            .unwrap();
        assert_eq!(a[first], "ConnectTimeout=5");
    }

    #[test]
    fn url_port_archive_and_own_key() {
        let t = target("all x ssh+ftpsync://u@h:2200/ports");
        let w = words(&t, "", PushKind::All, Stage::All);
        assert_eq!(w, vec!["sync:archive:ports", "sync:all"]);
        let a = args(&t, &[], Path::new("/k"), true, &w);
        assert!(a
            .join(" ")
            .starts_with("-o user=u -p 2200 -i /k -o BatchMode=yes"));
        assert!(a.join(" ").ends_with("-f -n h sync:archive:ports sync:all"));
        let t = target("staged y h u 2 /keys/y");
        let a = args(&t, &[], Path::new("/k"), false, &[]);
        assert!(a.join(" ").contains("-i /keys/y -o BatchMode=yes"));
        // sync:mhop only goes to mhop mirrors, and only for an mhop push.
        assert_eq!(
            words(&t, "", PushKind::Mhop, Stage::Stage1),
            vec!["sync:archive:", "sync:stage1"]
        );
    }
}
