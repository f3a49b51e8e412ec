//! archvsync: a drop-in replacement for Debian's mirror scripts (ftpsync, runmirrors,
//! ftpsync-cron, rsync-ssl-tunnel). `main.rs` dispatches; each command lives in its own
//! module over the shared pieces in `common`.

pub mod check_config;
pub mod check_mirror;
pub mod cli;
pub mod common;
pub mod cron;
pub mod debian;
pub mod downstream;
pub mod ftpsync;
pub mod report;
pub mod runmirrors;
pub mod settings;
pub mod status;
pub mod tunnel;
