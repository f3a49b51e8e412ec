//! `archvsync downstream add|list|show|remove|test` and `archvsync rsyncd-config`: the
//! seeds' "Setting up a push server", done and checked by the tool.
//!
//! A push server needs, per downstream: the push key (KEYFILE) in the downstream's
//! authorized_keys, locked to its ftpsync; a line in `runmirrors[-A].mirror`; a
//! `NAME:password` line in the rsync daemon's secrets file (RSYNCD_SECRETS), which the
//! downstream's ftpsync pulls with; and HUB=true in our own ftpsync config. `add` makes all
//! of it (`add`), `remove` takes it back, `list` and `show` say what there is, `test` checks
//! what can be checked without logging in (`probe`), and `rsyncd-config` prints the rsync
//! daemon's configuration (`rsyncd_conf`). check-config checks the chain
//! (`check_config::push_server`); the secrets file's grammar is `settings::rsyncd_secrets`.
//!
//! Files are changed whole and atomically, with an undo log that takes a failed `add` back
//! (`files`), in an order where every prefix is a working setup (see `add`).

pub mod add;
pub mod files;
pub mod hub;
pub mod keys;
pub mod probe;
pub mod remove;
pub mod rsyncd_conf;

use crate::common::config;
use crate::common::layout::{self, Layout};
use crate::settings::archive::ArchiveSettings;
use crate::settings::mirrorlist::{self, Entry, MirrorType, Target};
use crate::settings::push::PushSettings;
use crate::settings::rsyncd::Rsyncd;
use crate::settings::rsyncd_secrets as secrets;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Exit status of a refused or failed command (a duplicate name, a file that cannot be
/// written); 78 is a config that does not load, 64 bad usage, as everywhere.
pub const EX_FAILED: u8 = 1;
pub const EX_USAGE: u8 = 64;

/// The downstream's forced command when the operator does not say: the seeds' path.
pub const DEFAULT_COMMAND: &str = "~/bin/ftpsync";
/// The account a downstream mirrors as, when not given (CALLBACKUSER's default too).
pub const DEFAULT_USER: &str = "archvsync";

#[derive(Debug, Clone)]
pub struct Options {
    /// The hub's archive: `ftpsync-A.conf`, `runmirrors-A.conf`, `runmirrors-A.mirror`.
    pub archive: String,
    pub action: Action,
}

#[derive(Debug, Clone)]
pub enum Action {
    Add(AddOptions),
    List,
    /// `command`: the downstream's ftpsync, as for add.
    Show {
        name: String,
        command: String,
    },
    Remove {
        name: String,
    },
    Test {
        name: String,
    },
}

#[derive(Debug, Clone)]
pub struct AddOptions {
    pub name: String,
    pub host: String,
    pub user: String,
    pub kind: MirrorType,
    /// Raw ssh options for the mirror line (`-p 2222 -o ...`).
    pub ssh_opts: Option<String>,
    /// The downstream's ftpsync, for `command="..."` in its authorized_keys.
    pub command: String,
}

pub fn main(layout: &Layout, opts: Options) -> u8 {
    let archive = opts.archive.as_str();
    match opts.action {
        Action::Add(a) => add::main(layout, archive, a),
        Action::List => list(layout, archive).unwrap_or_else(|f| f.print()),
        Action::Show { name, command } => {
            show(layout, archive, &name, &command).unwrap_or_else(|f| f.print())
        }
        Action::Remove { name } => remove::main(layout, archive, &name),
        Action::Test { name } => probe::main(layout, archive, &name),
    }
}

/// A failure: its exit status and what to print.
pub(crate) struct Failure(pub u8, pub String);

impl Failure {
    fn print(&self) -> u8 {
        eprintln!("error: {}", self.1);
        self.0
    }
}

/// What the hub's configs say, as a run would read them.
pub(crate) struct Hub {
    pub archive: String,
    /// None: no ftpsync config (runmirrors can still push by hand).
    pub ftpsync: Option<ArchiveSettings>,
    /// `runmirrors` or `runmirrors-A`.
    pub push_name: String,
    /// None: no runmirrors config yet.
    pub push: Option<PushSettings>,
    /// The runmirrors config, or where `add` creates it: beside the ftpsync config.
    pub push_conf: PathBuf,
    pub lockdir: PathBuf,
}

impl Hub {
    pub fn load(layout: &Layout, archive: &str) -> Result<Hub, Failure> {
        let ftpsync = match ArchiveSettings::load(layout, archive, None) {
            Ok(s) => Some(s),
            Err(r) if r.code == config::EX_CONFIG && r.message.starts_with("Can't read") => None,
            Err(r) => return Err(Failure(r.code, r.message)),
        };
        let push_name = if archive.is_empty() {
            "runmirrors".to_string()
        } else {
            config::sanitize_name(&format!("runmirrors-{archive}"))
        };
        let (push, push_conf) = match config::find(&layout.confdirs, &push_name) {
            Some(path) => {
                let s =
                    PushSettings::load(layout, archive).map_err(|r| Failure(r.code, r.message))?;
                (Some(s), path)
            }
            None => {
                let dir = ftpsync
                    .as_ref()
                    .and_then(|f| f.core.config_path.parent().map(Path::to_path_buf))
                    .or_else(|| layout.confdirs.first().cloned())
                    .unwrap_or_else(|| PathBuf::from("."));
                (None, dir.join(format!("{push_name}.conf")))
            }
        };
        let lockdir = push
            .as_ref()
            .map(|p| p.core.lockdir.clone())
            .unwrap_or_else(|| layout.lockdir.clone());
        Ok(Hub {
            archive: archive.to_string(),
            ftpsync,
            push_name,
            push,
            push_conf,
            lockdir,
        })
    }

    /// KEYFILE, absolute.
    pub fn keyfile(&self) -> PathBuf {
        self.push
            .as_ref()
            .map(|p| p.keyfile.clone())
            .unwrap_or_else(|| layout::home().join(".ssh/pushmirror"))
    }

    /// The mirror list, or where `add` creates it: beside the runmirrors config.
    pub fn mirrors(&self) -> PathBuf {
        self.push
            .as_ref()
            .and_then(|p| p.mirrors.clone())
            .unwrap_or_else(|| {
                self.push_conf
                    .with_file_name(format!("{}.mirror", self.push_name))
            })
    }

    pub fn rsyncd(&self) -> Rsyncd {
        match &self.push {
            Some(p) => p.rsyncd.clone(),
            None => Rsyncd::defaults(&self.push_conf, &self.push_name, &self.archive),
        }
    }

    /// The secrets file and its bytes (none when it does not exist yet).
    pub fn secrets(&self) -> Result<(PathBuf, Vec<u8>), Failure> {
        let path = self.rsyncd().secrets;
        let text = secrets::read(&path)
            .map_err(|e| Failure(EX_FAILED, format!("cannot read {}: {e}", path.display())))?;
        Ok((path, text))
    }

    /// The name downstreams pull from: RSYNCD_HOST, else our MIRRORNAME.
    pub fn rsync_host(&self) -> String {
        self.rsyncd()
            .host
            .or_else(|| self.ftpsync.as_ref().map(|f| f.mirrorname.clone()))
            .unwrap_or_else(crate::common::host::fqdn)
    }

    /// The archive the downstreams are pushed with (`sync:archive:PUSHARCHIVE`), so the
    /// config their ftpsync reads.
    pub fn downstream_config(&self) -> String {
        let archive = self
            .push
            .as_ref()
            .map(|p| p.pusharchive.clone())
            .unwrap_or_else(|| self.archive.clone());
        if archive.is_empty() {
            "ftpsync.conf".to_string()
        } else {
            format!(
                "{}.conf",
                config::sanitize_name(&format!("ftpsync-{archive}"))
            )
        }
    }

    /// Holds off every other `downstream add`/`remove` of this name until dropped.
    pub fn lock(&self) -> Result<std::fs::File, Failure> {
        std::fs::create_dir_all(&self.lockdir).map_err(|e| {
            Failure(
                EX_FAILED,
                format!("cannot create LOCKDIR {}: {e}", self.lockdir.display()),
            )
        })?;
        let path = self
            .lockdir
            .join(format!("{}.downstreams.lock", self.push_name));
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Failure(EX_FAILED, format!("cannot open {}: {e}", path.display())))?;
        // Another add or remove takes milliseconds; one that takes longer is stuck.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match f.try_lock() {
                Ok(()) => return Ok(f),
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => {
                    return Err(Failure(
                        EX_FAILED,
                        format!(
                            "cannot lock {} (another `archvsync downstream` at work?): {e:?}",
                            path.display()
                        ),
                    ))
                }
            }
        }
    }
}

/// The mirror list as text (empty when missing) and its entries.
pub(crate) struct MirrorList {
    pub path: PathBuf,
    pub text: Vec<u8>,
    pub entries: Vec<Entry>,
    pub errors: Vec<mirrorlist::LineError>,
}

impl MirrorList {
    pub fn read(path: &Path) -> Result<MirrorList, Failure> {
        let text = secrets::read(path)
            .map_err(|e| Failure(EX_FAILED, format!("cannot read {}: {e}", path.display())))?;
        let (entries, errors) = mirrorlist::parse(&String::from_utf8_lossy(&text));
        Ok(MirrorList {
            path: path.to_path_buf(),
            text,
            entries,
            errors,
        })
    }

    pub fn targets(&self) -> impl Iterator<Item = &Target> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Mirror(t) => Some(t),
            _ => None,
        })
    }

    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets().find(|t| t.name == name)
    }

    /// The mirror `name`, or the failure of a command about a downstream that is not there.
    pub fn require(&self, name: &str) -> Result<&Target, Failure> {
        self.target(name).ok_or_else(|| {
            Failure(
                EX_FAILED,
                format!("no downstream {name} in {}", self.path.display()),
            )
        })
    }

    /// 1-based numbers of the lines naming the mirror `name` (the second field of a line
    /// that is not a comment or DELAY), parseable or not.
    pub fn lines_naming(&self, name: &str) -> Vec<usize> {
        String::from_utf8_lossy(&self.text)
            .lines()
            .enumerate()
            .filter(|(_, l)| {
                let mut f = l.split_whitespace();
                let first = f.next().unwrap_or("#");
                !first.starts_with('#') && first != "DELAY" && f.next() == Some(name)
            })
            .map(|(i, _)| i + 1)
            .collect()
    }
}

fn list(layout: &Layout, archive: &str) -> Result<u8, Failure> {
    let hub = Hub::load(layout, archive)?;
    let list = MirrorList::read(&hub.mirrors())?;
    let (secrets_path, secrets_text) = hub.secrets()?;
    let entries = secrets::parse(&secrets_text);
    println!("mirrors: {}", list.path.display());
    println!("secrets: {}", secrets_path.display());
    let mut rows = vec![[
        "NAME".to_string(),
        "TYPE".into(),
        "HOST".into(),
        "USER".into(),
        "PASSWORD".into(),
        "SSH OPTIONS".into(),
    ]];
    for t in list.targets() {
        let mut host = t.host.clone();
        if let Some(p) = t.port {
            host.push_str(&format!(":{p}"));
        }
        let password = secrets::find(&entries, &t.name).map_or("none", |_| "yes");
        rows.push([
            t.name.clone(),
            t.kind.as_str().into(),
            host,
            t.user.clone(),
            password.into(),
            shell_words::join(&t.ssh_options),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
    for e in &list.errors {
        println!("error: {}:{}: {}", list.path.display(), e.line, e.message);
    }
    let pull_only: Vec<&str> = entries
        .iter()
        .filter(|e| list.target(&e.user).is_none())
        .map(|e| e.user.as_str())
        .collect();
    if !pull_only.is_empty() {
        println!(
            "note: {} also lets pull (not pushed): {}",
            secrets_path.display(),
            pull_only.join(", ")
        );
    }
    Ok(u8::from(!list.errors.is_empty()))
}

fn show(layout: &Layout, archive: &str, name: &str, command: &str) -> Result<u8, Failure> {
    let hub = Hub::load(layout, archive)?;
    let list = MirrorList::read(&hub.mirrors())?;
    let t = list.require(name)?;
    let (_, secrets_text) = hub.secrets()?;
    let password = secrets::find(&secrets::parse(&secrets_text), name).map(|e| e.password.clone());
    let public = keys::public(&t.keyfile.clone().unwrap_or_else(|| hub.keyfile()))
        .map_err(|e| Failure(EX_FAILED, e))?;
    add::print_instructions(&hub, t, password.as_deref(), &public, command);
    Ok(0)
}
