//! `archvsync check-config [ARCHIVE]`: load the configs exactly as a run would, report what
//! would go wrong, and print the command lines a run would use, without running rsync or ssh.
//!
//! Every problem is one line starting with `error:`, `warning:` or `note:`. The rsync lines
//! come from [`ArchiveSettings::stage_commands`], the very function a run executes, and the ssh
//! lines from the functions runmirrors' triggers use, so what is printed is what runs.
//! Exit status: 0 without errors, 1 with any, 78 when the ftpsync config itself is missing
//! or does not load (as ftpsync).
//!
//! This is the command and its report; ftpsync.conf is looked at in `archive`,
//! runmirrors.conf in `push` (the push server's chain in `push_server`), and the paths
//! both name in `paths`.

mod archive;
mod paths;
mod push;
mod push_server;

use crate::common::layout::Layout;
use crate::settings::archive::ArchiveSettings;
use archive::check_ftpsync;
use paths::check_secret_file;
use push::check_runmirrors;

const MASK: &str = "********";

/// The report, printed as it is built. The password is masked in every line.
#[derive(Default)]
struct Report {
    errors: usize,
    warnings: usize,
    secrets: Vec<String>,
}

impl Report {
    fn out(&self, line: &str) {
        let mut line = line.to_string();
        for s in self.secrets.iter().filter(|s| !s.is_empty()) {
            line = line.replace(s.as_str(), MASK);
        }
        println!("{line}");
    }

    fn section(&self, title: &str) {
        println!();
        self.out(&format!("== {title} =="));
    }

    fn info(&self, msg: impl AsRef<str>) {
        self.out(msg.as_ref());
    }

    fn error(&mut self, msg: impl AsRef<str>) {
        self.errors += 1;
        self.out(&format!("error: {}", msg.as_ref()));
    }

    fn warning(&mut self, msg: impl AsRef<str>) {
        self.warnings += 1;
        self.out(&format!("warning: {}", msg.as_ref()));
    }

    fn note(&self, msg: impl AsRef<str>) {
        self.out(&format!("note: {}", msg.as_ref()));
    }

    fn loader_warning(&mut self, w: &str) {
        self.warning(loader_warning_text(w));
    }

    /// A load that a run would refuse: the warnings found before it (they may explain it),
    /// then the refusal, with the exit status `program` (`a run`, `runmirrors`) gives.
    fn refused(&mut self, refused: &crate::settings::Refused, program: &str) {
        for w in &refused.warnings {
            self.loader_warning(w);
        }
        self.error(format!(
            "{} ({program} exits {})",
            refused.refusal.message, refused.refusal.code
        ));
    }
}

/// A loader's warning (`FILE:LINE: warning: ...`, or a line the config printed) without
/// its `warning:`, which goes in front.
fn loader_warning_text(w: &str) -> String {
    match w.split_once(": warning: ") {
        Some((loc, rest)) => format!("{loc}: {rest}"),
        None => w.to_string(),
    }
}

/// What check-config is asked to check.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The archive, empty for the default one (ftpsync.conf).
    pub archive: String,
}

/// `check-config [ARCHIVE]`.
pub fn main(layout: &Layout, opts: Options) -> u8 {
    let archive = opts.archive;
    let mut r = Report::default();
    r.out(&format!(
        "== ftpsync{} ==",
        if archive.is_empty() {
            String::new()
        } else {
            format!(" (archive {archive})")
        }
    ));

    // The same loading as ftpsync: find and source the file, then apply the defaults.
    let (raw, name) = match ArchiveSettings::load_raw(layout, &archive) {
        Ok(x) => x,
        Err(refusal) => {
            r.error(&refusal.message);
            return refusal.code;
        }
    };
    r.secrets.extend(raw.string("RSYNC_PASSWORD"));
    r.info(format!("config: {}", raw.path.display()));
    check_secret_file(&mut r, &raw.path);
    let to_empty = raw.is_set("TO") && raw.string("TO").is_none();
    let to_location = raw.location("TO");
    let settings = match ArchiveSettings::from_raw(raw, layout, name, &archive, None) {
        Ok(s) => {
            for w in &s.warnings {
                r.loader_warning(w);
            }
            Some(s)
        }
        Err(refused) => {
            r.refused(&refused, "a run");
            None
        }
    };

    // A run in the classic layout works from BASEDIR: relative paths mean the same here.
    if layout.classic {
        if let Some(b) = &layout.basedir {
            let _ = std::env::set_current_dir(b);
        }
    }

    if let Some(s) = &settings {
        let shared = crate::settings::to_guard::configs_sharing_to(layout, s);
        if !shared.certain.is_empty() {
            r.error(format!(
                "{} (certain: the same whatever the environment; a run exits 1)",
                crate::settings::to_guard::shared_to_message(s, &shared.certain)
            ));
        }
        for l in &shared.likely {
            r.loader_warning(&format!(
                "{} (likely, not certain: a run warns and goes on)",
                crate::settings::to_guard::likely_shared_to_message(s, l)
            ));
        }
        if to_empty {
            r.error(format!(
                "{to_location}: TO is set but empty; a run would use the default {}",
                s.to.display()
            ));
        }
        check_ftpsync(&mut r, s);
    }

    check_runmirrors(&mut r, layout, &archive, settings.as_ref().map(|s| s.hub));

    println!();
    r.out(&format!(
        "{} error{}, {} warning{}",
        r.errors,
        if r.errors == 1 { "" } else { "s" },
        r.warnings,
        if r.warnings == 1 { "" } else { "s" }
    ));
    u8::from(r.errors > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loader_warnings_keep_their_location() {
        assert_eq!(
            loader_warning_text("/e/ftpsync.conf:4: warning: unknown key X"),
            "/e/ftpsync.conf:4: unknown key X"
        );
        assert_eq!(loader_warning_text("/e/f.conf: hello"), "/e/f.conf: hello");
    }
}
