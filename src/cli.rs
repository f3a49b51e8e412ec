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
