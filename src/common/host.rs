//! Host names, resolved the way the original scripts did (`hostname -f`, `hostname -s`).

use std::process::Command;
use std::sync::OnceLock;

/// The kernel's node name (what bash puts in `$HOSTNAME`).
pub fn nodename() -> String {
    static NODE: OnceLock<String> = OnceLock::new();
    NODE.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "localhost".to_string())
    })
    .clone()
}

/// `hostname -s`: the node name up to the first dot.
pub fn short() -> String {
    let node = nodename();
    node.split('.').next().unwrap_or(&node).to_string()
}

/// `hostname -f`. Only called when a config leaves MIRRORNAME or TRACEHOST unset, because
/// resolving the FQDN can be slow on a badly configured resolver.
pub fn fqdn() -> String {
    static FQDN: OnceLock<String> = OnceLock::new();
    FQDN.get_or_init(|| {
        Command::new("hostname")
            .arg("-f")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(nodename)
    })
    .clone()
}
