//! The `sync:` words: what an upstream (through `SSH_ORIGINAL_COMMAND`) or the operator
//! (through argv or the forced command line) asks of a run. This is the only place they are
//! parsed. They are data: a word we do not know is reported and ignored, never run.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    pub stage1: bool,
    pub stage2: bool,
    pub all: bool,
    pub mhop: bool,
    pub callback: bool,
    /// `sync:archive:NAME`; `Some("")` (the original sends that) means the default archive.
    pub archive: Option<String>,
    pub ignored: Vec<String>,
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
        }
    }
}

impl SyncRequest {
    /// Words from `SSH_ORIGINAL_COMMAND` first, then argv, so argv (the forced command the
    /// downstream operator wrote) has the last word.
    pub fn parse<'a>(
        ssh_command: Option<&'a str>,
        argv: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let mut r = SyncRequest::default();
        // The original expands the variable unquoted: bash splits it on white space.
        for w in ssh_command.into_iter().flat_map(str::split_whitespace) {
            r.apply(w);
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
                None => self.ignored.push(word.to_string()),
            },
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_all() {
        let r = SyncRequest::parse(None, []);
        assert!(r.all && r.does_stage1() && r.does_stage2());
        assert_eq!(r.archive_name(), "");
    }

    #[test]
    fn staged_words() {
        let r = SyncRequest::parse(Some("sync:archive:security sync:stage1 sync:mhop"), []);
        assert!(r.stage1 && !r.stage2 && !r.all && r.mhop);
        assert_eq!(r.archive_name(), "security");
        let r = SyncRequest::parse(Some("sync:archive: sync:stage2"), []);
        assert!(!r.does_stage1() && r.does_stage2());
        assert_eq!(r.archive.as_deref(), Some(""));
    }

    #[test]
    fn argv_wins_over_ssh() {
        let r = SyncRequest::parse(Some("sync:archive:a sync:callback"), ["sync:archive:b"]);
        assert_eq!(r.archive_name(), "b");
        assert!(r.callback);
    }

    #[test]
    fn injected_words_are_data() {
        let r = SyncRequest::parse(Some("sync:archive:x; rm -rf ~ $(touch /tmp/p) `id`"), []);
        assert_eq!(r.archive_name(), "x;");
        assert_eq!(
            r.ignored,
            vec!["rm", "-rf", "~", "$(touch", "/tmp/p)", "`id`"]
        );
        assert!(r.all);
    }
}
