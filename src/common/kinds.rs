//! The kinds the state record persists and `status --json` shows, as enums that serialise
//! to exactly the words earlier versions wrote (the files stay readable both ways).

use serde::{Deserialize, Serialize};

/// Which of the original's push kinds runmirrors was asked for (`-k`); the `kind` of a
/// push in the state record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushKind {
    All,
    Stage2,
    #[default]
    Mhop,
}

impl PushKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PushKind::All => "all",
            PushKind::Stage2 => "stage2",
            PushKind::Mhop => "mhop",
        }
    }

    pub fn parse(s: &str) -> Option<PushKind> {
        match s {
            "all" => Some(PushKind::All),
            "stage2" => Some(PushKind::Stage2),
            "mhop" => Some(PushKind::Mhop),
            _ => None,
        }
    }
}

/// Which trigger a downstream got: the `stage` of a downstream in the state record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    #[default]
    All,
    Stage1,
    Stage2,
}

impl Stage {
    /// How the original named each trigger in its logs.
    pub fn label(self) -> &'static str {
        match self {
            Stage::All => "normal",
            Stage::Stage1 => "first stage",
            Stage::Stage2 => "second stage",
        }
    }

    /// The name in the state record and `status --json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::All => "all",
            Stage::Stage1 => "stage1",
            Stage::Stage2 => "stage2",
        }
    }
}

/// How an ftpsync run ended: `result` in the state record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunResult {
    Success,
    #[default]
    Failure,
}

/// How an ftpsync run synced: `sync_kind` in the state record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncKind {
    /// Only the paths the upstream's change journal named.
    Journal,
    /// Only the paths the upstream's archive metadata (Release files, indices, `ls-lR.gz`,
    /// `extrafiles`) shows changed since our last sync.
    Index,
    /// The whole tree, as the original always did.
    Full,
}

impl SyncKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncKind::Journal => "journal",
            SyncKind::Index => "index",
            SyncKind::Full => "full",
        }
    }
}

/// What became of the last trigger sent to a downstream: `outcome` in the state record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DownstreamOutcome {
    /// ssh ended with a status other than 255.
    Delivered,
    /// The session was accepted and runs in the background (or is done).
    Accepted,
    /// ssh said 255 or could not be started.
    #[default]
    Failed,
    /// It did not end within PUSHTIMEOUT.
    Timeout,
    /// Stopped while its connection was being set up.
    Dropped,
    /// The push was stopped before this trigger was sent.
    NotSent,
}

impl DownstreamOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DownstreamOutcome::Delivered => "delivered",
            DownstreamOutcome::Accepted => "accepted",
            DownstreamOutcome::Failed => "failed",
            DownstreamOutcome::Timeout => "timeout",
            DownstreamOutcome::Dropped => "dropped",
            DownstreamOutcome::NotSent => "not_sent",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialised_as_before() {
        let j = |v: &dyn erased::Ser| v.json();
        assert_eq!(j(&RunResult::Success), "\"success\"");
        assert_eq!(j(&RunResult::Failure), "\"failure\"");
        assert_eq!(j(&PushKind::Stage2), "\"stage2\"");
        assert_eq!(j(&Stage::Stage1), "\"stage1\"");
        for d in [
            DownstreamOutcome::Delivered,
            DownstreamOutcome::Accepted,
            DownstreamOutcome::Failed,
            DownstreamOutcome::Timeout,
            DownstreamOutcome::Dropped,
            DownstreamOutcome::NotSent,
        ] {
            assert_eq!(j(&d), format!("\"{}\"", d.as_str()));
            let back: DownstreamOutcome = serde_json::from_str(&j(&d)).unwrap();
            assert_eq!(back, d);
        }
        for k in [PushKind::All, PushKind::Stage2, PushKind::Mhop] {
            assert_eq!(j(&k), format!("\"{}\"", k.as_str()));
        }
        for s in [Stage::All, Stage::Stage1, Stage::Stage2] {
            assert_eq!(j(&s), format!("\"{}\"", s.as_str()));
        }
    }

    mod erased {
        pub trait Ser {
            fn json(&self) -> String;
        }
        impl<T: serde::Serialize> Ser for T {
            fn json(&self) -> String {
                serde_json::to_string(self).unwrap()
            }
        }
    }
}
