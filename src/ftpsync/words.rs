//! The `sync:` words: what an upstream (through `SSH_ORIGINAL_COMMAND`) or the operator
//! (through argv or the forced command line) asks of a run. This is the only place they are
//! parsed. They are data: a word we do not know is reported and ignored, never run.
//!
//! sshd hands `SSH_ORIGINAL_COMMAND` over as bytes, whatever the upstream sent, so it is
//! read as bytes: one stray byte must cost one word, not the whole request (which would
//! turn `sync:stage1` into a full sync that deletes).

/// How many ignored words a report shows; the rest are only counted. An upstream may send
/// tens of thousands of words, and each one must not become a log line.
const SHOWN: usize = 5;
/// How much of one shown word is shown.
const SHOWN_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    pub stage1: bool,
    pub stage2: bool,
    pub all: bool,
    pub mhop: bool,
    pub callback: bool,
    /// `sync:archive:NAME`; `Some("")` (the original sends that) means the default archive.
    /// A byte of NAME that is not UTF-8 is already `_` here, as the original's
    /// `[^a-zA-Z0-9._-]` → `_` made it.
    pub archive: Option<String>,
    /// The first [`SHOWN`] unknown (valid UTF-8) words, for the report.
    pub ignored: Vec<String>,
    /// How many unknown words there were in all.
    pub ignored_count: usize,
    /// The first [`SHOWN`] words that are not UTF-8, escaped (`\xff`).
    pub invalid: Vec<String>,
    /// How many words were not UTF-8 in all.
    pub invalid_count: usize,
}

impl Default for SyncRequest {
    fn default() -> Self {
        SyncRequest {
            stage1: false,
            stage2: false,
            all: true,
            mhop: false,
            callback: false,
            archive: None,
            ignored: Vec::new(),
            ignored_count: 0,
            invalid: Vec::new(),
            invalid_count: 0,
        }
    }
}

impl SyncRequest {
    /// Words from `SSH_ORIGINAL_COMMAND` (raw bytes) first, then argv, so argv (the forced
    /// command the downstream operator wrote) has the last word.
    pub fn parse<'a>(ssh_command: Option<&[u8]>, argv: impl IntoIterator<Item = &'a str>) -> Self {
        let mut r = SyncRequest::default();
        // The original expands the variable unquoted: bash splits it on white space.
        let words = ssh_command
            .into_iter()
            .flat_map(|c| c.split(u8::is_ascii_whitespace))
            .filter(|w| !w.is_empty());
        for w in words {
            match std::str::from_utf8(w) {
                Ok(w) => r.apply(w),
                Err(_) => r.apply_invalid(w),
            }
        }
        for w in argv {
            r.apply(w);
        }
        r
    }

    fn apply(&mut self, word: &str) {
        match word {
            "sync:stage1" => {
                self.stage1 = true;
                self.all = false;
            }
            "sync:stage2" => {
                self.stage2 = true;
                self.all = false;
            }
            "sync:all" => self.all = true,
            "sync:mhop" => self.mhop = true,
            "sync:callback" => self.callback = true,
            w => match w.strip_prefix("sync:archive:") {
                Some(name) => self.archive = Some(name.to_string()),
                None => {
                    self.ignored_count += 1;
                    if self.ignored.len() < SHOWN {
                        self.ignored.push(shorten(&word.escape_debug().to_string()));
                    }
                }
            },
        }
    }

    /// A word that is not UTF-8. Only an archive name can still mean something: it names a
    /// file, so each invalid byte becomes `_` like any other character the original replaced.
    fn apply_invalid(&mut self, word: &[u8]) {
        if let Some(name) = word.strip_prefix(b"sync:archive:") {
            self.archive = Some(
                name.utf8_chunks()
                    .flat_map(|c| {
                        c.valid()
                            .chars()
                            .chain(std::iter::repeat_n('_', c.invalid().len()))
                    })
                    .collect(),
            );
            return;
        }
        self.invalid_count += 1;
        if self.invalid.len() < SHOWN {
            self.invalid.push(shorten(&word.escape_ascii().to_string()));
        }
    }

    /// What was ignored, at most two lines whatever the upstream sent: one for unknown
    /// words (the original's `Unknown option WORD ignored` when there is only one), one for
    /// words that are not UTF-8.
    pub fn ignored_report(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self.ignored_count {
            0 => {}
            1 => out.push(format!("Unknown option {} ignored", self.ignored[0])),
            n => out.push(format!(
                "Ignored {n} unknown words{}: {}",
                if n > self.ignored.len() {
                    format!(", the first {}", self.ignored.len())
                } else {
                    String::new()
                },
                self.ignored.join(" ")
            )),
        }
        if self.invalid_count > 0 {
            let n = self.invalid_count;
            out.push(format!(
                "Ignored {n} word{} that {} not valid UTF-8{}: {}",
                if n == 1 { "" } else { "s" },
                if n == 1 { "is" } else { "are" },
                if n > self.invalid.len() {
                    format!(", the first {}", self.invalid.len())
                } else {
                    String::new()
                },
                self.invalid.join(" ")
            ));
        }
        out
    }

    /// The archive name, empty for the default archive.
    pub fn archive_name(&self) -> &str {
        self.archive.as_deref().unwrap_or("")
    }

    pub fn does_stage1(&self) -> bool {
        self.stage1 || self.all
    }

    pub fn does_stage2(&self) -> bool {
        self.stage2 || self.all
    }
}

/// A word as shown in a report: escaped already, cut at [`SHOWN_LEN`] characters.
fn shorten(escaped: &str) -> String {
    match escaped.char_indices().nth(SHOWN_LEN) {
        Some((i, _)) => format!("{}...", &escaped[..i]),
        None => escaped.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_all() {
        let r = SyncRequest::parse(None, []);
        assert!(r.all && r.does_stage1() && r.does_stage2());
        assert_eq!(r.archive_name(), "");
        assert!(r.ignored_report().is_empty());
    }

    #[test]
    fn staged_words() {
        let r = SyncRequest::parse(Some(b"sync:archive:security sync:stage1 sync:mhop"), []);
        assert!(r.stage1 && !r.stage2 && !r.all && r.mhop);
        assert_eq!(r.archive_name(), "security");
        let r = SyncRequest::parse(Some(b"sync:archive: sync:stage2"), []);
        assert!(!r.does_stage1() && r.does_stage2());
        assert_eq!(r.archive.as_deref(), Some(""));
        let r = SyncRequest::parse(Some(b"\tsync:stage1\n\nsync:mhop "), []);
        assert!(r.stage1 && !r.all && r.mhop && r.ignored_count == 0);
    }

    #[test]
    fn argv_wins_over_ssh() {
        let r = SyncRequest::parse(Some(b"sync:archive:a sync:callback"), ["sync:archive:b"]);
        assert_eq!(r.archive_name(), "b");
        assert!(r.callback);
    }

    #[test]
    fn injected_words_are_data() {
        let r = SyncRequest::parse(Some(b"sync:archive:x; rm -rf ~ $(touch /tmp/p) `id`"), []);
        assert_eq!(r.archive_name(), "x;");
        assert_eq!(r.ignored_count, 6);
        assert_eq!(r.ignored, vec!["rm", "-rf", "~", "$(touch", "/tmp/p)"]);
        assert_eq!(
            r.ignored_report(),
            vec!["Ignored 6 unknown words, the first 5: rm -rf ~ $(touch /tmp/p)"]
        );
        assert!(r.all);
    }

    #[test]
    fn invalid_bytes_cost_one_word_only() {
        let r = SyncRequest::parse(Some(b"sync:stage1 \xff\xfe"), []);
        assert!(r.stage1 && !r.all && !r.does_stage2());
        assert_eq!((r.invalid_count, r.ignored_count), (1, 0));
        assert_eq!(
            r.ignored_report(),
            vec!["Ignored 1 word that is not valid UTF-8: \\xff\\xfe"]
        );
        let r = SyncRequest::parse(Some(b"sync:stage1 \xff sync:stage2\xfe"), []);
        assert!(r.stage1 && !r.stage2 && r.invalid_count == 2);
    }

    #[test]
    fn invalid_bytes_of_an_archive_name_become_underscores() {
        let r = SyncRequest::parse(Some(b"sync:all sync:archive:\xe9t\xe9"), []);
        assert_eq!(r.archive_name(), "_t_");
        // a truncated multibyte sequence is two bytes, so two `_`
        let r = SyncRequest::parse(Some(b"sync:archive:a\xe2\x82b"), []);
        assert_eq!(r.archive_name(), "a__b");
        assert_eq!(r.invalid_count, 0);
    }

    #[test]
    fn reports_are_bounded() {
        let mut cmd = b"sync:all".to_vec();
        for _ in 0..40960 {
            cmd.extend_from_slice(b" unknown-word \xff");
        }
        cmd.extend_from_slice(b" ");
        cmd.extend(std::iter::repeat_n(b'x', 100_000));
        let r = SyncRequest::parse(Some(&cmd), []);
        assert_eq!((r.ignored_count, r.invalid_count), (40961, 40960));
        assert!(r.ignored.len() <= SHOWN && r.invalid.len() <= SHOWN);
        let report = r.ignored_report();
        assert_eq!(report.len(), 2);
        assert!(report[0].starts_with("Ignored 40961 unknown words, the first 5: "));
        assert!(report[1].starts_with("Ignored 40960 words that are not valid UTF-8"));
        assert!(report.iter().all(|l| l.len() < 1000), "{report:?}");
        let long = SyncRequest::parse(Some(&vec![b'y'; 100_000]), []);
        assert_eq!(
            long.ignored_report(),
            vec![format!(
                "Unknown option {}... ignored",
                "y".repeat(SHOWN_LEN)
            )]
        );
    }
}
