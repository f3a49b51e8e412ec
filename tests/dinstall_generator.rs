//! Self-check of the archive generator (tests/common/dinstall.rs), from the outside: the
//! Releases, indices, pool, by-hash, installer, extrafiles and ls-lR.gz it writes are read
//! back here with their own small parsers and checked against the files on disk, round
//! after round.

mod common;

use common::dinstall::{state_path, Archive, RoundSummary, CHANGING_DOC};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

// ---- small readers ---------------------------------------------------------------------

fn sha256(data: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decompress(path: &Path) -> Vec<u8> {
    let raw = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let name = path.to_string_lossy();
    let mut out = Vec::new();
    if name.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap_or_else(|e| panic!("gunzip {name}: {e}"));
    } else if name.ends_with(".xz") {
        xz2::read::XzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap_or_else(|e| panic!("unxz {name}: {e}"));
    } else {
        out = raw;
    }
    out
}

/// The signed text of a clearsigned file (the whole text when it is not clearsigned).
fn unclearsign(text: &str) -> String {
    let Some(rest) = text.strip_prefix("-----BEGIN PGP SIGNED MESSAGE-----\n") else {
        return text.to_string();
    };
    let (_, body) = rest.split_once("\n\n").expect("armour header ends");
    let (body, _) = body
        .split_once("-----BEGIN PGP SIGNATURE-----")
        .expect("signature block");
    body.to_string()
}

fn field(body: &str, name: &str) -> Option<String> {
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_string))
}

/// (path, size, sha256) of a Release's SHA256 field.
fn release_entries(body: &str) -> Vec<(String, u64, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for l in body.lines() {
        if l == "SHA256:" {
            inside = true;
        } else if inside && l.starts_with(' ') {
            let w: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(w.len(), 3, "Release line {l:?}");
            out.push((w[2].to_string(), w[1].parse().unwrap(), w[0].to_string()));
        } else {
            inside = false;
        }
    }
    out
}

/// deb822 paragraphs; a multi-line field's value is its lines joined with '\n'.
fn paragraphs(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    let mut cur: BTreeMap<String, String> = BTreeMap::new();
    let mut last = String::new();
    for l in text.lines() {
        if l.is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else if let Some(cont) = l.strip_prefix(' ') {
            let v = cur.get_mut(&last).expect("continuation after a field");
            v.push('\n');
            v.push_str(cont);
        } else {
            let (k, v) = l
                .split_once(':')
                .unwrap_or_else(|| panic!("bad line {l:?}"));
            last = k.to_string();
            cur.insert(k.to_string(), v.trim().to_string());
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Every entry of the tree under `top` (symlinks not followed), relative paths ->
/// (kind: 'd' 'l' '-', size, symlink target).
fn walk(top: &Path) -> BTreeMap<String, (char, u64, String)> {
    fn rec(top: &Path, rel: &str, out: &mut BTreeMap<String, (char, u64, String)>) {
        for e in fs::read_dir(top.join(rel)).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let r = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let md = fs::symlink_metadata(top.join(&r)).unwrap();
            if md.file_type().is_symlink() {
                let t = fs::read_link(top.join(&r)).unwrap();
                out.insert(r, ('l', md.len(), t.to_string_lossy().into_owned()));
            } else if md.is_dir() {
                out.insert(r.clone(), ('d', 0, String::new()));
                rec(top, &r, out);
            } else {
                out.insert(r, ('-', md.len(), String::new()));
            }
        }
    }
    let mut out = BTreeMap::new();
    rec(top, "", &mut out);
    out
}

/// sha256 of a file, cached by (path, size, mtime, inode).
struct Hashes(HashMap<(String, u64, i64, u64), String>);

impl Hashes {
    fn of(&mut self, top: &Path, rel: &str) -> Option<(u64, String)> {
        let md = fs::metadata(top.join(rel)).ok()?;
        let key = (rel.to_string(), md.len(), md.mtime(), md.ino());
        if let Some(h) = self.0.get(&key) {
            return Some((md.len(), h.clone()));
        }
        let h = sha256(&fs::read(top.join(rel)).ok()?);
        self.0.insert(key, h.clone());
        Some((md.len(), h))
    }
}

// ---- the archive check -----------------------------------------------------------------

/// What [`check_archive`] read.
#[derive(Default)]
struct Seen {
    /// Pool files the Packages and Sources indices reference.
    pool: BTreeSet<String>,
    /// Canonical index (real path) -> the by-hash file it names.
    by_hash: BTreeMap<String, String>,
    /// Suite directory (real) -> its Release.
    releases: BTreeMap<String, String>,
    /// (pool path, md5 from a Sources' Files field).
    md5s: BTreeSet<(String, String)>,
}

/// Every suite reached through `dists/`: InRelease signs the Release's text; each SHA256
/// entry on disk has the listed size and hash and (but for the installer's) is stored
/// under by-hash, as a symlink to it (`symlinks`) or a hard link of it; each listed file
/// not on disk is an uncompressed variant that a listed .gz/.xz decompresses to; each pool
/// file a Packages or Sources lists exists with the listed size and hash.
fn check_archive(a: &Archive, symlinks: bool, hashes: &mut Hashes) -> Seen {
    let top = &a.dir;
    let real_top = fs::canonicalize(top).unwrap();
    let mut seen = Seen::default();
    let mut suite_dirs = BTreeSet::new();
    for e in fs::read_dir(top.join("dists")).unwrap() {
        let p = e.unwrap().path();
        if p.join("Release").exists() {
            let real = fs::canonicalize(&p).unwrap();
            let rel = real.strip_prefix(&real_top).unwrap();
            suite_dirs.insert(rel.to_string_lossy().into_owned());
        }
    }
    assert!(!suite_dirs.is_empty(), "no suite under dists/");
    for sd in &suite_dirs {
        let release = fs::read_to_string(top.join(sd).join("Release")).unwrap();
        let inrelease = fs::read_to_string(top.join(sd).join("InRelease")).unwrap();
        assert_eq!(
            unclearsign(&inrelease),
            release,
            "{sd}: InRelease signs another text"
        );
        assert!(
            top.join(sd).join("Release.gpg").is_file(),
            "{sd}: no Release.gpg"
        );
        assert_eq!(
            field(&release, "Acquire-By-Hash").as_deref(),
            Some("yes"),
            "{sd}"
        );
        let entries = release_entries(&release);
        assert!(
            entries.len() > 10,
            "{sd}: only {} Release entries",
            entries.len()
        );
        let listed: BTreeMap<&str, (u64, &str)> = entries
            .iter()
            .map(|(p, s, h)| (p.as_str(), (*s, h.as_str())))
            .collect();
        for (path, size, hash) in &entries {
            let rel = format!("{sd}/{path}");
            let full = top.join(&rel);
            if fs::symlink_metadata(&full).is_ok() {
                let (got_size, got_hash) = hashes.of(top, &rel).expect("readable");
                assert_eq!(
                    (got_size, got_hash.as_str()),
                    (*size, hash.as_str()),
                    "{rel}: not as its Release lists it"
                );
                if path.contains("installer-") {
                    continue;
                }
                let (parent, _) = rel.rsplit_once('/').unwrap();
                let bh = format!("{parent}/by-hash/SHA256/{hash}");
                let bh_md = fs::symlink_metadata(top.join(&bh))
                    .unwrap_or_else(|e| panic!("{rel}: its by-hash file {bh}: {e}"));
                assert!(bh_md.is_file(), "{bh} is not a regular file");
                let md = fs::symlink_metadata(&full).unwrap();
                if symlinks {
                    assert!(md.file_type().is_symlink(), "{rel} is not a symlink");
                    assert_eq!(
                        fs::read_link(&full).unwrap(),
                        Path::new(&format!("by-hash/SHA256/{hash}")),
                        "{rel}: symlink target"
                    );
                } else {
                    assert!(md.is_file(), "{rel} is not a regular file");
                    assert_eq!(md.ino(), bh_md.ino(), "{rel} is not a hard link of {bh}");
                }
                seen.by_hash.insert(rel.clone(), bh);
                // A compressed index decompresses to its listed uncompressed variant.
                for ext in [".gz", ".xz"] {
                    if let Some(base) = path.strip_suffix(ext) {
                        if let Some((usize_, uhash)) = listed.get(base) {
                            let data = decompress(&full);
                            assert_eq!(
                                (data.len() as u64, sha256(&data).as_str()),
                                (*usize_, *uhash),
                                "{rel} does not decompress to the listed {base}"
                            );
                        }
                    }
                }
                if path.ends_with("Packages.xz") || path.ends_with("Sources.xz") {
                    check_pool_refs(top, &rel, &decompress(&full), hashes, &mut seen);
                }
            } else {
                let has_compressed = [".gz", ".xz"].iter().any(|ext| {
                    let c = format!("{path}{ext}");
                    listed.contains_key(c.as_str()) && top.join(sd).join(&c).exists()
                });
                assert!(
                    has_compressed,
                    "{rel}: listed, not on disk, and no listed compressed form"
                );
            }
        }
        seen.releases.insert(sd.clone(), release);
    }
    seen
}

fn check_pool_refs(top: &Path, index: &str, data: &[u8], hashes: &mut Hashes, seen: &mut Seen) {
    let text = String::from_utf8(data.to_vec()).unwrap();
    let paras = paragraphs(&text);
    for p in &paras {
        let mut files: Vec<(String, u64, String)> = Vec::new();
        if index.ends_with("Packages.xz") {
            let f = &p["Filename"];
            let want = format!("{}_{}_{}.", p["Package"], p["Version"], p["Architecture"]);
            assert!(
                f.rsplit('/').next().unwrap().starts_with(&want) && f.starts_with("pool/"),
                "{index}: Filename {f} for {want}"
            );
            let src = p.get("Source").unwrap_or(&p["Package"]);
            let prefix = if src.starts_with("lib") {
                &src[..4]
            } else {
                &src[..1]
            };
            assert!(
                f.contains(&format!("/{prefix}/{src}/")),
                "{index}: {f} not in its source's pool directory"
            );
            files.push((f.clone(), p["Size"].parse().unwrap(), p["SHA256"].clone()));
        } else {
            let dir = &p["Directory"];
            for l in p["Checksums-Sha256"].lines().filter(|l| !l.is_empty()) {
                let w: Vec<&str> = l.split_whitespace().collect();
                files.push((
                    format!("{dir}/{}", w[2]),
                    w[1].parse().unwrap(),
                    w[0].into(),
                ));
            }
            assert_eq!(
                files.len(),
                3,
                "{index}: {} has not 3 source files",
                p["Package"]
            );
            for l in p["Files"].lines().filter(|l| !l.is_empty()) {
                let w: Vec<&str> = l.split_whitespace().collect();
                seen.md5s
                    .insert((format!("{dir}/{}", w[2]), w[0].to_string()));
            }
        }
        for (f, size, hash) in files {
            let got = hashes.of(top, &f);
            assert_eq!(
                got,
                Some((size, hash)),
                "{index} lists {f}: on disk (size, sha256) differ"
            );
            seen.pool.insert(f);
        }
    }
}

/// `extrafiles` lists exactly the regular files outside dists, zzz-dists, pool,
/// project/trace (and but ls-lR.gz and itself), with their hashes.
fn check_extrafiles(
    top: &Path,
    tree: &BTreeMap<String, (char, u64, String)>,
) -> BTreeMap<String, String> {
    let text = fs::read_to_string(top.join("extrafiles")).expect("extrafiles");
    let mut listed = BTreeMap::new();
    for l in unclearsign(&text).lines() {
        let (h, p) = l
            .split_once("  ")
            .unwrap_or_else(|| panic!("extrafiles line {l:?}"));
        listed.insert(p.to_string(), h.to_string());
    }
    let want: BTreeSet<&String> = tree
        .iter()
        .filter(|(p, (k, _, _))| {
            *k == '-'
                && !["dists/", "zzz-dists/", "pool/", "project/trace/"]
                    .iter()
                    .any(|d| p.starts_with(d))
                && *p != "ls-lR.gz"
                && *p != "extrafiles"
        })
        .map(|(p, _)| p)
        .collect();
    assert_eq!(
        listed.keys().collect::<BTreeSet<_>>(),
        want,
        "extrafiles lists other files than those outside the indices"
    );
    for (p, h) in &listed {
        assert_eq!(
            &sha256(&fs::read(top.join(p)).unwrap()),
            h,
            "extrafiles: {p}"
        );
    }
    listed
}

/// ls-lR.gz describes `tree` (the tree now): the same entries, kinds, symlink targets and
/// regular-file sizes (ls-lR.gz's own size apart: it lists its predecessor).
fn check_ls_lr(top: &Path, tree: &BTreeMap<String, (char, u64, String)>) {
    let text = String::from_utf8(decompress(&top.join("ls-lR.gz"))).unwrap();
    let mut listed: BTreeMap<String, (char, u64, String)> = BTreeMap::new();
    let mut dir: Option<String> = None;
    for l in text.lines() {
        if let Some(d) = l.strip_suffix(':') {
            if d == "." || d.starts_with("./") {
                dir = Some(
                    d.trim_start_matches('.')
                        .trim_start_matches('/')
                        .to_string(),
                );
                continue;
            }
        }
        if l.is_empty() || l.starts_with("total ") {
            continue;
        }
        let w: Vec<&str> = l.split_whitespace().collect();
        assert!(w.len() >= 9, "ls-lR line {l:?}");
        let d = dir.as_deref().expect("a directory header first");
        let rel = if d.is_empty() {
            w[8].to_string()
        } else {
            format!("{d}/{}", w[8])
        };
        let kind = w[0].chars().next().unwrap();
        let target = if kind == 'l' {
            assert_eq!(w[9], "->", "ls-lR symlink line {l:?}");
            w[10].to_string()
        } else {
            String::new()
        };
        listed.insert(rel, (kind, w[4].parse().unwrap(), target));
    }
    let want: BTreeSet<&String> = tree.keys().collect();
    let got: BTreeSet<&String> = listed.keys().collect();
    let missing: Vec<_> = want.difference(&got).take(5).collect();
    let extra: Vec<_> = got.difference(&want).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "ls-lR.gz vs the tree: missing {missing:?}, extra {extra:?}"
    );
    for (p, (k, size, target)) in tree {
        let (lk, lsize, ltarget) = &listed[p];
        assert_eq!(lk, k, "ls-lR.gz: kind of {p}");
        if *k == '-' && p != "ls-lR.gz" {
            assert_eq!(lsize, size, "ls-lR.gz: size of {p}");
        }
        if *k == 'l' {
            assert_eq!(ltarget, target, "ls-lR.gz: target of {p}");
        }
    }
}

fn trace_serial(top: &Path) -> String {
    let t = fs::read_to_string(top.join("project/trace/master")).unwrap();
    field(&t, "Archive serial").expect("Archive serial")
}

/// The library's referenced_files() and index_files() against what the check read.
fn check_listings(a: &Archive, seen: &Seen) {
    let refs = a.referenced_files().unwrap();
    let ref_paths: BTreeSet<&str> = refs.iter().map(|(p, _)| p.as_str()).collect();
    for (p, size) in &refs {
        let md = fs::symlink_metadata(a.dir.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert!(md.is_file(), "referenced_files: {p} is no regular file");
        assert_eq!(md.len(), *size, "referenced_files: size of {p}");
    }
    for p in &seen.pool {
        assert!(
            ref_paths.contains(p.as_str()),
            "referenced_files misses {p}"
        );
    }
    for bh in seen.by_hash.values() {
        assert!(
            ref_paths.contains(bh.as_str()),
            "referenced_files misses {bh}"
        );
    }
    let idx: BTreeSet<String> = a.index_files().into_iter().collect();
    for canon in seen.by_hash.keys() {
        assert!(idx.contains(canon), "index_files misses {canon}");
    }
    for sd in seen.releases.keys() {
        for f in ["Release", "InRelease", "Release.gpg"] {
            assert!(
                idx.contains(&format!("{sd}/{f}")),
                "index_files misses {sd}/{f}"
            );
        }
    }
    for p in &idx {
        assert!(
            !p.contains("/by-hash/") && !p.contains("/installer-"),
            "index_files lists {p}"
        );
        assert!(
            !ref_paths.contains(p.as_str()),
            "{p} is both index and referenced"
        );
    }
}

fn by_hash_files(tree: &BTreeMap<String, (char, u64, String)>) -> BTreeSet<String> {
    tree.iter()
        .filter(|(p, (k, _, _))| *k == '-' && p.contains("/by-hash/SHA256/"))
        .map(|(p, _)| p.clone())
        .collect()
}

// ---- tests -----------------------------------------------------------------------------

#[test]
fn twenty_rounds_from_seed_1_keep_every_index_release_and_listing_true() {
    let tmp = common::tempdir();
    let dir = tmp.path().join("debian");
    let mut a = Archive::init(&dir, 2000, 1).unwrap();
    assert!(
        !state_path(&dir).starts_with(&dir),
        "the state is kept outside the tree"
    );
    assert!(
        state_path(&dir).is_file(),
        "no {}",
        state_path(&dir).display()
    );
    let mut hashes = Hashes(HashMap::new());
    let mut seen = vec![check_archive(&a, true, &mut hashes)];
    let tree0 = walk(&dir);
    let on_disk = tree0
        .keys()
        .filter(|p| p.starts_with("pool/") && tree0[*p].0 == '-')
        .count();
    assert!(
        (1900..=2100).contains(&on_disk),
        "--pool-files 2000 gave {on_disk} pool files"
    );
    assert_eq!(
        on_disk,
        seen[0].pool.len(),
        "pool files no index references"
    );
    check_ls_lr(&dir, &tree0);
    let mut extra = check_extrafiles(&dir, &tree0);
    check_listings(&a, &seen[0]);
    for (alias, target) in [
        ("unstable", "sid"),
        ("testing", "forky"),
        ("stable", "trixie"),
        ("stable-updates", "trixie-updates"),
        ("sid", "../zzz-dists/sid"),
    ] {
        assert_eq!(
            fs::read_link(dir.join("dists").join(alias)).unwrap(),
            Path::new(target),
            "dists/{alias}"
        );
    }
    let mut serial = trace_serial(&dir);
    let mut prev_tree = tree0;
    let mut all_events: Vec<(u64, String)> = Vec::new();
    let mut gone_later: Vec<(u64, String)> = Vec::new();
    let (mut dropped, mut deleted, mut stable_kept) = (0, 0, 0);
    for r in 1..=20u64 {
        let trixie_before = fs::read(dir.join("zzz-dists/trixie/Release")).unwrap();
        let trixie_mtime = fs::metadata(dir.join("zzz-dists/trixie/Release"))
            .unwrap()
            .mtime();
        let installers: BTreeMap<String, String> = ["sid", "trixie"]
            .iter()
            .map(|s| {
                let cur = dir.join(format!("zzz-dists/{s}/main/installer-amd64/current"));
                (
                    s.to_string(),
                    fs::read_link(cur).unwrap().to_string_lossy().into_owned(),
                )
            })
            .collect();
        let sum: RoundSummary = a.dinstall().unwrap();
        assert_eq!(sum.round, r);
        let s = check_archive(&a, true, &mut hashes);
        let tree = walk(&dir);
        check_ls_lr(&dir, &tree);
        let new_extra = check_extrafiles(&dir, &tree);
        check_listings(&a, &s);

        // The trace's serial goes up.
        let new_serial = trace_serial(&dir);
        assert!(
            new_serial > serial,
            "round {r}: serial {new_serial} after {serial}"
        );
        assert_eq!(sum.serial, new_serial);
        serial = new_serial;

        // New pool files are referenced; deleted ones were dropped two rounds before.
        for f in &sum.new_pool_files {
            assert!(
                s.pool.contains(f),
                "round {r}: new {f} is referenced by no index"
            );
        }
        for f in &sum.deleted_pool_files {
            assert!(!dir.join(f).exists(), "round {r}: deleted {f} still exists");
            let back = seen.len() - 2;
            assert!(
                !s.pool.contains(f) && seen[back..].iter().all(|x| !x.pool.contains(f)),
                "round {r}: {f} deleted while referenced in the last two rounds"
            );
        }
        deleted += sum.deleted_pool_files.len();
        seen.push(s);
        let k = seen.len() - 1;
        // Dropped by the round before: still there now.
        if k >= 2 {
            for f in seen[k - 2].pool.difference(&seen[k - 1].pool) {
                assert!(
                    dir.join(f).is_file(),
                    "round {r}: {f}, dropped in round {}, is already gone",
                    r - 1
                );
                dropped += 1;
            }
        }
        // Dropped two rounds before (and not referenced since): gone now.
        if k >= 3 {
            for f in seen[k - 3].pool.difference(&seen[k - 2].pool) {
                if !seen[k - 1].pool.contains(f) && !seen[k].pool.contains(f) {
                    assert!(
                        !dir.join(f).exists(),
                        "round {r}: {f}, dropped in round {}, still exists",
                        r - 2
                    );
                }
            }
        }

        // by-hash: what was current a round ago is kept, anything older is gone.
        let cur: BTreeSet<&String> = seen[k].by_hash.values().collect();
        let prev: BTreeSet<&String> = seen[k - 1].by_hash.values().collect();
        for f in by_hash_files(&tree) {
            assert!(
                cur.contains(&f) || prev.contains(&f),
                "round {r}: {f} is neither current nor the previous round's"
            );
        }
        for p in prev {
            assert!(
                dir.join(p).is_file(),
                "round {r}: previous by-hash {p} deleted"
            );
        }
        assert!(
            by_hash_files(&tree) != by_hash_files(&prev_tree),
            "round {r}: by-hash unchanged"
        );

        // The stable suite's Release stays untouched when trixie did not change.
        if !sum.changed_suites.iter().any(|s| s == "trixie") {
            assert_eq!(
                fs::read(dir.join("zzz-dists/trixie/Release")).unwrap(),
                trixie_before,
                "round {r}: trixie's Release rewritten without a change"
            );
            assert_eq!(
                fs::metadata(dir.join("zzz-dists/trixie/Release"))
                    .unwrap()
                    .mtime(),
                trixie_mtime
            );
            stable_kept += 1;
        }
        let sid_rel = &seen[k].releases["zzz-dists/sid"];
        assert_ne!(
            field(sid_rel, "Date"),
            field(&seen[k - 1].releases["zzz-dists/sid"], "Date"),
            "round {r}: sid's Release Date did not advance"
        );

        // The events did what they say.
        for e in &sum.events {
            let w: Vec<&str> = e.split(' ').collect();
            match w.as_slice() {
                ["new", "suite", name] => {
                    assert!(!prev_tree.contains_key(&format!("zzz-dists/{name}")), "{e}");
                    assert_eq!(
                        tree.get(&format!("dists/{name}")).map(|x| x.2.clone()),
                        Some(format!("../zzz-dists/{name}")),
                        "{e}"
                    );
                    assert!(
                        dir.join(format!("zzz-dists/{name}/InRelease")).is_file(),
                        "{e}"
                    );
                }
                ["alias", alias, "->", target] | ["new", "alias", alias, "->", target] => {
                    assert_eq!(
                        fs::read_link(dir.join("dists").join(alias)).unwrap(),
                        Path::new(target),
                        "{e}"
                    );
                    let before = prev_tree
                        .get(&format!("dists/{alias}"))
                        .map(|x| x.2.as_str());
                    assert_ne!(before, Some(*target), "{e}: it pointed there before");
                }
                ["new", "architecture", arch, "in", suite, ..] => {
                    let rel = &seen[k].releases[&format!("zzz-dists/{suite}")];
                    assert!(
                        field(rel, "Architectures")
                            .unwrap()
                            .split(' ')
                            .any(|a| a == *arch),
                        "{e}"
                    );
                    let idx = format!("zzz-dists/{suite}/main/binary-{arch}/Packages.xz");
                    assert!(seen[k].by_hash.contains_key(&idx), "{e}: no {idx}");
                    let before = &seen[k - 1].releases[&format!("zzz-dists/{suite}")];
                    assert!(!before.contains(&format!("binary-{arch}/")), "{e}: before");
                }
                ["new", "installer", suite, date] => {
                    let base = format!("zzz-dists/{suite}/main/installer-amd64");
                    assert_eq!(
                        fs::read_link(dir.join(format!("{base}/current"))).unwrap(),
                        Path::new(date),
                        "{e}"
                    );
                    let sums = format!("{base}/{date}/images/SHA256SUMS");
                    for l in fs::read_to_string(dir.join(&sums)).unwrap().lines() {
                        let (h, p) = l.split_once("  ./").expect("SHA256SUMS line");
                        let f = format!("{base}/{date}/images/{p}");
                        assert_eq!(sha256(&fs::read(dir.join(&f)).unwrap()), h, "{f}");
                    }
                    let old = format!("{base}/{}", installers[*suite]);
                    assert!(dir.join(&old).is_dir(), "{e}: {old} went at once");
                    gone_later.push((r + 1, old));
                }
                ["doc", "changed", path] => {
                    assert_eq!(*path, CHANGING_DOC);
                    assert_ne!(
                        extra.get(*path),
                        new_extra.get(*path),
                        "{e}: extrafiles has the old hash"
                    );
                    assert_ne!(
                        prev_tree[*path].1, tree[*path].1,
                        "{e}: the size is the same"
                    );
                }
                ["removed", "source", name] => {
                    let dirs: BTreeSet<String> = seen[k - 1]
                        .pool
                        .iter()
                        .filter_map(|f| f.rsplit_once('/').map(|(d, _)| d.to_string()))
                        .filter(|d| d.ends_with(&format!("/{name}")))
                        .collect();
                    assert_eq!(dirs.len(), 1, "{e}: its pool directory");
                    gone_later.push((r + 2, dirs.into_iter().next().unwrap()));
                }
                ["point", "release", ..] => {}
                _ => panic!("round {r}: unknown event {e:?}"),
            }
            all_events.push((r, e.clone()));
        }
        for (when, p) in &gone_later {
            if *when == r {
                assert!(!dir.join(p).exists(), "round {r}: {p} still exists");
            }
        }
        extra = new_extra;
        prev_tree = tree;
    }

    // The final Sources' md5s, against md5sum.
    let s = seen.last().unwrap();
    let paths: Vec<&str> = s.md5s.iter().map(|(p, _)| p.as_str()).collect();
    let out = std::process::Command::new("md5sum")
        .args(&paths)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "md5sum failed");
    let got: BTreeSet<(String, String)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (h, p) = l.split_once("  ").unwrap();
            (p.to_string(), h.to_string())
        })
        .collect();
    assert_eq!(got, s.md5s, "Sources' Files md5s differ from md5sum's");

    let has = |prefix: &str| all_events.iter().any(|(_, e)| e.starts_with(prefix));
    for kind in [
        "new suite ",
        "new architecture ",
        "alias testing -> ",
        "new installer ",
        "doc changed ",
        "removed source ",
    ] {
        assert!(
            has(kind),
            "no `{kind}...` event in 20 rounds: {all_events:?}"
        );
    }
    assert!(
        gone_later
            .iter()
            .any(|(w, p)| *w <= 20 && p.starts_with("pool/")),
        "no removed source's pool directory checked"
    );
    assert!(
        dropped > 50 && deleted > 50,
        "dropped {dropped}, deleted {deleted}"
    );
    assert!(
        stable_kept >= 10,
        "trixie unchanged in only {stable_kept} rounds"
    );
}

/// Comparable view of a tree: path -> (kind, size, sha256 or target, file mtime); the
/// ls-lR.gz apart (ls prints directories' real mtimes).
fn fingerprint(top: &Path) -> BTreeMap<String, (char, u64, String, i64)> {
    walk(top)
        .into_iter()
        .filter(|(p, _)| p != "ls-lR.gz")
        .map(|(p, (k, size, target))| {
            let (h, m) = if k == '-' {
                let md = fs::metadata(top.join(&p)).unwrap();
                (sha256(&fs::read(top.join(&p)).unwrap()), md.mtime())
            } else if k == 'l' {
                (target, fs::symlink_metadata(top.join(&p)).unwrap().mtime())
            } else {
                (String::new(), 0)
            };
            (p, (k, size, h, m))
        })
        .collect()
}

#[test]
fn rounds_continue_from_the_state_file_as_if_run_in_one_process() {
    let tmp = common::tempdir();
    let one = tmp.path().join("one");
    let many = tmp.path().join("many");
    let other = tmp.path().join("other");
    let mut a = Archive::init(&one, 600, 7).unwrap();
    Archive::init(&many, 600, 7).unwrap();
    Archive::init(&other, 600, 8).unwrap();
    assert_eq!(
        fingerprint(&one),
        fingerprint(&many),
        "init is not deterministic"
    );
    assert_ne!(
        fingerprint(&one)
            .into_iter()
            .filter(|(p, _)| p.starts_with("pool/"))
            .collect::<Vec<_>>(),
        fingerprint(&other)
            .into_iter()
            .filter(|(p, _)| p.starts_with("pool/"))
            .collect::<Vec<_>>(),
        "seeds 7 and 8 gave the same pool"
    );
    assert!(
        Archive::init(&one, 600, 7).is_err(),
        "init over an existing archive succeeded"
    );
    for r in 1..=6 {
        let s1 = a.dinstall().unwrap();
        let mut b = Archive::open(&many).unwrap();
        assert_eq!(b.round(), r - 1);
        let s2 = b.dinstall().unwrap();
        assert_eq!(s1.to_string(), s2.to_string(), "round {r}'s summary");
        assert_eq!(s1.new_pool_files, s2.new_pool_files);
        assert_eq!(s1.deleted_pool_files, s2.deleted_pool_files);
        assert!(!s1.new_pool_files.is_empty(), "round {r} uploaded nothing");
    }
    assert_eq!(
        fingerprint(&one),
        fingerprint(&many),
        "rounds through the state file differ from rounds in one process"
    );
}

#[test]
fn ubuntu_like_archive_has_real_dists_hard_linked_indices_and_no_extrafiles() {
    let tmp = common::tempdir();
    let dir = tmp.path().join("ubuntu");
    let mut a = Archive::init_ubuntu_like(&dir, 1500, 3).unwrap();
    let mut hashes = Hashes(HashMap::new());
    let mut prev = check_archive(&a, false, &mut hashes);
    let tree = walk(&dir);
    assert_eq!(
        tree["dists/noble"].0, 'd',
        "dists/noble is not a real directory"
    );
    assert_eq!(tree["dists/noble-updates"].0, 'd');
    assert!(
        !tree.contains_key("zzz-dists"),
        "an Ubuntu tree has no zzz-dists"
    );
    assert!(
        !tree.contains_key("extrafiles"),
        "an Ubuntu tree has no extrafiles"
    );
    assert!(
        tree.keys().all(|p| !p.contains("installer-")),
        "an installer"
    );
    assert!(
        prev.by_hash.contains_key("dists/noble/Contents-amd64.gz"),
        "no suite-level Contents-amd64.gz"
    );
    check_ls_lr(&dir, &tree);
    check_listings(&a, &prev);
    for r in 1..=3 {
        let sum = a.dinstall().unwrap();
        let s = check_archive(&a, false, &mut hashes);
        check_ls_lr(&dir, &walk(&dir));
        check_listings(&a, &s);
        assert_eq!(
            sum.changed_suites,
            vec!["noble-updates".to_string()],
            "round {r}"
        );
        assert_eq!(
            s.releases["dists/noble"], prev.releases["dists/noble"],
            "round {r}: noble's Release changed"
        );
        assert_ne!(
            s.releases["dists/noble-updates"], prev.releases["dists/noble-updates"],
            "round {r}: noble-updates' Release did not change"
        );
        prev = s;
    }
}

#[test]
fn fault_helpers_break_what_they_say() {
    let tmp = common::tempdir();
    let dir = tmp.path().join("debian");
    let a = Archive::init(&dir, 800, 5).unwrap();
    let refs: BTreeMap<String, u64> = a.referenced_files().unwrap().into_iter().collect();

    let bad = a.corrupt_index("unstable").unwrap();
    assert!(
        bad.starts_with("zzz-dists/sid/main/binary-") && bad.contains("/by-hash/SHA256/"),
        "{bad}"
    );
    let want = refs
        .get(&bad)
        .copied()
        .unwrap_or_else(|| panic!("{bad} not referenced"));
    let got = fs::metadata(dir.join(&bad)).unwrap().len();
    assert_ne!(got, want, "{bad} still has its listed size");
    let canon = format!("{}/Packages.xz", bad.split("/by-hash/").next().unwrap());
    assert_ne!(
        sha256(&fs::read(dir.join(&canon)).unwrap()),
        bad.rsplit('/').next().unwrap(),
        "{canon} still matches its by-hash name"
    );

    let gone = a.remove_referenced_index("sid").unwrap();
    assert!(
        fs::symlink_metadata(dir.join(&gone)).is_err(),
        "{gone} still there"
    );
    let release = fs::read_to_string(dir.join("zzz-dists/sid/Release")).unwrap();
    let listed = gone.strip_prefix("zzz-dists/sid/").unwrap();
    assert!(
        release_entries(&release)
            .iter()
            .any(|(p, _, _)| p == listed),
        "the Release does not list {listed}"
    );

    assert!(dir.join("extrafiles").is_file());
    a.remove_extrafiles().unwrap();
    assert!(!dir.join("extrafiles").exists(), "extrafiles still there");
}
