//! The operator's log file, in the original's syslog-like format, and savelog rotation.

use crate::common::{dates, host};
use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Appends `Mon DD HH:MM:SS shorthost PROGRAM[pid]: message` lines to the run's log.
/// Shared by reference between concurrent tasks, so each line is one locked write.
pub struct Logger {
    file: Mutex<Option<File>>,
    path: PathBuf,
    program: String,
    shorthost: String,
    pid: u32,
    echo: bool,
}

impl Logger {
    /// Opens (creates) the log for appending. A log that cannot be opened is not fatal:
    /// lines then go to stderr, so a full or read-only disk does not stop a sync.
    pub fn open(path: &Path, program: &str) -> Logger {
        let file = OpenOptions::new().create(true).append(true).open(path);
        let echo_forced = file.is_err();
        if let Err(e) = &file {
            eprintln!("cannot open log {}: {e}; logging to stderr", path.display());
        }
        Logger {
            file: Mutex::new(file.ok()),
            path: path.to_path_buf(),
            program: program.to_string(),
            shorthost: host::short(),
            pid: std::process::id(),
            // On a terminal the operator sees what the log gets; under cron or ssh the
            // original was silent and so are we (cron would mail any output).
            echo: echo_forced || std::io::stderr().is_terminal(),
        }
    }

    /// For a run refused before it started: the log it would have written, appended to
    /// without echo (the caller has said it on stderr) and without a fallback to stderr.
    /// None when it cannot be opened.
    pub fn open_quiet(path: &Path, program: &str) -> Option<Logger> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()?;
        Some(Logger {
            file: Mutex::new(Some(file)),
            path: path.to_path_buf(),
            program: program.to_string(),
            shorthost: host::short(),
            pid: std::process::id(),
            echo: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether every line also goes to stderr (a terminal, or a log that cannot be opened).
    pub fn echoes(&self) -> bool {
        self.echo
    }

    pub fn line(&self, msg: &str) -> String {
        format!(
            "{} {} {}[{}]: {}\n",
            dates::log_stamp(dates::now_local()),
            self.shorthost,
            self.program,
            self.pid,
            msg
        )
    }

    pub fn log(&self, msg: impl AsRef<str>) {
        let line = self.line(msg.as_ref());
        tracing::debug!(target: "archvsync::log", "{}", msg.as_ref());
        if let Ok(mut guard) = self.file.lock() {
            if let Some(f) = guard.as_mut() {
                let _ = f.write_all(line.as_bytes());
            }
        }
        if self.echo {
            // Above ftpsync's progress line, if one is showing.
            crate::common::term::eprint(&line);
        }
    }

    /// Closes the file, so rotation can move it.
    pub fn close(&self) {
        if let Ok(mut guard) = self.file.lock() {
            guard.take();
        }
    }
}

/// Rotate like the original's savelog: `F.(n-1)` → `F.n` down to `F.0` → `F.1`, then
/// `F` → `F.0`. `count` 0 disables rotation (LOG may be `/proc/1/fd/1` in a container);
/// an empty or missing file is left alone so empty logs do not push real ones out.
pub fn savelog(path: &Path, count: u64) {
    if count == 0 {
        return;
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() > 0 => {}
        _ => return,
    }
    let numbered = |n: u64| {
        let mut s = path.as_os_str().to_owned();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    };
    for n in (1..=count).rev() {
        let prev = numbered(n - 1);
        if prev.exists() {
            let _ = std::fs::rename(&prev, numbered(n));
        }
    }
    let _ = std::fs::rename(path, numbered(0));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn savelog_shifts_and_skips_empty() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("x.log");
        for i in 0..4 {
            std::fs::write(&f, format!("run{i}")).unwrap();
            savelog(&f, 2);
        }
        let read = |n: &str| std::fs::read_to_string(d.path().join(n)).ok();
        assert_eq!(read("x.log.0").as_deref(), Some("run3"));
        assert_eq!(read("x.log.1").as_deref(), Some("run2"));
        assert_eq!(read("x.log.2").as_deref(), Some("run1"));
        assert_eq!(read("x.log.3"), None);
        std::fs::write(&f, "").unwrap();
        savelog(&f, 2);
        assert_eq!(read("x.log").as_deref(), Some(""));
        assert_eq!(read("x.log.0").as_deref(), Some("run3"));
        std::fs::write(&f, "keep").unwrap();
        savelog(&f, 0);
        assert_eq!(read("x.log").as_deref(), Some("keep"));
    }

    #[test]
    fn log_line_format() {
        let d = tempfile::tempdir().unwrap();
        let l = Logger::open(&d.path().join("l"), "ftpsync");
        let line = l.line("Mirrorsync start");
        let want = format!(
            " {} ftpsync[{}]: Mirrorsync start\n",
            host::short(),
            std::process::id()
        );
        assert!(line.ends_with(&want), "{line}");
        assert_eq!(line.as_bytes()[3], b' ');
        assert_eq!(line.as_bytes()[6], b' ');
    }
}
