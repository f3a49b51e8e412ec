//! Command-line definitions. `archvsync SUBCOMMAND ...`, or a link named after the
//! subcommand (`ftpsync ...`) taking the original's syntax.

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "archvsync",
    version,
    about = "Debian mirror sync (ftpsync) and push (runmirrors) tools, one binary",
    long_about = "Debian mirror sync (ftpsync) and push (runmirrors) tools, one binary.\n\n\
        Invoked through a link named `ftpsync`, it behaves as that command with the \
        original's argument syntax, so `command=\"~/bin/ftpsync\"` in authorized_keys keeps working."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sync the mirror from its upstream (two-stage rsync under a lock).
    Ftpsync(FtpsyncArgs),
    /// Push (trigger) the downstream mirrors listed in runmirrors.mirror over ssh.
    Runmirrors(RunmirrorsArgs),
    /// For mirrors that are not pushed: sync only when the upstream's archive serial changed.
    FtpsyncCron(CronArgs),
    /// rsync's `-e` program for RSYNC_TRANSPORT=ssl: relays stdin/stdout over verified TLS.
    RsyncSslTunnel(TunnelArgs),
    /// What the last runs did, per archive (a table, --json, or --prometheus); a
    /// Nagios-style check: exit 0 OK, 2 failed or stale, 3 unknown.
    Status(StatusArgs),
    /// Load the configs as a run would, report problems, and print the exact rsync and ssh
    /// command lines a run would use, without running them.
    CheckConfig(CheckConfigArgs),
    /// Write man pages (roff) for every command into a directory.
    Manpages(ManpagesArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Internal: follows one detached push trigger to its end (started by runmirrors).
    #[command(hide = true)]
    PushTrigger(PushTriggerArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RunmirrorsArgs {
    /// Archive: use runmirrors-NAME.conf / runmirrors-NAME.mirror.
    #[arg(short = 'a', value_name = "NAME")]
    pub archive: Option<String>,

    /// Kind of push: all, stage2 or mhop (default mhop).
    #[arg(short = 'k', value_name = "KIND", value_parser = parse_kind)]
    pub kind: Option<crate::runmirrors::PushKind>,

    /// Called from within ftpsync (changes how mhop pushes end). Not for the command line.
    #[arg(short = 'f')]
    pub from_ftpsync: bool,

    /// Archive name, the original's first form (`runmirrors security`).
    #[arg(value_name = "NAME", conflicts_with = "archive")]
    pub name: Option<String>,
}

fn parse_kind(s: &str) -> Result<crate::runmirrors::PushKind, String> {
    crate::runmirrors::PushKind::parse(s)
        .ok_or_else(|| format!("{s:?} is not one of all, stage2, mhop"))
}

#[derive(Debug, Clone, Args)]
pub struct PushTriggerArgs {
    #[arg(long)]
    pub log: std::path::PathBuf,
    #[arg(long)]
    pub label: String,
    #[arg(long, default_value = "runmirrors")]
    pub program: String,
    #[arg(long, default_value_t = 3600)]
    pub timeout: u64,
    #[arg(long, default_value = crate::common::mail::DEFAULT_SENDMAIL)]
    pub sendmail: std::path::PathBuf,
    #[arg(long)]
    pub mailto: Vec<String>,
    /// ssh's arguments.
    #[arg(last = true, required = true)]
    pub ssh: Vec<String>,
}

/// `runmirrors [NAME]` / `runmirrors [-a NAME] [-k KIND] [-f]` as the original took it.
#[derive(Debug, Parser)]
#[command(
    name = "runmirrors",
    version,
    about = "Push (trigger) downstream mirrors over ssh"
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
    about = "Sync a Debian mirror from its upstream"
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
    about = "Sync when the upstream's archive serial changed"
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
#[command(name = "rsync-ssl-tunnel", version, about = "TLS tunnel for rsync -e")]
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
    #[arg(long, conflicts_with = "prometheus")]
    pub json: bool,
    /// Prometheus text format (node_exporter textfile collector).
    #[arg(long)]
    pub prometheus: bool,
    /// Age of the last success beyond which the mirror counts as stale: 90m, 36h, 2d, or seconds.
    #[arg(long, value_name = "AGE", default_value = "2d", value_parser = crate::status::parse_age)]
    pub max_age: u64,
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
