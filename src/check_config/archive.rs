//! check-config's look at ftpsync.conf once it loaded: the source, TO, LOGDIR, rsync and
//! its transport, the password, mail, and the two stages' rsync command lines.

use super::paths::{check_dir, find_program, is_executable};
use super::{Report, MASK};
use crate::common::layout;
use crate::common::rsync::{self, Transport};
use crate::settings::archive::ArchiveSettings;
use std::path::Path;

pub(super) fn check_ftpsync(r: &mut Report, s: &ArchiveSettings) {
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
            if let Err(e) = find_program(crate::common::ssh::SSH) {
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
    // The same rule a run refuses to start with (settings::to_guard::dangerous_to).
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
}
