//! A one-line progress display on stderr while an rsync stage runs, for an operator
//! running ftpsync by hand: `stage1: 1234 files, 56.7 MiB, 42s`, redrawn in place and
//! ended with a newline when the stage ends.
//!
//! Shown only when stderr is a terminal — never under cron or an ssh forced command — or
//! when `ARCHVSYNC_PROGRESS=1`; `ARCHVSYNC_PROGRESS=0` turns it off.
//!
//! rsync's command line stays exactly what check-config prints: the progress is read from
//! LOG_RSYNC, which rsync appends to as it goes. Each received file is an itemized line
//! (`2026/11/21 10:27:16 [25689] >f+++++++++ pool/main/h/hello/hello_1_amd64.deb`),
//! written when the file has arrived; its size is then looked up under TO — with
//! `--delay-updates` (stage 2) in the `.~tmp~` directory beside it. A file found in neither
//! place counts toward the files but not the bytes, and the display says "at least". The
//! summary line rsync writes at its end (`sent N bytes  received M bytes ...`) gives the
//! bytes that really came over the wire, shown on the final line.

use crate::common::{rsync, term};
use std::io::{IsTerminal, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How often the log is read and the line redrawn.
const POLL: Duration = Duration::from_millis(250);

/// Whether to show progress: `ARCHVSYNC_PROGRESS=0` never, `=1` always, otherwise when
/// stderr is a terminal.
pub fn wanted() -> bool {
    match std::env::var("ARCHVSYNC_PROGRESS").as_deref() {
        Ok("0") => false,
        Ok("1") => true,
        _ => std::io::stderr().is_terminal(),
    }
}

/// What rsync's log told so far about one stage.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Files received (`>f` itemized lines).
    pub files: u64,
    /// Summed sizes of the received files that could be found.
    pub bytes: u64,
    /// Received files whose size could not be found.
    pub size_unknown: u64,
    /// The wire bytes of rsync's closing summary line, once written.
    pub received: Option<u64>,
}

/// One line of LOG_RSYNC, as far as progress cares.
#[derive(Debug, PartialEq, Eq)]
pub enum LogEvent {
    /// A file was received; its name relative to the destination, unescaped.
    File(String),
    /// The closing summary: bytes received.
    Received(u64),
}

/// Parses a LOG_RSYNC line: `YYYY/MM/DD HH:MM:SS [PID] MESSAGE`.
pub fn parse_line(line: &str) -> Option<LogEvent> {
    // The prefix is ASCII, so the message starts on a character boundary.
    let msg = rsync::log_message(line.as_bytes())
        .and_then(|m| line.get(line.len() - m.len()..))
        .unwrap_or(line);
    // `%i %n%L`: eleven itemize characters, a space, the name.
    if let Some(rest) = msg.strip_prefix(">f") {
        let name = rest.get(9..)?.strip_prefix(' ')?;
        if name.is_empty() {
            return None;
        }
        return Some(LogEvent::File(unescape(name)));
    }
    if msg.starts_with("sent ") {
        // Without --no-human-readable rsync groups digits with commas.
        let n = rsync::bytes_received(&msg.replace(',', ""));
        return (n > 0 || msg.contains("received 0 bytes")).then_some(LogEvent::Received(n));
    }
    None
}

/// rsync writes unprintable bytes in names as `\#ooo` (octal).
fn unescape(name: &str) -> String {
    String::from_utf8_lossy(&rsync::unescape_log_name(name.as_bytes())).into_owned()
}

/// The size of a received file: under `.~tmp~` while `--delay-updates` holds it back,
/// else in place.
fn received_size(to: &Path, name: &str) -> Option<u64> {
    let dest = to.join(name);
    let delayed = dest
        .parent()
        .zip(dest.file_name())
        .map(|(dir, base)| dir.join(".~tmp~").join(base));
    delayed
        .iter()
        .chain(std::iter::once(&dest))
        .find_map(|p| std::fs::metadata(p).ok().filter(|m| m.is_file()))
        .map(|m| m.len())
}

/// `1023 B`, `4.0 KiB`, `56.7 MiB`, `1.2 GiB`, ...
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// `42s`, `3m05s`, `2h03m05s`.
pub fn human_secs(s: u64) -> String {
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m{:02}s", s / 3600, s % 3600 / 60, s % 60),
    }
}

/// The progress line: `stage1: 12 files, 3.4 MiB, 5s`; the final one adds what rsync
/// reported receiving: `stage1: 12 files, 3.4 MiB, 5s, done (received 1.1 MiB)`.
pub fn format_line(stage: &str, t: &Tally, elapsed: Duration, done: bool) -> String {
    let files = if t.files == 1 { "file" } else { "files" };
    let mut line = format!("{stage}: {} {files}", t.files);
    if t.bytes > 0 || (t.files > 0 && t.size_unknown == 0) {
        let at_least = if t.size_unknown > 0 { "at least " } else { "" };
        line.push_str(&format!(", {at_least}{}", human_bytes(t.bytes)));
    }
    line.push_str(&format!(", {}", human_secs(elapsed.as_secs())));
    if done {
        line.push_str(", done");
        if let Some(r) = t.received {
            line.push_str(&format!(" (received {})", human_bytes(r)));
        }
    }
    line
}

/// Follows LOG_RSYNC from an offset, adding up a stage's [`Tally`].
pub struct Watcher {
    log: PathBuf,
    to: PathBuf,
    offset: u64,
    partial: Vec<u8>,
    pub tally: Tally,
}

impl Watcher {
    /// Starts at the log's current end: only lines of the stage about to run count.
    pub fn new(log: &Path, to: &Path) -> Watcher {
        Watcher {
            log: log.to_path_buf(),
            to: to.to_path_buf(),
            offset: std::fs::metadata(log).map(|m| m.len()).unwrap_or(0),
            partial: Vec::new(),
            tally: Tally::default(),
        }
    }

    /// Reads what was appended since the last call (whole lines only).
    pub fn poll(&mut self) {
        let Ok(mut f) = std::fs::File::open(&self.log) else {
            return;
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            // Truncated or replaced: start over at its beginning.
            self.offset = 0;
            self.partial.clear();
        }
        if len == self.offset || f.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut buf = Vec::new();
        let Ok(n) = f.take(len - self.offset).read_to_end(&mut buf) else {
            return;
        };
        self.offset += n as u64;
        self.partial.extend_from_slice(&buf);
        let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        let complete: Vec<u8> = self.partial.drain(..=end).collect();
        for line in String::from_utf8_lossy(&complete).lines() {
            match parse_line(line) {
                Some(LogEvent::File(name)) => {
                    self.tally.files += 1;
                    match received_size(&self.to, &name) {
                        Some(n) => self.tally.bytes += n,
                        None => self.tally.size_unknown += 1,
                    }
                }
                Some(LogEvent::Received(n)) => {
                    self.tally.received = Some(self.tally.received.unwrap_or(0).saturating_add(n))
                }
                None => {}
            }
        }
    }
}

/// The display of one running stage; [`Progress::finish`] ends it.
pub struct Progress {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Progress {
    /// Starts showing `stage`'s progress if it is [`wanted`]. Call right before rsync
    /// starts, inside the tokio runtime.
    pub fn start(stage: &str, log_rsync: &Path, to: &Path) -> Option<Progress> {
        if !wanted() {
            return None;
        }
        let mut w = Watcher::new(log_rsync, to);
        let stage = stage.to_string();
        let (tx, mut rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut shown = String::new();
            let mut tick = tokio::time::interval(POLL);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        w.poll();
                        let line = format_line(&stage, &w.tally, started.elapsed(), false);
                        if line != shown {
                            term::show_status(&line);
                            shown = line;
                        }
                    }
                    _ = &mut rx => break,
                }
            }
            w.poll();
            term::end_status(&format_line(&stage, &w.tally, started.elapsed(), true));
        });
        Some(Progress {
            stop: Some(tx),
            task,
        })
    }

    /// Reads the rest of the log, writes the final line, ends it with a newline.
    pub async fn finish(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if (&mut self.task).await.is_err() {
            term::clear_status();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // Dropped without finish (the run's future was dropped): leave no stale line.
        if self.stop.is_some() {
            self.task.abort();
            term::clear_status();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_before_a_multibyte_character_does_not_panic() {
        // Regression: `\#12` followed by a two-byte character sliced inside it.
        assert_eq!(
            parse_line(">f+++++++++ a\\#12\u{e9}"),
            Some(LogEvent::File("a\\#12\u{e9}".to_string()))
        );
        assert_eq!(
            parse_line(">f+++++++++ \\#101\\#1\u{e9}"),
            Some(LogEvent::File("A\\#1\u{e9}".to_string()))
        );
    }

    #[test]
    fn parses_received_files() {
        assert_eq!(
            parse_line(
                "2026/11/21 10:27:16 [25689] >f+++++++++ pool/main/h/hello/hello_1_amd64.deb"
            ),
            Some(LogEvent::File("pool/main/h/hello/hello_1_amd64.deb".into()))
        );
        // an update of an existing file, and a name with spaces and an escaped byte
        assert_eq!(
            parse_line("2026/11/21 10:27:16 [1] >f.st...... dists/sid/Release"),
            Some(LogEvent::File("dists/sid/Release".into()))
        );
        assert_eq!(
            parse_line("2026/11/21 10:27:16 [1] >f+++++++++ a b/c\\#012d"),
            Some(LogEvent::File("a b/c\nd".into()))
        );
        // without the date prefix too (a custom log format)
        assert_eq!(
            parse_line(">f+++++++++ x"),
            Some(LogEvent::File("x".into()))
        );
    }

    #[test]
    fn ignores_other_lines() {
        for l in [
            "2026/11/21 10:27:16 [25689] receiving file list",
            "2026/11/21 10:27:16 [25689] cd+++++++++ pool/main/h/",
            "2026/11/21 10:27:16 [25689] cL+++++++++ lnk -> x",
            "2026/11/21 10:27:16 [25689] hf+++++++++ hl => x",
            "2026/11/21 10:27:16 [25689] *deleting   pool/main/o/old/old_1_all.deb",
            "2026/11/21 10:27:16 [25689] <f+++++++++ sent-away",
            "2026/11/21 10:27:16 [25689] >f",
            "2026/11/21 10:27:16 [25689] Number of regular files transferred: 3",
            "",
        ] {
            assert_eq!(parse_line(l), None, "{l:?}");
        }
    }

    #[test]
    fn parses_the_summary_line() {
        assert_eq!(
            parse_line(
                "2026/11/21 10:27:17 [25689] sent 1234 bytes  received 567890 bytes  1000.00 bytes/sec"
            ),
            Some(LogEvent::Received(567890))
        );
        assert_eq!(
            parse_line(
                "2026/11/21 10:27:17 [25689] sent 100,257 bytes  received 76 bytes  200,666.00 bytes/sec"
            ),
            Some(LogEvent::Received(76))
        );
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(59_455_488), "56.7 MiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
        assert_eq!(human_secs(0), "0s");
        assert_eq!(human_secs(59), "59s");
        assert_eq!(human_secs(185), "3m05s");
        assert_eq!(human_secs(7385), "2h03m05s");
    }

    #[test]
    fn formats_lines() {
        let d = Duration::from_secs(5);
        let mut t = Tally::default();
        assert_eq!(format_line("stage1", &t, d, false), "stage1: 0 files, 5s");
        t.files = 1;
        t.bytes = 2048;
        assert_eq!(
            format_line("stage1", &t, d, false),
            "stage1: 1 file, 2.0 KiB, 5s"
        );
        t.files = 3;
        t.size_unknown = 2;
        assert_eq!(
            format_line("stage2", &t, d, false),
            "stage2: 3 files, at least 2.0 KiB, 5s"
        );
        t.bytes = 0;
        t.size_unknown = 3;
        assert_eq!(format_line("stage2", &t, d, false), "stage2: 3 files, 5s");
        t.received = Some(4096);
        assert_eq!(
            format_line("stage2", &t, d, true),
            "stage2: 3 files, 5s, done (received 4.0 KiB)"
        );
    }

    #[test]
    fn watcher_follows_appended_lines_and_finds_sizes() {
        use std::io::Write;
        let d = tempfile::tempdir().unwrap();
        let to = d.path().join("to");
        std::fs::create_dir_all(to.join("pool/.~tmp~")).unwrap();
        std::fs::write(to.join("pool/a.deb"), [0u8; 100]).unwrap();
        std::fs::write(to.join("pool/.~tmp~/b.deb"), [0u8; 50]).unwrap();
        let log = d.path().join("rsync.log");
        std::fs::write(&log, "2026/11/21 10:00:00 [1] >f+++++++++ old-stage\n").unwrap();
        let mut w = Watcher::new(&log, &to);
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        write!(
            f,
            "2026/11/21 10:00:01 [2] receiving file list\n\
             2026/11/21 10:00:01 [2] >f+++++++++ pool/a.deb\n\
             2026/11/21 10:00:01 [2] >f+++++++++ pool/b.deb\n\
             2026/11/21 10:00:01 [2] >f+++++++++ pool/c"
        )
        .unwrap();
        w.poll();
        assert_eq!(
            w.tally,
            Tally {
                files: 2,
                bytes: 150,
                size_unknown: 0,
                received: None
            }
        );
        write!(
            f,
            ".deb\n2026/11/21 10:00:02 [2] sent 10 bytes  received 170 bytes  90.00 bytes/sec\n"
        )
        .unwrap();
        w.poll();
        assert_eq!(
            w.tally,
            Tally {
                files: 3,
                bytes: 150,
                size_unknown: 1,
                received: Some(170)
            }
        );
    }
}
