//! rsync-ssl-tunnel (SPEC §9): rsync's `-e` program for `RSYNC_TRANSPORT=ssl`.
//!
//! rsync runs `<tunnel> [-l USER] HOST rsync --server --daemon .` and speaks the daemon
//! protocol over our stdin/stdout. We open TLS to HOST:PORT (an stunnel or similar in front
//! of the upstream's rsync daemon), verify the certificate against the CA path, and relay
//! bytes both ways. Unlike the original, no external program (stunnel, socat) is needed: the
//! methods only choose whether the host name is checked.

use crate::common::tls;
use rustls::pki_types::ServerName;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;

const PROG: &str = "rsync-ssl-tunnel";
const DEFAULT_CAPATH: &str = "/etc/ssl/certs";
const DEFAULT_METHOD: &str = "stunnel";
const DEFAULT_PORT: u16 = 1873;
/// Per address tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);
/// TCP keepalive idle time, as the original's socat method set it.
const KEEPIDLE_SECS: libc::c_int = 300;
const CHUNK: usize = 64 * 1024;

/// What one run does, resolved from the options, the environment and the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    host: String,
    port: u16,
    capath: PathBuf,
    check_hostname: bool,
}

/// Whether METHOD checks the host name; `None` for an unknown method.
pub fn method_checks_hostname(method: &str) -> Option<bool> {
    tls::SslMethod::parse(method).checks_hostname()
}

/// What the command line asked for (`-C`, `-m`, `-p`, the host); rsync's `-l USER` and
/// remote command are not used.
#[derive(Debug, Clone, Default)]
pub struct Args {
    pub capath: Option<PathBuf>,
    pub method: Option<String>,
    pub port: Option<u16>,
    pub host: String,
}

/// `-C/-m/-p`, else `RSYNC_SSL_CAPATH/METHOD/PORT` (empty counts as unset, as the
/// original's `${VAR:-default}` did), else the defaults.
fn options(args: &Args, env: impl Fn(&str) -> Option<String>) -> Result<Options, String> {
    let env = |k: &str| env(k).filter(|v| !v.is_empty());
    let method = args
        .method
        .clone()
        .or_else(|| env("RSYNC_SSL_METHOD"))
        .unwrap_or_else(|| DEFAULT_METHOD.to_string());
    let check_hostname =
        method_checks_hostname(&method).ok_or_else(|| format!("Unknown method {method}."))?;
    let port = match args.port {
        Some(p) => p,
        None => match env("RSYNC_SSL_PORT") {
            Some(s) => s
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("RSYNC_SSL_PORT={s:?} is not a port number"))?,
            None => DEFAULT_PORT,
        },
    };
    if port == 0 {
        return Err("port 0 is not a port number".into());
    }
    let capath = args
        .capath
        .clone()
        .or_else(|| env("RSYNC_SSL_CAPATH").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CAPATH));
    // rsync hands over an IPv6 literal without brackets, but accept them too.
    let host = args.host.trim();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .to_string();
    if host.is_empty() {
        return Err("No host given.".into());
    }
    Ok(Options {
        host,
        port,
        capath,
        check_hostname,
    })
}

/// `host:port`, `[v6]:port`.
fn endpoint(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

pub fn main(args: Args) -> u8 {
    let opts = match options(&args, |k| std::env::var(k).ok()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{PROG}: {e}");
            return 1;
        }
    };
    let config = match tls::client_config(&opts.capath, opts.check_hostname) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{PROG}: {e:#}");
            return 1;
        }
    };
    crate::common::process::block_on(async {
        match tunnel(&opts, config).await {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("{PROG}: {e}");
                1
            }
        }
    })
}

async fn tunnel(o: &Options, config: Arc<rustls::ClientConfig>) -> Result<(), String> {
    let ep = endpoint(&o.host, o.port);
    // An IP address becomes an IP server name (checked against the IP SANs, no SNI).
    let server_name = ServerName::try_from(o.host.clone())
        .map_err(|_| format!("{:?} is not a valid host name", o.host))?;
    let tcp = connect(&o.host, o.port, &ep).await?;
    let _ = tcp.set_nodelay(true);
    keepalive(&tcp);
    let tls = timeout(
        HANDSHAKE_TIMEOUT,
        tokio_rustls::TlsConnector::from(config).connect(server_name, tcp),
    )
    .await
    .map_err(|_| {
        format!(
            "TLS to {ep} failed: no handshake within {} s",
            HANDSHAKE_TIMEOUT.as_secs()
        )
    })?
    .map_err(|e| format!("TLS to {ep} failed: {}", handshake_error(&e)))?;
    relay(tls, &ep).await
}

/// The handshake error as rustls words it, with a hint when the peer does not speak TLS.
fn handshake_error(e: &io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidMessage(_)) => {
            format!("{e} (is a TLS server listening on that port?)")
        }
        _ => e.to_string(),
    }
}

/// TCP to the first address of HOST that answers; `ep` names it in the error.
async fn connect(host: &str, port: u16, ep: &str) -> Result<TcpStream, String> {
    let addrs: Vec<SocketAddr> = timeout(CONNECT_TIMEOUT, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| format!("cannot resolve {host}: timed out"))?
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("cannot resolve {host}: no address"));
    }
    let mut errors = Vec::new();
    for addr in &addrs {
        match timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => errors.push((addr, e.to_string())),
            Err(_) => errors.push((
                addr,
                format!("timed out after {} s", CONNECT_TIMEOUT.as_secs()),
            )),
        }
    }
    let why = match errors.as_slice() {
        [(_, e)] => e.clone(),
        _ => errors
            .iter()
            .map(|(a, e)| format!("{a}: {e}"))
            .collect::<Vec<_>>()
            .join("; "),
    };
    Err(format!("cannot connect to {ep}: {why}"))
}

/// Best effort: a long quiet rsync session should survive NAT and notice a dead peer.
fn keepalive(tcp: &TcpStream) {
    let set = |level, name, value| {
        crate::common::system::set_socket_option(tcp, level, name, value);
    };
    set(libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    set(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, KEEPIDLE_SECS);
}

/// stdin → TLS and TLS → stdout. When stdin ends, close_notify + shutdown of our write
/// side, and keep reading; when the server closes, flush stdout and end.
async fn relay<S>(tls: S, ep: &str) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut rd, mut wr) = tokio::io::split(tls);
    let mut from_stdin = stdin_reader();
    let (to_stdout, writer) = stdout_writer().map_err(|e| format!("cannot use stdout: {e}"))?;

    let upload = async move {
        while let Some(chunk) = from_stdin.recv().await {
            match chunk {
                Ok(buf) => {
                    wr.write_all(&buf).await?;
                    wr.flush().await?;
                }
                Err(e) => {
                    let _ = wr.shutdown().await;
                    return Err(Upload::Stdin(e));
                }
            }
        }
        wr.shutdown().await?;
        Ok::<(), Upload>(())
    };
    let download = async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match rd.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                // TCP closed without close_notify: rsync's own protocol tells whether the
                // session was complete, so this is an end like any other.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(Download::Tls(e)),
            };
            if to_stdout.send(buf[..n].to_vec()).await.is_err() {
                return Err(Download::Stdout);
            }
        }
    };

    let mut upload = Box::pin(upload);
    let mut download = Box::pin(download);
    let mut upload_result: Option<Result<(), Upload>> = None;
    let downloaded = loop {
        tokio::select! {
            r = &mut upload, if upload_result.is_none() => upload_result = Some(r),
            r = &mut download => break r,
        }
    };
    // Dropping the download side closes the channel: the writer drains it and ends.
    drop(download);
    drop(upload);
    let written = writer
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("stdout writer panicked")));

    let upload_error = match upload_result {
        Some(Err(Upload::Stdin(e))) => Some(format!("reading stdin: {e}")),
        Some(Err(Upload::Tls(e))) => Some(format!("sending to {ep}: {e}")),
        _ => None,
    };
    match downloaded {
        Ok(()) => written.map_err(|e| format!("writing stdout: {e}")),
        Err(Download::Stdout) => Err(match written {
            Err(e) => format!("writing stdout: {e}"),
            Ok(()) => "writing stdout: closed".to_string(),
        }),
        // The first thing that went wrong is the one worth telling.
        Err(Download::Tls(e)) => {
            Err(upload_error.unwrap_or_else(|| format!("receiving from {ep}: {e}")))
        }
    }
}

enum Upload {
    Stdin(io::Error),
    Tls(io::Error),
}

impl From<io::Error> for Upload {
    fn from(e: io::Error) -> Self {
        Upload::Tls(e)
    }
}

enum Download {
    Tls(io::Error),
    Stdout,
}

/// A thread reading stdin in chunks (std's stdin blocks; the thread is left behind when we
/// exit). The channel closes at end of input; a read error is passed along once.
fn stdin_reader() -> mpsc::Receiver<io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(4);
    std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        let mut buf = vec![0u8; CHUNK];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx.blocking_send(Ok(buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
    });
    rx
}

/// The stdout thread; joining it tells whether everything was written.
type StdoutWriter = std::thread::JoinHandle<io::Result<()>>;

/// A thread writing what it receives to stdout, unbuffered (a duplicate of fd 1), until the
/// channel closes or a write fails.
fn stdout_writer() -> io::Result<(mpsc::Sender<Vec<u8>>, StdoutWriter)> {
    let mut out = std::fs::File::from(io::stdout().as_fd().try_clone_to_owned()?);
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(4);
    let handle = std::thread::spawn(move || {
        while let Some(buf) = rx.blocking_recv() {
            out.write_all(&buf)?;
        }
        out.flush()
    });
    Ok((tx, handle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// `-C`, `-m`, `-p` and the host of a command line, as `cli` hands them over (its own
    /// tests check that parsing).
    fn args(list: &[&str]) -> Args {
        let mut a = Args::default();
        let mut words = list.iter();
        while let Some(w) = words.next() {
            match *w {
                "-C" => a.capath = words.next().map(PathBuf::from),
                "-m" => a.method = words.next().map(|m| m.to_string()),
                "-p" => a.port = words.next().and_then(|p| p.parse().ok()),
                "-l" => {
                    words.next();
                }
                host => {
                    a.host = host.to_string();
                    break;
                }
            }
        }
        a
    }

    fn with_env(a: &Args, env: &[(&str, &str)]) -> Result<Options, String> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        options(a, |k| env.get(k).cloned())
    }

    #[test]
    fn methods() {
        for m in ["stunnel", "stunnel4", "socat"] {
            assert_eq!(method_checks_hostname(m), Some(true), "{m}");
        }
        for m in ["stunnel-old", "stunnel4-old"] {
            assert_eq!(method_checks_hostname(m), Some(false), "{m}");
        }
        for m in ["", "openssl", "STUNNEL", "stunnel5"] {
            assert_eq!(method_checks_hostname(m), None, "{m}");
        }
        let e = with_env(&args(&["-m", "carrier-pigeon", "h"]), &[]).unwrap_err();
        assert_eq!(e, "Unknown method carrier-pigeon.");
        let e = with_env(&args(&["h"]), &[("RSYNC_SSL_METHOD", "x")]).unwrap_err();
        assert_eq!(e, "Unknown method x.");
    }

    #[test]
    fn defaults_then_environment_then_options() {
        // the way rsync calls it
        let a = args(&[
            "-l",
            "someone",
            "mirror.example",
            "rsync",
            "--server",
            "--daemon",
            ".",
        ]);
        assert_eq!(
            with_env(&a, &[]).unwrap(),
            Options {
                host: "mirror.example".into(),
                port: 1873,
                capath: "/etc/ssl/certs".into(),
                check_hostname: true,
            }
        );
        let env = [
            ("RSYNC_SSL_PORT", "8873"),
            ("RSYNC_SSL_CAPATH", "/ca"),
            ("RSYNC_SSL_METHOD", "stunnel-old"),
        ];
        assert_eq!(
            with_env(&a, &env).unwrap(),
            Options {
                host: "mirror.example".into(),
                port: 8873,
                capath: "/ca".into(),
                check_hostname: false,
            }
        );
        let a = args(&["-C", "/other", "-m", "socat", "-p", "99", "[::1]"]);
        assert_eq!(
            with_env(&a, &env).unwrap(),
            Options {
                host: "::1".into(),
                port: 99,
                capath: "/other".into(),
                check_hostname: true,
            }
        );
        // empty means unset
        let empty = [
            ("RSYNC_SSL_PORT", ""),
            ("RSYNC_SSL_CAPATH", ""),
            ("RSYNC_SSL_METHOD", ""),
        ];
        let o = with_env(&args(&["h"]), &empty).unwrap();
        assert_eq!((o.port, o.check_hostname), (1873, true));
        assert_eq!(o.capath, PathBuf::from("/etc/ssl/certs"));
        let e = with_env(&args(&["h"]), &[("RSYNC_SSL_PORT", "http")]).unwrap_err();
        assert!(e.contains("RSYNC_SSL_PORT"), "{e}");
    }

    #[test]
    fn endpoints() {
        assert_eq!(endpoint("mirror.example", 1873), "mirror.example:1873");
        assert_eq!(endpoint("::1", 1873), "[::1]:1873");
        assert_eq!(endpoint("127.0.0.1", 9), "127.0.0.1:9");
    }
}
