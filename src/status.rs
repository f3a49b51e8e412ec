//! `archvsync status [ARCHIVE...]`: what the last runs did, at a glance (a table), for
//! machines (`--json`) and for Prometheus (`--prometheus`, and METRICS_FILE after each run).
//! Its exit status makes it a Nagios/Icinga check: 0 OK, 2 CRITICAL (the last run failed or
//! the last success is older than --max-age), 3 UNKNOWN (no run recorded, or no config).

use crate::common::config;
use crate::common::layout::Layout;
use crate::common::state::{self, State};
use crate::common::{lock, trace};
use crate::ftpsync::settings::Settings;
use serde::Serialize;
use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Debian's mirror checker calls a mirror stale two days after the master trace.
pub const DEFAULT_MAX_AGE: u64 = 2 * 86400;

/// `90m`, `36h`, `2d`, `45s` or plain seconds.
pub fn parse_age(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('s') => (&s[..s.len() - 1], 1),
        Some('m') => (&s[..s.len() - 1], 60),
        Some('h') => (&s[..s.len() - 1], 3600),
        Some('d') => (&s[..s.len() - 1], 86400),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .map(|n| n * mult)
        .map_err(|_| format!("{s:?} is not an age like 90m, 36h, 2d or a number of seconds"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Ok,
    Failed,
    Stale,
    Never,
    Unknown,
}

impl Health {
    fn exit_code(self) -> u8 {
        match self {
            Health::Ok => 0,
            Health::Failed | Health::Stale => 2,
            Health::Never | Health::Unknown => 3,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Serials {
    pub ours: Option<String>,
    pub master: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InProgress {
    pub pid: String,
    /// Unix seconds: when the lock was taken (its mtime).
    pub since: Option<i64>,
}

/// One archive, as `status --json` prints it (documented in the README).
#[derive(Debug, Clone, Serialize)]
pub struct ArchiveStatus {
    /// `ftpsync` or `ftpsync-ARCHIVE`.
    pub name: String,
    pub archive: String,
    pub config: Option<PathBuf>,
    pub mirrorname: Option<String>,
    pub to: Option<PathBuf>,
    pub health: Health,
    /// Why the health is not ok, in words.
    pub problem: Option<String>,
    pub last_success_age_seconds: Option<i64>,
    pub serial: Serials,
    pub in_progress: Option<InProgress>,
    pub last_run: Option<state::SyncRun>,
    pub last_success: Option<state::SyncRun>,
    pub last_push: Option<state::PushRun>,
    pub downstreams: std::collections::BTreeMap<String, state::Downstream>,
}

/// Gather everything about one archive from its settings, state record, trace and lock.
pub fn gather(s: &Settings, max_age: u64) -> ArchiveStatus {
    let state_path = state::path(&s.logdir, &s.name);
    // A record that does not parse is not "no run yet": say so (the next run keeps it aside).
    let (st, unreadable): (Option<State>, Option<String>) = match state::read(&state_path) {
        Ok(st) => (st, None),
        Err(why) => (
            None,
            Some(format!("the state record {}: {why}", state_path.display())),
        ),
    };
    let lock_path = s.to.join(s.lock_name());
    let in_progress =
        lock::holder(&lock_path, Duration::from_secs(s.locktimeout)).map(|pid| InProgress {
            pid,
            since: std::fs::metadata(&lock_path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .and_then(|d| i64::try_from(d.as_secs()).ok()),
        });
    let serial = Serials {
        ours: trace::read_field(&s.to.join(s.trace_name()), "Archive serial"),
        master: trace::read_field(&s.to.join(trace::TRACEDIR).join("master"), "Archive serial"),
    };
    let now = state::now();
    let last_run = st.as_ref().and_then(|x| x.last_run.clone());
    let last_success = st.as_ref().and_then(|x| x.last_success.clone());
    let age = last_success.as_ref().map(|r| now - r.ended);
    let (health, problem) = match (&last_run, age) {
        (None, _) if unreadable.is_some() => (Health::Unknown, unreadable),
        (None, _) => (Health::Never, Some("no run recorded yet".to_string())),
        (Some(r), _) if r.result != "success" => (
            Health::Failed,
            Some(format!(
                "the last run failed with exit status {}",
                r.exit_status
            )),
        ),
        (Some(_), Some(a)) if a > i64::try_from(max_age).unwrap_or(i64::MAX) => (
            Health::Stale,
            Some(format!("the last success is {} old", human_age(a))),
        ),
        _ => (Health::Ok, None),
    };
    ArchiveStatus {
        name: s.name.clone(),
        archive: s.archive.clone(),
        config: Some(s.config_path.clone()),
        mirrorname: Some(s.mirrorname.clone()),
        to: Some(s.to.clone()),
        health,
        problem,
        last_success_age_seconds: age,
        serial,
        in_progress,
        last_run,
        last_success,
        last_push: st.as_ref().and_then(|x| x.last_push.clone()),
        downstreams: st.map(|x| x.downstreams).unwrap_or_default(),
    }
}

/// Archives with a config: `ftpsync.conf` is the default archive, `ftpsync-NAME.conf` NAME.
pub fn discover(layout: &Layout) -> Vec<String> {
    let mut found = BTreeSet::new();
    for dir in &layout.confdirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(stem) = name
                .strip_suffix(".conf")
                .or_else(|| name.strip_suffix(".toml"))
            else {
                continue;
            };
            if stem == "ftpsync" {
                found.insert(String::new());
            } else if let Some(a) = stem.strip_prefix("ftpsync-") {
                found.insert(a.to_string());
            }
        }
    }
    found.into_iter().collect()
}

/// What `status` was asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Archives to show; empty: every one found.
    pub archives: Vec<String>,
    pub json: bool,
    pub prometheus: bool,
    /// Seconds since the last success beyond which the mirror is stale.
    pub max_age: u64,
}

pub fn main(layout: &Layout, args: Options) -> u8 {
    let archives = if args.archives.is_empty() {
        discover(layout)
    } else {
        args.archives.clone()
    };
    let mut all = Vec::new();
    for a in &archives {
        let a = if a == "default" { "" } else { a.as_str() };
        match Settings::load(layout, a, None) {
            Ok(s) => all.push(gather(&s, args.max_age)),
            Err(refusal) => all.push(ArchiveStatus {
                name: if a.is_empty() {
                    "ftpsync".into()
                } else {
                    config::sanitize_name(&format!("ftpsync-{a}"))
                },
                archive: a.to_string(),
                config: None,
                mirrorname: None,
                to: None,
                health: Health::Unknown,
                problem: Some(refusal.message),
                last_success_age_seconds: None,
                serial: Serials {
                    ours: None,
                    master: None,
                },
                in_progress: None,
                last_run: None,
                last_success: None,
                last_push: None,
                downstreams: Default::default(),
            }),
        }
    }
    if all.is_empty() {
        eprintln!(
            "no ftpsync configuration found (searched {})",
            layout
                .confdirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return 3;
    }
    if args.json {
        match serde_json::to_string_pretty(&all) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("cannot render JSON: {e}");
                return 3;
            }
        }
    } else if args.prometheus {
        print!("{}", prometheus(&all));
    } else {
        print!("{}", table(&all, std::io::stdout().is_terminal()));
    }
    // The worst wins: CRITICAL over UNKNOWN over OK.
    let codes: Vec<u8> = all.iter().map(|a| a.health.exit_code()).collect();
    if codes.contains(&2) {
        2
    } else if codes.contains(&3) {
        3
    } else {
        0
    }
}

pub fn human_age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86399 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

fn date(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| {
            t.to_offset(crate::common::dates::now_local().offset())
                .format(time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute]"
                ))
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

pub fn table(all: &[ArchiveStatus], colour: bool) -> String {
    let now = state::now();
    let paint = |h: Health, text: String| -> String {
        if !colour {
            return text;
        }
        let code = match h {
            Health::Ok => "32",
            Health::Failed => "31",
            Health::Stale => "33",
            Health::Never | Health::Unknown => "35",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    };
    let header = [
        "ARCHIVE",
        "HEALTH",
        "LAST RUN",
        "LAST SUCCESS",
        "SERIAL OURS/MASTER",
        "RUNNING",
        "DOWNSTREAMS",
    ];
    let mut rows: Vec<(Health, [String; 7])> = Vec::new();
    for a in all {
        let last_run = a
            .last_run
            .as_ref()
            .map(|r| {
                format!(
                    "{} {} ({} ago)",
                    if r.result == "success" {
                        "ok"
                    } else {
                        "FAILED"
                    },
                    if r.result == "success" {
                        String::new()
                    } else {
                        format!("exit {}", r.exit_status)
                    },
                    human_age(now - r.ended)
                )
                .replace("  ", " ")
            })
            .unwrap_or_else(|| "never".into());
        let last_success = a
            .last_success
            .as_ref()
            .map(|r| format!("{} ({} ago)", date(r.ended), human_age(now - r.ended)))
            .unwrap_or_else(|| "never".into());
        let serial = format!(
            "{}/{}",
            a.serial.ours.as_deref().unwrap_or("-"),
            a.serial.master.as_deref().unwrap_or("-")
        );
        let running = a
            .in_progress
            .as_ref()
            .map(|p| match p.since {
                Some(t) => format!("pid {} for {}", p.pid, human_age(now - t)),
                None => format!("pid {}", p.pid),
            })
            .unwrap_or_else(|| "no".into());
        let downstreams = if a.downstreams.is_empty() {
            "-".to_string()
        } else {
            let ok = a.downstreams.values().filter(|d| d.ok()).count();
            let names = |f: &dyn Fn(&state::Downstream) -> bool| -> Vec<&str> {
                a.downstreams
                    .iter()
                    .filter(|(_, d)| f(d))
                    .map(|(n, _)| n.as_str())
                    .collect()
            };
            let failed = names(&|d| !d.ok() && d.outcome != "not_sent");
            let not_sent = names(&|d| d.outcome == "not_sent");
            let mut text = format!("{ok}/{} ok", a.downstreams.len());
            if !failed.is_empty() {
                text.push_str(&format!(", failed: {}", failed.join(",")));
            }
            if !not_sent.is_empty() {
                text.push_str(&format!(", not sent: {}", not_sent.join(",")));
            }
            text
        };
        let name = if a.archive.is_empty() {
            "(default)".to_string()
        } else {
            a.archive.clone()
        };
        let health = format!("{:?}", a.health).to_lowercase();
        rows.push((
            a.health,
            [
                name,
                health,
                last_run,
                last_success,
                serial,
                running,
                downstreams,
            ],
        ));
    }
    let mut widths = header.map(str::len);
    for (_, r) in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: &[String], health: Option<Health>| -> String {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            let padded = format!("{c:<w$}", w = widths[i]);
            let padded = match (i, health) {
                (1, Some(h)) => paint(h, padded),
                _ => padded,
            };
            out.push_str(&padded);
            out.push_str(if i + 1 < cells.len() { "  " } else { "" });
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(&header.map(String::from), None);
    for (h, r) in &rows {
        out.push_str(&line(r, Some(*h)));
    }
    for a in all {
        if let Some(p) = &a.problem {
            let name = if a.archive.is_empty() {
                "(default)"
            } else {
                &a.archive
            };
            out.push_str(&format!("{name}: {p}\n"));
        }
    }
    out
}

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
            put(1, "", u8::from(r.result == "success").to_string());
            put(2, "", r.exit_status.to_string());
            put(4, "stage=\"stage1\"", r.stage1_seconds.to_string());
            put(4, "stage=\"stage2\"", r.stage2_seconds.to_string());
            put(
                4,
                "stage=\"total\"",
                (r.ended - r.started).max(0).to_string(),
            );
            put(5, "", r.bytes_received.to_string());
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
    out
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// METRICS_FILE: this archive's metrics, replaced atomically so the node_exporter textfile
/// collector never reads half a file.
pub fn write_metrics_file(path: &Path, s: &Settings) -> std::io::Result<()> {
    let text = prometheus(&[gather(s, DEFAULT_MAX_AGE)]);
    state::write_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(parse_age("2d").unwrap(), 172800);
        assert_eq!(parse_age("90m").unwrap(), 5400);
        assert_eq!(parse_age("36h").unwrap(), 129600);
        assert_eq!(parse_age("15").unwrap(), 15);
        assert!(parse_age("soon").is_err());
        assert_eq!(human_age(59), "59s");
        assert_eq!(human_age(3700), "1h01m");
        assert_eq!(human_age(90000), "1d01h");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
