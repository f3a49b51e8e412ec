//! Pieces shared by every command: where files live, how configs are read, how rsync and ssh
//! are called, and the files we leave behind (logs, traces, locks, mail).

pub mod atomic;
pub mod config;
pub mod dates;
pub mod history;
pub mod hooks;
pub mod host;
pub mod http;
pub mod kinds;
pub mod layout;
pub mod lock;
pub mod log;
pub mod mail;
pub mod private_dir;
pub mod process;
pub mod rsync;
pub mod ssh;
pub mod state;
pub mod system;
pub mod term;
pub mod tls;
pub mod trace;
