//! Trace files (SPEC §5): what the mirror network and Debian's mirror checker read about us.

use crate::common::dates;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

pub const TRACEDIR: &str = "project/trace";
/// The archive's master trace: written by the archive itself (dak), mirrored by everyone.
pub const MASTER: &str = "project/trace/master";
pub const HIERARCHY: &str = "project/trace/_hierarchy";
pub const TRACELIST: &str = "project/trace/_traces";
/// The change journal a mirror publishes (`ftpsync::journal`). Debian's mirror-status skips
/// `project/trace/` entries starting with `_`, `_traces` leaves them out, and a downstream
/// running the original ftpsync mirrors it as one more file.
pub const JOURNAL: &str = "project/trace/_archvsync-journal";

/// `Used ftpsync version`: the upstream release we are compatible with, digits only.
/// Debian's checker (`Mirror::Trace`) accepts only `^Used ftpsync version: ([0-9]+)$` and
/// takes anything else for a broken ftpsync without InRelease, i18n or
/// Archive-Update-in-Progress support; the number is what it compares.
pub const FTPSYNC_VERSION: &str = "20180513";

/// `Creator`: who wrote the trace. mirror-status names the software from this line, so it
/// names us; the version line above stays what the checkers expect.
pub const CREATOR: &str = concat!("archvsync ", env!("CARGO_PKG_VERSION"));

/// The last non-empty line of a `_hierarchy` file's `text`, split into its fields: the
/// mirror that wrote the file, `TRACEFILE MIRRORNAME HOST UPSTREAM` (each mirror appends
/// its own line to its upstream's).
pub fn last_hierarchy_line(text: &str) -> Vec<&str> {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default()
}

/// Everything a trace file says besides what it reads from disk.
#[derive(Debug, Clone, Default)]
pub struct TraceInfo {
    pub date_started: String,
    pub tracehost: String,
    pub mirrorname: String,
    pub maintainer: Option<String>,
    pub sponsor: Option<String>,
    pub country: Option<String>,
    pub location: Option<String>,
    pub throughput: Option<String>,
    pub trigger: Option<String>,
    pub arch_include: Vec<String>,
    pub arch_exclude: Vec<String>,
    pub rsync_host: Option<String>,
    pub transport: String,
    pub log_rsync: PathBuf,
    /// Size of the rsync log when the run started: only this run's lines count (with
    /// LOGROTATE=0 the log is never rotated and would count earlier runs again).
    pub log_rsync_offset: u64,
    pub time_stage1: u64,
    pub time_stage2: u64,
}

/// `Key: value` lookup, first match, as the original's awk did.
pub fn field(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(": ")?;
            (k == key).then(|| v.trim().to_string())
        })
        .filter(|v| !v.is_empty())
}

/// Files from the synced tree may hold anything; a stray byte must not hide a field.
fn read_lossy(path: &Path, from: u64) -> Option<String> {
    let data = std::fs::read(path).ok()?;
    let start = usize::try_from(from).unwrap_or(usize::MAX).min(data.len());
    Some(String::from_utf8_lossy(&data[start..]).into_owned())
}

pub fn read_field(path: &Path, key: &str) -> Option<String> {
    field(&read_lossy(path, 0)?, key)
}

/// When the archive in `to` was made: its master trace's `Date:` field, or (in traces
/// without one) its first line, as Unix seconds.
pub fn master_date(to: &Path) -> Option<i64> {
    let text = read_lossy(&to.join(MASTER), 0)?;
    field(&text, "Date")
        .and_then(|d| dates::parse_rfc2822(&d))
        .or_else(|| {
            let first = text.lines().next()?;
            dates::parse_trace_date(first, dates::TraceDateReader::MirrorStatus).ok()
        })
        .map(|t| t.unix_timestamp())
}

/// Sorted architectures present in the tree: `binary-A/Packages*` and `source/Sources*`
/// anywhere under `dists/`.
pub fn architectures(to: &Path) -> Vec<String> {
    let mut found = std::collections::BTreeSet::new();
    let mut stack = vec![to.join("dists")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let dirname = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            let name = e.file_name().to_string_lossy().into_owned();
            if ft.is_dir() {
                stack.push(e.path());
            } else if name.starts_with("Packages") {
                if let Some(a) = dirname.strip_prefix("binary-") {
                    found.insert(a.to_string());
                }
            } else if name.starts_with("Sources") && dirname == "source" {
                found.insert("source".to_string());
            }
        }
    }
    found.into_iter().collect()
}

/// The original built these lists with `tr '\n' ' '`, so every word is followed by a space,
/// the last one too. Kept byte for byte: scripts compare whole lines.
fn word_list(words: &[String]) -> String {
    words.iter().map(|w| format!("{w} ")).collect()
}

fn sorted_unique(words: &[String]) -> Vec<String> {
    let set: std::collections::BTreeSet<String> = words.iter().cloned().collect();
    set.into_iter().collect()
}

pub fn content(to: &Path, info: &TraceInfo, now: OffsetDateTime) -> String {
    let mut out = String::new();
    // Every line must stay `Key: value` (the checker rejects the whole file otherwise), so
    // a value from the config cannot start a line of its own.
    let mut line = |k: &str, v: &str| {
        out.push_str(k);
        out.push_str(": ");
        out.extend(v.chars().map(|c| if c.is_control() { ' ' } else { c }));
        out.push('\n');
    };
    line("Date", &dates::rfc2822_utc(now));
    line("Date-Started", &info.date_started);
    let master = to.join(MASTER);
    if master.exists() {
        let serial = read_field(&master, "Archive serial").unwrap_or_else(|| "unknown".into());
        line("Archive serial", &serial);
    }
    line("Used ftpsync version", FTPSYNC_VERSION);
    line("Creator", CREATOR);
    line("Running on host", &info.tracehost);
    for (k, v) in [
        ("Maintainer", &info.maintainer),
        ("Sponsor", &info.sponsor),
        ("Country", &info.country),
        ("Location", &info.location),
        ("Throughput", &info.throughput),
        ("Trigger", &info.trigger),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            line(k, v);
        }
    }
    if to.join("dists").is_dir() {
        let archs = architectures(to);
        if !archs.is_empty() {
            line("Architectures", &word_list(&archs));
        }
    }
    let conf = if !info.arch_include.is_empty() {
        format!("INCLUDE {}", word_list(&sorted_unique(&info.arch_include)))
    } else if !info.arch_exclude.is_empty() {
        format!("EXCLUDE {}", word_list(&sorted_unique(&info.arch_exclude)))
    } else {
        "ALL".to_string()
    };
    line("Architectures-Configuration", &conf);
    line(
        "Upstream-mirror",
        info.rsync_host.as_deref().unwrap_or("unknown"),
    );
    line("Rsync-Transport", &info.transport);
    let total = read_lossy(&info.log_rsync, info.log_rsync_offset)
        .map(|t| crate::common::rsync::bytes_received(&t))
        .unwrap_or(0);
    if total > 0 {
        line("Total bytes received in rsync", &total.to_string());
    }
    let total_time = info.time_stage1 + info.time_stage2;
    line(
        "Total time spent in stage1 rsync",
        &info.time_stage1.to_string(),
    );
    line(
        "Total time spent in stage2 rsync",
        &info.time_stage2.to_string(),
    );
    line("Total time spent in rsync", &total_time.to_string());
    if let Some(rate) = total.checked_div(total_time) {
        line("Average rate", &format!("{rate} B/s"));
    }
    // The first line is bare: the checker reads it as the date of the mirror's state.
    format!("{}\n{out}", dates::date_u(now))
}

/// Write the trace file `tracefile` (relative to TO), then `_hierarchy`, its
/// `_hierarchy.mirror` copy, and `_traces`.
pub fn write(to: &Path, tracefile: &str, info: &TraceInfo) -> std::io::Result<()> {
    let path = to.join(tracefile);
    super::atomic::write(
        &path,
        content(to, info, OffsetDateTime::now_utc()).as_bytes(),
    )?;

    // The upstream's `_hierarchy.mirror` arrived with the sync (it is not one of our
    // protected names): its lines are the chain above us.
    let hierarchy = to.join(HIERARCHY);
    let mut mirror_copy = hierarchy.as_os_str().to_owned();
    mirror_copy.push(".mirror");
    let mirror_copy = PathBuf::from(mirror_copy);
    let mut text = read_lossy(&mirror_copy, 0).unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let base = Path::new(tracefile)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    text.push_str(&format!(
        "{base} {} {} {}\n",
        info.mirrorname,
        info.tracehost,
        info.rsync_host.as_deref().unwrap_or("unknown")
    ));
    super::atomic::write(&hierarchy, text.as_bytes())?;
    super::atomic::write(&mirror_copy, text.as_bytes())?;

    super::atomic::write(
        &to.join(TRACELIST),
        trace_list(&to.join(TRACEDIR)).as_bytes(),
    )
}

/// Names of the trace files (recursively, relative to the trace directory), skipping those
/// that start with `_` and hidden top-level entries, oldest first like `ls -1rt`.
fn trace_list(dir: &Path) -> String {
    let mut files: Vec<(std::time::SystemTime, String)> = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, prefix)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if prefix.is_empty() && name.starts_with('.') {
                continue;
            }
            let rel = format!("{prefix}{name}");
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push((e.path(), format!("{rel}/")));
            } else if meta.is_file() && !name.starts_with('_') {
                files.push((meta.modified().unwrap_or(std::time::UNIX_EPOCH), rel));
            }
        }
    }
    // ls -t: newest first, ties by name; -r reverses the whole order.
    files.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    files.reverse();
    files.into_iter().map(|(_, n)| n + "\n").collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn content_fields_in_order() {
        let d = tempfile::tempdir().unwrap();
        let to = d.path();
        std::fs::create_dir_all(to.join("project/trace")).unwrap();
        std::fs::create_dir_all(to.join("dists/sid/main/binary-amd64")).unwrap();
        std::fs::create_dir_all(to.join("dists/sid/main/source")).unwrap();
        std::fs::write(to.join("dists/sid/main/binary-amd64/Packages.xz"), "").unwrap();
        std::fs::write(to.join("dists/sid/main/source/Sources.xz"), "").unwrap();
        std::fs::write(
            to.join("project/trace/master"),
            "x\nArchive serial: 2026112101\n",
        )
        .unwrap();
        let log = to.join("rsync.log");
        std::fs::write(&log, "x sent 10 bytes  received 400 bytes  total size 1\n").unwrap();
        let info = TraceInfo {
            date_started: "Sat, 21 Nov 2026 10:00:00 +0000".into(),
            tracehost: "m.example".into(),
            mirrorname: "m".into(),
            country: Some("DE".into()),
            trigger: Some("cron".into()),
            arch_include: vec!["source".into(), "amd64".into(), "amd64".into()],
            rsync_host: Some("up.example".into()),
            transport: "undefined".into(),
            log_rsync: log,
            time_stage1: 1,
            time_stage2: 3,
            ..Default::default()
        };
        let c = content(to, &info, datetime!(2026-11-21 10:05:00 UTC));
        let want = format!(
            "Sat Nov 21 10:05:00 UTC 2026\n\
             Date: Sat, 21 Nov 2026 10:05:00 +0000\n\
             Date-Started: Sat, 21 Nov 2026 10:00:00 +0000\n\
             Archive serial: 2026112101\n\
             Used ftpsync version: 20180513\n\
             Creator: archvsync {}\n\
             Running on host: m.example\n\
             Country: DE\n\
             Trigger: cron\n\
             Architectures: amd64 source \n\
             Architectures-Configuration: INCLUDE amd64 source \n\
             Upstream-mirror: up.example\n\
             Rsync-Transport: undefined\n\
             Total bytes received in rsync: 400\n\
             Total time spent in stage1 rsync: 1\n\
             Total time spent in stage2 rsync: 3\n\
             Total time spent in rsync: 4\n\
             Average rate: 100 B/s\n",
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(c, want);
    }

    #[test]
    fn the_last_hierarchy_line_is_the_writers() {
        let text = "master.example master m.example \nmirror.example mirror host.m up\n\n  \n";
        assert_eq!(
            last_hierarchy_line(text),
            ["mirror.example", "mirror", "host.m", "up"]
        );
        assert!(last_hierarchy_line("").is_empty());
    }

    #[test]
    fn hierarchy_chains_upstream_lines() {
        let d = tempfile::tempdir().unwrap();
        let to = d.path();
        std::fs::create_dir_all(to.join(TRACEDIR)).unwrap();
        std::fs::write(
            to.join("project/trace/_hierarchy.mirror"),
            "master master m.d.o unknown\n",
        )
        .unwrap();
        let info = TraceInfo {
            tracehost: "hub.example".into(),
            mirrorname: "hub".into(),
            transport: "undefined".into(),
            rsync_host: Some("m.d.o".into()),
            ..Default::default()
        };
        write(to, "project/trace/hub", &info).unwrap();
        let h = std::fs::read_to_string(to.join(HIERARCHY)).unwrap();
        assert_eq!(
            h,
            "master master m.d.o unknown\nhub hub hub.example m.d.o\n"
        );
        assert_eq!(
            std::fs::read_to_string(to.join("project/trace/_hierarchy.mirror")).unwrap(),
            h
        );
        let t = std::fs::read_to_string(to.join(TRACELIST)).unwrap();
        assert_eq!(t, "hub\n");
    }
}
