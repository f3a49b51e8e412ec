//! Fetching the upstream's metadata before stage 1, the way the stages reach the upstream
//! (same RSYNC, transport, password, TLS), bounded like the journal's fetch, into
//! `LOGDIR/NAME.journal/index.upstream/` with our tree as the delta basis.

use super::fall;
use crate::common::process::{self, Outcome};
use crate::common::rsync::{self, Probe};
use crate::ftpsync::journal::plan;
use crate::ftpsync::journal::FullReason;
use crate::ftpsync::run::{Run, Stop, CHECK_MARGIN_SECS};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What the first fetch takes: the top's `ls-lR.gz` and `extrafiles`, each `dists/*` and
/// `zzz-dists/*` entry (a suite's directory or an alias link) and its Release files, and
/// nothing below them: a walk of a few dozen directories, whatever the tree's size.
fn metadata_rules() -> Vec<String> {
    let mut r: Vec<String> = ["/ls-lR.gz", "/extrafiles"]
        .iter()
        .map(|p| format!("--include={p}"))
        .collect();
    for top in ["dists", "zzz-dists"] {
        for p in ["", "*", "*/Release", "*/InRelease"] {
            r.push(format!("--include=/{top}/{p}"));
        }
    }
    r.push("--exclude=*".into());
    r
}

impl Run {
    /// The upstream's Release files, `ls-lR.gz` and `extrafiles`, in a fresh directory.
    pub(super) async fn index_fetch_metadata(&self) -> Result<Result<PathBuf, FullReason>, Stop> {
        let dest = self.journal.borrow().store_path("index.upstream");
        let fresh = match std::fs::remove_dir_all(&dest) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => std::fs::create_dir_all(&dest),
        };
        if let Err(e) = fresh {
            return Ok(Err(fall(
                "fetch",
                format!("cannot prepare {}: {e}", dest.display()),
            )));
        }
        let rules = metadata_rules();
        let basis = self.basis();
        let dest_arg = format!("{}/", dest.to_string_lossy());
        let words = rsync::probe_words(
            &self.s.rsync,
            &self.s.rsync_extra,
            self.s.check_timeout,
            &self.s.transport,
            Probe::Tree {
                source: &self.s.rsync_source,
                rules: &rules,
                dest: &dest_arg,
                basis: &basis,
            },
        );
        match self
            .index_rsync(words, "the upstream's Release files and ls-lR.gz")
            .await?
        {
            Ok(()) => Ok(Ok(dest)),
            Err(f) => Ok(Err(f)),
        }
    }

    /// The files `names` (relative to the top) into `staged`, beside what is there.
    pub(super) async fn index_fetch_files(
        &self,
        staged: &Path,
        names: &[Vec<u8>],
    ) -> Result<Result<(), FullReason>, Stop> {
        let list = self.journal.borrow().store_path("index.fetch.list");
        if let Err(e) = std::fs::write(&list, plan::nul_list(names)) {
            return Ok(Err(fall(
                "fetch",
                format!("cannot write {}: {e}", list.display()),
            )));
        }
        let basis = self.basis();
        let dest_arg = format!("{}/", staged.to_string_lossy());
        let words = rsync::probe_words(
            &self.s.rsync,
            &self.s.rsync_extra,
            self.s.check_timeout,
            &self.s.transport,
            Probe::Files {
                source: &self.s.rsync_source,
                list: &list,
                dest: &dest_arg,
                basis: &basis,
            },
        );
        self.index_rsync(words, "the changed indices").await
    }

    /// Our tree, absolute: rsync reads a relative `--copy-dest` from the destination.
    fn basis(&self) -> PathBuf {
        std::path::absolute(&self.s.to).unwrap_or_else(|_| self.s.to.clone())
    }

    async fn index_rsync(
        &self,
        words: Vec<String>,
        what: &str,
    ) -> Result<Result<(), FullReason>, Stop> {
        let s = &self.s;
        let err_file = self.journal.borrow().store_path("index.fetch.err");
        let Some(cmd) = rsync::command(&words, &s.rsync_env()) else {
            return Ok(Err(fall("fetch", "RSYNC is empty")));
        };
        let mut cmd = tokio::process::Command::from(cmd);
        let _ = process::output_to(&mut cmd, &err_file);
        let limit = Duration::from_secs(s.check_timeout.max(1) + CHECK_MARGIN_SECS);
        let code = match process::run_tied_within(cmd, &self.cancel, Some(limit)).await {
            Ok(Outcome::Exited(st)) => process::shell_code(&st),
            Ok(Outcome::Interrupted(sig)) => return Err(self.interrupted(sig)),
            Ok(Outcome::TimedOut(l)) => {
                return Ok(Err(fall(
                    "fetch",
                    format!("fetching {what} took longer than {}s", l.as_secs()),
                )))
            }
            Err(e) => return Ok(Err(fall("fetch", format!("cannot run rsync: {e}")))),
        };
        if code != 0 {
            let said = std::fs::read(&err_file).unwrap_or_default();
            return Ok(Err(fall(
                "fetch",
                format!(
                    "fetching {what} failed (rsync exit {code}: {})",
                    rsync::last_lines(&said, 2).join(" | ")
                ),
            )));
        }
        Ok(Ok(()))
    }
}
