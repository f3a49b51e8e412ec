//! runmirrors: pushing downstream mirrors over ssh (SPEC §7).
//!
//! Not built yet (issue 3). ftpsync's HUB step calls [`from_ftpsync`], which says so in the
//! log instead of pretending that downstreams were pushed.

use crate::common::log::Logger;

/// What kind of push ftpsync asks for after its own sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    All,
    Stage2,
    Mhop,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::All => "all",
            Kind::Stage2 => "stage2",
            Kind::Mhop => "mhop",
        }
    }
}

/// Push our downstreams from within ftpsync. Returns false when nothing was pushed.
pub async fn from_ftpsync(log: &Logger, archive: &str, kind: Kind) -> bool {
    log.log(format!(
        "HUB=true, but pushing downstreams is not available in archvsync {} yet: \
         no downstream of archive '{archive}' was triggered (kind {})",
        env!("CARGO_PKG_VERSION"),
        kind.as_str()
    ));
    false
}
