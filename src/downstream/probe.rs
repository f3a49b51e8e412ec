//! `archvsync downstream test NAME`: what can be checked about a downstream without logging
//! in to it. Any login with the push key runs the downstream's forced command, its ftpsync,
//! which syncs, so this stops short of authenticating: it resolves the name, connects to the
//! ssh port (with a timeout) and reads the server's banner, and compares the host key the
//! server offers (ssh-keyscan) with the one known_hosts holds (ssh-keygen -F). The real
//! test is a push.
//!
//! Where ssh connects, as which user and with which known_hosts files is what `ssh -G`
//! says for the very options a trigger uses, so ~/.ssh/config, SSH_OPTS and the mirror
//! line's options all count.

use super::{Failure, Hub, MirrorList, EX_FAILED};
use crate::common::layout::{self, Layout};
use crate::common::process;
use crate::common::ssh::{self, SSH};
use std::collections::BTreeMap;
use std::io::Read;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

const STEP_TIMEOUT: Duration = Duration::from_secs(10);
const KEYSCAN_TIMEOUT: Duration = Duration::from_secs(20);

pub fn main(layout: &Layout, archive: &str, name: &str) -> u8 {
    match probe(layout, archive, name) {
        Ok(ok) => u8::from(!ok),
        Err(f) => f.print(),
    }
}

/// `ssh -G`'s view of the connection.
struct Resolved {
    hostname: String,
    port: u16,
    user: String,
    known_hosts: Vec<PathBuf>,
    alias: Option<String>,
    strict: String,
    connect_timeout: Duration,
}

fn probe(layout: &Layout, archive: &str, name: &str) -> Result<bool, Failure> {
    let hub = Hub::load(layout, archive)?;
    let list = MirrorList::read(&hub.mirrors())?;
    let t = list.require(name)?;
    let Some(push) = &hub.push else {
        return Err(Failure(
            EX_FAILED,
            format!("no {}.conf: nothing is pushed", hub.push_name),
        ));
    };
    let mut ok = true;
    let args = ssh::args(t, &push.ssh_opts, &push.keyfile, None, &[]);
    let r = resolve_config(&args)?;
    println!(
        "{name}: ssh {}@{} port {} (as `ssh -G` resolves the trigger's options)",
        r.user, r.hostname, r.port
    );

    // Name resolution, on a thread: getaddrinfo has no timeout of its own.
    let (tx, rx) = std::sync::mpsc::channel();
    let (h, p) = (r.hostname.clone(), r.port);
    std::thread::spawn(move || {
        let _ = tx.send(
            (h.as_str(), p)
                .to_socket_addrs()
                .map(|a| a.collect::<Vec<_>>()),
        );
    });
    let addrs: Vec<SocketAddr> = match rx.recv_timeout(STEP_TIMEOUT) {
        Ok(Ok(a)) if !a.is_empty() => {
            println!(
                "ok: {} resolves to {}",
                r.hostname,
                a.iter()
                    .map(|a| a.ip().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            a
        }
        Ok(Ok(_)) => {
            return Ok(report_fail(format!(
                "{} resolves to no address",
                r.hostname
            )))
        }
        Ok(Err(e)) => return Ok(report_fail(format!("{} does not resolve: {e}", r.hostname))),
        Err(_) => {
            return Ok(report_fail(format!(
                "resolving {} took more than {} s",
                r.hostname,
                STEP_TIMEOUT.as_secs()
            )))
        }
    };

    // TCP and the banner: an ssh server answers there.
    let timeout = r.connect_timeout.min(STEP_TIMEOUT);
    let mut connected = None;
    let mut errors = Vec::new();
    for a in &addrs {
        match TcpStream::connect_timeout(a, timeout) {
            Ok(s) => {
                connected = Some((*a, s));
                break;
            }
            Err(e) => errors.push(format!("{a}: {e}")),
        }
    }
    let Some((addr, mut stream)) = connected else {
        return Ok(report_fail(format!(
            "cannot connect to port {} within {} s: {}",
            r.port,
            timeout.as_secs(),
            errors.join("; ")
        )));
    };
    let _ = stream.set_read_timeout(Some(STEP_TIMEOUT));
    let mut banner = Vec::new();
    let mut buf = [0u8; 256];
    while !banner.contains(&b'\n') && banner.len() < 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => banner.extend_from_slice(&buf[..n]),
        }
    }
    drop(stream);
    let banner = String::from_utf8_lossy(&banner);
    let banner = banner
        .lines()
        .find(|l| l.starts_with("SSH-"))
        .unwrap_or("")
        .trim();
    if banner.is_empty() {
        ok = false;
        println!("error: {addr} accepts connections but sends no ssh banner: is it an ssh server?");
    } else {
        println!("ok: {addr} answers: {banner}");
    }

    // The host key.
    let lookup = r.alias.clone().unwrap_or_else(|| {
        if r.port == 22 {
            r.hostname.clone()
        } else {
            format!("[{}]:{}", r.hostname, r.port)
        }
    });
    let known = known_keys(&r.known_hosts, &lookup);
    let offered = offered_keys(&r.hostname, r.port);
    match (&offered, known.is_empty()) {
        (Err(e), _) => {
            ok = false;
            println!("error: ssh-keyscan could not fetch the host key: {e}");
        }
        (Ok(offered), true) => {
            let files = r
                .known_hosts
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" ");
            let fp = fingerprints(offered);
            if matches!(r.strict.as_str(), "true" | "yes") {
                ok = false;
                println!(
                    "error: {lookup} is not in known_hosts ({files}) and StrictHostKeyChecking is on: the push will fail until its key is there"
                );
            } else {
                println!(
                    "note: {lookup} is not in known_hosts ({files}): with StrictHostKeyChecking={} the first push accepts and records its key",
                    r.strict
                );
            }
            for f in fp {
                println!("      offered: {f}  (compare with `ssh-keygen -lf` of the downstream's host key)");
            }
        }
        (Ok(offered), false) => {
            let matching: Vec<&(String, String)> =
                offered.iter().filter(|k| known.contains_key(*k)).collect();
            match matching.first() {
                Some(k) => println!(
                    "ok: the host key ({}) matches {}",
                    k.0,
                    known.get(*k).map(String::as_str).unwrap_or("known_hosts")
                ),
                None => {
                    ok = false;
                    println!(
                        "error: the host key of {lookup} does not match known_hosts ({}): it changed, or the entry is wrong; ssh refuses the push until that is sorted out (`ssh-keygen -R '{lookup}'` once the new key is confirmed)",
                        known.values().cloned().collect::<Vec<_>>().join(", ")
                    );
                }
            }
        }
    }
    println!();
    println!(
        "That is as far as a test can go without logging in: any login with the push key runs {name}'s ftpsync, \
         which syncs. The real test is a push: `runmirrors{}` (it logs to {}).",
        if hub.archive.is_empty() { String::new() } else { format!(" {}", hub.archive) },
        push.core.logdir.join(format!("{name}.log")).display()
    );
    Ok(ok)
}

fn report_fail(msg: String) -> bool {
    println!("error: {msg}");
    false
}

fn resolve_config(args: &[String]) -> Result<Resolved, Failure> {
    let mut cmd = std::process::Command::new(SSH);
    cmd.args(ssh::resolve_args(args));
    let out = process::output_within(cmd, b"", STEP_TIMEOUT)
        .map_err(|e| Failure(EX_FAILED, format!("cannot run ssh -G: {e}")))?;
    if !out.status.success() {
        return Err(Failure(
            EX_FAILED,
            format!(
                "ssh -G refuses the trigger's options: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut kv: BTreeMap<&str, &str> = BTreeMap::new();
    for l in text.lines() {
        if let Some((k, v)) = l.split_once(' ') {
            kv.entry(k).or_insert(v);
        }
    }
    let home = layout::home();
    let expand = |p: &str| -> PathBuf {
        match p.strip_prefix("~/") {
            Some(rest) => home.join(rest),
            None => PathBuf::from(p),
        }
    };
    let mut known_hosts: Vec<PathBuf> = Vec::new();
    for key in ["userknownhostsfile", "globalknownhostsfile"] {
        if let Some(v) = kv.get(key) {
            known_hosts.extend(v.split_whitespace().map(expand));
        }
    }
    Ok(Resolved {
        hostname: kv.get("hostname").copied().unwrap_or_default().to_string(),
        port: kv.get("port").and_then(|p| p.parse().ok()).unwrap_or(22),
        user: kv.get("user").copied().unwrap_or_default().to_string(),
        known_hosts,
        alias: kv.get("hostkeyalias").map(|s| s.to_string()),
        strict: kv
            .get("stricthostkeychecking")
            .copied()
            .unwrap_or("ask")
            .to_string(),
        connect_timeout: kv
            .get("connecttimeout")
            .and_then(|t| t.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(STEP_TIMEOUT),
    })
}

/// (key type, base64) → where it is (`FILE:LINE`), for `name` in `files`.
fn known_keys(files: &[PathBuf], name: &str) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    for f in files.iter().filter(|f| f.is_file()) {
        let mut cmd = std::process::Command::new("ssh-keygen");
        cmd.arg("-F").arg(name).arg("-f").arg(f);
        let Ok(o) = process::output_within(cmd, b"", STEP_TIMEOUT) else {
            continue;
        };
        let text = String::from_utf8_lossy(&o.stdout);
        let mut line = String::new();
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("# Host ") {
                line = rest.rsplit("line ").next().unwrap_or("").trim().to_string();
                continue;
            }
            let words: Vec<&str> = l.split_whitespace().collect();
            // host-pattern keytype key [comment]; @cert-authority and @revoked lines are
            // not a key of the host's own.
            if words.len() >= 3 && !words[0].starts_with('@') {
                out.insert(
                    (words[1].to_string(), words[2].to_string()),
                    format!("{}:{line}", f.display()),
                );
            }
        }
    }
    out
}

/// The host keys the server offers, from ssh-keyscan (which does not log in).
fn offered_keys(host: &str, port: u16) -> Result<Vec<(String, String)>, String> {
    let mut cmd = std::process::Command::new("ssh-keyscan");
    cmd.args(["-T", "5", "-p", &port.to_string(), "--", host]);
    let out = process::output_within(cmd, b"", KEYSCAN_TIMEOUT).map_err(|e| e.to_string())?;
    let keys: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.len() >= 3).then(|| (w[1].to_string(), w[2].to_string()))
        })
        .collect();
    if keys.is_empty() {
        return Err(format!(
            "no key came back: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(keys)
}

fn fingerprints(keys: &[(String, String)]) -> Vec<String> {
    let input: String = keys
        .iter()
        .map(|(t, k)| format!("host {t} {k}\n"))
        .collect();
    let mut cmd = std::process::Command::new("ssh-keygen");
    cmd.args(["-l", "-f", "-"]);
    match process::output_within(cmd, input.as_bytes(), STEP_TIMEOUT) {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                match (w.get(1), w.last()) {
                    (Some(fp), Some(t)) => format!("{fp} {t}"),
                    _ => l.to_string(),
                }
            })
            .collect(),
        _ => keys.iter().map(|(t, _)| t.clone()).collect(),
    }
}
