//! Test archives: [`build_archive`], a small Debian-like tree (v1 / v2 for update tests),
//! and [`Upstream`], such a tree served by its own rsync daemon.

use super::{days_from_civil, snapshot, tempdir, RsyncDaemon, Tree};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

/// Name of the upstream's own trace file inside the generated archive.
pub const UPSTREAM_TRACE: &str = "upstream.test.example";
/// The line the upstream's `_hierarchy.mirror` contains.
pub const UPSTREAM_HIERARCHY_LINE: &str =
    "upstream.test.example upstream.test.example upstream.test.example ftp-master.example.org";

pub const SERIAL_V1: &str = "2026112101";
pub const SERIAL_V2: &str = "2026112102";

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
