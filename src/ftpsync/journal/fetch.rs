//! Fetching the upstream's journal and `_hierarchy` before a stage, the way the stages reach
//! the upstream (same RSYNC, transport, password, TLS), bounded like the upstream check. The
//! upstream's master trace comes along: whether it is there answers the empty-upstream
//! rail's question (upstream_check.rs) without a connection of its own.

use super::{format, plan, shown, FullReason};
use crate::common::process::{self, Outcome};
use crate::common::rsync::{self, Probe};
use crate::common::trace;
use crate::ftpsync::run::{Run, Stop, CHECK_MARGIN_SECS, MASTER_TRACE};
use format::Journal;
use std::time::Duration;

impl Run {
    /// The upstream's journal, if it has a usable one: whole, and its own.
    pub(super) async fn fetch_upstream_journal(&self) -> Result<Result<Journal, FullReason>, Stop> {
        let s = &self.s;
        let store = self.journal.borrow().store.clone();
        let dest = store.path("upstream");
        // The last fetch's copies: only the delta basis of this one. A file the upstream no
        // longer has (or serves as something rsync skips, such as a symlink) is then
        // missing from `dest`, instead of its old copy being read as current.
        let basis = store.path("upstream.last");
        let list = store.path("fetch.list");
        let err_file = store.path("fetch.err");
        let fail = |code, why: String| Ok(Err(FullReason { code, why }));
        let prepared = fresh_dest(&dest, &basis).and_then(|()| {
            let names =
                [format::NAME, trace::HIERARCHY, MASTER_TRACE].map(|n| n.as_bytes().to_vec());
            std::fs::write(&list, plan::nul_list(&names))?;
            std::fs::File::create(&err_file).map(drop)
        });
        if let Err(e) = prepared {
            return fail(
                "fetch",
                format!("cannot prepare {}: {e}", store.dir.display()),
            );
        }
        let dest_arg = format!("{}/", dest.to_string_lossy());
        // rsync reads a relative --copy-dest from the destination directory.
        let basis = std::path::absolute(&basis).unwrap_or(basis);
        let words = rsync::probe_words(
            &s.rsync,
            &s.rsync_extra,
            s.check_timeout,
            &s.transport,
            Probe::Files {
                source: &s.rsync_source,
                list: &list,
                dest: &dest_arg,
                basis: &basis,
            },
        );
        let Some(cmd) = rsync::command(&words, &s.rsync_env()) else {
            return fail("fetch", "RSYNC is empty".into());
        };
        let mut cmd = tokio::process::Command::from(cmd);
        let _ = process::output_to(&mut cmd, &err_file);
        let limit = Duration::from_secs(s.check_timeout.max(1) + CHECK_MARGIN_SECS);
        let outcome = process::run_tied_within(cmd, &self.cancel, Some(limit)).await;
        let code = match outcome {
            Ok(Outcome::Exited(st)) => process::shell_code(&st),
            Ok(Outcome::Interrupted(sig)) => return Err(self.interrupted(sig)),
            Ok(Outcome::TimedOut(l)) => {
                return fail(
                    "fetch",
                    format!(
                        "fetching the upstream's journal took longer than {}s",
                        l.as_secs()
                    ),
                )
            }
            Err(e) => return fail("fetch", format!("cannot run rsync: {e}")),
        };
        if code != 0 {
            let said = std::fs::read(&err_file).unwrap_or_default();
            return fail(
                "fetch",
                format!(
                    "fetching the upstream's journal failed (rsync exit {code}: {})",
                    rsync::last_lines(&said, 2).join(" | ")
                ),
            );
        }
        let _ = std::fs::remove_dir_all(&basis);
        // `dest` holds only what this fetch brought, so the name being there is the answer.
        // Not is_file(): an upstream's master may be a link (the original's test archive
        // has `master -> master.example.com`), and only the link came along, dangling
        // here; the `--list-only` check counts it too.
        self.journal.borrow_mut().upstream_master =
            Some(std::fs::symlink_metadata(dest.join(MASTER_TRACE)).is_ok());
        let copy = dest.join(format::NAME);
        // Larger than our own bound on journals: not read. Reading takes about ten times the
        // file's size in memory, so what a hostile or odd upstream makes us hold is bounded
        // by a number of ours, not of theirs.
        let limit = s.journal.max_bytes;
        match std::fs::symlink_metadata(&copy) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return fail("none", "the upstream publishes no journal".into())
            }
            // Only a regular file is a journal: one served as a link is never followed.
            Ok(m) if !m.is_file() => {
                return fail(
                    "none",
                    "the upstream's journal is not a regular file (a symlink?)".into(),
                )
            }
            Ok(m) if m.len() > limit => {
                return fail(
                    "large",
                    format!(
                        "the upstream's journal ({} bytes) is larger than our JOURNAL_MAX_BYTES ({limit}); raise it to sync by that journal",
                        m.len()
                    ),
                )
            }
            _ => {}
        }
        let data = match std::fs::read(&copy) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return fail("none", "the upstream publishes no journal".into())
            }
            Err(e) => return fail("fetch", format!("cannot read the upstream's journal: {e}")),
        };
        let up = match Journal::parse(&data) {
            Ok(j) => j,
            Err(why) => {
                return fail(
                    "corrupt",
                    format!("the upstream's journal is unusable: {why}"),
                )
            }
        };
        // The last `_hierarchy` line is the upstream's own: `TRACE MIRRORNAME HOST UPSTREAM`.
        let hierarchy = std::fs::read(dest.join(trace::HIERARCHY)).unwrap_or_default();
        let hierarchy = String::from_utf8_lossy(&hierarchy);
        let fields = trace::last_hierarchy_line(&hierarchy);
        if fields.get(1..3) != Some(&[up.mirror.as_str(), up.host.as_str()][..]) {
            return fail(
                "copied",
                format!(
                    "the upstream's journal was written by {} ({}), but the upstream is {}: a copy, which need not match its tree",
                    shown(&up.mirror),
                    shown(&up.host),
                    shown(fields.get(1).copied().unwrap_or("unknown"))
                ),
            );
        }
        Ok(Ok(up))
    }
}

/// An empty `dest`, its former contents moved to `basis` (what was there before goes).
fn fresh_dest(dest: &std::path::Path, basis: &std::path::Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(basis) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    match std::fs::rename(dest, basis) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::create_dir_all(dest)
}
