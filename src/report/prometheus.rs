//! Prometheus text exposition of [`ArchiveStatus`]: `status --prometheus` and METRICS_FILE
//! (for node_exporter's textfile collector).

use super::{gather, ArchiveStatus, Health, DEFAULT_MAX_AGE};
use crate::common::kinds::{RunResult, SyncKind};
use crate::settings::archive::ArchiveSettings;
use std::path::Path;

/// Prometheus text exposition format: every family once, HELP and TYPE first.
pub fn prometheus(all: &[ArchiveStatus]) -> String {
    struct Family {
        name: &'static str,
        help: &'static str,
        samples: Vec<(String, String)>,
    }
    let fam = |name, help| Family {
        name,
        help,
        samples: Vec::new(),
    };
    let mut f = [
        fam(
            "archvsync_last_run_timestamp_seconds",
            "End of the last ftpsync run (Unix time).",
        ),
        fam(
            "archvsync_last_run_success",
            "1 if the last ftpsync run succeeded, else 0.",
        ),
        fam(
            "archvsync_last_run_exit_status",
            "Exit status of the last ftpsync run.",
        ),
        fam(
            "archvsync_last_success_timestamp_seconds",
            "End of the last successful ftpsync run (Unix time).",
        ),
        fam(
            "archvsync_last_run_duration_seconds",
            "Duration of the last ftpsync run, per rsync stage and in total.",
        ),
        fam(
            "archvsync_last_run_received_bytes",
            "Bytes rsync received in the last ftpsync run.",
        ),
        fam(
            "archvsync_archive_serial",
            "Archive serial of the mirror (project/trace/master), when numeric.",
        ),
        fam(
            "archvsync_sync_in_progress",
            "1 while an ftpsync run holds the lock.",
        ),
        fam(
            "archvsync_healthy",
            "1 when the last run succeeded and the last success is recent enough.",
        ),
        fam(
            "archvsync_downstream_trigger_success",
            "1 if the last push trigger reached the downstream.",
        ),
        fam(
            "archvsync_downstream_trigger_duration_seconds",
            "Duration of the last push trigger (until done or accepted).",
        ),
        fam(
            "archvsync_downstream_trigger_exit_status",
            "Final exit status of the last push trigger's ssh session, when known.",
        ),
        fam(
            "archvsync_last_run_journal_sync",
            "1 if the last ftpsync run synced only the paths its upstream's change journal named, 0 if the whole tree.",
        ),
        fam(
            "archvsync_last_run_journal_paths",
            "Paths the last journal sync looked at.",
        ),
        fam(
            "archvsync_last_run_full_sync",
            "1, labelled with the reason the last ftpsync run synced the whole tree.",
        ),
        fam(
            "archvsync_last_run_index_sync",
            "1 if the last ftpsync run synced only the paths its upstream's archive metadata showed changed, 0 if not.",
        ),
        fam(
            "archvsync_last_run_index_fallback",
            "1, labelled with the reason the last ftpsync run was not an index sync (or fell back from one).",
        ),
    ];
    for a in all {
        let mirror = a.mirrorname.clone().unwrap_or_default();
        let labels = format!(
            "name=\"{}\",mirror=\"{}\"",
            escape(&a.name),
            escape(&mirror)
        );
        let mut put = |i: usize, extra: &str, v: String| {
            let l = if extra.is_empty() {
                labels.clone()
            } else {
                format!("{labels},{extra}")
            };
            f[i].samples.push((l, v));
        };
        if let Some(r) = &a.last_run {
            put(0, "", r.ended.to_string());
            put(1, "", u8::from(r.result == RunResult::Success).to_string());
            put(2, "", r.exit_status.to_string());
            put(4, "stage=\"stage1\"", r.stage1_seconds.to_string());
            put(4, "stage=\"stage2\"", r.stage2_seconds.to_string());
            put(
                4,
                "stage=\"total\"",
                (r.ended - r.started).max(0).to_string(),
            );
            put(5, "", r.bytes_received.to_string());
            if let Some(kind) = r.sync_kind {
                put(12, "", u8::from(kind == SyncKind::Journal).to_string());
            }
            if let Some(kind) = r.sync_kind {
                put(15, "", u8::from(kind == SyncKind::Index).to_string());
            }
            if let (Some(SyncKind::Full), Some(why)) = (r.sync_kind, &r.index_sync_reason) {
                put(16, &format!("reason=\"{}\"", escape(why)), "1".into());
            }
            if let Some(n) = r.journal_paths {
                put(13, "", n.to_string());
            }
            if let (Some(SyncKind::Full), Some(why)) = (r.sync_kind, &r.full_sync_reason) {
                put(14, &format!("reason=\"{}\"", escape(why)), "1".into());
            }
        }
        if let Some(r) = &a.last_success {
            put(3, "", r.ended.to_string());
        }
        if let Some(n) = a
            .serial
            .master
            .as_deref()
            .and_then(|s| s.parse::<u64>().ok())
        {
            put(6, "", n.to_string());
        }
        put(7, "", u8::from(a.in_progress.is_some()).to_string());
        put(8, "", u8::from(a.health == Health::Ok).to_string());
        for (d, r) in &a.downstreams {
            let dl = format!("downstream=\"{}\"", escape(d));
            put(9, &dl, u8::from(r.ok()).to_string());
            put(
                10,
                &dl,
                format!("{}", r.finished_seconds.unwrap_or(r.duration_seconds)),
            );
            if let Some(c) = r.finished_exit_status.or(r.exit_status) {
                put(11, &dl, c.to_string());
            }
        }
    }
    let mut out = String::new();
    for family in &f {
        if family.samples.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "# HELP {} {}\n# TYPE {} gauge\n",
            family.name, family.help, family.name
        ));
        for (l, v) in &family.samples {
            out.push_str(&format!("{}{{{l}}} {v}\n", family.name));
        }
    }
    let checks: Vec<(&str, &str, &super::downstream_health::Record)> = all
        .iter()
        .filter_map(|a| {
            let record = a.downstream_checks.as_ref()?;
            Some((
                a.name.as_str(),
                a.mirrorname.as_deref().unwrap_or(""),
                record,
            ))
        })
        .collect();
    out.push_str(&super::downstream_health::prometheus(&checks, escape));
    out
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// METRICS_FILE: this archive's metrics, replaced atomically so the node_exporter textfile
/// collector never reads half a file.
pub fn write_metrics_file(path: &Path, s: &ArchiveSettings) -> std::io::Result<()> {
    let text = prometheus(&[gather(s, DEFAULT_MAX_AGE)]);
    crate::common::atomic::write(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
