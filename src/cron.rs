//! `ftpsync-cron [ARCHIVE]` (SPEC §8): for mirrors nobody pushes. Run often from cron, it
//! asks the upstream for its archive serial and starts a sync only when that serial differs
//! from ours (or we have none). The check is an HTTP(S) fetch of the upstream's trace file,
//! or, for upstreams that serve rsync only, an rsync of their master trace file.

use crate::common::layout::Layout;
use crate::common::log::{savelog, Logger};
use crate::common::mail::ErrorReports;
use crate::common::private_dir::PrivateDir;
use crate::common::{http, lock, rsync as rsync_words, trace};
use crate::settings::archive::{ArchiveSettings, CheckUpstream};
use crate::settings::LogPlace;
use std::path::Path;

use std::time::Duration;

/// The cron log grows a line or two a run; it is rotated once it passes this size.
const LOG_ROTATE_SIZE: u64 = 1 << 20;

/// ftpsync-cron's own log beside the archive's: `LOGDIR/ftpsync-cron[-ARCHIVE].log`, its
/// lines tagged with that name (LOG and PROGRAM are the sync's).
fn cron_log(archive: &LogPlace) -> LogPlace {
    let name = archive.name.replacen("ftpsync", "ftpsync-cron", 1);
    LogPlace {
        logdir: archive.logdir.clone(),
        log: archive.logdir.join(format!("{name}.log")),
        program: name.clone(),
        name,
    }
}

/// What ftpsync-cron is asked to do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The archive, empty for the default one (ftpsync.conf).
    pub archive: String,
}

/// `ftpsync-cron [ARCHIVE]`.
pub fn main(layout: &Layout, opts: Options) -> u8 {
    let archive = opts.archive;
    let s = match ArchiveSettings::load_explained(layout, &archive, Some("cron".into())) {
        Ok(s) => s,
        Err(mut refused) => {
            refused.log = refused.log.as_deref().map(cron_log).map(Box::new);
            return refused.report();
        }
    };
    for w in &s.warnings {
        eprintln!("{w}");
    }
    if let Err(e) = std::fs::create_dir_all(&s.core.logdir) {
        eprintln!("cannot create LOGDIR {}: {e}", s.core.logdir.display());
        return 1;
    }
    let LogPlace {
        log: log_path,
        name,
        ..
    } = cron_log(&LogPlace::from(&s.core));
    if std::fs::metadata(&log_path).is_ok_and(|m| m.len() > LOG_ROTATE_SIZE) {
        savelog(&log_path, s.core.logrotate);
    }
    let log = Logger::open(&log_path, &name);
    let cron = Cron {
        s: &s,
        log: &log,
        name: &name,
    };

    // The lock file in TO while the tree changes, the run lock until the run's exit path
    // is done (see ftpsync/run.rs): either means a run is there to see a new serial.
    let lock_path = s.to.join(s.lock_name());
    let running = lock::holder(&lock_path, Duration::from_secs(s.locktimeout))
        .or_else(|| lock::holder(&s.run_lock_path(), Duration::ZERO));
    if let Some(pid) = running {
        log.log(format!("A sync is running (pid {pid}); nothing to do"));
        return 0;
    }
    let remote = match cron.upstream_serial() {
        Ok(serial) => serial,
        Err(e) => {
            cron.error(&e);
            return 1;
        }
    };
    let ours = trace::read_field(&s.to.join(s.trace_name()), "Archive serial");
    if ours.as_deref() == Some(remote.as_str()) {
        log.log(format!(
            "Upstream archive serial {remote} is ours too; nothing to do"
        ));
        return 0;
    }
    log.log(format!(
        "Upstream archive serial {remote} differs from ours ({}): running ftpsync",
        ours.as_deref().unwrap_or("none")
    ));
    log.close();
    // A run of our own: no upstream's words, even when cron itself runs under sshd.
    crate::ftpsync::start(
        layout,
        crate::ftpsync::Invocation {
            trigger: Some("cron".into()),
            ssh_command: None,
            words: vec![format!("sync:archive:{archive}")],
            dry_run: false,
        },
    )
}

struct Cron<'a> {
    s: &'a ArchiveSettings,
    log: &'a Logger,
    name: &'a str,
}

impl Cron<'_> {
    fn error(&self, msg: &str) {
        ErrorReports {
            log: self.log,
            program: self.name,
            to: &self.s.core.mailto,
            sendmail: &self.s.core.sendmail,
            timeout: self.s.core.mail_timeout,
        }
        .report(msg, &[]);
    }

    fn upstream_serial(&self) -> Result<String, String> {
        let s = self.s;
        let (what, text) = match &s.check_upstream {
            CheckUpstream::Http => {
                let url = match &s.upstream_trace_url {
                    Some(u) => u.clone(),
                    None => {
                        let host = s.rsync_host.as_deref().ok_or(
                            "RSYNC_HOST is not set, so there is no upstream trace URL: set UPSTREAM_TRACE_URL or CHECK_UPSTREAM=rsync",
                        )?;
                        format!("http://{host}/{}/project/trace/{host}", s.rsync_path)
                    }
                };
                (url.clone(), self.fetch_http(&url)?)
            }
            CheckUpstream::Rsync => {
                let src = format!("{}/{}", s.rsync_source.trim_end_matches('/'), trace::MASTER);
                (src.clone(), self.fetch_rsync(&src)?)
            }
            CheckUpstream::Unknown(other) => {
                return Err(format!(
                    "CHECK_UPSTREAM={other} is not known (http or rsync)"
                ))
            }
        };
        trace::field(&text, "Archive serial")
            .ok_or_else(|| format!("Failed to parse archive serial from {what}"))
    }

    fn fetch_http(&self, url: &str) -> Result<String, String> {
        let timeout = Duration::from_secs(self.s.check_timeout);
        let fail = |e: String| format!("Failed to retrieve {url}: {e}");
        // The same CAs the TLS transport trusts.
        let ca = url
            .starts_with("https:")
            .then(|| Path::new(&self.s.ssl_capath));
        let agent = http::agent(
            timeout,
            concat!("archvsync-ftpsync-cron/", env!("CARGO_PKG_VERSION")),
            ca,
            false,
        )
        .map_err(fail)?;
        let mut resp = agent
            .get(url)
            .call()
            .map_err(|e| fail(http::describe(&e, timeout)))?;
        resp.body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(|e| fail(http::describe(&e, timeout)))
    }

    /// Fetch one file with rsync, the same way the sync would reach the upstream (transport,
    /// password, proxy), into a temporary file.
    fn fetch_rsync(&self, src: &str) -> Result<String, String> {
        let s = self.s;
        let tmp = std::env::temp_dir();
        let dir = PrivateDir::new_in(&tmp, "archvsync-cron-").map_err(|e| {
            format!(
                "cannot create a temporary directory in {}: {e}",
                tmp.display()
            )
        })?;
        let dest = dir.path().join("master");
        let dest_arg = dest.to_string_lossy();
        let words = rsync_words::probe_words(
            &s.rsync,
            &[],
            s.check_timeout,
            &s.transport,
            rsync_words::Probe::Fetch {
                source: src,
                dest: &dest_arg,
            },
        );
        let mut cmd = rsync_words::command(&words, &s.rsync_env()).ok_or("RSYNC is empty")?;
        // Dies with us, as every child of a run: a killed ftpsync-cron leaves no rsync behind.
        crate::common::process::tie_to_us(&mut cmd);
        let limit = Duration::from_secs(s.check_timeout + 10);
        let result = match crate::common::process::output_within(cmd, &[], limit) {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(format!(
                "rsync exited with {}: {}",
                crate::common::process::shell_code(&out.status),
                last_lines(&out.stderr)
            )),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                Err(format!("rsync took longer than {} s", limit.as_secs()))
            }
            Err(e) => Err(format!("cannot run rsync: {e}")),
        };
        let text = std::fs::read(&dest).map(|b| String::from_utf8_lossy(&b).into_owned());
        drop(dir);
        match result {
            Ok(()) => text.map_err(|e| format!("Failed to retrieve {src}: {e}")),
            Err(e) => Err(format!("Failed to retrieve {src}: {e}")),
        }
    }
}

/// Lines of rsync's error output shown in the message (log, mail, stderr).
const STDERR_LINES: usize = 10;

/// The last [`STDERR_LINES`] lines of `tail`, each bounded: the reason rsync gives,
/// without a flood in the log or the mail.
fn last_lines(tail: &[u8]) -> String {
    rsync_words::last_lines(tail, STDERR_LINES).join("\n")
}
