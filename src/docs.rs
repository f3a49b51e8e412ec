//! Man pages and shell completions from the clap definitions (issue 5). Being written.

use crate::cli::{CompletionsArgs, ManpagesArgs};

pub fn manpages(_args: ManpagesArgs) -> u8 {
    eprintln!("manpages: not available in this build yet");
    1
}

pub fn completions(_args: CompletionsArgs) -> u8 {
    eprintln!("completions: not available in this build yet");
    1
}
