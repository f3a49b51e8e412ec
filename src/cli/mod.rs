//! Command-line definitions. `archvsync SUBCOMMAND ...`, or a link named after the
//! subcommand (`ftpsync ...`) taking the original's syntax.
//!
//! Parsed arguments are turned into each command's own options here (the `From`
//! conversions at the end), once: no command module sees a clap type, so nothing below
//! imports this module.

pub mod docs;
mod help;

use crate::common::kinds::PushKind;
use crate::settings::mirrorlist::MirrorType;
use clap::{Args, Parser, Subcommand};
use help::*;

#[derive(Debug, Parser)]
#[command(
    name = "archvsync",
    version,
    about = "Debian mirror sync (ftpsync) and push (runmirrors) tools, one binary",
    long_about = "Debian mirror sync (ftpsync) and push (runmirrors) tools, one binary.\n\n\
        Invoked through a link named `ftpsync`, it behaves as that command with the \
        original's argument syntax, so `command=\"~/bin/ftpsync\"` in authorized_keys keeps working.",
    after_long_help = TOP_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sync the mirror from its upstream (two-stage rsync under a lock).
    #[command(long_about = FTPSYNC_ABOUT, after_long_help = FTPSYNC_HELP)]
    Ftpsync(FtpsyncArgs),
    /// Push (trigger) the downstream mirrors listed in runmirrors.mirror over ssh.
    #[command(long_about = RUNMIRRORS_ABOUT, after_long_help = RUNMIRRORS_HELP)]
    Runmirrors(RunmirrorsArgs),
    /// For mirrors that are not pushed: sync only when the upstream's archive serial changed.
    #[command(long_about = CRON_ABOUT, after_long_help = CRON_HELP)]
    FtpsyncCron(CronArgs),
    /// rsync's `-e` program for RSYNC_TRANSPORT=ssl: relays stdin/stdout over verified TLS.
    #[command(long_about = TUNNEL_ABOUT, after_long_help = TUNNEL_HELP)]
    RsyncSslTunnel(TunnelArgs),
    /// What the last runs did, per archive (a table, --json, --prometheus, --mirrorz, or a
    /// page for a browser with --html FILE); a
    /// Nagios-style check: exit 0 OK, 1 a downstream warns (--downstreams), 2 failed or
    /// stale, 3 unknown.
    Status(StatusArgs),
    /// Load the configs as a run would, report problems, and print the exact rsync and ssh
    /// command lines a run would use, without running them.
    CheckConfig(CheckConfigArgs),
    /// Set up the downstreams this mirror pushes: add (key, mirror line, rsync password,
    /// HUB=true, and what their operator must do), list, show, remove, test.
    #[command(long_about = DOWNSTREAM_ABOUT, after_long_help = DOWNSTREAM_HELP)]
    Downstream(DownstreamArgs),
    /// Print an rsyncd.conf serving TO to the downstreams (auth users, the secrets file),
    /// for rsync started as root (inetd, systemd socket) or as this account.
    #[command(long_about = RSYNCD_CONFIG_ABOUT, after_long_help = RSYNCD_CONFIG_HELP)]
    RsyncdConfig(RsyncdConfigArgs),
    /// Judge a mirror over HTTP(S) by the rules of Debian's monitors (mirror-status and the
    /// http-redirector); a Nagios-style check: exit 0 OK, 1 warning, 2 error, 3 unknown.
    #[command(long_about = CHECK_MIRROR_ABOUT, after_long_help = CHECK_MIRROR_HELP)]
    CheckMirror(CheckMirrorArgs),
    /// Write man pages (roff) for every command into a directory.
    Manpages(ManpagesArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Internal: sends and follows the triggers of one push (started by runmirrors).
    #[command(hide = true)]
    PushFollower,
}

#[derive(Debug, Clone, Args)]
pub struct RunmirrorsArgs {
    /// Archive: use runmirrors-NAME.conf / runmirrors-NAME.mirror.
    #[arg(short = 'a', value_name = "NAME")]
    pub archive: Option<String>,

    /// Kind of push: all, stage2 or mhop (default mhop).
    #[arg(short = 'k', value_name = "KIND", value_parser = parse_kind)]
    pub kind: Option<PushKind>,

    /// Called from within ftpsync (changes how mhop pushes end). Not for the command line.
    #[arg(short = 'f')]
    pub from_ftpsync: bool,

    /// Archive name, the original's first form (`runmirrors security`).
    #[arg(value_name = "NAME", conflicts_with = "archive")]
    pub name: Option<String>,
}

fn parse_kind(s: &str) -> Result<PushKind, String> {
    PushKind::parse(s).ok_or_else(|| format!("{s:?} is not one of all, stage2, mhop"))
}

/// `runmirrors [NAME]` / `runmirrors [-a NAME] [-k KIND] [-f]` as the original took it.
#[derive(Debug, Parser)]
#[command(
    name = "runmirrors",
    version,
    about = "Push (trigger) downstream mirrors over ssh",
    long_about = RUNMIRRORS_ABOUT,
    after_long_help = RUNMIRRORS_HELP
)]
pub struct RunmirrorsCli {
    #[command(flatten)]
    pub args: RunmirrorsArgs,
}

#[derive(Debug, Clone, Args)]
pub struct FtpsyncArgs {
    /// What triggered this run, recorded in the trace file (default: `ssh` when
    /// SSH_ORIGINAL_COMMAND is set).
    #[arg(short = 'T', value_name = "TRIGGER")]
    pub trigger: Option<String>,

    /// `sync:all`, `sync:stage1`, `sync:stage2`, `sync:mhop`, `sync:callback`,
    /// `sync:archive:NAME`. Unknown words are logged and ignored.
    #[arg(value_name = "sync:WORD", allow_hyphen_values = true)]
    pub words: Vec<String>,

    /// Run rsync with --dry-run: show what would change, change nothing (no trace written).
    #[arg(long)]
    pub dry_run: bool,
}

/// `ftpsync [-T TRIGGER] [sync:WORD ...]` as the original took it.
#[derive(Debug, Parser)]
#[command(
    name = "ftpsync",
    version,
    about = "Sync a Debian mirror from its upstream",
    long_about = FTPSYNC_ABOUT,
    after_long_help = FTPSYNC_HELP
)]
pub struct FtpsyncCli {
    #[command(flatten)]
    pub args: FtpsyncArgs,
}

#[derive(Debug, Clone, Args)]
pub struct CronArgs {
    /// Archive: use ftpsync-ARCHIVE.conf (default ftpsync.conf).
    #[arg(value_name = "ARCHIVE")]
    pub archive: Option<String>,
}

/// `ftpsync-cron [ARCHIVE]` as the original took it.
#[derive(Debug, Parser)]
#[command(
    name = "ftpsync-cron",
    version,
    about = "Sync when the upstream's archive serial changed",
    long_about = CRON_ABOUT,
    after_long_help = CRON_HELP
)]
pub struct CronCli {
    #[command(flatten)]
    pub args: CronArgs,
}

#[derive(Debug, Clone, Args)]
pub struct TunnelArgs {
    /// CA directory (hashed, as c_rehash makes it) or CA file [env: RSYNC_SSL_CAPATH, default /etc/ssl/certs].
    #[arg(short = 'C', value_name = "CAPATH")]
    pub capath: Option<std::path::PathBuf>,
    /// stunnel, stunnel-old (no host name check) or socat [env: RSYNC_SSL_METHOD, default stunnel].
    #[arg(short = 'm', value_name = "METHOD")]
    pub method: Option<String>,
    /// TLS port of the upstream [env: RSYNC_SSL_PORT, default 1873].
    #[arg(short = 'p', value_name = "PORT")]
    pub port: Option<u16>,
    /// User name rsync passes along; not used (the rsync daemon authenticates).
    #[arg(short = 'l', value_name = "USER")]
    pub user: Option<String>,
    /// The upstream host.
    #[arg(value_name = "RSYNC_HOST")]
    pub host: String,
    /// The remote command rsync appends (`rsync --server --daemon .`); not used.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

/// `rsync-ssl-tunnel [-C CAPATH] [-m METHOD] [-p PORT] RSYNC_HOST` as the original took it.
#[derive(Debug, Parser)]
#[command(
    name = "rsync-ssl-tunnel",
    version,
    about = "TLS tunnel for rsync -e",
    long_about = TUNNEL_ABOUT,
    after_long_help = TUNNEL_HELP
)]
pub struct TunnelCli {
    #[command(flatten)]
    pub args: TunnelArgs,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Archives to show (default: every ftpsync*.conf found).
    #[arg(value_name = "ARCHIVE")]
    pub archives: Vec<String>,
    /// Machine-readable output (see README: "status --json fields").
    #[arg(long, conflicts_with_all = ["prometheus", "html"])]
    pub json: bool,
    /// Prometheus text format (node_exporter textfile collector).
    #[arg(long, conflicts_with = "html")]
    pub prometheus: bool,
    /// A mirrorz.json document (MirrorZ data format v1.7), one mirror per archive.
    #[arg(long, conflicts_with_all = ["json", "prometheus", "html"])]
    pub mirrorz: bool,
    /// Write the status page, one self-contained HTML file, to FILE (replaced atomically)
    /// instead of printing the table: each archive's health, last runs, lag and duration
    /// charts, upstream chain, downstreams and last push.
    #[arg(long, value_name = "FILE")]
    pub html: Option<std::path::PathBuf>,
    /// Age of the last success beyond which the mirror counts as stale: 90m, 36h, 2d, or seconds.
    #[arg(long, value_name = "AGE", default_value = "2d", value_parser = crate::report::parse_age)]
    pub max_age: u64,
    /// Also check every downstream that has an `http` line in runmirrors.mirror, as
    /// check-mirror does, and show its serial lag and age (recorded for METRICS_FILE).
    #[arg(long)]
    pub downstreams: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CheckMirrorArgs {
    /// The mirror's top directory (where project/trace/ is), http:// or https:// (default:
    /// MIRROR_URL of the ftpsync config).
    #[arg(value_name = "URL")]
    pub urls: Vec<String>,
    /// The site's trace file, project/trace/SITE (default: from the directory listing, or
    /// MIRRORNAME with MIRROR_URL).
    #[arg(long, value_name = "SITE")]
    pub site: Option<String>,
    /// Without URL: take MIRROR_URL from ftpsync-ARCHIVE.conf.
    #[arg(short = 'a', long, value_name = "ARCHIVE")]
    pub archive: Option<String>,
    /// The suite whose Release the two-stage test asks for (default: sid, else the first
    /// of unstable, testing, stable, ... the mirror carries).
    #[arg(long, value_name = "SUITE")]
    pub suite: Option<String>,
    /// Machine-readable output: an array, one object per URL.
    #[arg(long)]
    pub json: bool,
    /// Seconds each request may take.
    #[arg(long, value_name = "SECONDS", default_value_t = crate::check_mirror::DEFAULT_TIMEOUT,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// CA directory (hashed) or file for https:// [default: RSYNC_SSL_CAPATH, /etc/ssl/certs].
    #[arg(long, value_name = "CAPATH")]
    pub ca: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct CheckConfigArgs {
    /// Archive: check ftpsync-ARCHIVE.conf and runmirrors-ARCHIVE.* (default: ftpsync.conf).
    #[arg(value_name = "ARCHIVE")]
    pub archive: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ManpagesArgs {
    /// Directory to write the pages into (created if missing).
    #[arg(value_name = "DIR")]
    pub dir: std::path::PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

impl From<FtpsyncArgs> for crate::ftpsync::Options {
    fn from(a: FtpsyncArgs) -> Self {
        crate::ftpsync::Options {
            trigger: a.trigger,
            words: a.words,
            dry_run: a.dry_run,
        }
    }
}

impl From<RunmirrorsArgs> for crate::runmirrors::Options {
    fn from(a: RunmirrorsArgs) -> Self {
        crate::runmirrors::Options {
            archive: a.archive.or(a.name).unwrap_or_default(),
            kind: a.kind.unwrap_or(PushKind::Mhop),
            from_ftpsync: a.from_ftpsync,
        }
    }
}

impl From<CronArgs> for crate::cron::Options {
    fn from(a: CronArgs) -> Self {
        crate::cron::Options {
            archive: a.archive.unwrap_or_default(),
        }
    }
}

impl From<CheckConfigArgs> for crate::check_config::Options {
    fn from(a: CheckConfigArgs) -> Self {
        crate::check_config::Options {
            archive: a.archive.unwrap_or_default(),
        }
    }
}

impl From<TunnelArgs> for crate::tunnel::Args {
    fn from(a: TunnelArgs) -> Self {
        crate::tunnel::Args {
            capath: a.capath,
            method: a.method,
            port: a.port,
            host: a.host,
        }
    }
}

impl From<StatusArgs> for crate::status::Options {
    fn from(a: StatusArgs) -> Self {
        crate::status::Options {
            archives: a.archives,
            json: a.json,
            prometheus: a.prometheus,
            mirrorz: a.mirrorz,
            max_age: a.max_age,
            downstreams: a.downstreams,
            html: a.html,
        }
    }
}

impl From<CheckMirrorArgs> for crate::check_mirror::Options {
    fn from(a: CheckMirrorArgs) -> Self {
        crate::check_mirror::Options {
            urls: a.urls,
            site: a.site,
            archive: a.archive,
            suite: a.suite,
            json: a.json,
            timeout: std::time::Duration::from_secs(a.timeout),
            ca: a.ca,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnel_takes_rsyncs_call() {
        // rsync runs `-e PROGRAM` as PROGRAM [-l USER] HOST rsync --server --daemon .
        let c = TunnelCli::try_parse_from([
            "rsync-ssl-tunnel",
            "-l",
            "someone",
            "-C",
            "/ca",
            "-m",
            "socat",
            "-p",
            "99",
            "mirror.example",
            "rsync",
            "--server",
            "--daemon",
            ".",
        ])
        .expect("rsync's call parses");
        let a = crate::tunnel::Args::from(c.args);
        assert_eq!(a.host, "mirror.example");
        assert_eq!(a.port, Some(99));
        assert_eq!(a.method.as_deref(), Some("socat"));
        assert_eq!(a.capath, Some(std::path::PathBuf::from("/ca")));
    }

    #[test]
    fn runmirrors_first_form_and_default_kind() {
        let c = RunmirrorsCli::try_parse_from(["runmirrors", "security"]).expect("parses");
        let o = crate::runmirrors::Options::from(c.args);
        assert_eq!(o.archive, "security");
        assert_eq!(o.kind, PushKind::Mhop);
        assert!(!o.from_ftpsync);
        let c = RunmirrorsCli::try_parse_from(["runmirrors", "-a", "x", "-k", "all", "-f"])
            .expect("parses");
        let o = crate::runmirrors::Options::from(c.args);
        assert_eq!(
            (o.archive.as_str(), o.kind, o.from_ftpsync),
            ("x", PushKind::All, true)
        );
    }
}

#[derive(Debug, Clone, Args)]
pub struct DownstreamArgs {
    /// The hub's archive: ftpsync-ARCHIVE.conf, runmirrors-ARCHIVE.conf and .mirror.
    #[arg(short = 'a', long, value_name = "ARCHIVE", global = true)]
    pub archive: Option<String>,
    #[command(subcommand)]
    pub action: DownstreamAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum DownstreamAction {
    /// Push NAME at HOST from now on, and print what its operator must do.
    Add {
        /// Short name: the mirror line's SHORTNAME, its log file, its rsync user.
        #[arg(value_name = "NAME")]
        name: String,
        /// Where its sshd listens.
        #[arg(value_name = "HOST")]
        host: String,
        /// The account on HOST whose authorized_keys gets the push key.
        #[arg(long, value_name = "USER", default_value = crate::downstream::DEFAULT_USER)]
        user: String,
        /// all (one push), staged (stage 1, then stage 2 when all staged mirrors are done),
        /// mhop (staged, for a downstream that is a hub itself).
        #[arg(long = "type", value_name = "TYPE", default_value = "all", value_parser = parse_mirror_type)]
        kind: MirrorType,
        /// ssh options for this downstream, as on a mirror line: --ssh-opts='-p 2222'.
        #[arg(long, value_name = "OPTIONS", allow_hyphen_values = true)]
        ssh_opts: Option<String>,
        #[command(flatten)]
        command: ForcedCommandArg,
    },
    /// The downstreams, and whether each has an rsync password.
    List,
    /// Print again what NAME's operator must do (key line, RSYNC_* lines).
    Show {
        #[arg(value_name = "NAME")]
        name: String,
        #[command(flatten)]
        command: ForcedCommandArg,
    },
    /// Stop pushing NAME and take its rsync password away.
    Remove {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Check NAME without logging in (name, port, host key); the real test is a push.
    Test {
        #[arg(value_name = "NAME")]
        name: String,
    },
}

fn parse_mirror_type(s: &str) -> Result<MirrorType, String> {
    MirrorType::parse(s).ok_or_else(|| format!("{s:?} is not one of all, staged, mhop"))
}

/// `--command`, for add and show.
#[derive(Debug, Clone, Args)]
pub struct ForcedCommandArg {
    /// The downstream's ftpsync, the forced command of the key.
    #[arg(long, value_name = "PATH", default_value = crate::downstream::DEFAULT_COMMAND)]
    pub command: String,
}

impl From<DownstreamArgs> for crate::downstream::Options {
    fn from(a: DownstreamArgs) -> Self {
        use crate::downstream::{Action, AddOptions};
        let action = match a.action {
            DownstreamAction::Add {
                name,
                host,
                user,
                kind,
                ssh_opts,
                command,
            } => Action::Add(AddOptions {
                name,
                host,
                user,
                kind,
                ssh_opts,
                command: command.command,
            }),
            DownstreamAction::List => Action::List,
            DownstreamAction::Show { name, command } => Action::Show {
                name,
                command: command.command,
            },
            DownstreamAction::Remove { name } => Action::Remove { name },
            DownstreamAction::Test { name } => Action::Test { name },
        };
        crate::downstream::Options {
            archive: a.archive.unwrap_or_default(),
            action,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct RsyncdConfigArgs {
    /// The archive: ftpsync-ARCHIVE.conf's TO, runmirrors-ARCHIVE.conf's RSYNCD_* keys.
    #[arg(short = 'a', long, value_name = "ARCHIVE")]
    pub archive: Option<String>,
}

impl From<RsyncdConfigArgs> for crate::downstream::rsyncd_conf::Options {
    fn from(a: RsyncdConfigArgs) -> Self {
        crate::downstream::rsyncd_conf::Options {
            archive: a.archive.unwrap_or_default(),
        }
    }
}
