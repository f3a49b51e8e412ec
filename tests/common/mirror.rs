//! The mirror under test: [`Mirror`], the classic `$B/{bin,etc,log}` layout with
//! `$B/bin/ftpsync` linked to the binary under test, its configuration ([`Conf`]), runs
//! with a clean environment ([`Running`], [`RunOutput`]) and their diagnostics, and hook
//! and wrapper scripts that hold or steer a run.

use super::{
    kill_9, kill_group, path_with, read_string, rsync_bin, shq, tail, tempdir, wait_for,
    wait_or_kill_group, write_script, Trace,
};
use std::fs;
use std::os::unix::fs::symlink;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_archvsync");
/// MIRRORNAME used by the default configuration.
pub const MIRRORNAME: &str = "mirror.test.example";
/// TRACEHOST used by the default configuration.
pub const TRACEHOST: &str = "tracehost.test.example";
/// Upper bound for a single ftpsync run.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// The original Debian program `prog` (`ftpsync`, `runmirrors`, ...), unpacked from
/// Debian's ftpsync package into target/original-ftpsync by scripts/setup-deps.
pub fn original(prog: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/original-ftpsync/usr/bin")
        .join(prog);
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup-deps (it unpacks Debian's ftpsync package)",
        p.display()
    );
    p
}

/// Ordered configuration key/value pairs.
#[derive(Clone, Debug, Default)]
pub struct Conf(pub Vec<(String, String)>);

impl Conf {
    pub fn set(mut self, k: &str, v: impl Into<String>) -> Self {
        let v = v.into();
        if let Some(e) = self.0.iter_mut().find(|(kk, _)| kk == k) {
            e.1 = v;
        } else {
            self.0.push((k.to_string(), v));
        }
        self
    }
    pub fn unset(mut self, k: &str) -> Self {
        self.0.retain(|(kk, _)| kk != k);
        self
    }
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(kk, _)| kk == k)
            .map(|(_, v)| v.as_str())
    }
    /// bash syntax, values single-quoted.
    pub fn to_bash(&self) -> String {
        let mut s = String::from("# written by the archvsync test harness\n");
        for (k, v) in &self.0 {
            s.push_str(&format!("{k}={}\n", shq(v)));
        }
        s
    }
}

#[derive(Debug)]
pub struct RunOutput {
    pub code: Option<i32>,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub pid: u32,
}

static RUN_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// `$B/{bin/ftpsync -> archvsync, etc, log}`, `$HOME`, TO = `$B/mirror/`.
pub struct Mirror {
    tmp: tempfile::TempDir,
    /// the temp dir holding everything
    pub dir: PathBuf,
    /// BASEDIR
    pub base: PathBuf,
    pub home: PathBuf,
    pub to: PathBuf,
    pub name: String,
    /// extra environment for every run
    pub env: Vec<(String, String)>,
}

impl Default for Mirror {
    fn default() -> Self {
        Self::new()
    }
}

impl Mirror {
    pub fn new() -> Self {
        let tmp = tempdir();
        let dir = tmp.path().to_path_buf();
        let base = dir.join("base");
        for d in ["bin", "etc", "log"] {
            fs::create_dir_all(base.join(d)).unwrap();
        }
        symlink(BIN, base.join("bin/ftpsync")).unwrap();
        let home = dir.join("home");
        fs::create_dir_all(&home).unwrap();
        let to = base.join("mirror");
        Mirror {
            tmp,
            dir,
            base,
            home,
            to,
            name: MIRRORNAME.to_string(),
            env: Vec::new(),
        }
    }

    pub fn bin(&self) -> PathBuf {
        self.base.join("bin/ftpsync")
    }
    /// `$B/bin/NAME`, a link to the binary under test made on first use: the program under
    /// another of its names (`runmirrors`, `ftpsync-cron`, `archvsync`).
    pub fn link_bin(&self, name: &str) -> PathBuf {
        let p = self.base.join("bin").join(name);
        if fs::symlink_metadata(&p).is_err() {
            symlink(BIN, &p).unwrap();
        }
        p
    }
    pub fn etc(&self) -> PathBuf {
        self.base.join("etc")
    }
    pub fn logdir(&self) -> PathBuf {
        self.base.join("log")
    }
    pub fn trace_path(&self) -> PathBuf {
        self.to.join("project/trace").join(&self.name)
    }
    pub fn stage1_trace_path(&self) -> PathBuf {
        self.to
            .join("project/trace")
            .join(format!("{}-stage1", self.name))
    }
    pub fn lock_path(&self) -> PathBuf {
        self.to
            .join(format!("Archive-Update-in-Progress-{}", self.name))
    }
    pub fn update_required_path(&self) -> PathBuf {
        self.to
            .join(format!("Archive-Update-Required-{}", self.name))
    }
    pub fn trace(&self) -> Trace {
        Trace::read(&self.trace_path())
    }

    /// A fake program `name` (a /bin/sh script `body`) in `dir/fakebin`, which every later
    /// run of this mirror finds first in its PATH. Returns the fake's path.
    pub fn fake_program(&mut self, name: &str, body: &str) -> PathBuf {
        let fakebin = self.dir.join("fakebin");
        let p = fakebin.join(name);
        write_script(&p, body);
        if !self
            .env
            .iter()
            .any(|(k, v)| k == "PATH" && Path::new(v).starts_with(&fakebin))
        {
            self.env.push(("PATH".into(), path_with(&fakebin)));
        }
        p
    }

    /// A working configuration pulling from `source`.
    pub fn conf(&self, source: &str) -> Conf {
        Conf::default()
            .set("MIRRORNAME", self.name.clone())
            .set("TO", self.to.to_string_lossy())
            .set("MAILTO", "")
            .set("HUB", "false")
            .set("RSYNC_HOST", "127.0.0.1")
            .set("RSYNC_PATH", "debian")
            .set("RSYNC_SOURCE", source)
            .set("TRACEHOST", TRACEHOST)
            .set("LOGROTATE", "0")
            .set("UIPSLEEP", "1")
            .set("UIPRETRIES", "2")
    }

    /// Write `$B/etc/<file>` from `conf` (bash syntax).
    pub fn write_conf_file(&self, file: &str, conf: &Conf) {
        fs::write(self.etc().join(file), conf.to_bash()).unwrap();
    }
    /// Write `$B/etc/ftpsync.conf`.
    pub fn write_conf(&self, conf: &Conf) {
        self.write_conf_file("ftpsync.conf", conf);
    }
    pub fn write_raw(&self, file: &str, text: &str) {
        fs::write(self.etc().join(file), text).unwrap();
    }

    /// The command with a clean environment: PATH, HOME, LOGNAME, USER, MAILTO="".
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_prog(&self.bin(), args)
    }

    /// Like [`Mirror::command`] but running `prog`.
    pub fn command_prog(&self, prog: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(prog);
        c.args(args);
        c.env_clear();
        c.env(
            "PATH",
            std::env::var("PATH")
                .unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin".into()),
        );
        c.env("HOME", &self.home);
        c.env("LOGNAME", "mirroradm");
        c.env("USER", "mirroradm");
        c.env("MAILTO", "");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c.current_dir(&self.home);
        c.stdin(Stdio::null());
        c.process_group(0);
        c
    }

    /// Start a run in the background (stdout/stderr into files, own process group).
    pub fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> Running {
        self.spawn_cmd(self.command(args), env)
    }

    pub fn spawn_cmd(&self, mut cmd: Command, env: &[(&str, &str)]) -> Running {
        for (k, v) in env {
            cmd.env(k, v);
        }
        Running::start(cmd, &self.dir)
    }

    pub fn run(&self, args: &[&str]) -> RunOutput {
        self.run_env(args, &[])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> RunOutput {
        self.spawn(args, env).wait(RUN_TIMEOUT)
    }

    pub fn run_cmd(&self, cmd: Command) -> RunOutput {
        self.spawn_cmd(cmd, &[]).wait(RUN_TIMEOUT)
    }

    /// `$B/log/<file>`
    pub fn read_log_file(&self, file: &str) -> String {
        read_string(&self.logdir().join(file))
    }
    /// The main log (`ftpsync.log`, or `ftpsync.log.0` when rotated away).
    pub fn log(&self) -> String {
        let p = self.logdir().join("ftpsync.log");
        if p.exists() {
            read_string(&p)
        } else {
            read_string(&self.logdir().join("ftpsync.log.0"))
        }
    }

    /// Everything useful for a failure message.
    pub fn diagnostics(&self, out: &RunOutput) -> String {
        let mut s = format!(
            "exit: {:?} ({})\n--- stdout ---\n{}\n--- stderr ---\n{}\n",
            out.code, out.status, out.stdout, out.stderr
        );
        if let Ok(rd) = fs::read_dir(self.logdir()) {
            let mut names: Vec<_> = rd.flatten().map(|e| e.path()).collect();
            names.sort();
            for p in names {
                let text = read_string(&p);
                s.push_str(&format!("--- {} ---\n{}\n", p.display(), tail(&text, 6000)));
            }
        }
        s
    }

    pub fn expect_code(&self, out: &RunOutput, code: i32) {
        assert_eq!(
            out.code,
            Some(code),
            "expected exit {code}\n{}",
            self.diagnostics(out)
        );
    }
}

/// A background run.
pub struct Running {
    child: Option<Child>,
    out: PathBuf,
    err: PathBuf,
}

impl Running {
    /// Start `cmd` with its stdout and stderr in files under `dir`.
    pub fn start(mut cmd: Command, dir: &Path) -> Running {
        let n = RUN_COUNTER.fetch_add(1, Ordering::SeqCst);
        let out = dir.join(format!("run-{n}.stdout"));
        let err = dir.join(format!("run-{n}.stderr"));
        cmd.stdout(fs::File::create(&out).unwrap());
        cmd.stderr(fs::File::create(&err).unwrap());
        let child = cmd.spawn().expect("spawn");
        Running {
            child: Some(child),
            out,
            err,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }
    pub fn try_done(&mut self) -> bool {
        matches!(self.child.as_mut().unwrap().try_wait(), Ok(Some(_)))
    }
    /// Wait (at most 30 s) until `marker` exists (made by a hook of the run, see
    /// [`waiting_hook`]) or the run has ended; whether `marker` exists. `what` names the
    /// point of the run in the panic on timeout.
    pub fn reaches(&mut self, marker: &Path, what: &str) -> bool {
        wait_for(
            Duration::from_secs(30),
            &format!("the run to reach {what}"),
            || marker.exists() || self.try_done(),
        );
        marker.exists()
    }
    /// Wait (bounded); on timeout the whole process group is killed and the test panics.
    pub fn wait(mut self, timeout: Duration) -> RunOutput {
        let mut child = self.child.take().unwrap();
        let pid = child.id();
        let Some(status) = wait_or_kill_group(&mut child, timeout, Duration::from_millis(20))
        else {
            panic!(
                "pid {pid} did not finish within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                read_string(&self.out),
                read_string(&self.err)
            );
        };
        RunOutput {
            code: status.code(),
            status,
            stdout: read_string(&self.out),
            stderr: read_string(&self.err),
            pid,
        }
    }
    /// SIGKILL only the ftpsync process itself (not its group) and reap it.
    pub fn kill9_and_reap(mut self) -> u32 {
        let mut child = self.child.take().unwrap();
        let pid = child.id();
        kill_9(pid);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "pid {pid} survived SIGKILL");
            sleep(Duration::from_millis(20));
        }
        pid
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Ok(None) = c.try_wait() {
                kill_group(c.id());
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }
}

/// A hook script that marks `started` and waits (at most 30 s) for `release` to appear:
/// it holds a run at a known point while a test acts.
pub fn waiting_hook(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let script = dir.join("hook-wait.sh");
    let started = dir.join("hook.started");
    let release = dir.join("hook.release");
    write_script(
        &script,
        &format!(
            "touch {s}\ni=0\nwhile [ ! -e {r} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done\nexit 0",
            s = shq(&started.to_string_lossy()),
            r = shq(&release.to_string_lossy())
        ),
    );
    (script, started, release)
}

/// An RSYNC for ftpsync whose upstream check (the `rsync --list-only` call) runs `body`
/// instead (a /bin/sh snippet; `$REAL` is the real rsync, `"$@"` the check's arguments);
/// every other call goes to the real rsync.
pub fn list_only_wrapper(m: &Mirror, body: &str) -> PathBuf {
    let w = m.dir.join("rsync-list-only-wrapper");
    write_script(
        &w,
        &format!(
            "REAL={real}\ncase \"$*\" in\n  *--list-only*) ;;\n  *) exec \"$REAL\" \"$@\" ;;\nesac\n{body}",
            real = shq(rsync_bin()),
        ),
    );
    w
}

/// An RSYNC that behaves as the receiver of rsync 3.4, or of a distribution's hardened
/// security update of an older rsync (Debian's 3.2.7-1+deb12u5), does for
/// `--delete-missing-args`: the mode-0 entries that option sends are refused as a protocol
/// error (RsyncProject/rsync issue 910). Every other call goes to the real rsync, so a run
/// through it shows whether anything still relies on the option, whichever rsync this
/// machine has.
pub fn hardened_rsync(m: &Mirror) -> PathBuf {
    let w = m.dir.join("rsync-hardened");
    write_script(
        &w,
        &format!(
            "for a in \"$@\"; do\n  case $a in --delete-missing-args)\n    \
             echo 'invalid file mode 00 for a missing name [Receiver]' >&2\n    \
             echo 'rsync error: protocol incompatibility (code 2) at flist.c(874) [Receiver=3.2.7]' >&2\n    \
             exit 2 ;;\n  esac\ndone\nexec {real} \"$@\"\n",
            real = shq(rsync_bin()),
        ),
    );
    w
}

impl Mirror {
    /// Three archives' configs pulling from `source` whose TO comes from the caller's
    /// environment, as the original's own test configs do (`TO=output/$ID/`): `plain` and
    /// `ssl` relative to the working directory, `abs` below `$TEST_OWN_ROOT`. Every run
    /// sets `TEST_OWN_ID` (and `TEST_OWN_ROOT`) for itself.
    pub fn write_env_dependent_to_configs(&self, source: &str) {
        let conf = |to: &str| {
            let mut text = self.conf(source).unset("TO").to_bash();
            text.push_str(&format!("TO={to}\n"));
            text
        };
        self.write_raw("ftpsync-plain.conf", &conf("output/$TEST_OWN_ID/"));
        self.write_raw("ftpsync-ssl.conf", &conf("output/$TEST_OWN_ID/"));
        self.write_raw(
            "ftpsync-abs.conf",
            &conf("$TEST_OWN_ROOT/output/${TEST_OWN_ID}"),
        );
    }
}
