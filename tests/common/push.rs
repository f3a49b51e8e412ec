//! Mirrors wired into a push tree: [`Downstream`] is a [`Mirror`] (classic layout) that may
//! be pushed over ssh (its `base/bin/ftpsync` is the forced command of the pusher's key),
//! may serve its TO with an rsync daemon (module `debian`) and may push its own downstreams
//! (`base/bin/runmirrors`, `etc/runmirrors.conf`, `etc/runmirrors.mirror`); waits and tree
//! checks across a chain of them.
//!
//! Every wait is bounded.

use super::sshd::{forced_command_line, ssh_keygen, SshKey, Sshd, SSH_OPTS};
use super::{
    log_with_rotated, read_string, shq, snapshot, tail, tree_diff, without_owned, write_script,
    Conf, Mirror, RsyncDaemon, RunOutput, Tree, TRACEHOST,
};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// A mirror of the push tree. See [`Downstream::builder`].
pub struct Downstream {
    pub m: Mirror,
    /// pulls from here (None: no ftpsync.conf, a pure pusher)
    pub source: Option<String>,
    /// present when the mirror can be pushed over ssh
    pub sshd: Option<Sshd>,
    /// present when the mirror serves its TO (module `debian`)
    pub daemon: Option<RsyncDaemon>,
    /// present when the mirror pushes downstreams (runmirrors configured)
    pub key: Option<SshKey>,
    extra_conf: Vec<(String, String)>,
}

pub struct DownstreamBuilder {
    name: String,
    source: Option<String>,
    pushers: Vec<SshKey>,
    serve: bool,
    pusher: bool,
    hub: bool,
    conf: Vec<(String, String)>,
    rm_conf: Vec<(String, String)>,
}

impl DownstreamBuilder {
    /// Pull from `url` (writes `etc/ftpsync.conf`).
    pub fn source(mut self, url: &str) -> Self {
        self.source = Some(url.to_string());
        self
    }
    /// Accept pushes signed with `key` (starts an sshd whose forced command is our ftpsync).
    pub fn pushed_by(mut self, key: &SshKey) -> Self {
        self.pushers.push(key.clone());
        self
    }
    /// Serve TO with an rsync daemon (module `debian`).
    pub fn serve(mut self) -> Self {
        self.serve = true;
        self
    }
    /// Push downstreams: `base/bin/runmirrors`, a push key, `etc/runmirrors.conf`.
    pub fn pusher(mut self) -> Self {
        self.pusher = true;
        self
    }
    /// HUB=true, serve TO, push downstreams.
    pub fn hub(mut self) -> Self {
        self.hub = true;
        self.serve = true;
        self.pusher = true;
        self
    }
    /// An extra ftpsync.conf setting.
    pub fn set(mut self, k: &str, v: impl Into<String>) -> Self {
        self.conf.push((k.to_string(), v.into()));
        self
    }
    /// An extra runmirrors.conf setting.
    pub fn rm_set(mut self, k: &str, v: impl Into<String>) -> Self {
        self.rm_conf.push((k.to_string(), v.into()));
        self
    }
    /// Run `script` (a [`hook_recorder`]) as HOOKn, for each n of `hooks`, with the
    /// arguments `name n`.
    pub fn record_hooks(mut self, script: &Path, name: &str, hooks: &[u32]) -> Self {
        for n in hooks {
            self = self.set(
                &format!("HOOK{n}"),
                format!("{} {name} {n}", script.display()),
            );
        }
        self
    }

    pub fn start(self) -> Downstream {
        let mut m = Mirror::new();
        m.name = self.name.clone();
        fs::create_dir_all(&m.to).unwrap();
        let mut extra = self.conf.clone();
        if self.hub {
            extra.insert(0, ("HUB".into(), "true".into()));
        }
        let sshd = if self.pushers.is_empty() {
            None
        } else {
            let lines: Vec<String> = self
                .pushers
                .iter()
                .map(|k| forced_command_line(&m.bin(), k))
                .collect();
            Some(Sshd::start(&lines.join("\n")))
        };
        let daemon = if self.serve {
            Some(RsyncDaemon::start(&[("debian", &m.to)]))
        } else {
            None
        };
        let key = if self.pusher {
            m.link_bin("runmirrors");
            Some(ssh_keygen(&m.dir.join("keys/pushmirror")))
        } else {
            None
        };
        let ds = Downstream {
            m,
            source: self.source,
            sshd,
            daemon,
            key,
            extra_conf: extra,
        };
        if ds.source.is_some() {
            ds.write_ftpsync_conf(&ds.ftpsync_conf());
        }
        if ds.key.is_some() {
            let mut c = ds.runmirrors_conf();
            for (k, v) in &self.rm_conf {
                c = c.set(k, v.clone());
            }
            ds.write_runmirrors_conf(&c);
        }
        ds
    }
}

impl Downstream {
    /// A mirror named `name` (MIRRORNAME, trace file name).
    pub fn builder(name: &str) -> DownstreamBuilder {
        DownstreamBuilder {
            name: name.to_string(),
            source: None,
            pushers: Vec::new(),
            serve: false,
            pusher: false,
            hub: false,
            conf: Vec::new(),
            rm_conf: Vec::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.m.name
    }

    /// The port of our sshd.
    pub fn port(&self) -> u16 {
        self.sshd.as_ref().expect("this mirror has no sshd").port
    }

    /// `KIND SHORT 127.0.0.1 root -p PORT`
    pub fn host_line(&self, kind: &str, short: &str) -> String {
        format!("{kind} {short} 127.0.0.1 root -p {}", self.port())
    }

    /// `KIND SHORT ssh+ftpsync://root@127.0.0.1:PORT/`
    pub fn url_line(&self, kind: &str, short: &str) -> String {
        format!(
            "{kind} {short} ssh+ftpsync://root@127.0.0.1:{}/",
            self.port()
        )
    }

    /// Where our downstreams pull from.
    pub fn rsync_url(&self) -> String {
        self.daemon
            .as_ref()
            .expect("this mirror does not serve its tree")
            .url("debian")
    }

    pub fn key(&self) -> &SshKey {
        self.key.as_ref().expect("this mirror does not push")
    }

    /// ftpsync.conf as the builder configured it.
    pub fn ftpsync_conf(&self) -> Conf {
        let mut c = self
            .m
            .conf(self.source.as_deref().expect("this mirror has no source"));
        for (k, v) in &self.extra_conf {
            c = c.set(k, v.clone());
        }
        c
    }

    pub fn write_ftpsync_conf(&self, c: &Conf) {
        self.m.write_conf(c);
    }

    /// runmirrors.conf without the builder's extras: absolute KEYFILE, SSH_OPTS, no mail.
    pub fn runmirrors_conf(&self) -> Conf {
        Conf::default()
            .set("MAILTO", "")
            .set("KEYFILE", self.key().path.to_string_lossy())
            .set("SSH_OPTS", SSH_OPTS)
    }

    pub fn write_runmirrors_conf(&self, c: &Conf) {
        self.m.write_conf_file("runmirrors.conf", c);
    }

    /// Write `etc/runmirrors.mirror`.
    pub fn write_mirrors(&self, lines: &[String]) {
        let mut s = lines.join("\n");
        s.push('\n');
        self.m.write_raw("runmirrors.mirror", &s);
    }

    pub fn runmirrors_bin(&self) -> PathBuf {
        self.m.base.join("bin/runmirrors")
    }

    pub fn runmirrors_cmd(&self, args: &[&str]) -> Command {
        self.m.command_prog(&self.runmirrors_bin(), args)
    }

    /// Run `base/bin/runmirrors ARGS` (bounded by RUN_TIMEOUT).
    pub fn runmirrors(&self, args: &[&str]) -> RunOutput {
        self.m.run_cmd(self.runmirrors_cmd(args))
    }

    /// A log of ours with its rotated copies, oldest first (`F.2`, `F.1`, `F.0`, `F`).
    pub fn log_with_rotated(&self, file: &str) -> String {
        log_with_rotated(&self.m.logdir(), file, 5)
    }

    /// runmirrors' own log (`runmirrors.log` and its rotated copies).
    pub fn runmirrors_log(&self) -> String {
        self.log_with_rotated("runmirrors.log")
    }

    /// The per-mirror push log `SHORT.log` (and its rotated copies).
    pub fn push_log(&self, short: &str) -> String {
        self.log_with_rotated(&format!("{short}.log"))
    }

    /// The ftpsync log (with rotated copies).
    pub fn ftpsync_log(&self) -> String {
        self.log_with_rotated("ftpsync.log")
    }

    /// Assert that `out`, a run of ours, ended with `code`; the panic shows its output and
    /// the logs of `all`.
    pub fn expect_code(&self, out: &RunOutput, code: i32, all: &[&Downstream]) {
        assert_eq!(
            out.code,
            Some(code),
            "{}: expected exit {code}\n{}\n{}",
            self.name(),
            self.m.diagnostics(out),
            all_diagnostics(all)
        );
    }

    /// Our trace file exists and no run holds the lock.
    pub fn synced(&self) -> bool {
        self.m.trace_path().exists() && !self.m.lock_path().exists()
    }

    /// Every log file, the sshd log and the rsync daemon log, for failure messages.
    pub fn diagnostics(&self) -> String {
        let mut s = format!(
            "===== mirror {} ({}) =====\n",
            self.name(),
            self.m.dir.display()
        );
        if let Ok(rd) = fs::read_dir(self.m.logdir()) {
            let mut names: Vec<_> = rd.flatten().map(|e| e.path()).collect();
            names.sort();
            for p in names {
                let text = read_string(&p);
                s.push_str(&format!("--- {} ---\n{}\n", p.display(), tail(&text, 5000)));
            }
        }
        if let Some(d) = &self.sshd {
            s.push_str(&format!("--- sshd log ---\n{}\n", tail(&d.log(), 3000)));
        }
        if let Some(d) = &self.daemon {
            s.push_str(&format!("--- rsyncd log ---\n{}\n", tail(&d.log(), 2000)));
        }
        s
    }
}

/// Diagnostics of several mirrors.
pub fn all_diagnostics(ms: &[&Downstream]) -> String {
    ms.iter().map(|m| m.diagnostics()).collect()
}

/// Wait (bounded) until `ds` is synced; panic with everybody's logs otherwise.
pub fn wait_synced(ds: &Downstream, timeout: Duration, all: &[&Downstream]) {
    let deadline = Instant::now() + timeout;
    while !ds.synced() {
        if Instant::now() > deadline {
            panic!(
                "{} did not finish a sync within {timeout:?}\n{}",
                ds.name(),
                all_diagnostics(all)
            );
        }
        sleep(Duration::from_millis(50));
    }
}

/// Assert `mirror` equals `upstream`, ignoring the files ftpsync owns and the trace files
/// (`X`, `X-stage1`) of the mirrors in `chain` (the hubs between the upstream and us).
pub fn assert_same_tree_via(upstream: &Path, mirror: &Path, mirrorname: &str, chain: &[&str]) {
    let skip = |k: &str| {
        chain
            .iter()
            .any(|c| k == format!("project/trace/{c}") || k == format!("project/trace/{c}-stage1"))
    };
    let e: Tree = without_owned(&snapshot(upstream), mirrorname)
        .into_iter()
        .filter(|(k, _)| !skip(k))
        .collect();
    let a: Tree = without_owned(&snapshot(mirror), mirrorname)
        .into_iter()
        .filter(|(k, _)| !skip(k))
        .collect();
    let d = tree_diff(&e, &a);
    assert!(
        d.is_empty(),
        "mirror {mirrorname} ({}) differs from upstream {}:\n{d}",
        mirror.display(),
        upstream.display()
    );
}

/// The `_hierarchy` line a mirror of this harness writes for itself.
pub fn hierarchy_line(name: &str) -> String {
    format!("{name} {name} {TRACEHOST} 127.0.0.1")
}

/// One line a [`hook_recorder`] wrote: the mirror and hook its HOOKn setting named, when
/// the hook ran (epoch seconds) and the words the run was pushed with.
#[derive(Clone, Debug)]
pub struct HookEvent {
    pub mirror: String,
    pub hook: u32,
    pub t: f64,
    pub words: String,
}

impl HookEvent {
    /// Was the run pushed with the word `w`?
    pub fn has_word(&self, w: &str) -> bool {
        self.words.split(' ').any(|x| x == w)
    }
}

/// A hook script `<dir>/hook.sh` for HOOKn settings `SCRIPT MIRROR N` (see
/// [`DownstreamBuilder::record_hooks`]): it appends `MIRROR N EPOCH.NS WORDS` (WORDS from
/// SSH_ORIGINAL_COMMAND) to `<dir>/events`, then runs `then` (/bin/sh, same `$1 $2`).
/// Returns (script, events file); [`hook_events`] reads the events.
pub fn hook_recorder(dir: &Path, then: &str) -> (PathBuf, PathBuf) {
    let script = dir.join("hook.sh");
    let events = dir.join("events");
    write_script(
        &script,
        &format!(
            "printf '%s %s %s %s\\n' \"$1\" \"$2\" \"$(date +%s.%N)\" \"$SSH_ORIGINAL_COMMAND\" >> {}\n{then}\nexit 0",
            shq(&events.to_string_lossy())
        ),
    );
    (script, events)
}

/// The events a [`hook_recorder`] wrote so far.
pub fn hook_events(events: &Path) -> Vec<HookEvent> {
    read_string(events)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut it = l.splitn(4, ' ');
            HookEvent {
                mirror: it.next().unwrap().to_string(),
                hook: it.next().unwrap().parse().unwrap(),
                t: it.next().unwrap().parse().unwrap(),
                words: it.next().unwrap_or("").to_string(),
            }
        })
        .collect()
}
