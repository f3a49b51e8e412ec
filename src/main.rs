//! archvsync: one binary for Debian's mirror tools. This file only dispatches.

use archvsync::cli::{Cli, Command, CronCli, FtpsyncCli, RunmirrorsCli, TunnelCli};
use archvsync::common::{dates, layout::Layout};
use clap::Parser;
use std::ffi::OsString;
use std::process::ExitCode;

/// Usage errors exit with EX_USAGE, as the original's getopts handling did.
const EX_USAGE: u8 = 64;

fn parse<P: Parser>(args: Vec<OsString>) -> Result<P, ExitCode> {
    P::try_parse_from(args).map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            ExitCode::from(EX_USAGE)
        } else {
            ExitCode::SUCCESS
        }
    })
}

fn main() -> ExitCode {
    // Before any thread exists: the local zone can only be read safely now.
    dates::init_local_offset();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ARCHVSYNC_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();

    let args: Vec<OsString> = std::env::args_os().collect();
    let argv0 = args.first().cloned().unwrap_or_default();
    let layout = Layout::detect(&argv0);
    let called_as = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();

    // A link named after a command takes the original's syntax; it is then the same
    // command as the subcommand of that name.
    let parsed = match called_as.as_str() {
        "ftpsync" => parse::<FtpsyncCli>(args).map(|c| Command::Ftpsync(c.args)),
        "runmirrors" => parse::<RunmirrorsCli>(args).map(|c| Command::Runmirrors(c.args)),
        "ftpsync-cron" => parse::<CronCli>(args).map(|c| Command::FtpsyncCron(c.args)),
        "rsync-ssl-tunnel" => parse::<TunnelCli>(args).map(|c| Command::RsyncSslTunnel(c.args)),
        _ => parse::<Cli>(args).map(|c| c.command),
    };
    let command = match parsed {
        Ok(c) => c,
        Err(code) => return code,
    };
    let code = match command {
        Command::Ftpsync(a) => archvsync::ftpsync::main(&layout, a.into()),
        Command::Runmirrors(a) => archvsync::runmirrors::main(&layout, a.into()),
        Command::PushFollower => archvsync::runmirrors::follower::main(),
        Command::FtpsyncCron(a) => archvsync::cron::main(&layout, a.into()),
        Command::RsyncSslTunnel(a) => archvsync::tunnel::main(a.into()),
        Command::Status(a) => archvsync::status::main(&layout, a.into()),
        Command::CheckConfig(a) => archvsync::check_config::main(&layout, a.into()),
        Command::Downstream(a) => archvsync::downstream::main(&layout, a.into()),
        Command::RsyncdConfig(a) => archvsync::downstream::rsyncd_conf::main(&layout, a.into()),
        Command::CheckMirror(a) => archvsync::check_mirror::main(&layout, a.into()),
        Command::Manpages(a) => archvsync::cli::docs::manpages(a),
        Command::Completions(a) => archvsync::cli::docs::completions(a),
    };
    ExitCode::from(code)
}
