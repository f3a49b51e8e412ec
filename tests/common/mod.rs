//! Shared harness for the ftpsync integration tests.
//!
//! - [`RsyncDaemon`]: a throwaway `rsync --daemon` on 127.0.0.1 with a free port.
//! - [`build_archive`]: a small Debian-like tree (v1 / v2 for update tests).
//! - [`Mirror`]: the classic `$B/{bin,etc,log}` layout with `$B/bin/ftpsync` linked to the
//!   binary under test, plus helpers to run it with a clean environment.
//! - tree snapshots / comparisons, a small rsync filter-rule evaluator (written from the
//!   SPEC text, independently of src/), trace-file parsing and date checks.
//! - [`sshd`]: the push side: throwaway sshds with forced commands, downstream mirrors wired
//!   into push trees, runmirrors configuration.
//! - [`delay`]: a TCP proxy that delays every chunk by a fixed one-way time (slow links).
//! - [`tls`]: rsync-ssl-tunnel's other end: a throwaway CA (openssl CLI), stunnel in front
//!   of a backend, direct tunnel runs.
//!
//! Every wait loop here is bounded in time.
#![allow(dead_code)]

pub mod delay;
pub mod http;
pub mod nginx;
pub mod sshd;
pub mod tls;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_archvsync");
/// MIRRORNAME used by the default configuration.
pub const MIRRORNAME: &str = "mirror.test.example";
/// TRACEHOST used by the default configuration.
pub const TRACEHOST: &str = "tracehost.test.example";
/// Name of the upstream's own trace file inside the generated archive.
pub const UPSTREAM_TRACE: &str = "upstream.test.example";
/// The line the upstream's `_hierarchy.mirror` contains.
pub const UPSTREAM_HIERARCHY_LINE: &str =
    "upstream.test.example upstream.test.example upstream.test.example ftp-master.example.org";
/// Upper bound for a single ftpsync run.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(90);

pub const SERIAL_V1: &str = "2026112101";
pub const SERIAL_V2: &str = "2026112102";

/// Path of the real rsync binary.
pub fn rsync_bin() -> &'static str {
    if Path::new("/usr/bin/rsync").exists() {
        "/usr/bin/rsync"
    } else {
        "rsync"
    }
}

pub fn is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Fail the test unless we are root (CI is): a test that needs root must not pass without
/// having run. `what` says what needs it.
pub fn require_root(what: &str) {
    assert!(
        is_root(),
        "this test must run as root ({what}); CI runs the suite as root"
    );
}

/// The unprivileged account [`as_nobody`] runs commands as.
pub const NOBODY: (&str, &str) = ("nobody", "nogroup");

/// `cmd` (built by [`Mirror::command_prog`]: a cleared environment) run as `nobody` through
/// `setpriv` when we are root, for what root is never refused (an unwritable directory);
/// `cmd` itself otherwise. Program, arguments, environment and directory are kept.
pub fn as_nobody(cmd: &Command) -> Command {
    let mut c = if is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            &format!("--reuid={}", NOBODY.0),
            &format!("--regid={}", NOBODY.1),
            "--clear-groups",
            "--",
        ]);
        c.arg(cmd.get_program());
        c
    } else {
        Command::new(cmd.get_program())
    };
    c.args(cmd.get_args());
    c.env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    if let Some(d) = cmd.get_current_dir() {
        c.current_dir(d);
    }
    c.stdin(Stdio::null());
    c.process_group(0);
    c
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("archvsync-test-")
        .tempdir()
        .expect("create temp dir")
}

/// Poll `cond` every 20 ms until it is true; panic with `what` after `timeout`.
pub fn wait_for(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        sleep(Duration::from_millis(20));
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// Write an executable `/bin/sh` script.
pub fn write_script(path: &Path, body: &str) {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).unwrap();
    }
    fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Single-quote a string for /bin/sh and bash.
pub fn shq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

pub fn read_string(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Recursively make a tree world readable/traversable (dirs 0755, files 0644), and the
/// directory itself plus its ancestors up to (excluding) `/tmp`-like sticky roots.
pub fn make_world_readable(root: &Path) {
    fn walk(p: &Path) {
        let md = fs::symlink_metadata(p).unwrap();
        if md.file_type().is_symlink() {
            return;
        }
        if md.is_dir() {
            fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
            for e in fs::read_dir(p).unwrap() {
                walk(&e.unwrap().path());
            }
        } else {
            fs::set_permissions(p, fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    walk(root);
    let mut cur = root.parent();
    while let Some(p) = cur {
        let md = fs::metadata(p).unwrap();
        // stop at sticky world-writable dirs such as /tmp and at /
        if md.permissions().mode() & 0o1000 != 0 || p == Path::new("/") {
            break;
        }
        let mode = md.permissions().mode() & 0o7777;
        fs::set_permissions(p, fs::Permissions::from_mode(mode | 0o555)).unwrap();
        cur = p.parent();
    }
}

// ---------------------------------------------------------------------------------------
// rsync daemon
// ---------------------------------------------------------------------------------------

/// One module of the throwaway rsync daemon.
#[derive(Clone, Debug)]
pub struct ModuleSpec {
    pub name: String,
    pub path: PathBuf,
    /// `auth users` + secrets file with this user and password.
    pub auth: Option<(String, String)>,
    /// uid/gid the daemon uses for this module when running as root (default root/root).
    pub run_as: Option<(String, String)>,
}

impl ModuleSpec {
    pub fn new(name: &str, path: &Path) -> Self {
        ModuleSpec {
            name: name.to_string(),
            path: path.to_path_buf(),
            auth: None,
            run_as: None,
        }
    }
    pub fn with_auth(mut self, user: &str, password: &str) -> Self {
        self.auth = Some((user.to_string(), password.to_string()));
        self
    }
    pub fn run_as(mut self, uid: &str, gid: &str) -> Self {
        self.run_as = Some((uid.to_string(), gid.to_string()));
        self
    }
}

/// A running `rsync --daemon --no-detach`; killed and reaped on drop.
pub struct RsyncDaemon {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl RsyncDaemon {
    /// Start a daemon serving `modules` (name, path), read-only, no auth.
    pub fn start(modules: &[(&str, &Path)]) -> Self {
        Self::start_modules(modules.iter().map(|(n, p)| ModuleSpec::new(n, p)).collect())
    }

    pub fn start_modules(modules: Vec<ModuleSpec>) -> Self {
        let dir = tempdir();
        let d = dir.path().to_path_buf();
        let root = is_root();
        let mut conf = format!(
            "use chroot = false\nread only = true\nmax connections = 0\n\
             pid file = {d}/rsyncd.pid\nlock file = {d}/rsyncd.lock\nlog file = {d}/rsyncd.log\n",
            d = d.display()
        );
        for m in &modules {
            conf.push_str(&format!(
                "\n[{}]\n    path = {}\n    comment = test module\n",
                m.name,
                m.path.display()
            ));
            if root {
                let (u, g) = m
                    .run_as
                    .clone()
                    .unwrap_or_else(|| ("root".into(), "root".into()));
                conf.push_str(&format!("    uid = {u}\n    gid = {g}\n"));
            }
            if let Some((user, pass)) = &m.auth {
                let secrets = d.join(format!("{}.secrets", m.name));
                fs::write(&secrets, format!("{user}:{pass}\n")).unwrap();
                fs::set_permissions(&secrets, fs::Permissions::from_mode(0o600)).unwrap();
                conf.push_str(&format!(
                    "    auth users = {user}\n    secrets file = {}\n    strict modes = true\n",
                    secrets.display()
                ));
            }
        }
        let conf_path = d.join("rsyncd.conf");
        fs::write(&conf_path, conf).unwrap();

        for attempt in 0..8 {
            let _ = fs::remove_file(d.join("rsyncd.pid"));
            let port = free_port();
            let out = fs::File::create(d.join(format!("daemon-{attempt}.out"))).unwrap();
            let err = out.try_clone().unwrap();
            let mut child = Command::new(rsync_bin())
                .arg("--daemon")
                .arg("--no-detach")
                .arg("--address=127.0.0.1")
                .arg(format!("--port={port}"))
                .arg(format!("--config={}", conf_path.display()))
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .expect("spawn rsync --daemon");
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    // died (most likely the port got taken): retry on a fresh port
                    break;
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return RsyncDaemon {
                        child: Some(child),
                        port,
                        dir,
                    };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "rsync daemon did not accept connections on port {port} within 10s; log:\n{}",
                        read_string(&d.join("rsyncd.log"))
                    );
                }
                sleep(Duration::from_millis(20));
            }
        }
        panic!(
            "could not start rsync daemon after 8 attempts; log:\n{}\n{}",
            read_string(&d.join("rsyncd.log")),
            read_string(&d.join("daemon-7.out"))
        );
    }

    /// `rsync://127.0.0.1:PORT/MODULE/`
    pub fn url(&self, module: &str) -> String {
        format!("rsync://127.0.0.1:{}/{}/", self.port, module)
    }

    pub fn log(&self) -> String {
        read_string(&self.dir.path().join("rsyncd.log"))
    }
}

impl Drop for RsyncDaemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------
// archive builder
// ---------------------------------------------------------------------------------------

/// What [`build_archive`] creates.
#[derive(Clone, Debug)]
pub struct ArchiveSpec {
    /// Value of the `Archive serial:` line of `project/trace/master`.
    pub serial: String,
    /// 1 or 2: v2 changes, adds and removes packages relative to v1.
    pub version: u32,
    pub suites: Vec<String>,
    /// Binary architectures (`all` is always added).
    pub archs: Vec<String>,
    /// Size of an extra amd64 .deb (`pool/main/b/bigpkg/...`); 0 = none.
    pub big_file: usize,
    /// Put `Archive-Update-in-Progress-upstream.test.example` at the top of the tree.
    pub upstream_uip: bool,
}

impl ArchiveSpec {
    pub fn v1() -> Self {
        ArchiveSpec {
            serial: SERIAL_V1.to_string(),
            version: 1,
            suites: vec!["sid".into(), "trixie".into()],
            archs: vec!["amd64".into(), "arm64".into(), "i386".into()],
            big_file: 0,
            upstream_uip: false,
        }
    }
    pub fn v2() -> Self {
        ArchiveSpec {
            serial: SERIAL_V2.to_string(),
            version: 2,
            ..Self::v1()
        }
    }
    /// `Architectures:` words a full mirror of this archive must show.
    pub fn all_arch_words(&self) -> Vec<String> {
        let mut v: Vec<String> = self.archs.clone();
        v.push("all".into());
        v.push("source".into());
        v.sort();
        v
    }
}

struct Pkg {
    src: &'static str,
    ver: &'static str,
    upver: &'static str,
    /// (binary package name, arch-all?)
    bins: &'static [(&'static str, bool)],
    udeb: bool,
    changes: bool,
    /// 1.0-format source with .diff.gz instead of .debian.tar.xz
    diff_gz: bool,
}

fn packages(version: u32) -> Vec<Pkg> {
    let mut v = vec![
        Pkg {
            src: "hello",
            ver: if version == 1 { "2.10-3" } else { "2.10-4" },
            upver: "2.10",
            bins: &[("hello", false), ("hello-doc", true)],
            udeb: true,
            changes: true,
            diff_gz: false,
        },
        Pkg {
            src: "libfoo",
            ver: "1.0-1",
            upver: "1.0",
            bins: &[("libfoo1", false), ("libfoo-dev", false)],
            udeb: false,
            changes: false,
            diff_gz: false,
        },
        Pkg {
            src: "tzdata",
            ver: if version == 1 { "2026a-1" } else { "2026b-1" },
            upver: if version == 1 { "2026a" } else { "2026b" },
            bins: &[("tzdata", true)],
            udeb: false,
            changes: false,
            diff_gz: false,
        },
        Pkg {
            src: "oldpkg",
            ver: "1.0-1",
            upver: "1.0",
            bins: &[("oldpkg", false)],
            udeb: false,
            changes: false,
            diff_gz: true,
        },
    ];
    if version == 1 {
        v.push(Pkg {
            src: "zsh",
            ver: "5.9-1",
            upver: "5.9",
            bins: &[("zsh", false), ("zsh-common", true)],
            udeb: false,
            changes: false,
            diff_gz: false,
        });
    } else {
        v.push(Pkg {
            src: "newpkg",
            ver: "0.1-1",
            upver: "0.1",
            bins: &[("newpkg", false)],
            udeb: false,
            changes: false,
            diff_gz: false,
        });
    }
    v
}

fn pool_letter(src: &str) -> &str {
    if src.starts_with("lib") && src.len() > 3 {
        &src[..4]
    } else {
        &src[..1]
    }
}

/// Seconds since the epoch of the (proleptic Gregorian) civil date, UTC midnight.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn set_mtime(path: &Path, epoch: i64) {
    let t = UNIX_EPOCH + Duration::from_secs(epoch as u64);
    if let Ok(f) = fs::OpenOptions::new().write(true).open(path) {
        let _ = f.set_modified(t);
    }
}

fn put(root: &Path, rel: &str, content: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, content).unwrap();
}

/// Build (or rebuild: the old contents of `root` are removed, `root` itself stays) a small
/// Debian-like archive.
pub fn build_archive(root: &Path, spec: &ArchiveSpec) {
    fs::create_dir_all(root).unwrap();
    for e in fs::read_dir(root).unwrap() {
        let p = e.unwrap().path();
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            fs::remove_dir_all(&p).unwrap();
        } else {
            fs::remove_file(&p).unwrap();
        }
    }
    let v = spec.version;
    let serial = &spec.serial;
    let base_time = days_from_civil(2026, 11, 20) * 86400 + (v as i64) * 86400;
    let mut all_archs = spec.archs.clone();
    all_archs.push("all".into());
    let mut files: Vec<String> = Vec::new();
    let add = |rel: String, content: String, files: &mut Vec<String>| {
        put(root, &rel, content.as_bytes());
        files.push(rel);
    };

    // pool
    for p in packages(v) {
        let dir = format!("pool/main/{}/{}", pool_letter(p.src), p.src);
        add(
            format!("{dir}/{}_{}.dsc", p.src, p.ver),
            format!(
                "Format: 3.0 (quilt)\nSource: {}\nVersion: {}\n",
                p.src, p.ver
            ),
            &mut files,
        );
        add(
            format!("{dir}/{}_{}.orig.tar.xz", p.src, p.upver),
            format!("orig tarball of {} {}\n", p.src, p.upver),
            &mut files,
        );
        if p.diff_gz {
            add(
                format!("{dir}/{}_{}.diff.gz", p.src, p.ver),
                format!("diff of {} {}\n", p.src, p.ver),
                &mut files,
            );
        } else {
            add(
                format!("{dir}/{}_{}.debian.tar.xz", p.src, p.ver),
                format!("debian dir of {} {}\n", p.src, p.ver),
                &mut files,
            );
        }
        for (bin, is_all) in p.bins {
            if *is_all {
                add(
                    format!("{dir}/{bin}_{}_all.deb", p.ver),
                    format!("!<arch>\ndebian-binary {bin} {} all\n", p.ver),
                    &mut files,
                );
            } else {
                for a in &spec.archs {
                    add(
                        format!("{dir}/{bin}_{}_{a}.deb", p.ver),
                        format!("!<arch>\ndebian-binary {bin} {} {a}\n", p.ver),
                        &mut files,
                    );
                }
            }
        }
        for a in &spec.archs {
            if p.udeb {
                add(
                    format!("{dir}/{}-udeb_{}_{a}.udeb", p.src, p.ver),
                    format!("udeb {} {} {a}\n", p.src, p.ver),
                    &mut files,
                );
            }
            if p.changes {
                add(
                    format!("{dir}/{}_{}_{a}.changes", p.src, p.ver),
                    format!("Format: 1.8\nSource: {}\nArchitecture: {a}\n", p.src),
                    &mut files,
                );
            }
        }
    }
    if spec.big_file > 0 {
        let rel = "pool/main/b/bigpkg/bigpkg_1.0-1_amd64.deb";
        let mut data = Vec::with_capacity(spec.big_file);
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ (v as u64);
        while data.len() < spec.big_file {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.extend_from_slice(&x.to_le_bytes());
        }
        data.truncate(spec.big_file);
        put(root, rel, &data);
        files.push(rel.to_string());
    }

    // dists
    for s in &spec.suites {
        let d = format!("dists/{s}");
        let idx = |what: &str| format!("{what} for {s} (tree v{v}, serial {serial})\n");
        add(format!("{d}/Release"), idx("Release"), &mut files);
        add(format!("{d}/InRelease"), idx("InRelease"), &mut files);
        add(format!("{d}/Release.gpg"), idx("Release.gpg"), &mut files);
        for a in &all_archs {
            let b = format!("{d}/main/binary-{a}");
            for f in ["Packages", "Packages.gz", "Packages.xz", "Release"] {
                add(format!("{b}/{f}"), idx(&format!("{f} {a}")), &mut files);
            }
            add(
                format!("{b}/Packages.diff/Index"),
                idx(&format!("pdiff index {a}")),
                &mut files,
            );
            add(
                format!("{b}/Packages.diff/T-2026-11-2{v}-0800.00-F-2026-11-2{v}-0800.00.gz"),
                idx(&format!("pdiff {a}")),
                &mut files,
            );
            add(
                format!(
                    "{b}/by-hash/SHA256/{:016x}{:08x}",
                    s.len() * 7919 + a.len(),
                    v
                ),
                idx(&format!("by-hash {a}")),
                &mut files,
            );
            add(
                format!("{d}/main/Contents-{a}.gz"),
                idx(&format!("Contents {a}")),
                &mut files,
            );
            if a != "all" {
                add(
                    format!("{d}/main/Contents-udeb-{a}.gz"),
                    idx(&format!("Contents-udeb {a}")),
                    &mut files,
                );
                add(
                    format!("{d}/main/Contents-{a}.diff/Index"),
                    idx(&format!("Contents pdiff {a}")),
                    &mut files,
                );
                if s == "sid" {
                    let inst = format!("{d}/main/installer-{a}");
                    add(
                        format!("{inst}/20261101/images/MANIFEST"),
                        idx(&format!("installer {a}")),
                        &mut files,
                    );
                    add(
                        format!("{inst}/20261101/images/udeb.list"),
                        idx(&format!("udeb.list {a}")),
                        &mut files,
                    );
                    symlink("20261101", root.join(format!("{inst}/current"))).unwrap();
                }
            }
        }
        let src = format!("{d}/main/source");
        for f in ["Sources.gz", "Sources.xz", "Release"] {
            add(
                format!("{src}/{f}"),
                idx(&format!("{f} source")),
                &mut files,
            );
        }
        add(
            format!("{d}/main/Contents-source.gz"),
            idx("Contents source"),
            &mut files,
        );
        add(
            format!("{d}/main/i18n/Translation-en.bz2"),
            idx("Translation-en"),
            &mut files,
        );
        add(
            format!("{d}/main/i18n/Index"),
            idx("i18n Index"),
            &mut files,
        );
        add(
            format!("{d}/main/dep11/Components-amd64.yml.gz"),
            idx("dep11"),
            &mut files,
        );
    }

    // indices
    for a in &all_archs {
        add(
            format!("indices/files/arch-{a}.files"),
            format!("./pool/main/h/hello/hello_{a}.deb v{v}\n"),
            &mut files,
        );
        add(
            format!("indices/files/arch-{a}.list.gz"),
            format!("list {a} v{v}\n"),
            &mut files,
        );
    }
    add(
        "indices/md5sums.gz".into(),
        format!("md5sums v{v}\n"),
        &mut files,
    );
    for s in &spec.suites {
        add(
            format!("indices/override.{s}.main.gz"),
            format!("override {s} v{v}\n"),
            &mut files,
        );
    }

    // top level and doc
    add(
        "README".into(),
        format!("Debian test mirror tree v{v}\n"),
        &mut files,
    );
    add("ls-lR.gz".into(), format!("ls-lR v{v}\n"), &mut files);
    add(
        "doc/FAQ/index.html".into(),
        "<html>FAQ</html>\n".into(),
        &mut files,
    );

    for f in &files {
        set_mtime(&root.join(f), base_time);
    }

    // traces
    let master = root.join("project/trace/master");
    put(
        root,
        "project/trace/master",
        format!(
            "Fri Nov 2{v} 08:00:00 UTC 2026\nDate: Fri, 2{v} Nov 2026 08:00:00 +0000\n\
             Archive serial: {serial}\nCreator: dak\nRunning on host: ftp-master.example.org\n"
        )
        .as_bytes(),
    );
    set_mtime(&master, base_time);
    put(
        root,
        &format!("project/trace/{UPSTREAM_TRACE}"),
        format!(
            "Fri Nov 2{v} 08:10:00 UTC 2026\nDate: Fri, 2{v} Nov 2026 08:10:00 +0000\n\
             Archive serial: {serial}\nUsed ftpsync version: 20180513\n\
             Running on host: {UPSTREAM_TRACE}\n"
        )
        .as_bytes(),
    );
    set_mtime(
        &root.join(format!("project/trace/{UPSTREAM_TRACE}")),
        base_time + 600,
    );
    let hier = format!("{UPSTREAM_HIERARCHY_LINE}\n");
    put(root, "project/trace/_hierarchy", hier.as_bytes());
    put(root, "project/trace/_hierarchy.mirror", hier.as_bytes());
    put(
        root,
        "project/trace/_traces",
        format!("master\n{UPSTREAM_TRACE}\n").as_bytes(),
    );
    if spec.upstream_uip {
        put(
            root,
            &format!("Archive-Update-in-Progress-{UPSTREAM_TRACE}"),
            format!("{UPSTREAM_TRACE}\n").as_bytes(),
        );
    }
}

// ---------------------------------------------------------------------------------------
// tree snapshots
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Dir,
    File(Vec<u8>),
    Link(String),
}

impl Node {
    pub fn is_dir(&self) -> bool {
        matches!(self, Node::Dir)
    }
}

pub type Tree = BTreeMap<String, Node>;

/// All entries below `root` (not following symlinks), keyed by relative path.
pub fn snapshot(root: &Path) -> Tree {
    fn walk(root: &Path, p: &Path, out: &mut Tree) {
        let Ok(rd) = fs::read_dir(p) else { return };
        for e in rd {
            let e = e.unwrap();
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let md = fs::symlink_metadata(&path).unwrap();
            if md.file_type().is_symlink() {
                let t = fs::read_link(&path).unwrap();
                out.insert(rel, Node::Link(t.to_string_lossy().into_owned()));
            } else if md.is_dir() {
                out.insert(rel, Node::Dir);
                walk(root, &path, out);
            } else {
                out.insert(rel, Node::File(fs::read(&path).unwrap_or_default()));
            }
        }
    }
    let mut out = Tree::new();
    walk(root, root, &mut out);
    out
}

/// Files ftpsync itself owns in the mirror (and the upstream's copies of such files, which
/// the rsync filters keep out).
pub fn is_ftpsync_owned(rel: &str, mirrorname: &str) -> bool {
    rel == format!("Archive-Update-in-Progress-{mirrorname}")
        || rel == format!("Archive-Update-Required-{mirrorname}")
        || rel == format!("project/trace/{mirrorname}")
        || rel == format!("project/trace/{mirrorname}-stage1")
        || rel == "project/trace/_hierarchy"
        || rel == "project/trace/_hierarchy.mirror"
        || rel == "project/trace/_traces"
}

pub fn without_owned(t: &Tree, mirrorname: &str) -> Tree {
    t.iter()
        .filter(|(k, _)| !is_ftpsync_owned(k, mirrorname))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Files and symlinks only.
pub fn non_dirs(t: &Tree) -> Tree {
    t.iter()
        .filter(|(_, v)| !v.is_dir())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Human-readable difference between two trees (empty when equal).
pub fn tree_diff(expected: &Tree, actual: &Tree) -> String {
    let mut out = String::new();
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .collect();
    let extra: Vec<_> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    let differ: Vec<_> = expected
        .iter()
        .filter(|(k, v)| actual.get(*k).is_some_and(|a| a != *v))
        .map(|(k, _)| k)
        .collect();
    let show = |label: &str, v: &[&String], out: &mut String| {
        if !v.is_empty() {
            out.push_str(&format!("{label} ({}):\n", v.len()));
            for k in v.iter().take(25) {
                out.push_str(&format!("    {k}\n"));
            }
        }
    };
    show("missing from mirror", &missing, &mut out);
    show("unexpected in mirror", &extra, &mut out);
    show("content differs", &differ, &mut out);
    out
}

/// Assert that the mirror equals the upstream, ignoring the files ftpsync owns.
pub fn assert_same_tree(upstream: &Path, mirror: &Path, mirrorname: &str) {
    let e = without_owned(&snapshot(upstream), mirrorname);
    let a = without_owned(&snapshot(mirror), mirrorname);
    let d = tree_diff(&e, &a);
    assert!(
        d.is_empty(),
        "mirror {} differs from upstream {}:\n{d}",
        mirror.display(),
        upstream.display()
    );
}

// ---------------------------------------------------------------------------------------
// rsync filter-rule evaluation (independent of src/)
// ---------------------------------------------------------------------------------------

/// rsync-style wildcard match: `*` does not cross `/`, `**` does.
pub fn wildmatch(p: &[u8], t: &[u8]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some(b'*') if p.get(1) == Some(&b'*') => {
            let rest = &p[2..];
            (0..=t.len()).any(|i| wildmatch(rest, &t[i..]))
        }
        Some(b'*') => {
            let rest = &p[1..];
            for i in 0..=t.len() {
                if wildmatch(rest, &t[i..]) {
                    return true;
                }
                if i < t.len() && t[i] == b'/' {
                    break;
                }
            }
            false
        }
        Some(&c) => !t.is_empty() && t[0] == c && wildmatch(&p[1..], &t[1..]),
    }
}

/// Does an rsync filter pattern match the transfer-relative path `rel`?
pub fn pattern_matches(pattern: &str, rel: &str, is_dir: bool) -> bool {
    let (pat, dir_only) = match pattern.strip_suffix('/') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    if dir_only && !is_dir {
        return false;
    }
    if let Some(anchored) = pat.strip_prefix('/') {
        return wildmatch(anchored.as_bytes(), rel.as_bytes());
    }
    if pat.contains('/') || pat.contains("**") {
        wildmatch(pat.as_bytes(), rel.as_bytes())
            || rel
                .match_indices('/')
                .any(|(i, _)| wildmatch(pat.as_bytes(), &rel.as_bytes()[i + 1..]))
    } else {
        let last = rel.rsplit('/').next().unwrap();
        wildmatch(pat.as_bytes(), last.as_bytes())
    }
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub include: bool,
    pub pattern: String,
}

pub fn inc(p: &str) -> Rule {
    Rule {
        include: true,
        pattern: p.to_string(),
    }
}
pub fn exc(p: &str) -> Rule {
    Rule {
        include: false,
        pattern: p.to_string(),
    }
}

/// First-match-wins, applied to each ancestor directory and then the entry itself (an
/// excluded directory hides everything below it).
pub fn rules_include(rules: &[Rule], rel: &str, is_dir: bool) -> bool {
    let comps: Vec<&str> = rel.split('/').collect();
    for i in 1..=comps.len() {
        let prefix = comps[..i].join("/");
        let d = i < comps.len() || is_dir;
        if let Some(r) = rules
            .iter()
            .find(|r| pattern_matches(&r.pattern, &prefix, d))
        {
            if !r.include {
                return false;
            }
        }
    }
    true
}

/// The per-architecture patterns of SPEC §4.
pub fn arch_patterns(arch: &str) -> Vec<String> {
    if arch == "source" {
        vec![
            "/dists/**/source/".into(),
            "/pool/**/*.tar.*".into(),
            "/pool/**/*.diff.*".into(),
            "/pool/**/*.dsc".into(),
        ]
    } else {
        let a = arch;
        vec![
            format!("/dists/**/binary-{a}/"),
            format!("/dists/**/installer-{a}/"),
            format!("/dists/**/Contents-{a}.gz"),
            format!("/dists/**/Contents-udeb-{a}.gz"),
            format!("/dists/**/Contents-{a}.diff/"),
            format!("/indices/**/arch-{a}.files"),
            format!("/indices/**/arch-{a}.list.gz"),
            format!("/pool/**/*_{a}.deb"),
            format!("/pool/**/*_{a}.udeb"),
            format!("/pool/**/*_{a}.changes"),
        ]
    }
}

#[derive(Clone, Debug)]
pub enum ArchConfig {
    All,
    Include(Vec<&'static str>),
    Exclude(Vec<&'static str>),
}

/// The architecture filter rules of SPEC §4.
pub fn arch_rules(cfg: &ArchConfig) -> Vec<Rule> {
    let mut rules = Vec::new();
    let add = |rules: &mut Vec<Rule>, include: bool, arch: &str| {
        for p in arch_patterns(arch) {
            rules.push(Rule {
                include,
                pattern: p,
            });
        }
    };
    match cfg {
        ArchConfig::All => {}
        ArchConfig::Exclude(list) => {
            for a in list {
                add(&mut rules, false, a);
            }
            add(&mut rules, true, "*");
            add(&mut rules, true, "source");
        }
        ArchConfig::Include(list) => {
            for a in list {
                add(&mut rules, true, a);
            }
            if list.iter().any(|a| *a != "source") {
                add(&mut rules, true, "all");
            }
            add(&mut rules, false, "*");
            add(&mut rules, false, "source");
        }
    }
    rules
}

/// RSYNC_OPTIONS1 filters (stage 1).
pub fn stage1_rules() -> Vec<Rule> {
    vec![
        inc("*.diff/"),
        inc("by-hash/"),
        exc("*.diff/Index"),
        exc("Contents*"),
        exc("Packages*"),
        exc("Sources*"),
        exc("Release*"),
        exc("InRelease"),
        exc("i18n/*"),
        exc("dep11/*"),
        exc("installer-*/current"),
        exc("ls-lR*"),
    ]
}

/// The subset of `tree` (files and links only, owned files dropped) that `rules` let through.
pub fn expected_subset(tree: &Tree, rules: &[Rule], mirrorname: &str) -> Tree {
    tree.iter()
        .filter(|(k, v)| !v.is_dir() && !is_ftpsync_owned(k, mirrorname))
        .filter(|(k, v)| rules_include(rules, k, v.is_dir()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------------
// trace files and dates
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Trace {
    pub first_line: String,
    pub fields: Vec<(String, String)>,
    pub raw: String,
}

impl Trace {
    pub fn parse(text: &str) -> Trace {
        let mut lines = text.lines();
        let first_line = lines.next().unwrap_or("").to_string();
        let mut fields = Vec::new();
        for l in lines {
            if l.is_empty() {
                continue;
            }
            let (k, v) = l
                .split_once(": ")
                .or_else(|| l.split_once(':'))
                .unwrap_or_else(|| panic!("trace line without a colon: {l:?}\n{text}"));
            fields.push((k.to_string(), v.to_string()));
        }
        Trace {
            first_line,
            fields,
            raw: text.to_string(),
        }
    }
    pub fn read(path: &Path) -> Trace {
        let t = fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read trace {}: {e}", path.display()));
        Trace::parse(&t)
    }
    pub fn get(&self, key: &str) -> Option<&str> {
        let mut it = self.fields.iter().filter(|(k, _)| k == key);
        let first = it.next().map(|(_, v)| v.as_str());
        assert!(
            it.next().is_none(),
            "key {key:?} appears more than once in trace:\n{}",
            self.raw
        );
        first
    }
    pub fn req(&self, key: &str) -> &str {
        self.get(key)
            .unwrap_or_else(|| panic!("trace lacks {key:?}:\n{}", self.raw))
    }
    pub fn num(&self, key: &str) -> u64 {
        let v = self.req(key);
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("trace {key:?} is not a number: {v:?}\n{}", self.raw))
    }
    pub fn keys(&self) -> Vec<&str> {
        self.fields.iter().map(|(k, _)| k.as_str()).collect()
    }
    /// Whitespace-separated words of a field.
    pub fn words(&self, key: &str) -> Vec<String> {
        self.req(key)
            .split_whitespace()
            .map(|s| s.to_string())
            .collect()
    }
}

/// The trace keys of SPEC §5, in order.
pub const TRACE_KEY_ORDER: &[&str] = &[
    "Date",
    "Date-Started",
    "Archive serial",
    "Used ftpsync version",
    "Creator",
    "Running on host",
    "Maintainer",
    "Sponsor",
    "Country",
    "Location",
    "Throughput",
    "Trigger",
    "Architectures",
    "Architectures-Configuration",
    "Upstream-mirror",
    "Rsync-Transport",
    "Total bytes received in rsync",
    "Total time spent in stage1 rsync",
    "Total time spent in stage2 rsync",
    "Total time spent in rsync",
    "Average rate",
];

/// Assert that all keys are known and appear in SPEC order.
pub fn assert_trace_key_order(t: &Trace) {
    let mut last = 0usize;
    for k in t.keys() {
        let pos = TRACE_KEY_ORDER
            .iter()
            .position(|o| *o == k)
            .unwrap_or_else(|| panic!("unexpected trace key {k:?}:\n{}", t.raw));
        assert!(
            pos >= last,
            "trace key {k:?} out of order (SPEC §5 order {TRACE_KEY_ORDER:?}):\n{}",
            t.raw
        );
        last = pos;
    }
}

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn weekday_of(days: i64) -> &'static str {
    WEEKDAYS[days.rem_euclid(7) as usize]
}

fn parse_hms(s: &str) -> Result<i64, String> {
    let p: Vec<&str> = s.split(':').collect();
    if p.len() != 3
        || p.iter()
            .any(|x| x.len() != 2 || !x.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("bad time {s:?}"));
    }
    let h: i64 = p[0].parse().unwrap();
    let m: i64 = p[1].parse().unwrap();
    let sec: i64 = p[2].parse().unwrap();
    if h > 23 || m > 59 || sec > 60 {
        return Err(format!("bad time {s:?}"));
    }
    Ok(h * 3600 + m * 60 + sec)
}

/// Parse `date -u` output in the POSIX locale (`%a %b %e %H:%M:%S UTC %Y`), e.g.
/// `Sat Nov 21 10:21:32 UTC 2026` or `Sun Nov  1 10:21:32 UTC 2026`. Returns epoch seconds.
pub fn parse_date_u(s: &str) -> Result<i64, String> {
    let b = s.as_bytes();
    if b.len() != 28 {
        return Err(format!("{s:?}: expected 28 characters like `date -u`"));
    }
    let wd = &s[0..3];
    let mon = &s[4..7];
    let day = &s[8..10];
    if b[3] != b' ' || b[7] != b' ' || b[10] != b' ' || &s[19..24] != " UTC " {
        return Err(format!("{s:?}: not in `date -u` format"));
    }
    let m = MONTHS
        .iter()
        .position(|x| *x == mon)
        .ok_or_else(|| format!("{s:?}: bad month"))? as i64
        + 1;
    let d: i64 = day
        .trim_start()
        .parse()
        .map_err(|_| format!("{s:?}: bad day"))?;
    if d < 10 && b[8] != b' ' {
        return Err(format!("{s:?}: day must be space-padded like %e"));
    }
    let y: i64 = s[24..28].parse().map_err(|_| format!("{s:?}: bad year"))?;
    let secs = parse_hms(&s[11..19])?;
    let days = days_from_civil(y, m, d);
    if weekday_of(days) != wd {
        return Err(format!("{s:?}: weekday does not match the date"));
    }
    Ok(days * 86400 + secs)
}

/// Parse an RFC 2822 date as `date -u -R` prints it: `Sat, 21 Nov 2026 10:21:32 +0000`.
pub fn parse_rfc2822_utc(s: &str) -> Result<i64, String> {
    let (wd, rest) = s
        .split_once(", ")
        .ok_or_else(|| format!("{s:?}: no weekday"))?;
    let parts: Vec<&str> = rest.split(' ').collect();
    if parts.len() != 5 {
        return Err(format!("{s:?}: expected `DD Mon YYYY HH:MM:SS +0000`"));
    }
    if parts[0].len() != 2 {
        return Err(format!("{s:?}: day should be two digits like `date -R`"));
    }
    let d: i64 = parts[0].parse().map_err(|_| format!("{s:?}: bad day"))?;
    let m = MONTHS
        .iter()
        .position(|x| *x == parts[1])
        .ok_or_else(|| format!("{s:?}: bad month"))? as i64
        + 1;
    let y: i64 = parts[2].parse().map_err(|_| format!("{s:?}: bad year"))?;
    if parts[2].len() != 4 {
        return Err(format!("{s:?}: bad year"));
    }
    let secs = parse_hms(parts[3])?;
    if parts[4] != "+0000" {
        return Err(format!("{s:?}: zone should be +0000 (UTC)"));
    }
    let days = days_from_civil(y, m, d);
    if weekday_of(days) != wd {
        return Err(format!("{s:?}: weekday does not match the date"));
    }
    Ok(days * 86400 + secs)
}

pub fn now_epoch() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Output of `hostname -f` (what TRACEHOST defaults to).
pub fn hostname_f() -> String {
    let o = Command::new("hostname").arg("-f").output().unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Short host name as the logs and mail subjects use it.
pub fn short_hostname() -> String {
    let o = Command::new("hostname").output().unwrap();
    let h = String::from_utf8_lossy(&o.stdout).trim().to_string();
    h.split('.').next().unwrap().to_string()
}

// ---------------------------------------------------------------------------------------
// processes
// ---------------------------------------------------------------------------------------

/// Parent pid from /proc/PID/stat.
pub fn ppid_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// All live descendants of `root` (via the ppid field of /proc/PID/stat).
pub fn descendants(root: u32) -> Vec<u32> {
    let mut parent: HashMap<u32, u32> = HashMap::new();
    if let Ok(rd) = fs::read_dir("/proc") {
        for e in rd.flatten() {
            if let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() {
                if let Some(pp) = ppid_of(pid) {
                    parent.insert(pid, pp);
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for (c, pp) in &parent {
            if *pp == p && !out.contains(c) {
                out.push(*c);
                frontier.push(*c);
            }
        }
    }
    out
}

pub fn proc_cmdline(pid: u32) -> Option<Vec<String>> {
    let b = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        b.split(|c| *c == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
    )
}

pub fn proc_environ(pid: u32) -> Option<Vec<String>> {
    let b = fs::read(format!("/proc/{pid}/environ")).ok()?;
    Some(
        b.split(|c| *c == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
    )
}

pub fn kill_9(pid: u32) {
    let _ = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-9", "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

// ---------------------------------------------------------------------------------------
// the mirror layout
// ---------------------------------------------------------------------------------------

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
        let n = RUN_COUNTER.fetch_add(1, Ordering::SeqCst);
        let out = self.dir.join(format!("run-{n}.stdout"));
        let err = self.dir.join(format!("run-{n}.stderr"));
        cmd.stdout(fs::File::create(&out).unwrap());
        cmd.stderr(fs::File::create(&err).unwrap());
        let child = cmd.spawn().expect("spawn ftpsync");
        Running {
            child: Some(child),
            out,
            err,
        }
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
                let tail: String = if text.len() > 6000 {
                    text[text.len() - 6000..].to_string()
                } else {
                    text
                };
                s.push_str(&format!("--- {} ---\n{tail}\n", p.display()));
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
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }
    pub fn try_done(&mut self) -> bool {
        matches!(self.child.as_mut().unwrap().try_wait(), Ok(Some(_)))
    }
    /// Wait (bounded); on timeout the whole process group is killed and the test panics.
    pub fn wait(mut self, timeout: Duration) -> RunOutput {
        let mut child = self.child.take().unwrap();
        let pid = child.id();
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                kill_group(pid);
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "ftpsync (pid {pid}) did not finish within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                    read_string(&self.out),
                    read_string(&self.err)
                );
            }
            sleep(Duration::from_millis(20));
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

/// An upstream archive served by its own rsync daemon as module `debian`.
pub struct Upstream {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub daemon: RsyncDaemon,
    pub spec: ArchiveSpec,
}

impl Upstream {
    pub fn new(spec: ArchiveSpec) -> Self {
        let tmp = tempdir();
        let root = tmp.path().join("debian");
        build_archive(&root, &spec);
        let daemon = RsyncDaemon::start(&[("debian", &root)]);
        Upstream {
            _tmp: tmp,
            root,
            daemon,
            spec,
        }
    }
    pub fn v1() -> Self {
        Self::new(ArchiveSpec::v1())
    }
    pub fn url(&self) -> String {
        self.daemon.url("debian")
    }
    pub fn tree(&self) -> Tree {
        snapshot(&self.root)
    }
}

/// Count lines of `text` containing `needle`.
pub fn count_lines(text: &str, needle: &str) -> usize {
    text.lines().filter(|l| l.contains(needle)).count()
}

/// Relative paths of entries of `tree` whose last component satisfies `pred`.
pub fn names_matching(tree: &Tree, pred: impl Fn(&str) -> bool) -> BTreeSet<String> {
    tree.keys()
        .filter(|k| pred(k.rsplit('/').next().unwrap()))
        .cloned()
        .collect()
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
