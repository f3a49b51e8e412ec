//! `archvsync check-config [ARCHIVE]` (issue 5). Being written.

use crate::cli::CheckConfigArgs;
use crate::common::layout::Layout;

pub fn main(_layout: &Layout, _args: CheckConfigArgs) -> u8 {
    eprintln!("check-config: not available in this build yet");
    1
}
