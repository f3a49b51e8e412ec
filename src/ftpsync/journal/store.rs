//! The journal's private directory, `LOGDIR/NAME.journal/`: our own journal as last
//! published (`own`), the changes recorded since (`pending`), the marker of a stage that may
//! change the tree unrecorded (`dirty`), and our place in the upstream's journal
//! (`position.json`).

use super::format::{self, Changes, Journal};
use crate::settings::archive::ArchiveSettings;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;

/// Where we stand in the upstream's journal: the state our tree was last brought to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Position {
    /// The upstream's MIRRORNAME and TRACEHOST, from its journal.
    pub mirror: String,
    pub host: String,
    pub state: String,
    /// Of our stage commands (filters, source, options) at the time.
    pub fingerprint: String,
    /// Unix seconds of the last successful full stage 2.
    pub last_full: i64,
}

/// The journal's private directory, `LOGDIR/NAME.journal/`.
#[derive(Debug, Clone)]
pub struct Store {
    pub(super) dir: PathBuf,
}

impl Store {
    pub fn of(s: &ArchiveSettings) -> Store {
        Store {
            dir: s.core.logdir.join(format!("{}.journal", s.core.name)),
        }
    }
    pub(super) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    /// Our own journal, as last published.
    pub fn own(&self) -> Result<Option<Journal>, String> {
        match std::fs::read(self.path("own")) {
            Ok(d) => Journal::parse(&d).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
    pub fn position(&self) -> Option<Position> {
        let data = std::fs::read(self.path("position.json")).ok()?;
        serde_json::from_slice(&data).ok()
    }
    pub(super) fn set_position(&self, p: &Position) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(p).map_err(std::io::Error::other)?;
        crate::common::atomic::write(&self.path("position.json"), &json)
    }
    /// Why the next published journal must start afresh, if a run left that behind.
    pub(super) fn dirty(&self) -> Option<String> {
        std::fs::read(self.path("dirty"))
            .ok()
            .map(|d| String::from_utf8_lossy(&d).trim().to_string())
    }
    pub(super) fn set_dirty(&self, why: &str) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        crate::common::atomic::write(&self.path("dirty"), why.as_bytes())
    }
    pub(super) fn clear_dirty(&self) {
        let _ = std::fs::remove_file(self.path("dirty"));
    }
    /// `text` is now our own journal: what was pending is in it, and the tree's history
    /// is known again.
    pub(super) fn set_own(&self, text: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        crate::common::atomic::write(&self.path("own"), text)?;
        let _ = std::fs::remove_file(self.path("pending"));
        self.clear_dirty();
        Ok(())
    }
    pub(super) fn append_pending(&self, changes: &Changes) -> std::io::Result<()> {
        let mut data = Vec::new();
        for (p, k) in changes {
            data.push(k.code());
            data.push(b' ');
            format::escape_into(p, &mut data);
            data.push(b'\n');
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("pending"))?
            .write_all(&data)
    }
    /// The changes recorded since the last publication; an error when they cannot be
    /// trusted (a line we did not write, more than `max_bytes`).
    pub(super) fn pending(&self, max_bytes: u64) -> Result<Changes, String> {
        let path = self.path("pending");
        let data = match std::fs::metadata(&path) {
            Ok(m) if m.len() > max_bytes => {
                return Err(format!(
                    "the sync changed more than JOURNAL_MAX_BYTES ({max_bytes}) can hold"
                ))
            }
            Ok(_) => std::fs::read(&path).map_err(|e| e.to_string())?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Changes::new()),
            Err(e) => return Err(e.to_string()),
        };
        let mut out = Changes::new();
        for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let parsed = line.split_first().and_then(|(&k, rest)| {
                let kind = format::Kind::from_code(k)?;
                Some((format::unescape(rest.strip_prefix(b" ")?)?, kind))
            });
            let Some((p, k)) = parsed else {
                return Err(format!("{} holds a line we did not write", path.display()));
            };
            out.insert(p, k);
        }
        Ok(out)
    }
    /// Start over: forget our journal and our place in the upstream's (JOURNAL=false).
    pub(super) fn clear(&self) {
        for f in ["own", "pending", "dirty", "position.json"] {
            let _ = std::fs::remove_file(self.path(f));
        }
    }
}
