//! The change journal: propagation in O(changed) down a tree of archvsync mirrors.
//!
//! **Recording.** Every stage's rsync logs each change it makes to LOG_RSYNC (`%i %n%L`,
//! see [`record`]). After each stage those lines are read into a pending list of changed
//! paths in the journal's private directory, `LOGDIR/NAME.journal/`. A marker file
//! (`dirty`) exists while an rsync may be changing the tree unrecorded; a run that finds it
//! (the last one was killed mid-stage) cannot vouch for the tree's history.
//!
//! **Publishing.** After the last stage of a successful run — before the trace files, the
//! hooks after them and the downstream push — the pending paths become one entry leading
//! from the tree's previous state id to a new one, and the journal (bounded by
//! JOURNAL_MAX_ENTRIES and JOURNAL_MAX_BYTES, oldest entries dropped) is written to the
//! private copy, then atomically to [`format::NAME`] in the tree. So a downstream never sees
//! an entry before the tree has its changes. When the history is not known (the first run,
//! a killed stage, an unreadable rsync log, a change too big for the bound, a new
//! MIRRORNAME) the journal starts afresh at a new state with no entries: every downstream
//! then makes one full sync.
//!
//! **Syncing by the upstream's journal.** Before a stage (stage 2 reuses stage 1's choice
//! within a pass), the upstream's journal and `_hierarchy` are fetched into the private
//! directory — the same rsync, transport, password and TLS as the stages, through
//! [`rsync::probe_words`]. If it is whole, written by the upstream itself (its `_hierarchy`
//! names the same mirror: a mirror that keeps no journal may still have copied its own
//! upstream's), leads from the state we recorded after our last stage 2, and our stage
//! commands (filters, ARCH_*, EXCLUDE, source) are the ones we recorded it with, and no
//! full sync is due (FULL_SYNC_INTERVAL), the stage runs over just the changed paths
//! ([`plan`]); otherwise it runs in full, and the log says why. Either way the state
//! recorded after a successful stage 2 is the journal head fetched *before* the stage, so
//! whatever changed upstream meanwhile is in a later entry. A journal stage that fails is
//! run again in full, at once.
//!
//! At the ~600 lines a file keeps to: the run's part of the journal (recording, choosing,
//! publishing) shares its state in one RunJournal; the file format, the fetch, the store,
//! the plan and the filters are in their own files.

mod fetch;
pub mod filter;
pub mod format;
pub mod plan;
pub mod record;
mod store;

use super::run::{Run, Stop};
use crate::common::kinds::SyncKind;
use crate::common::rsync::{self, Verdict};
use crate::common::state;
use crate::settings::archive::ArchiveSettings;
use format::{Changes, Journal};
use std::path::Path;
use std::time::Duration;
pub use store::{Position, Store};

/// Why a stage runs in full: a short code (state record, metrics) and the log's words.
#[derive(Debug, Clone)]
pub struct FullReason {
    pub code: &'static str,
    pub why: String,
}

/// What a pass does, chosen before its stage 1 (or its stage 2, without stage 1).
#[derive(Debug, Clone)]
struct Choice {
    /// The lists, for a journal or index sync.
    plan: Option<plan::Plan>,
    full: Option<FullReason>,
    /// For an index sync (the lists came from the upstream's metadata): its checks.
    check: Option<crate::ftpsync::index::Check>,
    /// Why the pass is not an index sync, when the index path was asked.
    index_full: Option<FullReason>,
    /// The upstream's journal head and publisher, when it had a usable journal.
    head: Option<(String, String, String)>,
}

/// What the state record and the metrics say about this run's sync.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// How the last stage ran.
    pub kind: Option<SyncKind>,
    /// Why it was not a journal sync.
    pub reason: Option<&'static str>,
    /// Why it was not an index sync either.
    pub index_reason: Option<&'static str>,
    /// Paths a journal stage looked at.
    pub paths: Option<u64>,
    /// The stages of the last pass that ran over the journal's lists to the end, in order:
    /// a journal sync that fell back to a full stage lacks that stage here.
    pub journal_stages: Vec<&'static str>,
}

/// The journal's part of one run.
pub(super) struct RunJournal {
    store: Store,
    choice: Option<Choice>,
    /// Why our own journal must start afresh at the next publication.
    reset: Option<String>,
    fingerprint: String,
    /// Each stage's include/exclude rules, or why they cannot be evaluated.
    rules: Result<[filter::Rules; 2], String>,
    /// Time spent reading rsync's log and writing the journal (for the log, and the
    /// benchmark's "cost of the journal to the hub").
    spent: Duration,
    pub(super) summary: Summary,
    /// Whether the upstream has its master trace, as the last journal fetch found (it
    /// fetches that too): the empty-upstream rail's answer without a connection of its own.
    pub(super) upstream_master: Option<bool>,
}

impl RunJournal {
    /// A file of the journal's private directory (the index sync keeps its own there).
    pub(in crate::ftpsync) fn store_path(&self, name: &str) -> std::path::PathBuf {
        self.store.path(name)
    }

    pub(super) fn new(s: &ArchiveSettings) -> RunJournal {
        let mut plain = s.clone();
        plain.dry_run = false;
        let (one, two) = plain.stage_commands();
        RunJournal {
            store: Store::of(s),
            choice: None,
            reset: None,
            fingerprint: format::sha256((one.join("\0") + "\n" + &two.join("\0")).as_bytes()),
            rules: filter::Rules::from_words(&one)
                .and_then(|r1| Ok([r1, filter::Rules::from_words(&two)?])),
            spent: Duration::ZERO,
            summary: Summary::default(),
            upstream_master: None,
        }
    }
}

/// Words a user may give that change what LOG_RSYNC holds, which the journal reads.
fn log_format_words(s: &ArchiveSettings) -> Option<String> {
    [
        ("RSYNC_EXTRA", &s.rsync_extra),
        ("RSYNC_OPTIONS", &s.rsync_options),
        ("RSYNC_OPTIONS1", &s.rsync_options1),
        ("RSYNC_OPTIONS2", &s.rsync_options2),
        ("EXCLUDE", &s.exclude),
    ]
    .iter()
    .find_map(|(key, words)| {
        let w = words.iter().find(|w| w.starts_with("--log-file"))?;
        Some(format!(
            "{key} has {w}, and the journal reads LOG_RSYNC in rsync's default format"
        ))
    })
}

impl Run {
    fn recording(&self) -> bool {
        self.s.journal.enabled && !self.s.dry_run
    }

    /// At the start of a run, before anything changes the tree.
    pub(super) fn journal_begin(&self) {
        if self.s.dry_run {
            return;
        }
        let mut j = self.journal.borrow_mut();
        if !self.s.journal.enabled {
            // Our tree now changes unrecorded: a journal of ours left in it would lie. (One
            // copied from the upstream is just a file of the tree now.)
            let published = self.path(format::NAME);
            let ours = std::fs::read(&published)
                .ok()
                .and_then(|d| Journal::parse(&d).ok())
                .is_some_and(|j| j.mirror == self.s.mirrorname && j.host == self.s.tracehost);
            if ours {
                match std::fs::remove_file(&published) {
                    Ok(()) => self.log.log(format!(
                        "JOURNAL=false: removed our journal {}",
                        published.display()
                    )),
                    Err(e) => self.error(&format!(
                        "JOURNAL=false, but our journal {} cannot be removed: {e}",
                        published.display()
                    )),
                }
            }
            j.store.clear();
            return;
        }
        if let Some(why) = j.store.dirty() {
            self.log.log(format!(
                "Journal: the tree's history is not known ({why}); the next journal starts afresh"
            ));
            j.reset = Some(why);
        }
        if let Some(why) = log_format_words(&self.s) {
            self.log
                .log(format!("Journal: changes cannot be recorded: {why}"));
            j.reset = Some(why);
        }
    }

    /// One stage: over the upstream journal's paths when it allows, else in full; its
    /// changes recorded for our own journal.
    pub(super) async fn sync_stage(&self, n: u8, full: &[String]) -> Result<i32, Stop> {
        let name = if n == 1 { "stage1" } else { "stage2" };
        let fresh = n == 1 || self.journal.borrow().choice.is_none();
        if fresh {
            let choice = self.choose().await?;
            self.journal.borrow_mut().choice = Some(choice);
        }
        let Some(mut choice) = self.journal.borrow().choice.clone() else {
            return self.recorded_rsync(name, full).await;
        };
        let mut code = None;
        if let Some(p) = &choice.plan {
            let what = if choice.check.is_some() {
                "Index"
            } else {
                "Journal"
            };
            let list = if n == 1 { &p.stage1 } else { &p.stage2 };
            let list_path = self.journal.borrow().store.path(&format!("{name}.list"));
            match std::fs::write(&list_path, plan::nul_list(list)) {
                Ok(()) => {
                    let mut words = rsync::files_from_words(full, &list_path);
                    if choice.check.is_some() {
                        let fetched = self.journal.borrow().store.path("index.upstream");
                        let fetched = std::path::absolute(&fetched).unwrap_or(fetched);
                        words = rsync::with_fetched_basis(&words, &fetched);
                    }
                    let c = self.recorded_rsync(name, &words).await?;
                    if rsync::classify(c) == Verdict::Success {
                        self.log.log(format!(
                            "{what} {name}: rsync over the {} listed names ended with exit {c}",
                            list.len()
                        ));
                        match self.index_check(n, &mut choice).await? {
                            Ok(()) => code = Some(c),
                            Err(failed) => {
                                self.log.log(format!(
                                    "Index check after {name}: {}; running the full two-stage sync instead",
                                    failed.why
                                ));
                                choice.index_full = Some(failed);
                                if n == 2 {
                                    let (stage1, _) = self.s.stage_commands();
                                    self.recorded_rsync("stage1", &stage1).await?;
                                }
                            }
                        }
                    } else {
                        self.log.log(format!(
                            "The {} {name} ended with rsync exit {c}; running the full {name} instead",
                            what.to_lowercase()
                        ));
                    }
                }
                Err(e) => self.log.log(format!(
                    "cannot write {}: {e}; running the full {name} instead",
                    list_path.display()
                )),
            }
            if code.is_none() {
                let reason = FullReason {
                    code: "stage",
                    why: format!("the {} {name} failed", what.to_lowercase()),
                };
                if choice.check.is_some() {
                    choice.index_full.get_or_insert(reason);
                } else {
                    choice.full = Some(reason);
                }
                choice.plan = None;
                choice.check = None;
            }
        }
        let code = match code {
            Some(c) => c,
            None => self.recorded_rsync(name, full).await?,
        };
        {
            let mut j = self.journal.borrow_mut();
            let mut journal_stages = if fresh {
                Vec::new()
            } else {
                std::mem::take(&mut j.summary.journal_stages)
            };
            if choice.plan.is_some() {
                journal_stages.push(name);
            }
            j.summary = Summary {
                journal_stages,
                kind: Some(match (&choice.plan, &choice.check) {
                    (Some(_), Some(_)) => SyncKind::Index,
                    (Some(_), None) => SyncKind::Journal,
                    (None, _) => SyncKind::Full,
                }),
                reason: choice.full.as_ref().map(|f| f.code),
                index_reason: choice.index_full.as_ref().map(|f| f.code),
                paths: choice.plan.as_ref().map(|p| p.paths as u64),
            };
            j.choice = (n == 1).then_some(choice.clone());
        }
        // Only a clean stage 2 brings the whole tree to the head fetched before it (a
        // forgiven 23 or 30 may have left paths behind).
        if n == 2 && !self.s.dry_run && rsync::classify(code) == Verdict::Success {
            self.record_position(&choice);
            let fingerprint = self.journal.borrow().fingerprint.clone();
            self.index_record(&fingerprint, choice.plan.is_none());
        }
        Ok(code)
    }

    /// An index sync's check after stage `n` (nothing to check for other kinds); the
    /// changed indices are read first, the first time (stage 1 brought them).
    async fn index_check(
        &self,
        n: u8,
        choice: &mut Choice,
    ) -> Result<Result<(), FullReason>, Stop> {
        let Some(check) = &mut choice.check else {
            return Ok(Ok(()));
        };
        if check.additions().is_none() {
            match self.index_read_indices(check).await? {
                Ok(a) => check.set_additions(a),
                Err(f) => return Ok(Err(f)),
            }
        }
        let j = self.journal.borrow();
        let Ok(rules) = &j.rules else {
            return Ok(Ok(()));
        };
        let verdict = if n == 1 {
            crate::ftpsync::index::check_after_stage1(check, &self.s.to, &rules[0])
        } else {
            crate::ftpsync::index::check_after_stage2(check, &self.s.to, &rules[1])
        };
        Ok(verdict.map_err(|why| FullReason {
            code: "unverified",
            why,
        }))
    }

    fn record_position(&self, choice: &Choice) {
        let j = self.journal.borrow();
        let Some((mirror, host, head)) = &choice.head else {
            return;
        };
        let last_full = if choice.plan.is_some() {
            j.store.position().map_or(0, |p| p.last_full)
        } else {
            state::now()
        };
        let pos = Position {
            mirror: mirror.clone(),
            host: host.clone(),
            state: head.clone(),
            fingerprint: j.fingerprint.clone(),
            last_full,
        };
        if let Err(e) = j.store.set_position(&pos) {
            self.log.log(format!(
                "cannot record our place in the upstream's journal: {e}; the next sync is a full one"
            ));
        }
    }

    async fn choose(&self) -> Result<Choice, Stop> {
        let full = |code, why: String, head| Choice {
            plan: None,
            full: Some(FullReason { code, why }),
            check: None,
            index_full: None,
            head,
        };
        let s = &self.s;
        let choice = if !s.journal.enabled {
            full("off", "JOURNAL=false".into(), None)
        } else {
            match self.fetch_upstream_journal().await? {
                Err(f) => Choice {
                    plan: None,
                    full: Some(f),
                    check: None,
                    index_full: None,
                    head: None,
                },
                Ok(up) => self.choose_by(&up),
            }
        };
        if let (Some(p), _) = (&choice.plan, &choice.full) {
            self.log.log(format!(
                "Journal sync: {} paths changed upstream since our last sync",
                p.paths
            ));
            return Ok(choice);
        }
        // No journal to ride on: the upstream's archive metadata, then.
        let mut choice = choice;
        let index = {
            let j = self.journal.borrow();
            match &j.rules {
                // The marker a killed stage leaves: our tree's metadata may be half new.
                Ok(r) => Some((r.clone(), j.fingerprint.clone(), j.store.dirty().is_some())),
                Err(_) => None,
            }
        };
        let picked = match index {
            Some((rules, fingerprint, dirty)) => {
                self.index_choose(&rules, &fingerprint, dirty).await?
            }
            None => Err(FullReason {
                code: "filters",
                why: "the stage commands hold filters the plan cannot evaluate".into(),
            }),
        };
        match picked {
            Ok((p, check)) => {
                self.log.log(format!(
                    "Index sync: {} paths changed upstream since our last sync, by its Release files, indices and ls-lR.gz (no journal sync: {})",
                    p.paths,
                    choice.full.as_ref().map_or("", |f| f.why.as_str())
                ));
                choice.plan = Some(p);
                choice.check = Some(check);
            }
            Err(f) => {
                // The journal's reason first: what an operator of a chain of archvsync
                // mirrors looks for.
                self.log.log(format!(
                    "Full sync: {}; no index sync: {}",
                    choice.full.as_ref().map_or("", |f| f.why.as_str()),
                    f.why
                ));
                choice.index_full = Some(f);
            }
        }
        Ok(choice)
    }

    fn choose_by(&self, up: &Journal) -> Choice {
        let s = &self.s;
        let j = self.journal.borrow();
        let head = Some((up.mirror.clone(), up.host.clone(), up.head().to_string()));
        let full = |code, why: String| Choice {
            plan: None,
            full: Some(FullReason { code, why }),
            check: None,
            index_full: None,
            head: head.clone(),
        };
        let Some(pos) = j.store.position() else {
            return full(
                "first",
                "no earlier sync by the upstream's journal is recorded".into(),
            );
        };
        if pos.fingerprint != j.fingerprint {
            return full(
                "config",
                "the rsync commands changed since the last sync (filters, ARCH_INCLUDE/EXCLUDE, EXCLUDE, options or source)".into(),
            );
        }
        if (pos.mirror.as_str(), pos.host.as_str()) != (up.mirror.as_str(), up.host.as_str()) {
            return full(
                "upstream",
                format!(
                    "the upstream is {} ({}) now, it was {} ({})",
                    shown(&up.mirror),
                    shown(&up.host),
                    shown(&pos.mirror),
                    shown(&pos.host)
                ),
            );
        }
        let now = state::now();
        if pos.last_full > now {
            // A clock that ran ahead and was put back: the age would be negative, and no
            // full sync would come due until the clock caught up again.
            return full(
                "due",
                format!(
                    "the last full sync is recorded {}s in the future (the clock was changed); one is due now",
                    pos.last_full - now
                ),
            );
        }
        let age = now - pos.last_full;
        if age >= i64::try_from(s.journal.full_sync_interval).unwrap_or(i64::MAX) {
            return full(
                "due",
                format!(
                    "a full sync is due (the last one was {}s ago, FULL_SYNC_INTERVAL={})",
                    age, s.journal.full_sync_interval
                ),
            );
        }
        let Some(entries) = up.since(&pos.state) else {
            return full(
                "gap",
                format!(
                    "the upstream's journal does not reach back to our state {} (it starts at {})",
                    pos.state, up.base
                ),
            );
        };
        let rules = match &j.rules {
            Ok(r) => r,
            Err(why) => return full("filters", format!("the stage commands hold {why}")),
        };
        let changes = plan::fold(entries);
        let p = match plan::plan(&changes, &s.to, &s.own_files(), [&rules[0], &rules[1]]) {
            Ok(p) => p,
            Err(why) => return full("symlink", why),
        };
        Choice {
            plan: Some(p),
            full: None,
            check: None,
            index_full: None,
            head,
        }
    }

    /// A stage's rsync, with what it changed recorded for our journal.
    async fn recorded_rsync(&self, name: &str, words: &[String]) -> Result<i32, Stop> {
        if !self.recording() {
            return self.rsync(name, words).await;
        }
        let log_rsync = self.s.log_rsync.clone();
        let from = match std::fs::metadata(&log_rsync) {
            Ok(m) if !m.is_file() => {
                self.journal_reset(format!(
                    "LOG_RSYNC {} is not a regular file, so what rsync changed cannot be read back",
                    log_rsync.display()
                ));
                return self.rsync(name, words).await;
            }
            Ok(m) => m.len(),
            Err(_) => 0,
        };
        let store = self.journal.borrow().store.clone();
        let was_dirty = store.dirty().is_some();
        if !was_dirty {
            if let Err(e) = store.set_dirty(&format!(
                "a run stopped while its {name} was changing the tree"
            )) {
                self.journal_reset(format!("cannot mark the journal's directory: {e}"));
            }
        }
        let code = self.rsync(name, words).await?;
        let t = std::time::Instant::now();
        // rsync logs each change once it is made. One that stopped by itself has logged all
        // of them; one killed by a signal may have made a change it never logged.
        if code == 20 || code >= 128 {
            self.journal_reset(format!("the {name} rsync was stopped (exit {code})"));
            return Ok(code);
        }
        match self.harvest(&log_rsync, from) {
            Ok(changes) => {
                if let Err(e) = store.append_pending(&changes) {
                    self.journal_reset(format!("cannot record the changes: {e}"));
                }
            }
            Err(why) => self.journal_reset(why),
        }
        if !was_dirty && self.journal.borrow().reset.is_none() {
            store.clear_dirty();
        }
        self.journal.borrow_mut().spent += t.elapsed();
        Ok(code)
    }

    fn harvest(&self, log_rsync: &Path, from: u64) -> Result<Changes, String> {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(log_rsync)
            .map_err(|e| format!("cannot read LOG_RSYNC {}: {e}", log_rsync.display()))?;
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < from {
            return Err(format!(
                "LOG_RSYNC {} shrank during the stage",
                log_rsync.display()
            ));
        }
        let mut data = Vec::new();
        f.seek(SeekFrom::Start(from))
            .and_then(|_| f.read_to_end(&mut data))
            .map_err(|e| format!("cannot read LOG_RSYNC {}: {e}", log_rsync.display()))?;
        record::changes(&data, &self.s.to)
    }

    /// Our next journal starts afresh, for `why`; also if this run dies before publishing.
    fn journal_reset(&self, why: String) {
        let mut j = self.journal.borrow_mut();
        if j.reset.is_none() {
            self.log
                .log(format!("Journal: the next journal starts afresh: {why}"));
            let _ = j.store.set_dirty(&why);
            j.reset = Some(why);
        }
    }

    /// After the last stage of a successful run, before the trace files: add what this run
    /// (and failed runs before it) changed to our journal, and publish it.
    pub(super) fn journal_publish(&self) {
        if !self.recording() {
            return;
        }
        let t = std::time::Instant::now();
        let s = &self.s;
        let j = self.journal.borrow();
        let store = &j.store;
        let mut why_afresh = j.reset.clone().or_else(|| store.dirty());
        let journal = match store.own() {
            Ok(Some(own)) if own.mirror == s.mirrorname && own.host == s.tracehost => Some(own),
            Ok(Some(_)) => {
                why_afresh.get_or_insert("MIRRORNAME or TRACEHOST changed".into());
                None
            }
            Ok(None) => {
                why_afresh.get_or_insert("there was no journal yet".into());
                None
            }
            Err(e) => {
                why_afresh.get_or_insert(format!("our copy of it is unusable: {e}"));
                None
            }
        };
        let pending = match store.pending(s.journal.max_bytes) {
            Ok(p) => p,
            Err(e) => {
                why_afresh.get_or_insert(e);
                Changes::new()
            }
        };
        let result = (|| -> std::io::Result<String> {
            let limits = (
                usize::try_from(s.journal.max_entries).unwrap_or(usize::MAX),
                usize::try_from(s.journal.max_bytes).unwrap_or(usize::MAX),
            );
            let (journal, message) = next_journal(s, why_afresh, journal, pending, limits)?;
            let text = journal.render();
            // The private copy first: should the tree's fail, the next run publishes it.
            store.set_own(&text)?;
            let published = s.to.join(format::NAME);
            if std::fs::read(&published).ok().as_deref() != Some(&text[..]) {
                crate::common::atomic::write(&published, &text)?;
            }
            Ok(message.unwrap_or_default())
        })();
        drop(j);
        let spent = {
            let mut j = self.journal.borrow_mut();
            j.spent += t.elapsed();
            j.spent
        };
        match result {
            Ok(m) if !m.is_empty() => self.log.log(format!(
                "{m} (recorded and written in {:.1} ms)",
                spent.as_secs_f64() * 1000.0
            )),
            Ok(_) => {}
            Err(e) => self.error(&format!(
                "Cannot publish the journal {}: {e}",
                s.to.join(format::NAME).display()
            )),
        }
    }
}

/// Text from the upstream (its journal's names, its `_hierarchy`) as the log may show it:
/// control characters and escape sequences escaped, as words from ssh are.
pub(super) fn shown(s: &str) -> String {
    s.escape_debug().to_string()
}

/// About the bytes `changes` take as a journal entry.
fn entry_size(changes: &Changes) -> usize {
    changes.keys().map(|p| p.len() + 3).sum()
}

/// Our journal after this run: `own` with `pending` as one more entry, or a fresh one when
/// `why_afresh` (or there is no `own`); with the line the log gets about it.
fn next_journal(
    s: &ArchiveSettings,
    why_afresh: Option<String>,
    own: Option<Journal>,
    pending: Changes,
    (max_entries, max_bytes): (usize, usize),
) -> std::io::Result<(Journal, Option<String>)> {
    match (why_afresh, own) {
        (None, Some(own)) if pending.is_empty() => Ok((own, None)),
        // A sync that changed a large part of the tree (a first sync, a new archive): the
        // downstreams it would spare a full walk would make one anyway, reading the list,
        // and every other one would fetch it for as long as it is kept.
        (None, Some(_)) if entry_size(&pending) > max_bytes / 4 => {
            let id = format::new_id()?;
            let message = format!(
                "Journal: starting afresh at state {id}: this sync changed {} paths, more than a quarter of JOURNAL_MAX_BYTES",
                pending.len()
            );
            Ok((
                Journal::new(&s.mirrorname, &s.tracehost, &id),
                Some(message),
            ))
        }
        (None, Some(mut own)) => {
            let id = format::new_id()?;
            let n = pending.len();
            own.push(&id, state::now(), pending);
            own.trim(max_entries, max_bytes);
            let message = format!(
                "Journal: state {id}, {n} changed paths ({} entries back to {})",
                own.entries.len(),
                own.base
            );
            Ok((own, Some(message)))
        }
        (why, _) => {
            let id = format::new_id()?;
            let message = format!(
                "Journal: starting afresh at state {id}: {}",
                why.as_deref().unwrap_or("no history")
            );
            Ok((
                Journal::new(&s.mirrorname, &s.tracehost, &id),
                Some(message),
            ))
        }
    }
}
