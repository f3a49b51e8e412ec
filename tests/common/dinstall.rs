//! A generated archive laid out like Debian's real one, changed by "dinstall" rounds the
//! way ftp-master changes it, for the index-driven sync's tests and benchmarks
//! (benches/debian_archive.rs includes this file alone: it uses nothing else of the
//! harness, and nothing of the crate: the code under test parses these formats, this
//! writes them independently).
//!
//! [`Archive::init`] lays out `DIR`: `pool/` (real files, a few KB of deterministic
//! bytes each), `zzz-dists/<codename>/` with `dists/<codename>` and the suite aliases
//! (`dists/unstable -> sid`, ...) as symlinks, every index stored once under its
//! directory's `by-hash/SHA256/<sha256>` with the canonical name a symlink to it, the
//! Release/InRelease/Release.gpg of each suite (listing the uncompressed variants that are
//! not on disk, like Debian's), the installer's dated image directories with `current`,
//! `README*`, `doc/`, `indices/`, `tools/`, `extrafiles`, `project/trace/` and, last of
//! every round, `ls-lR.gz` from the real `ls -lR`. [`Archive::dinstall`] runs one round:
//! uploads to sid, migrations to testing, stable updates, removals, now and then a new
//! suite, architecture, alias target, installer or doc; pool files dropped from every
//! index are deleted two rounds later, by-hash files one round after they stop being
//! current. Everything follows from (seed, round); the generator's own state lives in
//! `DIR.state` (JSON, next to the tree, never in it), so rounds continue across processes.
//!
//! [`Archive::init_ubuntu_like`] gives the other layout: `dists/<suite>` real directories,
//! canonical index names hard links of their by-hash files, Contents at the suite's top,
//! no extrafiles, no installer.
//!
//! Each round is an archive time 6 hours after the last (round 0 is 2026-11-01 01:52 UTC);
//! new and rewritten files get that time as mtime, untouched ones keep theirs.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

const STATE_FORMAT: u32 = 1;
/// A by-hash file that is some canonical name's content now (not superseded).
const CURRENT: u64 = u64::MAX;
const ROUND_SECS: i64 = 6 * 3600;
/// Round 0's archive time: 2026-11-01 01:52:00 UTC.
const START: i64 = days_from_civil(2026, 11, 1) * 86400 + 3600 + 52 * 60;
const BASE_ARCHS: [&str; 3] = ["amd64", "arm64", "i386"];
const INSTALLER_ARCHS: [&str; 2] = ["amd64", "arm64"];
const NEW_ARCH: &str = "riscv64";
/// The doc file the "doc changed" event rewrites.
pub const CHANGING_DOC: &str = "doc/mailing-lists.txt";

// ---------------------------------------------------------------------------------------
// Public interface

/// A generated archive and its state (`DIR.state`).
pub struct Archive {
    /// The archive's top (the mirror's root: `dists/`, `pool/`, `project/trace/`, ...).
    pub dir: PathBuf,
    st: State,
}

/// What one round ([`Archive::dinstall`], or [`Archive::init`] as round 0) did.
#[derive(Debug, Clone, Default)]
pub struct RoundSummary {
    pub round: u64,
    /// The `Archive serial:` of `project/trace/master` after the round.
    pub serial: String,
    /// Paths relative to the archive's top, sorted.
    pub new_pool_files: Vec<String>,
    /// Pool files deleted this round (dropped from every index two rounds before), sorted.
    pub deleted_pool_files: Vec<String>,
    /// Codenames of the suites whose indices were regenerated.
    pub changed_suites: Vec<String>,
    /// The round's rarer happenings, e.g. `new suite experimental`,
    /// `new architecture riscv64 in sid`, `alias testing -> duke`,
    /// `new installer sid 20261102`, `doc changed doc/mailing-lists.txt`,
    /// `point release trixie 13.3`, `removed source kobaru`.
    pub events: Vec<String>,
}

impl fmt::Display for RoundSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "round {}: {} new pool files, {} deleted, serial {}, suites changed: {}",
            self.round,
            self.new_pool_files.len(),
            self.deleted_pool_files.len(),
            self.serial,
            if self.changed_suites.is_empty() {
                "none".to_string()
            } else {
                self.changed_suites.join(" ")
            }
        )?;
        // Removals are many in a big archive: counted, not named.
        let mut shown: Vec<String> = self
            .events
            .iter()
            .filter(|e| !e.starts_with("removed source "))
            .cloned()
            .collect();
        let removed = self.events.len() - shown.len();
        if removed > 0 {
            shown.push(format!("removed {removed} source packages"));
        }
        if !shown.is_empty() {
            write!(f, ", events: {}", shown.join("; "))?;
        }
        Ok(())
    }
}

/// Where the generator keeps its state for the archive at `dir`: `DIR.state`, a sibling.
pub fn state_path(dir: &Path) -> PathBuf {
    let dir: PathBuf = dir.components().collect();
    let mut s = dir.into_os_string();
    s.push(".state");
    PathBuf::from(s)
}

impl Archive {
    /// A Debian-like archive of about `pool_files` files under `pool/` (within a source
    /// package's worth), in `dir` (created; it must not exist or be empty).
    pub fn init(dir: &Path, pool_files: usize, seed: u64) -> io::Result<Archive> {
        Self::create(dir, pool_files, seed, Flavour::Debian)
    }

    /// An Ubuntu-like archive: suites noble and noble-updates as real `dists/<suite>`
    /// directories (no `zzz-dists`), no extrafiles, no installer, ls-lR.gz present.
    pub fn init_ubuntu_like(dir: &Path, pool_files: usize, seed: u64) -> io::Result<Archive> {
        Self::create(dir, pool_files, seed, Flavour::Ubuntu)
    }

    /// The archive at `dir`, as its `DIR.state` says it is.
    pub fn open(dir: &Path) -> io::Result<Archive> {
        let data = fs::read(state_path(dir))?;
        let st: State = serde_json::from_slice(&data).map_err(io::Error::other)?;
        if st.format != STATE_FORMAT {
            return Err(io::Error::other(format!(
                "{}: state format {} (this generator writes {STATE_FORMAT})",
                state_path(dir).display(),
                st.format
            )));
        }
        Ok(Archive {
            dir: dir.to_path_buf(),
            st,
        })
    }

    /// The seed the archive was created with.
    pub fn seed(&self) -> u64 {
        self.st.seed
    }

    /// The last round run (0 after init).
    pub fn round(&self) -> u64 {
        self.st.round
    }

    /// The current `Archive serial:` of `project/trace/master`.
    pub fn serial(&self) -> String {
        serial_of(self.st.time())
    }

    /// Codenames (directory names) of the suites, in creation order.
    pub fn suites(&self) -> Vec<String> {
        self.st.suites.iter().map(|s| s.name.clone()).collect()
    }

    /// `(alias, codename)` of the `dists/` alias symlinks.
    pub fn aliases(&self) -> Vec<(String, String)> {
        self.st
            .aliases
            .iter()
            .map(|(a, c)| (a.clone(), c.clone()))
            .collect()
    }

    /// One dinstall round: the archive changes, then its indices, Releases, trace,
    /// extrafiles and, last, ls-lR.gz are regenerated; `DIR.state` is saved.
    pub fn dinstall(&mut self) -> io::Result<RoundSummary> {
        self.st.round += 1;
        let r = self.st.round;
        let mut sum = RoundSummary {
            round: r,
            ..Default::default()
        };
        for s in &mut self.st.suites {
            s.dirty = false;
        }
        let mut rng = Rng::new(mix(self.st.seed, r));
        // Installer image directories replaced a round ago.
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.st.doomed_dirs)
            .into_iter()
            .partition(|(_, at)| *at <= r);
        self.st.doomed_dirs = keep;
        for (d, _) in due {
            remove_all(&self.dir.join(d))?;
        }
        let fields_before: Vec<String> = self
            .st
            .suites
            .iter()
            .map(|s| self.st.suite_field(&s.name))
            .collect();
        self.events(&mut rng, &mut sum)?;
        for (i, before) in fields_before.iter().enumerate() {
            if self.st.suite_field(&self.st.suites[i].name) != *before {
                self.st.suites[i].dirty = true;
            }
        }
        self.uploads(&mut rng, &mut sum);
        self.publish(&mut sum)?;
        Ok(sum)
    }

    /// Every file the current Release files (all reached through `dists/`) reference and
    /// that exists, as the regular file that holds it (by-hash files for the indices,
    /// `zzz-dists/...` with every symlink resolved), with the size the Release gives;
    /// the installer images the listed `SHA256SUMS` name; and every pool file the current
    /// indices reference. Sorted by path.
    pub fn referenced_files(&self) -> io::Result<Vec<(String, u64)>> {
        let mut out: BTreeMap<String, u64> = BTreeMap::new();
        for (i, s) in self.st.suites.iter().enumerate() {
            let sd = self.st.suite_dir(i);
            for e in self.st.release_entries(i) {
                let (parent, _) = split_rel(&e.path);
                let bh = join_rel(
                    &join_rel(&sd, parent),
                    &format!("by-hash/SHA256/{}", e.sha256),
                );
                if is_file(&self.dir.join(&bh)) {
                    out.insert(bh, e.size);
                } else if let Some(real) = self.resolve(&join_rel(&sd, &e.path)) {
                    out.insert(real, e.size);
                }
            }
            if let Some(inst) = &s.installer {
                for (arch, images) in &inst.images {
                    let base = format!("{sd}/main/installer-{arch}/{}/images", inst.date);
                    for (p, size) in images {
                        if is_file(&self.dir.join(format!("{base}/{p}"))) {
                            out.insert(format!("{base}/{p}"), *size);
                        }
                    }
                }
            }
        }
        for p in self.st.referenced() {
            if let Some(e) = self.st.pool.get(&p) {
                out.insert(p, e.0);
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Every index and Release path (what a mirror's stage 2 brings): each file and
    /// symlink under `dists/` and `zzz-dists/` (symlinks not followed) that is not under a
    /// `by-hash/` or an `installer-<arch>/` directory. Sorted.
    pub fn index_files(&self) -> Vec<String> {
        let mut out = Vec::new();
        for top in ["dists", "zzz-dists"] {
            if fs::symlink_metadata(self.dir.join(top)).is_ok() {
                walk_index_files(&self.dir, top, &mut out)
                    .unwrap_or_else(|e| panic!("walk {}/{top}: {e}", self.dir.display()));
            }
        }
        out.sort();
        out
    }

    /// Fault: truncate the by-hash file behind `<suite>/main/binary-<first arch>/Packages.xz`
    /// to half its size, so it no longer matches the Release. `suite` is a codename or an
    /// alias. Returns the truncated file's path (relative to the top). Later rounds leave
    /// it so as long as that index's content does not change.
    pub fn corrupt_index(&self, suite: &str) -> io::Result<String> {
        let i = self.suite_index(suite)?;
        let arch = &self.st.suites[i].archs[0];
        let rel = format!("{}/main/binary-{arch}/Packages.xz", self.st.suite_dir(i));
        let target = self.by_hash_of(&rel)?;
        let p = self.dir.join(&target);
        let len = fs::metadata(&p)?.len();
        let f = fs::OpenOptions::new().write(true).open(&p)?;
        f.set_len(len / 2)?;
        Ok(target)
    }

    /// Fault: delete `<suite>/main/source/Sources.xz`, both its canonical name and its
    /// by-hash file, though the Release lists it. Returns the canonical path (relative to
    /// the top, `zzz-dists/...` or `dists/...`).
    pub fn remove_referenced_index(&self, suite: &str) -> io::Result<String> {
        let i = self.suite_index(suite)?;
        let rel = format!("{}/main/source/Sources.xz", self.st.suite_dir(i));
        let target = self.by_hash_of(&rel)?;
        fs::remove_file(self.dir.join(&target))?;
        fs::remove_file(self.dir.join(&rel))?;
        Ok(rel)
    }

    /// Fault: delete `extrafiles`.
    pub fn remove_extrafiles(&self) -> io::Result<()> {
        fs::remove_file(self.dir.join("extrafiles"))
    }
}

// ---------------------------------------------------------------------------------------
// State

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
enum Flavour {
    Debian,
    Ubuntu,
}

#[derive(Serialize, Deserialize, Clone)]
struct Bin {
    name: String,
    all: bool,
    udeb: bool,
}

#[derive(Serialize, Deserialize, Clone)]
struct Source {
    comp: String,
    maint: usize,
    section: String,
    bins: Vec<Bin>,
}

#[derive(Serialize, Deserialize, Clone, PartialEq)]
struct SrcVer {
    up: String,
    rev: String,
    /// Architectures built (arch-any binaries exist for those also in the suite's).
    archs: Vec<String>,
}

impl SrcVer {
    fn version(&self) -> String {
        format!("{}-{}", self.up, self.rev)
    }
}

/// (size, sha256, md5) of a pool file.
#[derive(Serialize, Deserialize, Clone)]
struct PoolEntry(u64, String, String);

#[derive(Serialize, Deserialize, Clone)]
struct Listed {
    /// Relative to the suite's directory.
    path: String,
    size: u64,
    sha256: String,
}

#[derive(Serialize, Deserialize, Clone)]
struct Installer {
    date: String,
    /// arch -> (path under images/, size), SHA256SUMS not included.
    images: BTreeMap<String, Vec<(String, u64)>>,
    /// arch -> (sha256, size) of SHA256SUMS.
    sums: BTreeMap<String, (String, u64)>,
}

#[derive(Serialize, Deserialize, Clone, Default)]
struct Pdiff {
    current: (String, u64),
    /// (sha256, size, stamp) of earlier Packages, oldest first.
    history: Vec<(String, u64, String)>,
}

#[derive(Serialize, Deserialize, Clone)]
struct Suite {
    /// The directory's name (`zzz-dists/<name>`).
    name: String,
    /// The Release's `Codename:` (differs for experimental: rc-buggy).
    codename: String,
    archs: Vec<String>,
    comps: Vec<String>,
    pdiffs: bool,
    valid_until: bool,
    /// The Release stays untouched in rounds without a change (stable suites).
    frozen: bool,
    version: Option<String>,
    installer: Option<Installer>,
    packages: BTreeMap<String, SrcVer>,
    /// The indices the Release lists (installer entries apart), sorted.
    entries: Vec<Listed>,
    /// By `<comp>/binary-<arch>/Packages.diff/Index`.
    pdiff: BTreeMap<String, Pdiff>,
    #[serde(skip)]
    dirty: bool,
}

impl Suite {
    fn blank(name: &str, archs: &[String], comps: &[String]) -> Suite {
        Suite {
            name: name.to_string(),
            codename: name.to_string(),
            archs: archs.to_vec(),
            comps: comps.to_vec(),
            pdiffs: false,
            valid_until: false,
            frozen: false,
            version: None,
            installer: None,
            packages: BTreeMap::new(),
            entries: Vec::new(),
            pdiff: BTreeMap::new(),
            dirty: true,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct State {
    format: u32,
    flavour: Flavour,
    seed: u64,
    round: u64,
    next_id: u64,
    sources: BTreeMap<String, Source>,
    suites: Vec<Suite>,
    /// `dists/<alias>` -> codename.
    aliases: BTreeMap<String, String>,
    pool: BTreeMap<String, PoolEntry>,
    /// Pool files no index references -> the round that dropped them.
    unreferenced: BTreeMap<String, u64>,
    /// (directory, round to delete it in).
    doomed_dirs: Vec<(String, u64)>,
    /// by-hash directory (`.../by-hash/SHA256`'s grandparent) -> hash -> the round it was
    /// superseded in, or CURRENT.
    byhash: BTreeMap<String, BTreeMap<String, u64>>,
    doc_rev: u64,
}

impl State {
    fn time(&self) -> i64 {
        START + self.round as i64 * ROUND_SECS
    }
    fn idx(&self, name: &str) -> Option<usize> {
        self.suites.iter().position(|s| s.name == name)
    }
    /// The suite playing `role` (unstable, testing, stable, stable-updates).
    fn role(&self, role: &str) -> Option<usize> {
        match self.flavour {
            Flavour::Debian => self.aliases.get(role).and_then(|n| self.idx(n)),
            Flavour::Ubuntu => match role {
                "stable" => self.idx("noble"),
                "stable-updates" => self.idx("noble-updates"),
                _ => None,
            },
        }
    }
    /// The Release's `Suite:`: the alias naming it, else its name.
    fn suite_field(&self, name: &str) -> String {
        for a in [
            "unstable",
            "testing",
            "stable",
            "oldstable",
            "stable-updates",
            "oldstable-updates",
        ] {
            if self.aliases.get(a).map(String::as_str) == Some(name) {
                return a.to_string();
            }
        }
        name.to_string()
    }
    fn suite_dir(&self, i: usize) -> String {
        match self.flavour {
            Flavour::Debian => format!("zzz-dists/{}", self.suites[i].name),
            Flavour::Ubuntu => format!("dists/{}", self.suites[i].name),
        }
    }
    /// Every pool file some suite's indices reference.
    fn referenced(&self) -> BTreeSet<String> {
        let mut set = BTreeSet::new();
        let mut buf = Vec::new();
        for s in &self.suites {
            for (name, v) in &s.packages {
                buf.clear();
                version_files(name, &self.sources[name], v, &s.archs, &mut buf);
                set.extend(buf.drain(..));
            }
        }
        set
    }
    /// The Release's SHA256 entries: the indices and the installer's SHA256SUMS.
    fn release_entries(&self, i: usize) -> Vec<Listed> {
        let s = &self.suites[i];
        let mut v = s.entries.clone();
        if let Some(inst) = &s.installer {
            for (arch, (hash, size)) in &inst.sums {
                for d in ["current", inst.date.as_str()] {
                    v.push(Listed {
                        path: format!("main/installer-{arch}/{d}/images/SHA256SUMS"),
                        size: *size,
                        sha256: hash.clone(),
                    });
                }
            }
        }
        v.sort_by(|a, b| a.path.cmp(&b.path));
        v
    }
    fn maintainer(&self, k: usize) -> String {
        maintainer(self.flavour, k)
    }
}

// ---------------------------------------------------------------------------------------
// Creation

impl Archive {
    fn create(dir: &Path, pool_files: usize, seed: u64, flavour: Flavour) -> io::Result<Archive> {
        if dir.exists() && fs::read_dir(dir)?.next().is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}: exists and is not empty", dir.display()),
            ));
        }
        fs::create_dir_all(dir)?;
        let mut st = State {
            format: STATE_FORMAT,
            flavour,
            seed,
            round: 0,
            next_id: 0,
            sources: BTreeMap::new(),
            suites: Vec::new(),
            aliases: BTreeMap::new(),
            pool: BTreeMap::new(),
            unreferenced: BTreeMap::new(),
            doomed_dirs: Vec::new(),
            byhash: BTreeMap::new(),
            doc_rev: 0,
        };
        let mut rng = Rng::new(mix(seed, 0x1417));
        match flavour {
            Flavour::Debian => populate_debian(&mut st, pool_files, &mut rng),
            Flavour::Ubuntu => populate_ubuntu(&mut st, pool_files, &mut rng),
        }
        let mut a = Archive {
            dir: dir.to_path_buf(),
            st,
        };
        a.write_static_files()?;
        if flavour == Flavour::Debian {
            for name in ["sid", "trixie"] {
                let i = a.st.idx(name).expect("suite");
                let t = a.st.time() - 3 * 86400;
                let date = if name == "trixie" {
                    format!("{}+deb13u2", ymd(t - 20 * 86400))
                } else {
                    ymd(t)
                };
                a.new_installer(i, &date)?;
            }
        }
        let mut sum = RoundSummary::default();
        a.publish(&mut sum)?;
        Ok(a)
    }

    fn write_static_files(&mut self) -> io::Result<()> {
        let t = self.st.time();
        let (origin, site) = match self.st.flavour {
            Flavour::Debian => ("Debian", "https://www.debian.org/"),
            Flavour::Ubuntu => ("Ubuntu", "https://ubuntu.com/"),
        };
        let readme = format!(
            "This is a generated test mirror of the {origin} archive ({site}).\n\n\
             dists/   the suites: Release files and indices\n\
             pool/    the packages\n\
             indices/ maintainers and file lists\n\
             doc/     documentation\n"
        );
        self.write_file("README", readme.as_bytes(), t)?;
        let html = format!(
            "<!DOCTYPE html>\n<html><head><title>{origin} test mirror</title></head>\n\
             <body><h1>{origin} test mirror</h1><p>See <a href=\"{site}\">{site}</a>.</p>\n\
             </body></html>\n"
        );
        self.write_file("README.html", html.as_bytes(), t)?;
        self.write_file(
            "doc/README",
            b"The documentation of this test archive.\n",
            t,
        )?;
        self.write_file(
            "doc/bug-reporting.txt",
            lorem(self.st.seed, "bug-reporting", 40).as_bytes(),
            t,
        )?;
        self.write_file(
            "doc/social-contract.txt",
            lorem(self.st.seed, "social-contract", 60).as_bytes(),
            t,
        )?;
        self.write_file(CHANGING_DOC, &self.changing_doc(), t)?;
        self.write_file(
            "tools/README",
            b"Tools to boot an installer from another system.\n",
            t,
        )?;
        let mut rng = Rng::new(mix(self.st.seed, 0x7001));
        self.write_file("tools/loadlin.exe", &rng.bytes(3100), t)?;
        Ok(())
    }

    fn changing_doc(&self) -> Vec<u8> {
        let mut s = String::from("Mailing lists of the project\n\n");
        for k in 0..=self.st.doc_rev {
            s.push_str(&format!(
                "list-{k}@lists.example.org   {}\n",
                lorem(self.st.seed, &format!("list{k}"), 6).trim_end()
            ));
        }
        s.into_bytes()
    }
}

fn random_up(rng: &mut Rng) -> String {
    if rng.chance(30, 100) {
        format!("{}.{}.{}", rng.below(10), rng.below(20), rng.below(10))
    } else {
        format!("{}.{}", rng.below(10), rng.below(30))
    }
}

/// The next upstream version: the last numeric component plus one (`~rcK` dropped).
fn next_up(up: &str) -> String {
    let base = up.split('~').next().unwrap_or(up);
    match base.rsplit_once('.') {
        Some((head, last)) => format!("{head}.{}", last.parse::<u64>().unwrap_or(0) + 1),
        None => format!("{}", base.parse::<u64>().unwrap_or(0) + 1),
    }
}

fn lead_num(s: &str) -> u64 {
    let d: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
    d.parse().unwrap_or(0)
}

/// A new version after `v`: a Debian revision bump (same orig tarball) or a new upstream.
fn bump(v: &SrcVer, rng: &mut Rng, archs: &[String]) -> SrcVer {
    if rng.chance(60, 100) {
        SrcVer {
            up: v.up.clone(),
            rev: (lead_num(&v.rev) + 1).to_string(),
            archs: archs.to_vec(),
        }
    } else {
        SrcVer {
            up: next_up(&v.up),
            rev: "1".to_string(),
            archs: archs.to_vec(),
        }
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A source package named after `id` (unique: the name is a bijection of the id).
fn new_source(st: &mut State, rng: &mut Rng) -> String {
    let id = st.next_id;
    st.next_id += 1;
    let core = name_of(st.seed, id);
    let lib = rng.chance(15, 100);
    let name = if lib {
        format!("lib{core}")
    } else {
        core.clone()
    };
    let comp = match st.flavour {
        Flavour::Debian if rng.chance(10, 100) => "contrib",
        Flavour::Debian => "main",
        Flavour::Ubuntu if rng.chance(30, 100) => "universe",
        Flavour::Ubuntu => "main",
    };
    let nbins = match rng.below(10) {
        0..=3 => 1,
        4..=7 => 2,
        _ => 3,
    };
    let bin = |name: String, all: bool| Bin {
        name,
        all,
        udeb: false,
    };
    let mut bins = Vec::new();
    let section;
    if lib {
        section = "libs";
        bins.push(bin(format!("lib{core}{}", rng.below(9) + 1), false));
        if nbins > 1 {
            bins.push(bin(format!("lib{core}-dev"), false));
        }
        if nbins > 2 {
            bins.push(bin(format!("lib{core}-doc"), true));
        }
    } else {
        section =
            ["utils", "net", "admin", "misc", "text", "python", "games"][rng.below(7) as usize];
        bins.push(bin(name.clone(), rng.chance(20, 100)));
        if nbins > 1 {
            if rng.chance(50, 100) {
                bins.push(bin(format!("{name}-doc"), true));
            } else {
                bins.push(bin(format!("{name}-data"), true));
            }
        }
        if nbins > 2 {
            if rng.chance(50, 100) {
                bins.push(bin(format!("python3-{core}"), true));
            } else {
                bins.push(bin(format!("{name}-utils"), false));
            }
        }
    }
    if st.flavour == Flavour::Debian && comp == "main" && rng.chance(5, 100) {
        bins.push(Bin {
            name: format!("{name}-udeb"),
            all: false,
            udeb: true,
        });
    }
    let maint = rng.below(MAINTAINER_COUNT as u64) as usize;
    st.sources.insert(
        name.clone(),
        Source {
            comp: comp.to_string(),
            maint,
            section: section.to_string(),
            bins,
        },
    );
    name
}

/// Unique pool files of source `name` over all suites.
fn count_files(st: &State, name: &str) -> usize {
    let mut set = BTreeSet::new();
    let mut buf = Vec::new();
    for s in &st.suites {
        if let Some(v) = s.packages.get(name) {
            buf.clear();
            version_files(name, &st.sources[name], v, &s.archs, &mut buf);
            set.extend(buf.drain(..));
        }
    }
    set.len()
}

fn populate_debian(st: &mut State, target: usize, rng: &mut Rng) {
    let archs = strings(&BASE_ARCHS);
    let comps = strings(&["main", "contrib"]);
    let mut sid = Suite::blank("sid", &archs, &comps);
    sid.pdiffs = true;
    sid.valid_until = true;
    let mut forky = Suite::blank("forky", &archs, &comps);
    forky.pdiffs = true;
    forky.valid_until = true;
    let mut trixie = Suite::blank("trixie", &archs, &comps);
    trixie.frozen = true;
    trixie.version = Some("13.2".to_string());
    let mut tu = Suite::blank("trixie-updates", &archs, &comps);
    tu.valid_until = true;
    st.suites = vec![sid, forky, trixie, tu];
    for (a, c) in [
        ("unstable", "sid"),
        ("testing", "forky"),
        ("stable", "trixie"),
        ("stable-updates", "trixie-updates"),
    ] {
        st.aliases.insert(a.to_string(), c.to_string());
    }
    let mut count = 0;
    while count < target {
        let name = new_source(st, rng);
        let v0 = SrcVer {
            up: random_up(rng),
            rev: (rng.below(5) + 1).to_string(),
            archs: archs.clone(),
        };
        let k = rng.below(100);
        let forky_v = if k < 10 {
            None
        } else if rng.chance(60, 100) {
            Some(v0.clone())
        } else {
            Some(bump(&v0, rng, &archs))
        };
        if k >= 10 {
            st.suites[2].packages.insert(name.clone(), v0.clone());
            if rng.chance(2, 100) {
                let mut u = v0.clone();
                u.rev = format!("{}+deb13u1", v0.rev);
                st.suites[3].packages.insert(name.clone(), u);
            }
        }
        let sid_v = match (&forky_v, k < 5) {
            (_, true) => v0.clone(),
            (Some(f), false) if rng.chance(70, 100) => f.clone(),
            (Some(f), false) => bump(f, rng, &archs),
            (None, false) => bump(&v0, rng, &archs),
        };
        if k >= 5 {
            let f = forky_v.unwrap_or_else(|| v0.clone());
            st.suites[1].packages.insert(name.clone(), f);
        }
        st.suites[0].packages.insert(name.clone(), sid_v);
        count += count_files(st, &name);
    }
}

fn populate_ubuntu(st: &mut State, target: usize, rng: &mut Rng) {
    let archs = strings(&["amd64", "i386"]);
    let comps = strings(&["main", "universe"]);
    let mut noble = Suite::blank("noble", &archs, &comps);
    noble.frozen = true;
    noble.version = Some("24.04".to_string());
    let nu = Suite::blank("noble-updates", &archs, &comps);
    st.suites = vec![noble, nu];
    let mut count = 0;
    while count < target {
        let name = new_source(st, rng);
        let v0 = SrcVer {
            up: random_up(rng),
            rev: format!("{}ubuntu{}", rng.below(5) + 1, rng.below(3) + 1),
            archs: archs.clone(),
        };
        if rng.chance(5, 100) {
            let mut u = v0.clone();
            u.rev = format!("{}ubuntu0.24.04.1", lead_num(&v0.rev));
            st.suites[1].packages.insert(name.clone(), u);
        }
        st.suites[0].packages.insert(name.clone(), v0);
        count += count_files(st, &name);
    }
}

// ---------------------------------------------------------------------------------------
// A round's changes

impl Archive {
    /// Round at which a one-off event happens, from the seed: always within rounds 2..=14.
    fn event_round(&self, k: u64, base: u64, span: u64) -> u64 {
        base + mix(self.st.seed, 0xe0 + k) % span
    }

    fn events(&mut self, rng: &mut Rng, sum: &mut RoundSummary) -> io::Result<()> {
        let r = self.st.round;
        if r % 6 == self.st.seed % 6 || rng.chance(1, 20) {
            self.st.doc_rev += 1;
            let data = self.changing_doc();
            self.write_file(CHANGING_DOC, &data, self.st.time())?;
            sum.events.push(format!("doc changed {CHANGING_DOC}"));
        }
        if self.st.flavour == Flavour::Ubuntu {
            return Ok(());
        }
        if r == self.event_round(1, 2, 4) && self.st.idx("experimental").is_none() {
            self.new_experimental(rng, sum);
        }
        if r == self.event_round(2, 4, 5) {
            if let Some(u) = self.st.role("unstable") {
                if !self.st.suites[u].archs.iter().any(|a| a == NEW_ARCH) {
                    self.new_arch(u, rng, sum);
                }
            }
        }
        if r == self.event_round(3, 9, 6) {
            self.release_testing(sum);
        }
        if r % 5 == mix(self.st.seed, 0xe4) % 5 || rng.chance(1, 12) {
            if let Some(u) = self.st.role("unstable") {
                let date = ymd(self.st.time());
                let cur = self.st.suites[u].installer.as_ref().map(|i| i.date.clone());
                if cur.as_deref() != Some(date.as_str()) {
                    self.new_installer(u, &date)?;
                    sum.events
                        .push(format!("new installer {} {date}", self.st.suites[u].name));
                }
            }
        }
        if r % 12 == 7 || rng.chance(1, 40) {
            self.point_release(sum)?;
        }
        Ok(())
    }

    fn new_experimental(&mut self, rng: &mut Rng, sum: &mut RoundSummary) {
        let archs = strings(&BASE_ARCHS);
        let mut e = Suite::blank("experimental", &archs, &strings(&["main", "contrib"]));
        e.codename = "rc-buggy".to_string();
        e.valid_until = true;
        self.st.suites.push(e);
        self.st
            .aliases
            .insert("rc-buggy".to_string(), "experimental".to_string());
        let n = self
            .st
            .role("unstable")
            .map_or(0, |u| self.st.suites[u].packages.len());
        for _ in 0..(n / 100).max(2) {
            self.upload_experimental(rng);
        }
        sum.events.push("new suite experimental".to_string());
    }

    fn new_arch(&mut self, u: usize, rng: &mut Rng, sum: &mut RoundSummary) {
        let st = &mut self.st;
        st.suites[u].archs.push(NEW_ARCH.to_string());
        let mut built = 0;
        let names: Vec<String> = st.suites[u].packages.keys().cloned().collect();
        for name in names {
            let has_any = st.sources[&name].bins.iter().any(|b| !b.all);
            if has_any && rng.chance(30, 100) {
                let v = st.suites[u].packages.get_mut(&name).expect("listed");
                if !v.archs.iter().any(|a| a == NEW_ARCH) {
                    v.archs.push(NEW_ARCH.to_string());
                    built += 1;
                }
            }
        }
        st.suites[u].dirty = true;
        sum.events.push(format!(
            "new architecture {NEW_ARCH} in {} ({built} sources built)",
            st.suites[u].name
        ));
    }

    /// Debian releases testing: a new testing suite (duke) starts as a copy of forky,
    /// forky becomes stable with its own -updates, trixie oldstable.
    fn release_testing(&mut self, sum: &mut RoundSummary) {
        let st = &mut self.st;
        let Some(t) = st.role("testing") else { return };
        let old = st.suites[t].name.clone();
        let next = match old.as_str() {
            "forky" => "duke",
            _ => return,
        };
        if st.idx(next).is_some() {
            return;
        }
        let mut new = Suite::blank(next, &st.suites[t].archs, &st.suites[t].comps);
        new.pdiffs = true;
        new.valid_until = true;
        new.packages = st.suites[t].packages.clone();
        let upd_name = format!("{old}-updates");
        let mut upd = Suite::blank(&upd_name, &st.suites[t].archs, &st.suites[t].comps);
        upd.valid_until = true;
        let major = deb_number(&old);
        {
            let f = &mut st.suites[t];
            f.frozen = true;
            f.valid_until = false;
            f.version = Some(format!("{major}.0"));
            f.dirty = true;
        }
        st.suites.push(new);
        st.suites.push(upd);
        sum.events.push(format!("new suite {next}"));
        sum.events.push(format!("new suite {upd_name}"));
        let old_stable = st.aliases.get("stable").cloned();
        let old_stable_upd = st.aliases.get("stable-updates").cloned();
        let mut moves = vec![
            ("testing", next.to_string()),
            ("stable", old.clone()),
            ("stable-updates", upd_name),
        ];
        if let Some(s) = old_stable {
            moves.push(("oldstable", s));
        }
        if let Some(s) = old_stable_upd {
            moves.push(("oldstable-updates", s));
        }
        for (alias, target) in moves {
            let before = st.aliases.insert(alias.to_string(), target.clone());
            sum.events.push(match before {
                Some(_) => format!("alias {alias} -> {target}"),
                None => format!("new alias {alias} -> {target}"),
            });
        }
    }

    /// The stable suite takes its -updates' packages, its version's minor goes up, its
    /// installer gets a new build.
    fn point_release(&mut self, sum: &mut RoundSummary) -> io::Result<()> {
        let (Some(s), Some(u)) = (self.st.role("stable"), self.st.role("stable-updates")) else {
            return Ok(());
        };
        if self.st.suites[u].packages.is_empty() {
            return Ok(());
        }
        let moved = std::mem::take(&mut self.st.suites[u].packages);
        let archs = self.st.suites[s].archs.clone();
        for (name, mut v) in moved {
            v.archs.retain(|a| archs.contains(a));
            self.st.suites[s].packages.insert(name, v);
        }
        let version = self.st.suites[s]
            .version
            .clone()
            .unwrap_or_else(|| "1.0".into());
        let (major, minor) = version.split_once('.').unwrap_or((&version, "0"));
        let new_version = format!("{major}.{}", lead_num(minor) + 1);
        self.st.suites[s].version = Some(new_version.clone());
        self.st.suites[s].dirty = true;
        self.st.suites[u].dirty = true;
        sum.events.push(format!(
            "point release {} {new_version}",
            self.st.suites[s].name
        ));
        if self.st.suites[s].installer.is_some() {
            let date = format!("{}+deb{major}u{}", ymd(self.st.time()), lead_num(minor) + 1);
            self.new_installer(s, &date)?;
            sum.events
                .push(format!("new installer {} {date}", self.st.suites[s].name));
        }
        Ok(())
    }

    fn upload_experimental(&mut self, rng: &mut Rng) {
        let (Some(e), Some(u)) = (self.st.idx("experimental"), self.st.role("unstable")) else {
            return;
        };
        let names: Vec<&String> = self.st.suites[u].packages.keys().collect();
        if names.is_empty() {
            return;
        }
        let name = names[rng.below(names.len() as u64) as usize].clone();
        let sid_v = self.st.suites[u].packages[&name].clone();
        let up = next_up(&sid_v.up);
        let k = match self.st.suites[e].packages.get(&name) {
            Some(v) if v.up.starts_with(&format!("{up}~rc")) => lead_num(&v.up[up.len() + 3..]) + 1,
            _ => 1,
        };
        let archs = self.st.suites[e].archs.clone();
        self.st.suites[e].packages.insert(
            name,
            SrcVer {
                up: format!("{up}~rc{k}"),
                rev: "1".to_string(),
                archs,
            },
        );
        self.st.suites[e].dirty = true;
    }

    fn uploads(&mut self, rng: &mut Rng, sum: &mut RoundSummary) {
        match self.st.flavour {
            Flavour::Debian => self.uploads_debian(rng, sum),
            Flavour::Ubuntu => {
                let n = self
                    .st
                    .role("stable")
                    .map_or(0, |s| self.st.suites[s].packages.len());
                self.updates(rng, n / 100)
            }
        }
    }

    fn uploads_debian(&mut self, rng: &mut Rng, sum: &mut RoundSummary) {
        let Some(u) = self.st.role("unstable") else {
            return;
        };
        let n = self.st.suites[u].packages.len();
        if n == 0 {
            return;
        }
        let uploads = (n / 100).max(1);
        let sid_archs = self.st.suites[u].archs.clone();
        let mut touched: BTreeSet<String> = BTreeSet::new();
        // New versions in sid.
        let names: Vec<String> = self.st.suites[u].packages.keys().cloned().collect();
        for _ in 0..uploads {
            let name = &names[rng.below(names.len() as u64) as usize];
            let old = self.st.suites[u].packages[name].clone();
            let new = bump(&old, rng, &sid_archs);
            self.st.suites[u].packages.insert(name.clone(), new);
            touched.insert(name.clone());
        }
        // New source packages.
        for _ in 0..(n / 400).max(1) {
            let name = new_source(&mut self.st, rng);
            let v = SrcVer {
                up: random_up(rng),
                rev: "1".to_string(),
                archs: sid_archs.clone(),
            };
            self.st.suites[u].packages.insert(name.clone(), v);
            touched.insert(name);
        }
        // Removals: sources no stable suite or -updates holds, from every suite.
        let removals = n / 400 + usize::from(rng.chance(1, 2));
        for _ in 0..removals {
            for _try in 0..20 {
                let name = &names[rng.below(names.len() as u64) as usize];
                let protected = self.st.suites.iter().any(|s| {
                    (s.frozen || s.name.ends_with("-updates")) && s.packages.contains_key(name)
                });
                if protected || touched.contains(name) {
                    continue;
                }
                for s in &mut self.st.suites {
                    if s.packages.remove(name).is_some() {
                        s.dirty = true;
                    }
                }
                sum.events.push(format!("removed source {name}"));
                touched.insert(name.clone());
                break;
            }
        }
        self.st.suites[u].dirty = true;
        // Migrations to testing of what was uploaded before this round.
        if let Some(t) = self.st.role("testing") {
            let cands: Vec<String> = self.st.suites[u]
                .packages
                .iter()
                .filter(|(name, v)| {
                    !touched.contains(*name)
                        && self.st.suites[t].packages.get(*name).map(SrcVer::version)
                            != Some(v.version())
                })
                .map(|(name, _)| name.clone())
                .collect();
            let mut todo = (uploads * 2 / 3).max(1).min(cands.len());
            let t_archs = self.st.suites[t].archs.clone();
            let mut picked = BTreeSet::new();
            while todo > 0 {
                let name = &cands[rng.below(cands.len() as u64) as usize];
                if !picked.insert(name.clone()) {
                    continue;
                }
                let mut v = self.st.suites[u].packages[name].clone();
                v.archs.retain(|a| t_archs.contains(a));
                self.st.suites[t].packages.insert(name.clone(), v);
                self.st.suites[t].dirty = true;
                todo -= 1;
            }
        }
        // Stable updates, now and then.
        if rng.chance(1, 3) {
            self.updates(rng, n / 2000);
        }
        if self.st.idx("experimental").is_some() {
            for _ in 0..1 + rng.below(2) {
                self.upload_experimental(rng);
            }
        }
    }

    /// 1 + up to `extra` uploads to the stable suite's -updates.
    fn updates(&mut self, rng: &mut Rng, extra: usize) {
        let (Some(s), Some(u)) = (self.st.role("stable"), self.st.role("stable-updates")) else {
            return;
        };
        let marker = match self.st.flavour {
            Flavour::Debian => {
                let base = self.st.suites[u]
                    .name
                    .trim_end_matches("-updates")
                    .to_string();
                format!("+deb{}u", deb_number(&base))
            }
            Flavour::Ubuntu => "ubuntu0.24.04.".to_string(),
        };
        let names: Vec<String> = self.st.suites[s].packages.keys().cloned().collect();
        if names.is_empty() {
            return;
        }
        let archs = self.st.suites[u].archs.clone();
        for _ in 0..1 + rng.below(extra as u64 + 1) {
            let name = &names[rng.below(names.len() as u64) as usize];
            let stable_v = &self.st.suites[s].packages[name];
            let cur = self.st.suites[u].packages.get(name).unwrap_or(stable_v);
            let (base, k) = match cur.rev.split_once(&marker) {
                Some((b, k)) => (b.to_string(), lead_num(k)),
                None => (cur.rev.clone(), 0),
            };
            let v = SrcVer {
                up: cur.up.clone(),
                rev: format!("{base}{marker}{}", k + 1),
                archs: archs.clone(),
            };
            self.st.suites[u].packages.insert(name.clone(), v);
            self.st.suites[u].dirty = true;
        }
    }
}

fn deb_number(codename: &str) -> u32 {
    match codename {
        "trixie" => 13,
        "forky" => 14,
        "duke" => 15,
        _ => 99,
    }
}

// ---------------------------------------------------------------------------------------
// Publishing: pool, indices, Releases, top-level files, ls-lR.gz, state

impl Archive {
    fn publish(&mut self, sum: &mut RoundSummary) -> io::Result<()> {
        self.sync_pool(sum)?;
        self.layout_dists()?;
        let dirty: Vec<usize> = (0..self.st.suites.len())
            .filter(|&i| self.st.suites[i].dirty)
            .collect();
        let mut touched: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        self.regen(&dirty, &mut touched)?;
        for i in 0..self.st.suites.len() {
            if self.st.suites[i].dirty || !self.st.suites[i].frozen {
                self.write_release(i)?;
            }
        }
        self.sweep_byhash(&touched)?;
        sum.changed_suites = dirty
            .iter()
            .map(|&i| self.st.suites[i].name.clone())
            .collect();
        self.write_indices_dir()?;
        if self.st.flavour == Flavour::Debian {
            self.write_extrafiles()?;
        }
        self.write_traces()?;
        sum.serial = self.serial();
        self.write_ls_lr()?;
        self.save()
    }

    fn sync_pool(&mut self, sum: &mut RoundSummary) -> io::Result<()> {
        let r = self.st.round;
        let refs = self.st.referenced();
        let new: Vec<String> = refs
            .iter()
            .filter(|p| !self.st.pool.contains_key(*p))
            .cloned()
            .collect();
        let entries = write_pool(&self.dir, self.st.seed, &new, self.st.time())?;
        for (p, e) in new.iter().zip(entries) {
            self.st.pool.insert(p.clone(), e);
        }
        sum.new_pool_files = new;
        self.st.unreferenced.retain(|p, _| !refs.contains(p));
        for p in self.st.pool.keys() {
            if !refs.contains(p) {
                self.st.unreferenced.entry(p.clone()).or_insert(r);
            }
        }
        let due: Vec<String> = self
            .st
            .unreferenced
            .iter()
            .filter(|(_, &since)| r >= since + 2)
            .map(|(p, _)| p.clone())
            .collect();
        for p in &due {
            match fs::remove_file(self.dir.join(p)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            self.st.pool.remove(p);
            self.st.unreferenced.remove(p);
            // The source's directory, then its prefix directory, when empty.
            let mut d = Path::new(p).parent();
            for _ in 0..2 {
                let Some(dd) = d else { break };
                if fs::remove_dir(self.dir.join(dd)).is_err() {
                    break;
                }
                d = dd.parent();
            }
        }
        sum.deleted_pool_files = due;
        Ok(())
    }

    fn layout_dists(&mut self) -> io::Result<()> {
        let t = self.st.time();
        fs::create_dir_all(self.dir.join("dists"))?;
        for i in 0..self.st.suites.len() {
            let name = self.st.suites[i].name.clone();
            fs::create_dir_all(self.dir.join(self.st.suite_dir(i)))?;
            if self.st.flavour == Flavour::Debian {
                self.replace_symlink(&format!("dists/{name}"), &format!("../zzz-dists/{name}"), t)?;
            }
        }
        let aliases: Vec<(String, String)> = self.aliases();
        for (alias, target) in aliases {
            self.replace_symlink(&format!("dists/{alias}"), &target, t)?;
        }
        Ok(())
    }

    fn jobs(&self, i: usize) -> Vec<Job> {
        let s = &self.st.suites[i];
        let debian = self.st.flavour == Flavour::Debian;
        let mut v = Vec::new();
        for comp in &s.comps {
            let mut archs = s.archs.clone();
            if debian {
                archs.push("all".to_string());
            }
            for a in &archs {
                v.push(Job::Packages(comp.clone(), a.clone()));
                v.push(Job::SubRelease(comp.clone(), format!("binary-{a}")));
                if debian {
                    v.push(Job::Contents(Some(comp.clone()), a.clone()));
                }
                if a != "all" {
                    v.push(Job::Dep11(comp.clone(), a.clone()));
                    if debian && comp == "main" {
                        v.push(Job::Udebs(a.clone()));
                    }
                }
            }
            v.push(Job::Sources(comp.clone()));
            v.push(Job::SubRelease(comp.clone(), "source".to_string()));
            v.push(Job::Translation(comp.clone()));
        }
        if !debian {
            for a in &s.archs {
                v.push(Job::Contents(None, a.clone()));
            }
        }
        v
    }

    /// Regenerate every index of the suites `which` (built in parallel), store each under
    /// by-hash and point its canonical name there; `touched` gets each by-hash directory's
    /// current hashes.
    fn regen(
        &mut self,
        which: &[usize],
        touched: &mut BTreeMap<String, BTreeSet<String>>,
    ) -> io::Result<()> {
        let mut jobs: Vec<(usize, Job)> = Vec::new();
        for &i in which {
            for j in self.jobs(i) {
                jobs.push((i, j));
            }
        }
        // Biggest first, so the threads end together.
        jobs.sort_by_key(|(_, j)| j.weight());
        let results = {
            let st = &self.st;
            let top = self.dir.as_path();
            par_map(&jobs, |(i, j)| run_job(&JobCtx { top, st, i: *i }, j))
        };
        let mut by_suite: BTreeMap<usize, Vec<Out>> = BTreeMap::new();
        for ((i, _), outs) in jobs.iter().zip(results) {
            by_suite.entry(*i).or_default().extend(outs);
        }
        let t = self.st.time();
        for (i, outs) in by_suite {
            let sd = self.st.suite_dir(i);
            let mut listed = Vec::new();
            for o in &outs {
                if let Some(data) = &o.data {
                    self.put_index(&sd, &o.rel, data, t, touched)?;
                } else if o.on_disk {
                    let (dir, _) = split_rel(&o.rel);
                    touched
                        .entry(join_rel(&sd, dir))
                        .or_default()
                        .insert(o.sha256.clone());
                }
                listed.push(Listed {
                    path: o.rel.clone(),
                    size: o.size,
                    sha256: o.sha256.clone(),
                });
            }
            if self.st.suites[i].pdiffs {
                let stamp = pdiff_stamp(t);
                for o in &outs {
                    let Some(base) = o.rel.strip_suffix("/Packages") else {
                        continue;
                    };
                    if o.on_disk || base.contains("debian-installer") {
                        continue;
                    }
                    let key = format!("{base}/Packages.diff/Index");
                    let p = self.st.suites[i].pdiff.entry(key.clone()).or_default();
                    let cur = (o.sha256.clone(), o.size);
                    if p.current != cur {
                        if !p.current.0.is_empty() {
                            p.history
                                .push((p.current.0.clone(), p.current.1, stamp.clone()));
                            if p.history.len() > 14 {
                                p.history.remove(0);
                            }
                        }
                        p.current = cur;
                    }
                    let mut text = format!("SHA256-Current: {} {}\n", p.current.0, p.current.1);
                    if !p.history.is_empty() {
                        text.push_str("SHA256-History:\n");
                        for (h, s, st) in &p.history {
                            text.push_str(&format!(" {h} {s:>9} {st}\n"));
                        }
                    }
                    let data = text.into_bytes();
                    listed.push(Listed {
                        path: key.clone(),
                        size: data.len() as u64,
                        sha256: sha256_hex(&data),
                    });
                    self.put_index(&sd, &key, &data, t, touched)?;
                }
            }
            listed.sort_by(|a, b| a.path.cmp(&b.path));
            self.st.suites[i].entries = listed;
        }
        Ok(())
    }

    /// Store `data` as `<dir>/by-hash/SHA256/<hash>` and make `<suite dir>/<rel>` name it:
    /// a relative symlink (Debian), a hard link (Ubuntu).
    fn put_index(
        &mut self,
        sd: &str,
        rel: &str,
        data: &[u8],
        t: i64,
        touched: &mut BTreeMap<String, BTreeSet<String>>,
    ) -> io::Result<()> {
        let full = join_rel(sd, rel);
        let (dir, name) = split_rel(&full);
        let hash = sha256_hex(data);
        let bh_rel = format!("{dir}/by-hash/SHA256/{hash}");
        let bh = self.dir.join(&bh_rel);
        if fs::symlink_metadata(&bh).is_err() {
            fs::create_dir_all(bh.parent().expect("parent"))?;
            write_at(&bh, data, t)?;
        }
        touched
            .entry(dir.to_string())
            .or_default()
            .insert(hash.clone());
        match self.st.flavour {
            Flavour::Debian => {
                self.replace_symlink(&full, &format!("by-hash/SHA256/{hash}"), t)?;
            }
            Flavour::Ubuntu => {
                let canon = self.dir.join(&full);
                let same = match (fs::symlink_metadata(&canon), fs::metadata(&bh)) {
                    (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                    _ => false,
                };
                if !same {
                    let tmp = self.dir.join(dir).join(format!(".{name}.new"));
                    let _ = fs::remove_file(&tmp);
                    fs::hard_link(&bh, &tmp)?;
                    fs::rename(&tmp, &canon)?;
                }
            }
        }
        Ok(())
    }

    /// Files superseded in an earlier round go; those superseded now stay one round.
    fn sweep_byhash(&mut self, touched: &BTreeMap<String, BTreeSet<String>>) -> io::Result<()> {
        let r = self.st.round;
        for (dir, current) in touched {
            let m = self.st.byhash.entry(dir.clone()).or_default();
            for (h, v) in m.iter_mut() {
                if current.contains(h) {
                    *v = CURRENT;
                } else if *v == CURRENT {
                    *v = r;
                }
            }
            for h in current {
                m.entry(h.clone()).or_insert(CURRENT);
            }
        }
        for (dir, m) in &mut self.st.byhash {
            let old: Vec<String> = m
                .iter()
                .filter(|(_, &v)| v != CURRENT && v < r)
                .map(|(h, _)| h.clone())
                .collect();
            for h in old {
                let p = self.dir.join(format!("{dir}/by-hash/SHA256/{h}"));
                match fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                m.remove(&h);
            }
        }
        Ok(())
    }

    fn release_body(&self, i: usize) -> String {
        let st = &self.st;
        let s = &st.suites[i];
        let t = st.time();
        let suite = st.suite_field(&s.name);
        let debian = st.flavour == Flavour::Debian;
        let origin = if debian { "Debian" } else { "Ubuntu" };
        let mut b = String::new();
        b.push_str(&format!(
            "Origin: {origin}\nLabel: {origin}\nSuite: {suite}\n"
        ));
        if let Some(v) = &s.version {
            b.push_str(&format!("Version: {v}\n"));
        }
        b.push_str(&format!("Codename: {}\n", s.codename));
        if debian {
            b.push_str(
                "Changelogs: https://metadata.ftp-master.debian.org/changelogs/@CHANGEPATH@_changelog\n",
            );
        }
        b.push_str(&format!("Date: {}\n", rfc2822(t, "UTC")));
        if s.valid_until {
            b.push_str(&format!("Valid-Until: {}\n", rfc2822(t + 7 * 86400, "UTC")));
        }
        if s.name == "experimental" {
            b.push_str("NotAutomatic: yes\n");
        }
        if s.name.ends_with("-updates") && debian {
            b.push_str("NotAutomatic: yes\nButAutomaticUpgrades: yes\n");
        }
        b.push_str("Acquire-By-Hash: yes\n");
        if debian {
            b.push_str("No-Support-for-Architecture-all: Packages\n");
            b.push_str(&format!("Architectures: all {}\n", s.archs.join(" ")));
        } else {
            b.push_str(&format!("Architectures: {}\n", s.archs.join(" ")));
        }
        b.push_str(&format!("Components: {}\n", s.comps.join(" ")));
        b.push_str(&format!("Description: {}\n", self.description(i)));
        b.push_str("SHA256:\n");
        for e in st.release_entries(i) {
            b.push_str(&format!(" {} {:>16} {}\n", e.sha256, e.size, e.path));
        }
        b
    }

    fn description(&self, i: usize) -> String {
        let s = &self.st.suites[i];
        if self.st.flavour == Flavour::Ubuntu {
            return if s.name.ends_with("-updates") {
                "Ubuntu Noble Updates".to_string()
            } else {
                "Ubuntu Noble 24.04".to_string()
            };
        }
        let field = self.st.suite_field(&s.name);
        match field.as_str() {
            "unstable" => "Debian x.y Unstable - Not Released".to_string(),
            "testing" => "Debian x.y Testing distribution - Not Released".to_string(),
            "stable" | "oldstable" => {
                format!("Debian {} Released", s.version.as_deref().unwrap_or("x.y"))
            }
            "experimental" => {
                "Experimental packages - not released; use at your own risk.".to_string()
            }
            _ if s.name.ends_with("-updates") => format!(
                "Debian {} - Updates",
                deb_number(s.name.trim_end_matches("-updates"))
            ),
            _ => format!("Debian {}", s.codename),
        }
    }

    fn write_release(&mut self, i: usize) -> io::Result<()> {
        let t = self.st.time();
        let body = self.release_body(i);
        let sd = self.st.suite_dir(i);
        self.write_file(&format!("{sd}/Release"), body.as_bytes(), t)?;
        self.write_file(&format!("{sd}/InRelease"), clearsign(&body).as_bytes(), t)?;
        let sig = format!(
            "-----BEGIN PGP SIGNATURE-----\n\nfake {}\n-----END PGP SIGNATURE-----\n",
            sha256_hex(body.as_bytes())
        );
        self.write_file(&format!("{sd}/Release.gpg"), sig.as_bytes(), t)
    }

    /// A new dated installer build for suite `i`: its image files, `current` repointed,
    /// the previous dated directory deleted next round.
    fn new_installer(&mut self, i: usize, date: &str) -> io::Result<()> {
        let t = self.st.time();
        let sd = self.st.suite_dir(i);
        let archs: Vec<String> = INSTALLER_ARCHS
            .iter()
            .filter(|a| self.st.suites[i].archs.iter().any(|x| x == *a))
            .map(|a| a.to_string())
            .collect();
        let mut inst = Installer {
            date: date.to_string(),
            images: BTreeMap::new(),
            sums: BTreeMap::new(),
        };
        for a in &archs {
            let base = format!("{sd}/main/installer-{a}/{date}/images");
            let mut rng = Rng::new(mix(self.st.seed, fnv1a(base.as_bytes())));
            let mut files: Vec<(String, Vec<u8>)> = Vec::new();
            for (p, lo) in [
                ("netboot/netboot.tar.gz".to_string(), 3000),
                (format!("netboot/debian-installer/{a}/linux"), 2000),
                ("cdrom/vmlinuz".to_string(), 2000),
                ("cdrom/initrd.gz".to_string(), 2500),
            ] {
                let n = rng.range(lo, lo + 1500) as usize;
                files.push((p, rng.bytes(n)));
            }
            let manifest: String = files
                .iter()
                .map(|(p, _)| format!("{p:<40} installer image for {a}\n"))
                .collect();
            files.push(("MANIFEST".to_string(), manifest.into_bytes()));
            files.sort();
            let mut sums = String::new();
            let mut images = Vec::new();
            for (p, data) in &files {
                self.write_file(&format!("{base}/{p}"), data, t)?;
                sums.push_str(&format!("{}  ./{p}\n", sha256_hex(data)));
                images.push((p.clone(), data.len() as u64));
            }
            self.write_file(&format!("{base}/SHA256SUMS"), sums.as_bytes(), t)?;
            inst.sums
                .insert(a.clone(), (sha256_hex(sums.as_bytes()), sums.len() as u64));
            inst.images.insert(a.clone(), images);
            self.replace_symlink(&format!("{sd}/main/installer-{a}/current"), date, t)?;
        }
        if let Some(old) = self.st.suites[i].installer.replace(inst) {
            for a in old.images.keys() {
                self.st.doomed_dirs.push((
                    format!("{sd}/main/installer-{a}/{}", old.date),
                    self.st.round + 1,
                ));
            }
        }
        self.st.suites[i].dirty = true;
        Ok(())
    }

    fn write_indices_dir(&mut self) -> io::Result<()> {
        let t = self.st.time();
        let mut all: BTreeMap<&String, &Source> = BTreeMap::new();
        for s in &self.st.suites {
            for name in s.packages.keys() {
                all.insert(name, &self.st.sources[name]);
            }
        }
        let mut maint = String::new();
        let mut comps: BTreeMap<&str, String> = BTreeMap::new();
        for (name, src) in &all {
            maint.push_str(&format!("{name:<30} {}\n", self.st.maintainer(src.maint)));
            comps
                .entry(src.comp.as_str())
                .or_default()
                .push_str(&format!("./{}\n", pool_dir(name, &src.comp)));
        }
        let mut files = vec![("indices/Maintainers".to_string(), maint.into_bytes())];
        for (c, text) in comps {
            files.push((
                format!("indices/files/components/{c}.list"),
                text.into_bytes(),
            ));
        }
        for (rel, data) in files {
            self.write_if_changed(&rel, &data, t)?;
        }
        Ok(())
    }

    /// `extrafiles`: sha256sum lines of every regular file outside dists, zzz-dists, pool,
    /// project/trace, ls-lR.gz and extrafiles itself, fake-clearsigned.
    fn write_extrafiles(&mut self) -> io::Result<()> {
        let mut files = Vec::new();
        walk_extra(&self.dir, "", &mut files)?;
        files.sort();
        let mut body = String::new();
        for f in &files {
            let data = fs::read(self.dir.join(f))?;
            body.push_str(&format!("{}  {f}\n", sha256_hex(&data)));
        }
        self.write_if_changed("extrafiles", clearsign(&body).as_bytes(), self.st.time())?;
        Ok(())
    }

    fn write_traces(&mut self) -> io::Result<()> {
        let t = self.st.time();
        let (host, maint) = match self.st.flavour {
            Flavour::Debian => (
                "ftp-master.debian.org",
                "Debian FTP Masters <ftpmaster@ftp-master.debian.org>",
            ),
            Flavour::Ubuntu => ("ftpmaster.internal", "Ubuntu Archive <archive@ubuntu.com>"),
        };
        let mut archs: BTreeSet<String> = BTreeSet::new();
        for s in &self.st.suites {
            archs.extend(s.archs.iter().cloned());
        }
        archs.insert("source".to_string());
        if self.st.flavour == Flavour::Debian {
            archs.insert("all".to_string());
        }
        let text = format!(
            "{}\nDate: {}\nArchive serial: {}\nCreator: dak\nRunning on host: {host}\n\
             Maintainer: {maint}\nSuites: {}\nArchitectures: {}\n",
            ctime(t),
            rfc2822(t, "+0000"),
            self.serial(),
            self.suites().join(" "),
            archs.into_iter().collect::<Vec<_>>().join(" ")
        );
        self.write_file("project/trace/master", text.as_bytes(), t)?;
        self.write_file(
            &format!("project/trace/{}", "ftp-master.debian.org"),
            text.as_bytes(),
            t,
        )
    }

    /// `ls -lR` of the tree as it is now (TZ=UTC, LC_ALL=C), gzipped into `ls-lR.gz`.
    fn write_ls_lr(&mut self) -> io::Result<()> {
        let mut tmp = state_path(&self.dir).into_os_string();
        tmp.push(".ls-lR");
        let tmp = PathBuf::from(tmp);
        if fs::symlink_metadata(self.dir.join("ls-lR.gz")).is_err() {
            // The first listing names ls-lR.gz too, as every later one does.
            self.write_file("ls-lR.gz", &gzip(b""), self.st.time())?;
        }
        let out = File::create(&tmp)?;
        let status = Command::new("ls")
            .arg("-lR")
            .current_dir(&self.dir)
            .env("TZ", "UTC")
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(out)
            .status()?;
        if !status.success() {
            let _ = fs::remove_file(&tmp);
            return Err(io::Error::other(format!(
                "ls -lR in {}: {status}",
                self.dir.display()
            )));
        }
        let raw = fs::read(&tmp)?;
        fs::remove_file(&tmp)?;
        self.write_file("ls-lR.gz", &gzip(&raw), self.st.time())
    }

    fn save(&self) -> io::Result<()> {
        let data = serde_json::to_vec(&self.st).map_err(io::Error::other)?;
        let path = state_path(&self.dir);
        let mut tmp = path.clone().into_os_string();
        tmp.push(".new");
        fs::write(&tmp, data)?;
        fs::rename(&tmp, &path)
    }

    // ---- file helpers -------------------------------------------------------------------

    /// Write `rel` (temp + rename), mtime `t`.
    fn write_file(&self, rel: &str, data: &[u8], t: i64) -> io::Result<()> {
        let p = self.dir.join(rel);
        let parent = p.parent().expect("parent");
        fs::create_dir_all(parent)?;
        let tmp = parent.join(format!(
            ".{}.new",
            p.file_name().expect("name").to_string_lossy()
        ));
        write_at(&tmp, data, t)?;
        fs::rename(&tmp, &p)
    }

    fn write_if_changed(&self, rel: &str, data: &[u8], t: i64) -> io::Result<bool> {
        if fs::read(self.dir.join(rel)).is_ok_and(|old| old == data) {
            return Ok(false);
        }
        self.write_file(rel, data, t)?;
        Ok(true)
    }

    /// Make `rel` a symlink to `target` (temp + rename); false when it already was.
    fn replace_symlink(&self, rel: &str, target: &str, t: i64) -> io::Result<bool> {
        let p = self.dir.join(rel);
        if fs::read_link(&p).is_ok_and(|old| old == Path::new(target)) {
            return Ok(false);
        }
        let parent = p.parent().expect("parent");
        fs::create_dir_all(parent)?;
        let tmp = parent.join(format!(
            ".{}.new",
            p.file_name().expect("name").to_string_lossy()
        ));
        let _ = fs::remove_file(&tmp);
        symlink(target, &tmp)?;
        set_symlink_mtime(&tmp, t);
        fs::rename(&tmp, &p)?;
        Ok(true)
    }

    /// `rel` with every symlink resolved, relative to the top; None when it is no file.
    fn resolve(&self, rel: &str) -> Option<String> {
        let top = fs::canonicalize(&self.dir).ok()?;
        let p = fs::canonicalize(self.dir.join(rel)).ok()?;
        if !p.is_file() {
            return None;
        }
        Some(p.strip_prefix(&top).ok()?.to_string_lossy().into_owned())
    }

    fn suite_index(&self, suite: &str) -> io::Result<usize> {
        let name = self
            .st
            .aliases
            .get(suite)
            .cloned()
            .unwrap_or_else(|| suite.to_string());
        self.st
            .idx(&name)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no suite {suite}")))
    }

    /// The by-hash file holding the canonical index `rel`.
    fn by_hash_of(&self, rel: &str) -> io::Result<String> {
        let data = fs::read(self.dir.join(rel))?;
        let (dir, _) = split_rel(rel);
        Ok(format!("{dir}/by-hash/SHA256/{}", sha256_hex(&data)))
    }
}

fn write_at(path: &Path, data: &[u8], t: i64) -> io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(data)?;
    f.set_modified(UNIX_EPOCH + Duration::from_secs(t as u64))
}

fn set_symlink_mtime(path: &Path, t: i64) {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return;
    };
    let ts = libc::timespec {
        tv_sec: t as libc::time_t,
        tv_nsec: 0,
    };
    let times = [ts, ts];
    // SAFETY: a valid NUL-terminated path and two timespecs, as utimensat(2) wants.
    unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        );
    }
}

fn remove_all(p: &Path) -> io::Result<()> {
    match fs::remove_dir_all(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn is_file(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok_and(|m| m.is_file())
}

fn split_rel(rel: &str) -> (&str, &str) {
    rel.rsplit_once('/').unwrap_or(("", rel))
}

fn join_rel(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

fn walk_index_files(top: &Path, rel: &str, out: &mut Vec<String>) -> io::Result<()> {
    for e in fs::read_dir(top.join(rel))? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let r = format!("{rel}/{name}");
        let ft = e.file_type()?;
        if ft.is_dir() {
            if name == "by-hash" || name.starts_with("installer-") {
                continue;
            }
            walk_index_files(top, &r, out)?;
        } else {
            out.push(r);
        }
    }
    Ok(())
}

fn walk_extra(top: &Path, rel: &str, out: &mut Vec<String>) -> io::Result<()> {
    for e in fs::read_dir(top.join(rel))? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let r = join_rel(rel, &name);
        if matches!(
            r.as_str(),
            "dists" | "zzz-dists" | "pool" | "project/trace" | "ls-lR.gz" | "extrafiles"
        ) || name.starts_with('.')
        {
            continue;
        }
        let ft = e.file_type()?;
        if ft.is_dir() {
            walk_extra(top, &r, out)?;
        } else if ft.is_file() {
            out.push(r);
        }
    }
    Ok(())
}

fn clearsign(body: &str) -> String {
    format!(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{body}\
         -----BEGIN PGP SIGNATURE-----\n\nfake\n-----END PGP SIGNATURE-----\n"
    )
}

// ---------------------------------------------------------------------------------------
// The pool

fn pool_prefix(name: &str) -> &str {
    if name.starts_with("lib") && name.len() > 3 {
        &name[..4]
    } else {
        &name[..1]
    }
}

fn pool_dir(name: &str, comp: &str) -> String {
    format!("pool/{comp}/{}/{name}", pool_prefix(name))
}

fn deb_name(b: &Bin, ver: &str, arch: &str) -> String {
    let ext = if b.udeb { "udeb" } else { "deb" };
    format!("{}_{ver}_{arch}.{ext}", b.name)
}

/// The source's files: `.dsc`, `.orig.tar.xz`, `.debian.tar.xz`.
fn source_files(name: &str, v: &SrcVer) -> [String; 3] {
    let ver = v.version();
    [
        format!("{name}_{ver}.dsc"),
        format!("{name}_{}.orig.tar.xz", v.up),
        format!("{name}_{ver}.debian.tar.xz"),
    ]
}

/// Every pool file version `v` of source `name` has in a suite of architectures `archs`.
fn version_files(name: &str, src: &Source, v: &SrcVer, archs: &[String], out: &mut Vec<String>) {
    let d = pool_dir(name, &src.comp);
    for f in source_files(name, v) {
        out.push(format!("{d}/{f}"));
    }
    let ver = v.version();
    for b in &src.bins {
        if b.all {
            out.push(format!("{d}/{}", deb_name(b, &ver, "all")));
        } else {
            for a in &v.archs {
                if archs.contains(a) {
                    out.push(format!("{d}/{}", deb_name(b, &ver, a)));
                }
            }
        }
    }
}

/// A pool file's bytes, from (seed, path): a few KB (at most one 4 KiB block).
fn pool_content(seed: u64, path: &str) -> Vec<u8> {
    let mut rng = Rng::new(mix(seed, fnv1a(path.as_bytes())));
    let name = path.rsplit('/').next().unwrap_or(path);
    let (lo, hi, head): (u64, u64, Vec<u8>) = if name.ends_with(".dsc") {
        (
            600,
            1500,
            format!(
                "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nFormat: 3.0 (quilt)\nSource: {name}\n"
            )
            .into_bytes(),
        )
    } else if name.ends_with(".orig.tar.xz") || name.ends_with(".debian.tar.xz") {
        (800, 4000, b"\xfd7zXZ\0".to_vec())
    } else {
        (200, 3800, b"!<arch>\ndebian-binary   ".to_vec())
    };
    let size = rng.range(lo, hi) as usize;
    let mut data = head;
    data.truncate(size);
    let rest = size - data.len();
    data.extend_from_slice(&rng.bytes(rest));
    data
}

fn write_pool(dir: &Path, seed: u64, paths: &[String], t: i64) -> io::Result<Vec<PoolEntry>> {
    let chunk = (paths.len() / (threads() * 8)).max(64);
    let chunks: Vec<&[String]> = paths.chunks(chunk).collect();
    let results = par_map(&chunks, |chunk| -> io::Result<Vec<PoolEntry>> {
        let mut out = Vec::with_capacity(chunk.len());
        let mut last_dir: Option<&str> = None;
        for p in chunk.iter() {
            let (d, _) = split_rel(p);
            if last_dir != Some(d) {
                fs::create_dir_all(dir.join(d))?;
                last_dir = Some(d);
            }
            let data = pool_content(seed, p);
            write_at(&dir.join(p), &data, t)?;
            out.push(PoolEntry(
                data.len() as u64,
                sha256_hex(&data),
                hex(&md5(&data)),
            ));
        }
        Ok(out)
    });
    let mut all = Vec::with_capacity(paths.len());
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

// ---------------------------------------------------------------------------------------
// Indices

enum Job {
    Packages(String, String),
    Udebs(String),
    Sources(String),
    Translation(String),
    /// Component (None: the suite's top, all components), architecture.
    Contents(Option<String>, String),
    Dep11(String, String),
    /// `<comp>/<binary-arch|source>/Release`.
    SubRelease(String, String),
}

impl Job {
    /// Sorts the biggest jobs first: main's before the other components', Sources (the
    /// largest index), Packages, Translation, Contents, then the small ones.
    fn weight(&self) -> (bool, u8) {
        let (comp, k) = match self {
            Job::Sources(c) => (Some(c), 0),
            Job::Packages(c, _) => (Some(c), 1),
            Job::Translation(c) => (Some(c), 2),
            Job::Contents(c, _) => (c.as_ref(), 3),
            Job::Udebs(_) => (None, 4),
            Job::Dep11(c, _) | Job::SubRelease(c, _) => (Some(c), 5),
        };
        (comp.is_some_and(|c| c != "main"), k)
    }
}

/// One file a Release lists: `data` is what to store; None for the uncompressed variants
/// not on disk (`on_disk` false) and for an unchanged index kept as it is (`on_disk`).
struct Out {
    rel: String,
    data: Option<Vec<u8>>,
    on_disk: bool,
    size: u64,
    sha256: String,
}

/// What a job needs besides the state: the archive's top, to see what is stored already.
struct JobCtx<'a> {
    top: &'a Path,
    st: &'a State,
    i: usize,
}

impl JobCtx<'_> {
    /// The suite's Release entry for `rel` from the last time the suite was written.
    fn previous(&self, rel: &str) -> Option<&Listed> {
        let e = &self.st.suites[self.i].entries;
        e.binary_search_by(|x| x.path.as_str().cmp(rel))
            .ok()
            .map(|k| &e[k])
    }
}

/// `rel` (listed, not on disk) and its .gz / .xz forms. When `text` is what the last
/// Release listed for `rel` and the compressed forms are still stored, they are kept
/// rather than compressed again.
fn compressed(ctx: &JobCtx, rel: &str, text: &[u8], gz: bool, xz: bool) -> Vec<Out> {
    let sha = sha256_hex(text);
    let mut v = vec![Out {
        rel: rel.to_string(),
        data: None,
        on_disk: false,
        size: text.len() as u64,
        sha256: sha.clone(),
    }];
    let unchanged = ctx
        .previous(rel)
        .is_some_and(|p| p.sha256 == sha && p.size == text.len() as u64);
    let sd = ctx.st.suite_dir(ctx.i);
    let (parent, _) = split_rel(rel);
    for (ext, on) in [("gz", gz), ("xz", xz)] {
        if !on {
            continue;
        }
        let crel = format!("{rel}.{ext}");
        if unchanged {
            if let Some(p) = ctx.previous(&crel) {
                let bh = format!("{}/by-hash/SHA256/{}", join_rel(&sd, parent), p.sha256);
                if is_file(&ctx.top.join(bh)) {
                    v.push(Out {
                        rel: crel,
                        data: None,
                        on_disk: true,
                        size: p.size,
                        sha256: p.sha256.clone(),
                    });
                    continue;
                }
            }
        }
        let data = if ext == "gz" { gzip(text) } else { xzip(text) };
        v.push(Out {
            rel: crel,
            size: data.len() as u64,
            sha256: sha256_hex(&data),
            data: Some(data),
            on_disk: true,
        });
    }
    v
}

fn run_job(ctx: &JobCtx, job: &Job) -> Vec<Out> {
    let st = ctx.st;
    let s = &st.suites[ctx.i];
    match job {
        Job::Packages(comp, arch) => {
            let text = packages_text(st, s, comp, arch, false);
            compressed(
                ctx,
                &format!("{comp}/binary-{arch}/Packages"),
                text.as_bytes(),
                true,
                true,
            )
        }
        Job::Udebs(arch) => {
            let text = packages_text(st, s, "main", arch, true);
            compressed(
                ctx,
                &format!("main/debian-installer/binary-{arch}/Packages"),
                text.as_bytes(),
                false,
                true,
            )
        }
        Job::Sources(comp) => {
            let text = sources_text(st, s, comp);
            compressed(
                ctx,
                &format!("{comp}/source/Sources"),
                text.as_bytes(),
                true,
                true,
            )
        }
        Job::Translation(comp) => {
            let text = translation_text(st, s, comp);
            compressed(
                ctx,
                &format!("{comp}/i18n/Translation-en"),
                text.as_bytes(),
                false,
                true,
            )
        }
        Job::Contents(comp, arch) => {
            let text = contents_text(st, s, comp.as_deref(), arch);
            let rel = match comp {
                Some(c) => format!("{c}/Contents-{arch}"),
                None => format!("Contents-{arch}"),
            };
            compressed(ctx, &rel, text.as_bytes(), true, false)
        }
        Job::Dep11(comp, arch) => {
            let text = dep11_text(st, s, comp, arch);
            compressed(
                ctx,
                &format!("{comp}/dep11/Components-{arch}.yml"),
                text.as_bytes(),
                true,
                false,
            )
        }
        Job::SubRelease(comp, sub) => {
            let origin = if st.flavour == Flavour::Debian {
                "Debian"
            } else {
                "Ubuntu"
            };
            let mut text = format!(
                "Archive: {}\nOrigin: {origin}\nLabel: {origin}\n",
                st.suite_field(&s.name)
            );
            if let Some(v) = &s.version {
                text.push_str(&format!("Version: {v}\n"));
            }
            let arch = sub.strip_prefix("binary-").unwrap_or(sub);
            text.push_str(&format!(
                "Acquire-By-Hash: yes\nComponent: {comp}\nArchitecture: {arch}\n"
            ));
            let data = text.into_bytes();
            vec![Out {
                rel: format!("{comp}/{sub}/Release"),
                on_disk: true,
                size: data.len() as u64,
                sha256: sha256_hex(&data),
                data: Some(data),
            }]
        }
    }
}

/// Each binary of the suite's `comp` in `arch`'s Packages: (source, version, bin, the
/// architecture it is built for). Arch-all ones are in every arch's (and `all`'s).
fn binaries_in<'a>(
    st: &'a State,
    s: &'a Suite,
    comp: Option<&'a str>,
    arch: &'a str,
    udeb: bool,
) -> impl Iterator<Item = (&'a String, &'a SrcVer, &'a Bin, &'a str)> + 'a {
    s.packages.iter().flat_map(move |(name, v)| {
        let src = &st.sources[name];
        let in_comp = comp.is_none_or(|c| src.comp == c);
        src.bins.iter().filter_map(move |b| {
            if !in_comp || b.udeb != udeb {
                return None;
            }
            if b.all {
                Some((name, v, b, "all"))
            } else if arch != "all" && v.archs.iter().any(|a| a == arch) {
                Some((name, v, b, arch))
            } else {
                None
            }
        })
    })
}

fn section_of(src: &Source, b: &Bin) -> String {
    let sec = if b.udeb {
        "debian-installer"
    } else if b.name.ends_with("-doc") {
        "doc"
    } else if b.name.ends_with("-dev") {
        "libdevel"
    } else if b.name.starts_with("python3-") {
        "python"
    } else {
        &src.section
    };
    if src.comp == "main" {
        sec.to_string()
    } else {
        format!("{}/{sec}", src.comp)
    }
}

fn packages_text(st: &State, s: &Suite, comp: &str, arch: &str, udeb: bool) -> String {
    let mut out = String::new();
    for (name, v, b, a) in binaries_in(st, s, Some(comp), arch, udeb) {
        let src = &st.sources[name];
        let ver = v.version();
        let path = format!("{}/{}", pool_dir(name, &src.comp), deb_name(b, &ver, a));
        let Some(e) = st.pool.get(&path) else {
            continue;
        };
        let (short, long) = describe(st.seed, &b.name);
        out.push_str(&format!("Package: {}\n", b.name));
        if b.name != *name {
            out.push_str(&format!("Source: {name}\n"));
        }
        out.push_str(&format!(
            "Version: {ver}\nInstalled-Size: {}\nMaintainer: {}\nArchitecture: {a}\n",
            e.0 * 3 / 1024 + 4,
            st.maintainer(src.maint)
        ));
        if !b.all {
            out.push_str("Depends: libc6 (>= 2.36)\n");
        }
        out.push_str(&format!("Description: {short}\n"));
        if !udeb {
            out.push_str(&format!(
                "Description-md5: {}\n",
                hex(&md5(description_en(&short, &long).as_bytes()))
            ));
        }
        out.push_str(&format!(
            "Section: {}\nPriority: optional\nFilename: {path}\nSize: {}\nSHA256: {}\n\n",
            section_of(src, b),
            e.0,
            e.1
        ));
    }
    out
}

fn sources_text(st: &State, s: &Suite, comp: &str) -> String {
    let mut out = String::new();
    for (name, v) in &s.packages {
        let src = &st.sources[name];
        if src.comp != comp {
            continue;
        }
        let dir = pool_dir(name, comp);
        let files = source_files(name, v);
        let entries: Vec<(&String, &PoolEntry)> = files
            .iter()
            .filter_map(|f| st.pool.get(&format!("{dir}/{f}")).map(|e| (f, e)))
            .collect();
        if entries.len() != files.len() {
            continue;
        }
        let bins: Vec<&str> = src.bins.iter().map(|b| b.name.as_str()).collect();
        let mut archs = Vec::new();
        if src.bins.iter().any(|b| !b.all) {
            archs.push("any");
        }
        if src.bins.iter().any(|b| b.all) {
            archs.push("all");
        }
        out.push_str(&format!(
            "Package: {name}\nBinary: {}\nVersion: {}\nMaintainer: {}\n\
             Build-Depends: debhelper-compat (= 13)\nArchitecture: {}\n\
             Standards-Version: 4.7.0\nFormat: 3.0 (quilt)\nFiles:\n",
            bins.join(", "),
            v.version(),
            st.maintainer(src.maint),
            archs.join(" ")
        ));
        for (f, e) in &entries {
            out.push_str(&format!(" {} {} {f}\n", e.2, e.0));
        }
        out.push_str("Checksums-Sha256:\n");
        for (f, e) in &entries {
            out.push_str(&format!(" {} {} {f}\n", e.1, e.0));
        }
        out.push_str(&format!(
            "Homepage: https://{name}.example.org/\nPackage-List:\n"
        ));
        for b in &src.bins {
            let kind = if b.udeb { "udeb" } else { "deb" };
            let arch = if b.all { "all" } else { "any" };
            out.push_str(&format!(
                " {} {kind} {} optional arch={arch}\n",
                b.name,
                section_of(src, b)
            ));
        }
        out.push_str(&format!(
            "Directory: {dir}\nPriority: source\nSection: {}\n\n",
            if comp == "main" {
                src.section.clone()
            } else {
                format!("{comp}/{}", src.section)
            }
        ));
    }
    out
}

fn translation_text(st: &State, s: &Suite, comp: &str) -> String {
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for name in s.packages.keys() {
        let src = &st.sources[name];
        if src.comp == comp {
            names.extend(src.bins.iter().filter(|b| !b.udeb).map(|b| b.name.as_str()));
        }
    }
    let mut out = String::new();
    for n in names {
        let (short, long) = describe(st.seed, n);
        let d = description_en(&short, &long);
        out.push_str(&format!(
            "Package: {n}\nDescription-md5: {}\nDescription-en: {d}\n",
            hex(&md5(d.as_bytes()))
        ));
    }
    out
}

fn contents_text(st: &State, s: &Suite, comp: Option<&str>, arch: &str) -> String {
    let mut lines: Vec<(String, String)> = Vec::new();
    for (name, _, b, a) in binaries_in(st, s, comp, arch, false) {
        // Debian's per-component Contents-<arch> leave arch-all packages to Contents-all.
        if comp.is_some() && (a == "all") != (arch == "all") {
            continue;
        }
        let loc = format!("{}/{}", section_of(&st.sources[name], b), b.name);
        lines.push((format!("usr/share/doc/{}/copyright", b.name), loc.clone()));
        if b.name.starts_with("lib") {
            if a != "all" {
                let triplet = match a {
                    "amd64" => "x86_64-linux-gnu",
                    "arm64" => "aarch64-linux-gnu",
                    "i386" => "i386-linux-gnu",
                    other => other,
                };
                let so = b.name.trim_end_matches("-dev");
                let file = if b.name.ends_with("-dev") {
                    "so".to_string()
                } else {
                    "so.1".to_string()
                };
                lines.push((format!("usr/lib/{triplet}/{so}.{file}"), loc));
            }
        } else if !b.name.ends_with("-doc") {
            lines.push((format!("usr/bin/{}", b.name), loc));
        }
    }
    lines.sort();
    let mut out = String::new();
    for (p, loc) in lines {
        out.push_str(&format!("{p:<59} {loc}\n"));
    }
    out
}

fn dep11_text(st: &State, s: &Suite, comp: &str, arch: &str) -> String {
    let mut out = format!(
        "---\nFile: DEP-11\nVersion: '1.0'\nOrigin: {}-{}-{comp}\n\
         MediaBaseUrl: https://appstream.example.org/media/pool\nArchitecture: {arch}\n",
        if st.flavour == Flavour::Debian {
            "debian"
        } else {
            "ubuntu"
        },
        s.name
    );
    for (_, _, b, _) in binaries_in(st, s, Some(comp), arch, false)
        .filter(|(_, _, b, _)| !b.all)
        .take(3)
    {
        let (short, _) = describe(st.seed, &b.name);
        out.push_str(&format!(
            "---\nType: desktop-application\nID: org.example.{0}\nPackage: {0}\n\
             Name:\n  C: {0}\nSummary:\n  C: {short}\n",
            b.name
        ));
    }
    out
}

fn description_en(short: &str, long: &[String]) -> String {
    let mut d = format!("{short}\n");
    for l in long {
        d.push_str(&format!(" {l}\n"));
    }
    d
}

const WORDS: [&str; 32] = [
    "fast",
    "small",
    "library",
    "tool",
    "network",
    "daemon",
    "parser",
    "format",
    "data",
    "secure",
    "simple",
    "portable",
    "graphical",
    "terminal",
    "archive",
    "mirror",
    "config",
    "plugin",
    "shared",
    "runtime",
    "modules",
    "files",
    "text",
    "images",
    "sound",
    "games",
    "kernel",
    "client",
    "server",
    "utility",
    "manager",
    "extension",
];

/// A binary's (short description, long description lines), from its name.
fn describe(seed: u64, name: &str) -> (String, Vec<String>) {
    let mut rng = Rng::new(mix(seed, fnv1a(name.as_bytes()) ^ 0xde5c));
    let mut w = || WORDS[rng.below(WORDS.len() as u64) as usize];
    let short = format!("{} {} {} for {}", w(), w(), w(), w());
    let mut long = Vec::new();
    for _ in 0..2 {
        long.push(format!(
            "This package provides the {} {} {} of {name}, a {} {} {}.",
            w(),
            w(),
            w(),
            w(),
            w(),
            w()
        ));
    }
    (short, long)
}

fn lorem(seed: u64, key: &str, words: usize) -> String {
    let mut rng = Rng::new(mix(seed, fnv1a(key.as_bytes())));
    let mut s = String::new();
    for k in 0..words {
        s.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
        s.push(if k % 12 == 11 { '\n' } else { ' ' });
    }
    s.push('\n');
    s
}

const MAINTAINER_COUNT: usize = 24;

fn maintainer(flavour: Flavour, k: usize) -> String {
    const FIRST: [&str; 8] = [
        "Anna", "Bernd", "Chloe", "Dmitri", "Eva", "Farid", "Greta", "Hugo",
    ];
    const LAST: [&str; 3] = ["Example", "Sample", "Tester"];
    if flavour == Flavour::Ubuntu && k.is_multiple_of(2) {
        return "Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>".to_string();
    }
    let f = FIRST[k % FIRST.len()];
    let l = LAST[(k / FIRST.len()) % LAST.len()];
    format!(
        "{f} {l} <{}.{}@example.org>",
        f.to_lowercase(),
        l.to_lowercase()
    )
}

/// A source name from its id: three or more consonant-vowel syllables, a bijection of the
/// id (so names never repeat, not even after a removal).
fn name_of(seed: u64, id: u64) -> String {
    const C: &[u8; 20] = b"bcdfghjklmnprstvwxyz";
    const V: &[u8; 5] = b"aeiou";
    let low = id & 0x7_FFFF;
    let high = id >> 19;
    // An odd multiplier and an offset modulo 2^19: a bijection of the low 19 bits.
    let mut x = (low.wrapping_mul(0x9E37_79B1) + (seed & 0x7_FFFF)) & 0x7_FFFF;
    let mut s = String::new();
    for _ in 0..3 {
        let syl = (x % 100) as usize;
        x /= 100;
        s.push(C[syl / 5] as char);
        s.push(V[syl % 5] as char);
    }
    let mut h = high;
    while h > 0 {
        let syl = (h % 100) as usize;
        h /= 100;
        s.push(C[syl / 5] as char);
        s.push(V[syl % 5] as char);
    }
    s
}

// ---------------------------------------------------------------------------------------
// Small tools: PRNG, hashes, compression, dates, threads

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    /// splitmix64.
    fn u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.u64() % n
        }
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo)
    }
    fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.u64().to_le_bytes());
        }
        v.truncate(n);
        v
    }
}

fn mix(a: u64, b: u64) -> u64 {
    let mut r = Rng(a ^ b.rotate_left(32) ^ 0x5851_F42D_4C95_7F2D);
    r.u64() ^ b
}

fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

fn hex(data: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(data.len() * 2);
    for &b in data {
        s.push(D[(b >> 4) as usize] as char);
        s.push(D[(b & 15) as usize] as char);
    }
    s
}

fn sha256_hex(data: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
}

/// MD5 (RFC 1321), for the `Files:` field of Sources and `Description-md5:`.
fn md5(data: &[u8]) -> [u8; 16] {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    const K: [u32; 64] = [
        0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
        0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
        0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
        0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
        0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
        0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
        0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
        0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
        0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
        0xeb86d391,
    ];
    let mut h: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_le_bytes());
    for chunk in msg.chunks_exact(64) {
        let mut m = [0u32; 16];
        for (k, w) in m.iter_mut().enumerate() {
            *w = u32::from_le_bytes(chunk[k * 4..k * 4 + 4].try_into().expect("4 bytes"));
        }
        let [mut a, mut b, mut c, mut d] = h;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f2 = f.wrapping_add(a).wrapping_add(K[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f2.rotate_left(S[i]));
        }
        h[0] = h[0].wrapping_add(a);
        h[1] = h[1].wrapping_add(b);
        h[2] = h[2].wrapping_add(c);
        h[3] = h[3].wrapping_add(d);
    }
    let mut out = [0u8; 16];
    for (k, w) in h.iter().enumerate() {
        out[k * 4..k * 4 + 4].copy_from_slice(&w.to_le_bytes());
    }
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
    e.write_all(data).expect("gzip to memory");
    e.finish().expect("gzip to memory")
}

fn xzip(data: &[u8]) -> Vec<u8> {
    let mut e = xz2::write::XzEncoder::new(Vec::new(), 0);
    e.write_all(data).expect("xz to memory");
    e.finish().expect("xz to memory")
}

fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4)
}

/// `f` over `items` on a few threads, results in order.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|sc| {
        for _ in 0..threads().min(items.len()) {
            sc.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= items.len() {
                    break;
                }
                let r = f(&items[k]);
                *slots[k].lock().expect("slot") = Some(r);
            });
        }
    });
    slots
        .into_iter()
        .map(|m| m.into_inner().expect("slot").expect("computed"))
        .collect()
}

const fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

struct Tm {
    y: i64,
    mo: i64,
    d: i64,
    h: i64,
    mi: i64,
    s: i64,
    wd: &'static str,
}

fn tm(t: i64) -> Tm {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    let (y, mo, d) = civil_from_days(days);
    Tm {
        y,
        mo,
        d,
        h: secs / 3600,
        mi: secs / 60 % 60,
        s: secs % 60,
        wd: WEEKDAYS[days.rem_euclid(7) as usize],
    }
}

/// `Sun, 01 Nov 2026 01:52:00 UTC` (Debian's Release form) or `... +0000`.
fn rfc2822(t: i64, zone: &str) -> String {
    let x = tm(t);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} {zone}",
        x.wd,
        x.d,
        MONTHS[(x.mo - 1) as usize],
        x.y,
        x.h,
        x.mi,
        x.s
    )
}

/// `date -u`'s form: `Sun Nov  1 01:52:00 UTC 2026`.
fn ctime(t: i64) -> String {
    let x = tm(t);
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} UTC {}",
        x.wd,
        MONTHS[(x.mo - 1) as usize],
        x.d,
        x.h,
        x.mi,
        x.s,
        x.y
    )
}

fn ymd(t: i64) -> String {
    let x = tm(t);
    format!("{:04}{:02}{:02}", x.y, x.mo, x.d)
}

fn pdiff_stamp(t: i64) -> String {
    let x = tm(t);
    format!(
        "{:04}-{:02}-{:02}-{:02}{:02}.{:02}",
        x.y, x.mo, x.d, x.h, x.mi, x.s
    )
}

/// `YYYYMMDDNN`, NN the 6-hour slot of the day.
fn serial_of(t: i64) -> String {
    let x = tm(t);
    format!("{:04}{:02}{:02}{:02}", x.y, x.mo, x.d, x.h / 6)
}
