//! `archvsync downstream remove NAME`: the mirror line first (NAME is not pushed any more),
//! then its password (it cannot pull any more: the rsync daemon reads the secrets file at
//! every connection). A kill between the two leaves a password without a mirror line,
//! which `list` shows and a second `remove` takes away.

use super::files::{Mode, UndoLog};
use super::{secrets, Failure, Hub, MirrorList, EX_FAILED};
use crate::common::layout::Layout;

pub fn main(layout: &Layout, archive: &str, name: &str) -> u8 {
    match remove(layout, archive, name) {
        Ok(()) => 0,
        Err(f) => f.print(),
    }
}

fn remove(layout: &Layout, archive: &str, name: &str) -> Result<(), Failure> {
    let hub = Hub::load(layout, archive)?;
    let _lock = hub.lock()?;
    let list = MirrorList::read(&hub.mirrors())?;
    let lines = list.lines_naming(name);
    let rsyncd = hub.rsyncd();
    let (_, secrets_text) = hub.secrets()?;
    let (new_secrets, n_secrets) = secrets::without(&secrets_text, name);
    if lines.is_empty() && n_secrets == 0 {
        return Err(Failure(
            EX_FAILED,
            format!(
                "no downstream {name}: neither {} nor {} names it",
                list.path.display(),
                rsyncd.secrets.display()
            ),
        ));
    }
    let mut undo = UndoLog::default();
    let mut done = Vec::new();
    let result = (|| -> Result<(), String> {
        if !lines.is_empty() {
            let kept: Vec<u8> = list
                .text
                .split_inclusive(|b| *b == b'\n')
                .enumerate()
                .filter(|(i, _)| !lines.contains(&(i + 1)))
                .flat_map(|(_, l)| l.iter().copied())
                .collect();
            undo.write(&list.path, &kept, Mode::KeepOr(0o644))?;
            let text = String::from_utf8_lossy(&list.text);
            let all: Vec<&str> = text.lines().collect();
            for n in &lines {
                done.push(format!(
                    "{}:{n}: `{}` removed: {name} is not pushed any more",
                    list.path.display(),
                    all.get(n - 1).copied().unwrap_or("").trim()
                ));
            }
        }
        if n_secrets > 0 {
            undo.write(&rsyncd.secrets, &new_secrets, Mode::Exactly(0o600))?;
            done.push(format!(
                "{}: {name}'s password removed: it cannot pull from us any more",
                rsyncd.secrets.display()
            ));
        }
        Ok(())
    })();
    if let Err(e) = result {
        let msg = undo.take_back(e);
        return Err(Failure(EX_FAILED, msg));
    }
    println!("Removed downstream {name}:");
    for d in &done {
        println!("  {d}");
    }
    if list.targets().all(|t| t.name == name) && hub.ftpsync.as_ref().is_some_and(|f| f.hub) {
        println!(
            "  HUB=true is left as it is: with no downstreams the push after each sync has nothing to do"
        );
    }
    println!(
        "The operator of {name} may remove our key from their ~/.ssh/authorized_keys and our RSYNC_* lines from their config."
    );
    Ok(())
}
