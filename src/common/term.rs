//! stderr as the operator's terminal: one self-overwriting status line (ftpsync's rsync
//! progress) below the lines the log echoes. Everything written to stderr while a status
//! line may be showing goes through here, so the two never garble each other: a log line
//! first clears the status line, then the status line is drawn again below it.

use std::io::Write;
use std::sync::{Mutex, MutexGuard};

/// Carriage return, then "erase to the end of the line".
const CLEAR: &str = "\r\x1b[K";

/// The status line currently on screen, if any.
static STATUS: Mutex<Option<String>> = Mutex::new(None);

fn status() -> MutexGuard<'static, Option<String>> {
    STATUS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Draws (or redraws) the status line, replacing the one showing.
pub fn show_status(text: &str) {
    let mut st = status();
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{CLEAR}{text}");
    let _ = err.flush();
    *st = Some(text.to_string());
}

/// Replaces the status line by `text` and ends it with a newline: it stays on screen and
/// later output goes below it.
pub fn end_status(text: &str) {
    let mut st = status();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{CLEAR}{text}");
    let _ = err.flush();
    *st = None;
}

/// Removes the status line, if one is showing.
pub fn clear_status() {
    let mut st = status();
    if st.take().is_some() {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{CLEAR}");
        let _ = err.flush();
    }
}

/// Writes `text` (whole lines, newline included) to stderr above the status line.
pub fn eprint(text: &str) {
    let st = status();
    let mut err = std::io::stderr().lock();
    if st.is_some() {
        let _ = write!(err, "{CLEAR}");
    }
    let _ = err.write_all(text.as_bytes());
    if let Some(s) = st.as_deref() {
        let _ = write!(err, "{s}");
    }
    let _ = err.flush();
}

/// Columns padded to their widest cell, two spaces apart, trailing blanks cut: the tables
/// of `status` and `check-mirror`. `paint(row, column, padded)` may colour a cell (row 0 is
/// the header); padding first keeps the escape codes out of the widths.
pub fn columns(
    header: &[&str],
    rows: &[Vec<String>],
    paint: impl Fn(usize, usize, String) -> String,
) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    let mut out = String::new();
    for (n, cells) in std::iter::once(&header).chain(rows).enumerate() {
        let mut line = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            line.push_str(&paint(n, i, format!("{c:<w$}")));
            if i + 1 < cells.len() {
                line.push_str("  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
