//! The keys of runmirrors.conf that describe the rsync daemon our downstreams pull from
//! (RSYNCD_*): read by runmirrors' settings, so a run knows them as keys (no "unknown key"
//! warning), and used by `downstream` and `rsyncd-config`.
//!
//! They are named RSYNCD_ to keep them apart from ftpsync.conf's RSYNC_*, which describe
//! where *we* pull from.

use crate::common::config::{ConfigError, RawConfig};
use crate::common::layout;
use std::path::{Path, PathBuf};

pub const DEFAULT_PORT: u16 = 873;
/// The module name of the seed's rsyncd.conf.
pub const DEFAULT_MODULE: &str = "debian";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rsyncd {
    /// The rsync daemon's `secrets file`, one `NAME:password` line per downstream.
    /// Absolute: a relative RSYNCD_SECRETS is relative to $HOME, as KEYFILE is.
    pub secrets: PathBuf,
    /// RSYNCD_SECRETS was set (rather than defaulted): the operator uses `auth users`.
    pub secrets_configured: bool,
    pub module: String,
    /// The name downstreams reach us by; None: ftpsync's MIRRORNAME.
    pub host: Option<String>,
    pub port: u16,
}

impl Rsyncd {
    /// `name` is the config's name (`runmirrors` or `runmirrors-ARCHIVE`), `archive` the
    /// archive (empty for none). The default secrets file sits beside the config:
    /// `runmirrors[-ARCHIVE].secrets`.
    pub fn from_config(c: &RawConfig, name: &str, archive: &str) -> Result<Rsyncd, ConfigError> {
        let secrets = match c.string("RSYNCD_SECRETS") {
            Some(s) => layout::home().join(s),
            None => default_secrets(&c.path, name),
        };
        let module = c
            .string("RSYNCD_MODULE")
            .unwrap_or_else(|| default_module(archive));
        if !is_module_name(&module) {
            return Err(ConfigError(format!(
                "{}: RSYNCD_MODULE={module:?} is not an rsync module name (letters, digits, ., _ and -)",
                c.location("RSYNCD_MODULE")
            )));
        }
        let host = c.name("RSYNCD_HOST", "is the host name downstreams pull from")?;
        let port = c.u64_in("RSYNCD_PORT", u64::from(DEFAULT_PORT), 1..=65535)?;
        Ok(Rsyncd {
            secrets,
            secrets_configured: c.string("RSYNCD_SECRETS").is_some(),
            module,
            host,
            port: u16::try_from(port).unwrap_or(DEFAULT_PORT),
        })
    }

    /// The settings of a runmirrors config that does not exist yet, at `config`.
    pub fn defaults(config: &Path, name: &str, archive: &str) -> Rsyncd {
        Rsyncd {
            secrets: default_secrets(config, name),
            secrets_configured: false,
            module: default_module(archive),
            host: None,
            port: DEFAULT_PORT,
        }
    }
}

fn default_secrets(config: &Path, name: &str) -> PathBuf {
    config
        .parent()
        .unwrap_or(Path::new("."))
        .join(format!("{name}.secrets"))
}

/// `debian`, or the archive's own name.
fn default_module(archive: &str) -> String {
    if archive.is_empty() {
        DEFAULT_MODULE.to_string()
    } else {
        crate::common::config::sanitize_name(archive)
    }
}

fn is_module_name(m: &str) -> bool {
    !m.is_empty()
        && !m.starts_with(['.', '-'])
        && m.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::config;

    fn load(text: &str) -> Result<Rsyncd, ConfigError> {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("runmirrors-sec.conf");
        std::fs::write(&p, text).unwrap();
        let c = config::load(&p, crate::settings::push::KEYS, &[]).unwrap();
        Rsyncd::from_config(&c, "runmirrors-sec", "sec").map(|mut r| {
            // the temp dir goes away: compare the file name only
            r.secrets = PathBuf::from(r.secrets.file_name().unwrap());
            r
        })
    }

    #[test]
    fn defaults_and_values() {
        let r = load("").unwrap();
        assert_eq!(r.secrets, PathBuf::from("runmirrors-sec.secrets"));
        assert_eq!((r.module.as_str(), r.port, r.host), ("sec", 873, None));
        assert!(!r.secrets_configured);
        let r = load("RSYNCD_PORT=8873\nRSYNCD_HOST=hub.example.org\nRSYNCD_MODULE=debian\nRSYNCD_SECRETS=etc/s\n").unwrap();
        assert_eq!(
            (r.port, r.host.as_deref(), r.module.as_str()),
            (8873, Some("hub.example.org"), "debian")
        );
        assert!(r.secrets_configured);
    }

    #[test]
    fn every_key_is_in_the_sample_with_its_default() {
        let sample = include_str!("../../runmirrors.conf.sample");
        for (key, default) in [
            ("RSYNCD_SECRETS", "runmirrors.secrets"),
            ("RSYNCD_MODULE", "debian"),
            ("RSYNCD_HOST", "MIRRORNAME"),
            ("RSYNCD_PORT", "873"),
        ] {
            let at = sample
                .find(&format!("\n#{key}="))
                .unwrap_or_else(|| panic!("{key} is not in runmirrors.conf.sample"));
            let doc = &sample[..at];
            // The key's own paragraph: back to a blank or a bare `##` line.
            let start = doc.rfind("\n\n").max(doc.rfind("\n##\n")).unwrap_or(0);
            let doc = &doc[start..];
            assert!(doc.contains(&format!("Default: {default}")), "{key}: {doc}");
        }
    }

    #[test]
    fn bad_values_name_the_line() {
        let e = load("\nRSYNCD_PORT=70000\n").unwrap_err().to_string();
        assert!(
            e.contains(".conf:2: RSYNCD_PORT=70000 is out of range"),
            "{e}"
        );
        let e = load("RSYNCD_MODULE='a]b'\n").unwrap_err().to_string();
        assert!(
            e.contains(":1: RSYNCD_MODULE=\"a]b\" is not an rsync module"),
            "{e}"
        );
        let e = load("RSYNCD_HOST='a b'\n").unwrap_err().to_string();
        assert!(e.contains(":1: RSYNCD_HOST="), "{e}");
    }
}
