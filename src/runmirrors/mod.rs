//! runmirrors: pushing downstream mirrors over ssh (SPEC §7).
//!
//! What it shares with check-config lives below the commands: the mirror list's grammar
//! (settings::mirrorlist), the trigger each line makes (settings::push::job) and its ssh
//! words (common::ssh). Here, `push` reads the list in order (hooks, DELAY lines, the
//! summary) and hands each trigger to the `follower`, a process of its own that sends them
//! all at once (`trigger`), runs the stage-1 barrier (`barrier`), learns when each
//! downstream accepted (`accept`) and follows each session to its end, recording it
//! (`state_writer`); `protocol` is what the two say to each other.

pub mod accept;
pub mod barrier;
pub mod follower;
pub mod protocol;
pub mod push;
pub mod state_writer;
pub mod trigger;

use crate::common::kinds::PushKind;
use crate::common::layout::Layout;
use crate::common::log::{savelog, Logger};
use crate::common::mail::Outbox;
use crate::common::process::Cancel;
use crate::settings::mirrorlist;
use crate::settings::push::{no_mirror_list, PushSettings};
use std::sync::Arc;

/// Exit status when the push key is missing, as the original.
pub const EX_NOKEY: u8 = 5;

/// Entry point for `runmirrors` and `archvsync runmirrors`.
/// What `runmirrors` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// `-a NAME` or the first form's NAME; empty for runmirrors.conf.
    pub archive: String,
    /// `-k`, mhop when not given.
    pub kind: PushKind,
    /// `-f`: called from within ftpsync.
    pub from_ftpsync: bool,
}

pub fn main(layout: &Layout, opts: Options) -> u8 {
    crate::common::process::block_on(async {
        let cancel = Cancel::on_signals().unwrap_or_else(|_| Cancel::never());
        run(layout, &opts.archive, opts.kind, opts.from_ftpsync, cancel).await
    })
}

/// How a push ended, for ftpsync's own log (the details are in runmirrors').
pub struct Pushed {
    pub code: u8,
    /// Why it failed, in words.
    pub why: Option<String>,
    /// What went wrong without failing it, for ftpsync to log and say as its own warnings
    /// (runmirrors' log has them too).
    pub warnings: Vec<String>,
}

impl Pushed {
    fn done(code: u8) -> Pushed {
        Pushed {
            code,
            why: None,
            warnings: Vec::new(),
        }
    }

    fn failed(code: u8, why: String) -> Pushed {
        Pushed {
            code,
            why: Some(why),
            warnings: Vec::new(),
        }
    }
}

/// ftpsync's HUB step, in-process: `runmirrors -a ARCHIVE -f -k KIND`.
pub async fn from_ftpsync(
    layout: &Layout,
    archive: &str,
    kind: PushKind,
    cancel: Cancel,
) -> Pushed {
    run_explained(layout, archive, kind, true, true, cancel).await
}

pub async fn run(
    layout: &Layout,
    conf: &str,
    kind: PushKind,
    from_ftpsync: bool,
    cancel: Cancel,
) -> u8 {
    run_explained(layout, conf, kind, from_ftpsync, false, cancel)
        .await
        .code
}

async fn run_explained(
    layout: &Layout,
    conf: &str,
    kind: PushKind,
    from_ftpsync: bool,
    in_process: bool,
    cancel: Cancel,
) -> Pushed {
    let s = match PushSettings::load_for_push(layout, conf) {
        Ok(s) => s,
        Err(refused) => {
            let code = refused.report();
            return Pushed::failed(code, refused.refusal.message);
        }
    };
    for w in &s.warnings {
        eprintln!("{w}");
    }
    if let Err(e) = std::fs::create_dir_all(&s.core.logdir) {
        let msg = format!("cannot create LOGDIR {}: {e}", s.core.logdir.display());
        eprintln!("{msg}");
        return Pushed::failed(1, msg);
    }
    // The original rotates its log at the start of a run.
    savelog(&s.core.log, s.core.logrotate);
    let log = Arc::new(Logger::open(&s.core.log, &s.core.program));
    for w in &s.warnings {
        log.log(w);
    }
    let outbox = Arc::new(Outbox::new(&s.core.sendmail, s.core.mail_timeout));
    let log_path = s.core.log.clone();
    let searched = layout.searched();
    let mut pushed = push_all(s, kind, from_ftpsync, &searched, &log, &outbox, cancel).await;
    // Mail still under way is waited for (each is bounded by MAILTIMEOUT).
    outbox.flush().await;
    // Said where warnings go: on a terminal the log's echo did; ftpsync running us
    // in-process says them itself, in its own log too.
    if !in_process && !log.echoes() {
        for w in &pushed.warnings {
            eprintln!("{w}");
        }
    }
    if pushed.code != 0 && pushed.why.is_none() {
        pushed.why = Some(format!("see {}", log_path.display()));
    }
    pushed
}

async fn push_all(
    s: PushSettings,
    kind: PushKind,
    from_ftpsync: bool,
    searched: &str,
    log: &Arc<Logger>,
    outbox: &Arc<Outbox>,
    cancel: Cancel,
) -> Pushed {
    if !s.keyfile.is_file() {
        // The original's words first; then what it means and what to do, since a hub's
        // operator sees this as the reason its ftpsync failed.
        let msg = format!(
            "SSH Key {} does not exist ({}, KEYFILE of {}): no downstream was pushed. \
             `archvsync downstream add` makes the key (or `ssh-keygen -t ed25519 -N '' -f {}`); \
             the downstreams need its public half in their authorized_keys",
            s.keyfile_configured,
            s.keyfile.display(),
            s.core.config_path.display(),
            s.keyfile.display()
        );
        push::error(&s, log, outbox, &msg);
        // By hand, say it where the operator looks; ftpsync prints it as its own failure.
        if !from_ftpsync {
            eprintln!("{msg}");
        }
        return Pushed::failed(EX_NOKEY, msg);
    }
    let Some(list) = s.mirrors.clone() else {
        let msg = format!(
            "warning: {}",
            no_mirror_list(&s.core.name, searched, from_ftpsync)
        );
        log.log(&msg);
        return Pushed {
            code: 0,
            why: None,
            warnings: vec![msg],
        };
    };
    let (entries, errors) = match mirrorlist::read(&list) {
        Ok(r) => r,
        Err(e) => {
            push::error(
                &s,
                log,
                outbox,
                &format!("Cannot read {}: {e}", list.display()),
            );
            return Pushed::done(0);
        }
    };
    for e in &errors {
        push::error(
            &s,
            log,
            outbox,
            &format!(
                "{}:{}: {}; this line is skipped",
                list.display(),
                e.line,
                e.message
            ),
        );
    }
    let pusher = push::Pusher {
        s: Arc::new(s),
        kind,
        from_ftpsync,
        log: log.clone(),
        cancel,
        outbox: outbox.clone(),
    };
    Pushed::done(pusher.run(entries).await)
}
