//! Throwaway system accounts, for tests that need what a real non-root account sees: sshd
//! logging in to it (its own home, ~/.ssh/authorized_keys, a plain /bin/sh login shell),
//! files it cannot write, an rsync daemon that cannot setgid.
//!
//! [`SystemUser::create`] runs `useradd` with a name unique to this test process and a home
//! inside a test's temp dir; drop runs `userdel`, also when the test fails. Accounts left
//! by a test process that was killed (drop never ran) are recognised by their name and a
//! home that is gone, and removed the next time.

use super::process::{kill_9, require_root};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::Duration;

/// Every name starts so; then the test process's pid, a letter and a counter.
const PREFIX: &str = "avtest";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub struct SystemUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

/// useradd and userdel lock /etc/passwd; another one at work makes them fail at once.
fn retry(what: &str, mut cmd: impl FnMut() -> Command) -> std::process::Output {
    let mut last = None;
    for _ in 0..50 {
        let out = cmd().stdin(Stdio::null()).output().expect(what);
        if out.status.success() {
            return out;
        }
        last = Some(out);
        sleep(Duration::from_millis(100));
    }
    let out = last.unwrap();
    panic!(
        "{what} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn id(flag: &str, name: &str) -> u32 {
    let out = Command::new("id")
        .args([flag, name])
        .output()
        .expect("run id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("id {flag} {name}: {:?}", out))
}

impl SystemUser {
    /// A new account `avtest<pid><tag><n>` with its home at `parent/<name>` (mode 755, so
    /// other test accounts can read what it serves), shell /bin/sh and password field `*`
    /// (no password, but not locked: sshd without PAM refuses locked accounts).
    pub fn create(tag: char, parent: &Path) -> SystemUser {
        require_root("creating system accounts");
        remove_stale();
        let name = format!(
            "{PREFIX}{}{tag}{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let home = parent.join(&name);
        retry("useradd", || {
            let mut c = Command::new("useradd");
            c.args(["--create-home", "--home-dir"])
                .arg(&home)
                .args(["--shell", "/bin/sh", "--password", "*", "--user-group"])
                .arg("--comment")
                .arg("archvsync test account")
                .arg(&name);
            c
        });
        let user = SystemUser {
            uid: id("-u", &name),
            gid: id("-g", &name),
            name,
            home,
        };
        fs::set_permissions(&user.home, fs::Permissions::from_mode(0o755)).unwrap();
        user
    }

    /// `prog args` as this account: `setpriv` to its uid, gid and groups, a clean
    /// environment as a login would give it (HOME, USER, LOGNAME, PATH, SHELL), in its home.
    pub fn command(&self, prog: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--init-groups")
            .arg("--")
            .arg(prog)
            .args(args);
        c.env_clear()
            .env("HOME", &self.home)
            .env("USER", &self.name)
            .env("LOGNAME", &self.name)
            .env("SHELL", "/bin/sh")
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .current_dir(&self.home)
            .stdin(Stdio::null());
        c
    }

    /// Make `path` (and what it holds) this account's.
    pub fn chown(&self, path: &Path) {
        let out = Command::new("chown")
            .arg("-R")
            .arg(format!("{}:{}", self.uid, self.gid))
            .arg(path)
            .output()
            .expect("run chown");
        assert!(out.status.success(), "chown: {out:?}");
    }
}

impl SystemUser {
    /// Live processes running as this account (what the test started as it, and their
    /// children: a push follower, an sshd session's ftpsync).
    pub fn processes(&self) -> Vec<u32> {
        let Ok(rd) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        rd.flatten()
            .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
            .filter(|pid| {
                fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|st| {
                    st.lines()
                        .find_map(|l| l.strip_prefix("Uid:"))
                        .and_then(|l| l.split_whitespace().next()?.parse::<u32>().ok())
                        == Some(self.uid)
                })
            })
            .collect()
    }
}

impl Drop for SystemUser {
    fn drop(&mut self) {
        // Nothing but the test's own doings runs as a throwaway account: whatever is left
        // (a failed test's daemon, say) goes first, by pid, or userdel refuses.
        for _ in 0..20 {
            let left = self.processes();
            if left.is_empty() {
                break;
            }
            for pid in left {
                kill_9(pid);
            }
            sleep(Duration::from_millis(50));
        }
        // The home goes with the test's temp dir; userdel only edits the account files.
        let name = self.name.clone();
        let mut ok = false;
        for _ in 0..50 {
            let out = Command::new("userdel")
                .arg(&name)
                .stdin(Stdio::null())
                .output();
            if out.is_ok_and(|o| o.status.success()) {
                ok = true;
                break;
            }
            sleep(Duration::from_millis(100));
        }
        if !ok {
            eprintln!("warning: could not userdel {name}");
        }
    }
}

/// Accounts of ours whose test process is gone and whose home went with its temp dir.
fn remove_stale() {
    let Ok(passwd) = fs::read_to_string("/etc/passwd") else {
        return;
    };
    for l in passwd.lines() {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 6 || !f[0].starts_with(PREFIX) {
            continue;
        }
        let pid: String = f[0][PREFIX.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let alive = Path::new(&format!("/proc/{pid}")).exists();
        if !alive && !Path::new(f[5]).exists() {
            let _ = Command::new("userdel").arg(f[0]).output();
        }
    }
}
