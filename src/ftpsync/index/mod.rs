//! The index-driven sync: O(changed) from any Debian-format upstream, journal or not.
//!
//! Nearly every upstream runs the original ftpsync and publishes no journal, but every
//! Debian-format archive describes itself: Release files list each index with its size and
//! SHA256, Packages and Sources list each pool file, `ls-lR.gz` lists every entry of the
//! tree with its size, time and link target, `extrafiles` hashes the regular files no index
//! covers. Our tree holds the last sync's copies of all of them. So before stage 1
//! ([`fetch`]) we fetch the upstream's Release files, `ls-lR.gz` and `extrafiles` (small, a
//! walk of the top and `dists/*` only), then the indices whose SHA256 changed, and derive
//! the change set from old against new ([`diff`]). The two stages then run over exactly
//! that list, through the journal's machinery (`journal::plan`: the stages' own filters,
//! protections, `--delete` through parent directories), so our own journal records what
//! they did and every archvsync mirror below us syncs by it.
//!
//! **What it trusts.** That `ls-lR.gz` describes the upstream's tree (dak writes it last in
//! a run, ftpsync copies it in stage 2 with the indices); a change that keeps a file's size
//! and minute is seen through the hashes of Release and `extrafiles`, or by the next full
//! sync. **What it checks** ([`check`]): before stage 2, that every pool file the changed
//! indices add is here with its size; before the trace files and the push, that our Release
//! files are the ones planned on and every file they list is here with its size. A failed
//! check runs the full two-stage sync, and the log says why.
//!
//! **When it falls back** to the full sync, with the reason logged and recorded
//! (`index_sync_reason`): INDEX_SYNC=false; no earlier sync recorded, or the stage commands
//! changed, or FULL_SYNC_INTERVAL is due (a walk heals what only a walk sees: unreferenced
//! files, hand edits); our tree's metadata is not what our last sync left (a run stopped
//! mid-stage); the upstream is not Debian-format, has no `ls-lR.gz`, or its metadata is
//! unparsable or inconsistent (an index that does not match its Release); the change is
//! more than a quarter of the tree, or longer than rsync reads well from `--files-from`.

mod check;
pub use check::{after_stage1 as check_after_stage1, after_stage2 as check_after_stage2};
pub mod diff;
mod fetch;

use super::journal::filter::Rules;
use super::journal::format::{self, Changes, Kind};
use super::journal::plan::{self, Plan};
use super::journal::FullReason;
use super::run::{Run, Stop};
use crate::common::state;
use crate::debian::{compress, index, lslr, release::Release, sums};
use diff::{Listing, Suite};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The most a metadata file may hold decompressed: Debian's largest index (Contents of
/// amd64) is about 1 GiB; ours are read only for Packages and Sources.
const READ_LIMIT: u64 = 2 << 30;
/// The longest list the stages get: rsync reads `--files-from` a byte per call, and a
/// list of about a million names is known to stall it for hours (RsyncProject/rsync 695).
pub const MAX_LISTED: usize = 400_000;
/// A change above this share of the tree's entries is walked instead.
const MAX_SHARE_DIVISOR: usize = 4;

/// What the checks before publishing need: the Release files planned on, the listing
/// that says which of their entries exist, the pool files the changed indices add.
#[derive(Debug, Clone)]
pub struct Check {
    /// Each suite, the name of the Release file the plan read, and its bytes.
    suites: Vec<(Suite, &'static str, Vec<u8>)>,
    listing: std::sync::Arc<Listing>,
    /// Our last listing: a pool file it lacks is one a changed index adds.
    old_listing: std::sync::Arc<Listing>,
    /// The changed Packages and Sources, read after stage 1 (which brings their by-hash
    /// copies: no fetch of their own), or fetched into `staged` where it did not.
    to_read: Vec<diff::IndexToRead>,
    staged: std::path::PathBuf,
    /// What they add, once read.
    additions: Option<Vec<index::PoolFile>>,
}

impl Check {
    pub fn additions(&self) -> Option<&[index::PoolFile]> {
        self.additions.as_deref()
    }
    pub(super) fn set_additions(&mut self, a: Vec<index::PoolFile>) {
        self.additions = Some(a);
    }
}

/// What our last sync left, for the next one to trust our tree's metadata
/// (`LOGDIR/NAME.journal/index.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Position {
    /// Of our stage commands, as the journal's.
    pub fingerprint: String,
    /// Unix seconds of the last successful full stage 2.
    pub last_full: i64,
    /// Of our tree's metadata after that sync ([`metadata_digest`]).
    pub digest: String,
}

fn fall(code: &'static str, why: impl Into<String>) -> FullReason {
    FullReason {
        code,
        why: why.into(),
    }
}

/// SHA256 over what the index sync reads of our tree: `ls-lR.gz`, `extrafiles`, and each
/// `dists/*` entry with its link target or Release file. Empty when there is no listing.
pub fn metadata_digest(to: &Path) -> Option<String> {
    let mut data = std::fs::read(to.join("ls-lR.gz")).ok()?;
    data.extend_from_slice(b"\0extrafiles\0");
    data.extend(std::fs::read(to.join("extrafiles")).unwrap_or_default());
    let mut entries: Vec<_> = std::fs::read_dir(to.join("dists"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    entries.sort();
    for name in entries {
        let p = to.join("dists").join(&name);
        data.extend_from_slice(b"\0");
        data.extend_from_slice(name.as_encoded_bytes());
        if let Ok(t) = std::fs::read_link(&p) {
            data.extend_from_slice(b" -> ");
            data.extend_from_slice(t.as_os_str().as_encoded_bytes());
        }
        for f in ["Release", "InRelease"] {
            data.extend_from_slice(b"\0");
            data.extend(std::fs::read(p.join(f)).unwrap_or_default());
        }
    }
    Some(format::sha256(&data))
}

fn read_listing(path: &Path) -> Result<Listing, String> {
    let data = compress::read(path, READ_LIMIT).map_err(|e| format!("{}: {e}", path.display()))?;
    lslr::parse(&data).map_err(|e| format!("{}: {e}", path.display()))
}

/// A suite's Release file under `top`: `Release`, else the body of `InRelease`.
type ReleaseRead = (Release, &'static str, Vec<u8>);

fn read_release(top: &Path, dir: &str) -> Result<Option<ReleaseRead>, String> {
    for name in ["Release", "InRelease"] {
        let p = top.join(dir).join(name);
        match std::fs::read(&p) {
            Ok(d) => {
                return Release::parse(&d)
                    .map(|r| Some((r, name, d)))
                    .map_err(|e| format!("{}/{name}: {e}", dir))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{}: {e}", p.display())),
        }
    }
    Ok(None)
}

impl Run {
    fn index_position_path(&self) -> std::path::PathBuf {
        self.journal.borrow().store_path("index.json")
    }

    fn index_position(&self) -> Option<Position> {
        let data = std::fs::read(self.index_position_path()).ok()?;
        serde_json::from_slice(&data).ok()
    }

    /// After a successful stage 2 of any kind: what the next index sync may trust.
    pub(super) fn index_record(&self, fingerprint: &str, full: bool) {
        if self.s.dry_run {
            return;
        }
        let Some(digest) = metadata_digest(&self.s.to) else {
            let _ = std::fs::remove_file(self.index_position_path());
            return;
        };
        let last_full = if full {
            state::now()
        } else {
            self.index_position().map_or(0, |p| p.last_full)
        };
        let pos = Position {
            fingerprint: fingerprint.to_string(),
            last_full,
            digest,
        };
        let path = self.index_position_path();
        let written = serde_json::to_vec_pretty(&pos)
            .map_err(std::io::Error::other)
            .and_then(|json| {
                if let Some(d) = path.parent() {
                    std::fs::create_dir_all(d)?;
                }
                crate::common::atomic::write(&path, &json)
            });
        if let Err(e) = written {
            self.log.log(format!(
                "cannot record {}: {e}; the next sync is a full one",
                path.display()
            ));
        }
    }

    /// The lists for this pass from the upstream's metadata, or why the pass runs in full.
    pub(super) async fn index_choose(
        &self,
        rules: &[Rules; 2],
        fingerprint: &str,
        dirty: bool,
    ) -> Result<Result<(Plan, Check), FullReason>, Stop> {
        let s = &self.s;
        if !s.journal.index_sync {
            return Ok(Err(fall("off", "INDEX_SYNC=false")));
        }
        let Some(pos) = self.index_position() else {
            return Ok(Err(fall(
                "first",
                "no earlier sync of this tree is recorded",
            )));
        };
        if pos.fingerprint != fingerprint {
            return Ok(Err(fall(
                "config",
                "the rsync commands changed since the last sync",
            )));
        }
        let now = state::now();
        let age = now - pos.last_full;
        if pos.last_full > now
            || age >= i64::try_from(s.journal.full_sync_interval).unwrap_or(i64::MAX)
        {
            return Ok(Err(fall(
                "due",
                format!(
                    "a full sync is due (the last one was {age}s ago, FULL_SYNC_INTERVAL={})",
                    s.journal.full_sync_interval
                ),
            )));
        }
        if dirty {
            return Ok(Err(fall(
                "tree",
                "a run stopped while a stage was changing the tree",
            )));
        }
        if metadata_digest(&s.to).as_deref() != Some(pos.digest.as_str()) {
            return Ok(Err(fall(
                "tree",
                "our tree's Release files, ls-lR.gz or extrafiles are not what our last sync left",
            )));
        }
        let staged = match self.index_fetch_metadata().await? {
            Ok(d) => d,
            Err(f) => return Ok(Err(f)),
        };
        match self.index_plan(rules, &staged).await? {
            Ok(p) => Ok(Ok(p)),
            Err(f) => Ok(Err(f)),
        }
    }

    async fn index_plan(
        &self,
        rules: &[Rules; 2],
        staged: &Path,
    ) -> Result<Result<(Plan, Check), FullReason>, Stop> {
        let s = &self.s;
        let new_listing = match std::fs::symlink_metadata(staged.join("ls-lR.gz")) {
            Ok(m) if m.is_file() => match read_listing(&staged.join("ls-lR.gz")) {
                Ok(l) => l,
                Err(e) => return Ok(Err(fall("corrupt", format!("the upstream's {e}")))),
            },
            _ => {
                return Ok(Err(fall(
                    "no-listing",
                    "the upstream has no ls-lR.gz, so what it deleted cannot be known",
                )))
            }
        };
        let old_listing = match read_listing(&s.to.join("ls-lR.gz")) {
            Ok(l) => l,
            Err(e) => return Ok(Err(fall("tree", format!("our {e}")))),
        };
        let dirs = diff::suite_dirs(&new_listing);
        if dirs.is_empty() {
            return Ok(Err(fall(
                "not-debian",
                "the upstream's listing has no suite under dists/: not a Debian-format archive",
            )));
        }
        let mut suites = Vec::new();
        for dir in dirs {
            let dir = String::from_utf8_lossy(&dir).into_owned();
            let new = match read_release(staged, &dir) {
                Ok(Some(r)) => r,
                Ok(None) => {
                    return Ok(Err(fall(
                        "not-debian",
                        format!("the upstream's {dir} has no Release file"),
                    )))
                }
                Err(e) => return Ok(Err(fall("corrupt", format!("the upstream's {e}")))),
            };
            // Ours unreadable: a suite new to us, every index of it changed.
            let old = read_release(&s.to, &dir).ok().flatten().map(|(r, _, _)| r);
            let (new, name, bytes) = new;
            // A listing older than the Release files (an upstream that stopped making or
            // copying it) would hide what changed since.
            let listed = new_listing.get(format!("{dir}/{name}").as_bytes());
            if listed.is_none_or(|e| e.size != bytes.len() as u64) {
                return Ok(Err(fall(
                    "inconsistent",
                    format!(
                        "the upstream's ls-lR.gz does not list its {dir}/{name} as it is ({} bytes): the listing is stale",
                        bytes.len()
                    ),
                )));
            }
            suites.push((Suite { dir, old, new }, name, bytes));
        }
        let mut changes = Changes::new();
        diff::listing_changes(&old_listing, &new_listing, &mut changes);
        let plain: Vec<Suite> = suites.iter().map(|(s, _, _)| s.clone()).collect();
        let to_read = diff::release_changes(&plain, &new_listing, &mut changes);
        for (suite, _, _) in &suites {
            if suite.old.as_ref() != Some(&suite.new) {
                for f in ["Release", "InRelease", "Release.gpg"] {
                    let p = format!("{}/{f}", suite.dir).into_bytes();
                    if new_listing.contains_key(&p) {
                        changes.insert(p, Kind::File);
                    }
                }
            }
        }
        for top in ["ls-lR.gz", "extrafiles"] {
            if new_listing.contains_key(top.as_bytes()) || staged.join(top).is_file() {
                changes.insert(top.as_bytes().to_vec(), Kind::File);
            }
        }
        match (
            std::fs::read(staged.join("extrafiles")),
            std::fs::read(s.to.join("extrafiles")),
        ) {
            (Ok(new), old) => {
                let new = match sums::sha256_list(&new) {
                    Ok(l) => l,
                    Err(e) => {
                        return Ok(Err(fall("corrupt", format!("the upstream's extrafiles: {e}"))))
                    }
                };
                let old = old
                    .ok()
                    .and_then(|d| sums::sha256_list(&d).ok())
                    .unwrap_or_default();
                diff::sums_changes(&old, &new, &mut changes);
            }
            (Err(_), _) => self.log.log(
                "Index sync: the upstream has no extrafiles; files outside the indices are known by ls-lR.gz alone",
            ),
        }
        let limit = new_listing.len().max(old_listing.len()) / MAX_SHARE_DIVISOR;
        if changes.len() > limit.max(1000) || changes.len() > MAX_LISTED {
            return Ok(Err(fall(
                "large",
                format!(
                    "{} paths changed, of {} in the tree: a walk costs about the same",
                    changes.len(),
                    new_listing.len()
                ),
            )));
        }
        let mut p = match plan::plan(&changes, &s.to, &s.own_files(), [&rules[0], &rules[1]]) {
            Ok(p) => p,
            Err(why) => return Ok(Err(fall("symlink", why))),
        };
        // Suite aliases and every other link among the indices go with the Release files
        // in stage 2: moved in stage 1, `dists/testing` would lead to a suite whose Release
        // has not arrived, for the length of the sync.
        p.stage1.retain(|path| {
            let in_dists = path.starts_with(b"dists/") || path.starts_with(b"zzz-dists/");
            !(in_dists && new_listing.get(path).is_some_and(|e| e.kind == b'l'))
        });
        // A pool file stage 1 brought and checked is not asked for again: pool files are
        // immutable, and each name stage 2 lists costs the upstream a stat and a file-list
        // entry. Directories stay (stage 2 sets their times after what it adds), and so
        // does everything else: `by-hash/` files are hard links to the indices' names on
        // some archives (Ubuntu's), which `-H` links only within one file list.
        let brought: std::collections::HashSet<&[u8]> = p
            .stage1
            .iter()
            .filter(|path| changes.get(path.as_slice()) == Some(&Kind::File))
            .filter(|path| path.starts_with(b"pool/"))
            .map(Vec::as_slice)
            .collect();
        let stage2: Vec<Vec<u8>> = p
            .stage2
            .iter()
            .filter(|path| !brought.contains(path.as_slice()))
            .cloned()
            .collect();
        p.stage2 = stage2;
        let check = Check {
            suites,
            listing: std::sync::Arc::new(new_listing),
            old_listing: std::sync::Arc::new(old_listing),
            to_read,
            staged: staged.to_path_buf(),
            additions: None,
        };
        Ok(Ok((p, check)))
    }

    /// The pool files the changed Packages and Sources add, each index read from our tree
    /// where a stage brought it, else fetched into `staged`, and checked against its
    /// Release entry first.
    pub(super) async fn index_read_indices(
        &self,
        check: &Check,
    ) -> Result<Result<Vec<index::PoolFile>, FullReason>, Stop> {
        let (to_read, old_listing) = (&check.to_read, check.old_listing.as_ref());
        if to_read.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        let here = |r: &diff::IndexToRead| {
            std::fs::symlink_metadata(self.s.to.join(std::ffi::OsStr::from_bytes(&r.new_path)))
                .is_ok_and(|m| m.is_file() && m.len() == r.listed.size)
        };
        let missing: Vec<Vec<u8>> = to_read
            .iter()
            .filter(|r| !here(r))
            .map(|r| r.new_path.clone())
            .collect();
        if !missing.is_empty() {
            if let Err(f) = self.index_fetch_files(&check.staged, &missing).await? {
                return Ok(Err(f));
            }
        }
        let staged = check.staged.as_path();
        let to = self.s.to.as_path();
        // Decompressing is most of the plan's time: on every core.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let read_one = |r: &diff::IndexToRead| -> Result<Vec<index::PoolFile>, FullReason> {
            let shown = String::from_utf8_lossy(&r.new_path).into_owned();
            let path = if missing.contains(&r.new_path) {
                staged.join(std::ffi::OsStr::from_bytes(&r.new_path))
            } else {
                to.join(std::ffi::OsStr::from_bytes(&r.new_path))
            };
            let data = std::fs::read(&path).map_err(|e| {
                fall(
                    "inconsistent",
                    format!(
                        "the upstream's {shown}, listed in its Release, cannot be fetched: {e}"
                    ),
                )
            })?;
            if data.len() as u64 != r.listed.size || format::sha256(&data) != r.listed.sha256 {
                return Err(fall(
                    "inconsistent",
                    format!(
                        "the upstream's {shown} ({} bytes) does not match its Release entry ({} bytes, SHA256 {})",
                        data.len(),
                        r.listed.size,
                        r.listed.sha256
                    ),
                ));
            }
            let text = compress::decompress_as(&data, r.listed.path.as_bytes(), READ_LIMIT)
                .map_err(|e| fall("corrupt", format!("the upstream's {shown}: {e}")))?;
            let new = index::pool_files(r.kind, &text)
                .map_err(|e| fall("corrupt", format!("the upstream's {shown}: {e}")))?;
            Ok(diff::pool_additions(old_listing, new))
        };
        let results: Vec<Result<Vec<index::PoolFile>, FullReason>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers.min(to_read.len()))
                .map(|_| {
                    scope.spawn(|| {
                        let mut out = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(r) = to_read.get(i) else { break };
                            out.push(read_one(r));
                        }
                        out
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| {
                    h.join()
                        .unwrap_or_else(|_| vec![Err(fall("corrupt", "reading an index panicked"))])
                })
                .collect()
        });
        let mut additions = Vec::new();
        for r in results {
            match r {
                Ok(a) => additions.extend(a),
                Err(f) => return Ok(Err(f)),
            }
        }
        additions.sort();
        additions.dedup();
        self.log.log(format!(
            "Index sync: read {} changed indices ({} fetched apart), which add {} pool files",
            to_read.len(),
            missing.len(),
            additions.len()
        ));
        Ok(Ok(additions))
    }
}

use std::os::unix::ffi::OsStrExt;
