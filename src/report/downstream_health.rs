//! The checks of the downstreams as Debian's monitors see them (`status --downstreams`,
//! which makes them in `status::downstreams`): what is recorded in
//! `LOGDIR/ftpsync[-ARCHIVE].downstreams.json`, and its Prometheus families. Every
//! METRICS_FILE write (after each ftpsync run too) and `status --json` take the
//! per-downstream values from this record: the checks are HTTP requests to other
//! machines, made when the operator asks (a timer), never in a sync's exit path.

use super::monitor::rules::Level;
use crate::settings::archive::ArchiveSettings;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One downstream's last check.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DownstreamCheck {
    /// SHORTNAME in runmirrors.mirror.
    pub name: String,
    pub url: String,
    pub site: Option<String>,
    pub status: Level,
    /// The first rule that is not ok, in words.
    pub problem: Option<String>,
    /// The archive serial of its master trace, and of ours.
    pub serial: Option<String>,
    pub our_serial: Option<String>,
    /// How far its master trace is behind ours: 0 with the same serial, else the time
    /// between the two master traces' dates.
    pub serial_lag_seconds: Option<i64>,
    /// Its age as mirror-status scores it (the older of its two traces).
    pub age_seconds: Option<i64>,
}

/// What `status --downstreams` found for one archive.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// When (Unix seconds).
    pub checked_at: i64,
    pub downstreams: Vec<DownstreamCheck>,
    /// Why some or all downstreams could not be checked (a broken runmirrors config, bad
    /// lines in its mirror list, the CA certificates, the record itself).
    #[serde(default)]
    pub problems: Vec<String>,
    /// Why there was nothing to check (no runmirrors config), which is no problem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Record {
    /// The worst level of the checks; a problem with the list itself is a warning.
    pub fn level(&self) -> Level {
        let worst = self.downstreams.iter().map(|d| d.status).max();
        let listed = if self.problems.is_empty() {
            Level::Ok
        } else {
            Level::Warning
        };
        worst.unwrap_or(Level::Ok).max(listed)
    }
}

pub fn record_path(s: &ArchiveSettings) -> PathBuf {
    s.core
        .logdir
        .join(format!("{}.downstreams.json", s.core.name))
}

/// The last recorded checks, if `status --downstreams` ever ran (a record that does not
/// parse counts as none: the next check replaces it).
pub fn recorded(s: &ArchiveSettings) -> Option<Record> {
    let data = std::fs::read(record_path(s)).ok()?;
    serde_json::from_slice(&data).ok()
}

/// Record the checks (replaced atomically).
pub fn write(s: &ArchiveSettings, record: &Record) -> Result<(), String> {
    let path = record_path(s);
    serde_json::to_vec_pretty(record)
        .map_err(|e| e.to_string())
        .and_then(|j| crate::common::atomic::write(&path, &j).map_err(|e| e.to_string()))
        .map_err(|e| format!("cannot record the checks in {}: {e}", path.display()))
}

/// The Prometheus families of the recorded checks, for each archive (name, mirror, record).
pub fn prometheus(all: &[(&str, &str, &Record)], escape: fn(&str) -> String) -> String {
    // (family, help, the sample of one downstream checked at a time)
    type Family = (
        &'static str,
        &'static str,
        fn(&DownstreamCheck, i64) -> Option<i64>,
    );
    let families: [Family; 5] = [
        (
            "archvsync_downstream_check_status",
            "Debian's monitors' verdict on the downstream (status --downstreams): 0 ok, 1 warning, 2 error.",
            |d, _| Some(i64::from(d.status.exit_code())),
        ),
        (
            "archvsync_downstream_archive_serial",
            "Archive serial of the downstream's master trace, when numeric.",
            |d, _| d.serial.as_deref().and_then(|s| s.parse().ok()),
        ),
        (
            "archvsync_downstream_serial_lag_seconds",
            "How far the downstream's master trace is behind ours (0: the same serial).",
            |d, _| d.serial_lag_seconds,
        ),
        (
            "archvsync_downstream_age_seconds",
            "The downstream's age as mirror-status scores it (its older trace).",
            |d, _| d.age_seconds,
        ),
        (
            "archvsync_downstream_check_timestamp_seconds",
            "When the downstream was last checked (Unix time).",
            |_, at| Some(at),
        ),
    ];
    let mut out = String::new();
    for (family, help, value) in families {
        let mut samples = String::new();
        for (name, mirror, record) in all {
            for d in &record.downstreams {
                if let Some(v) = value(d, record.checked_at) {
                    samples.push_str(&format!(
                        "{family}{{name=\"{}\",mirror=\"{}\",downstream=\"{}\"}} {v}\n",
                        escape(name),
                        escape(mirror),
                        escape(&d.name)
                    ));
                }
            }
        }
        if !samples.is_empty() {
            out.push_str(&format!(
                "# HELP {family} {help}\n# TYPE {family} gauge\n{samples}"
            ));
        }
    }
    out
}
