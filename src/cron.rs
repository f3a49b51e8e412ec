//! `ftpsync-cron [ARCHIVE]` (SPEC §8): for mirrors nobody pushes. Run often from cron, it
//! asks the upstream for its archive serial and starts a sync only when that serial differs
//! from ours (or we have none). The check is an HTTP(S) fetch of the upstream's trace file,
//! or, for upstreams that serve rsync only, an rsync of their master trace file.

use crate::cli::{CronArgs, FtpsyncArgs};
use crate::common::layout::Layout;
use crate::common::log::{savelog, Logger};
use crate::common::mail::Mail;
use crate::common::{host, lock, rsync as rsync_words, tls, trace};
use crate::ftpsync::settings::Settings;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The cron log grows a line or two a run; it is rotated once it passes this size.
const LOG_ROTATE_SIZE: u64 = 1 << 20;

pub fn main(layout: &Layout, args: CronArgs) -> u8 {
    let archive = args.archive.unwrap_or_default();
    let s = match Settings::load(layout, &archive, Some("cron".into())) {
        Ok(s) => s,
        Err(refusal) => {
            eprintln!("{}", refusal.message);
            return refusal.code;
        }
    };
    for w in &s.warnings {
        eprintln!("{w}");
    }
    if let Err(e) = std::fs::create_dir_all(&s.logdir) {
        eprintln!("cannot create LOGDIR {}: {e}", s.logdir.display());
        return 1;
    }
    let name = s.name.replacen("ftpsync", "ftpsync-cron", 1);
    let log_path = s.logdir.join(format!("{name}.log"));
    if std::fs::metadata(&log_path).is_ok_and(|m| m.len() > LOG_ROTATE_SIZE) {
        savelog(&log_path, s.logrotate);
    }
    let log = Logger::open(&log_path, &name);
    let cron = Cron {
        s: &s,
        log: &log,
        name: &name,
    };

    let lock_path = s.to.join(s.lock_name());
    if let Some(pid) = lock::holder(&lock_path, Duration::from_secs(s.locktimeout)) {
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
    crate::ftpsync::main(
        layout,
        FtpsyncArgs {
            trigger: Some("cron".into()),
            words: vec![format!("sync:archive:{archive}")],
            dry_run: false,
        },
    )
}

struct Cron<'a> {
    s: &'a Settings,
    log: &'a Logger,
    name: &'a str,
}

impl Cron<'_> {
    fn error(&self, msg: &str) {
        self.log.log(msg);
        eprintln!("{}: {msg}", self.name);
        if self.s.mailto.is_empty() {
            return;
        }
        let mail = Mail {
            subject: format!("[{}@{}] ERROR: {msg}", self.name, host::short()),
            to: self.s.mailto.clone(),
            bodies: vec![msg.to_string()],
            attachments: vec![],
        };
        if let Err(e) = mail.send(&self.s.sendmail, self.s.mail_timeout) {
            self.log.log(format!("No mail could be sent: {e}"));
        }
    }

    fn upstream_serial(&self) -> Result<String, String> {
        let s = self.s;
        let (what, text) = match s.check_upstream.as_str() {
            "http" => {
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
            "rsync" => {
                let src = format!(
                    "{}/project/trace/master",
                    s.rsync_source.trim_end_matches('/')
                );
                (src.clone(), self.fetch_rsync(&src)?)
            }
            other => {
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
        let mut config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .user_agent(concat!(
                "archvsync-ftpsync-cron/",
                env!("CARGO_PKG_VERSION")
            ));
        if url.starts_with("https:") {
            // The same CAs the TLS transport trusts.
            let ca = Path::new(&self.s.ssl_capath);
            let certs = tls::load_ca(ca).map_err(|e| format!("Failed to retrieve {url}: {e:#}"))?;
            let certs: Vec<ureq::tls::Certificate<'static>> = certs
                .iter()
                .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
                .collect();
            config = config.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
                    .build(),
            );
        }
        let agent: ureq::Agent = config.build().into();
        let mut resp = agent
            .get(url)
            .call()
            .map_err(|e| format!("Failed to retrieve {url}: {e}"))?;
        resp.body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(|e| format!("Failed to retrieve {url}: {e}"))
    }

    /// Fetch one file with rsync, the same way the sync would reach the upstream (transport,
    /// password, proxy), into a temporary file.
    fn fetch_rsync(&self, src: &str) -> Result<String, String> {
        let s = self.s;
        let dir = std::env::temp_dir().join(format!("archvsync-cron-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let dest = dir.join("master");
        let secs = s.check_timeout.to_string();
        let mut args: Vec<String> = s.rsync.clone();
        args.extend([
            "--no-motd".into(),
            "--quiet".into(),
            format!("--timeout={secs}"),
        ]);
        args.extend(rsync_words::transport_words(&s.transport));
        args.push(src.to_string());
        args.push(dest.to_string_lossy().into_owned());
        let (prog, rest) = args.split_first().ok_or("RSYNC is empty")?;
        let mut cmd = Command::new(prog);
        cmd.args(rest)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(pw) = &s.rsync_password {
            cmd.env("RSYNC_PASSWORD", pw);
        }
        if let Some(proxy) = &s.rsync_proxy {
            cmd.env("RSYNC_PROXY", proxy);
        }
        s.export_ssl_env(&mut cmd);
        let result = run_with_deadline(cmd, Duration::from_secs(s.check_timeout + 10));
        let text = std::fs::read(&dest).map(|b| String::from_utf8_lossy(&b).into_owned());
        let _ = std::fs::remove_dir_all(&dir);
        match result {
            Ok(()) => text.map_err(|e| format!("Failed to retrieve {src}: {e}")),
            Err(e) => Err(format!("Failed to retrieve {src}: {e}")),
        }
    }
}

fn run_with_deadline(mut cmd: Command, limit: Duration) -> Result<(), String> {
    let mut child = cmd.spawn().map_err(|e| format!("cannot run rsync: {e}"))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() => return Ok(()),
            Ok(Some(st)) => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                return Err(format!(
                    "rsync exited with {}: {}",
                    crate::common::process::shell_code(&st),
                    err.trim()
                ));
            }
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("rsync took longer than {} s", limit.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e.to_string()),
        }
    }
}
