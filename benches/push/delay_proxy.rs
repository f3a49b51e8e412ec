//! `delay-proxy --target HOST:PORT --delay-ms N`: the test harness's TCP delay proxy
//! (tests/common/delay.rs) as a program, for the shell benchmarks (benches/hub-scale.sh).
//!
//! It listens on a free port of 127.0.0.1, prints that port on the first line of stdout,
//! and relays every connection to HOST:PORT, each chunk delayed by N ms each way, until it
//! is killed (SIGTERM).
//!
//! Build: `cargo build --release --example delay-proxy`.

#[path = "../../tests/common/delay.rs"]
mod delay;

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::exit;
use std::time::Duration;

const USAGE: &str = "usage: delay-proxy --target HOST:PORT --delay-ms N";

fn fail(msg: &str) -> ! {
    eprintln!("delay-proxy: {msg}\n{USAGE}");
    exit(64);
}

fn main() {
    let mut target: Option<SocketAddr> = None;
    let mut delay_ms: Option<u64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--target" => {
                let v = args
                    .next()
                    .unwrap_or_else(|| fail("--target needs HOST:PORT"));
                let addr = v
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut it| it.next())
                    .unwrap_or_else(|| fail(&format!("bad --target {v}")));
                target = Some(addr);
            }
            "--delay-ms" => {
                let v = args.next().unwrap_or_else(|| fail("--delay-ms needs N"));
                delay_ms = Some(
                    v.parse()
                        .unwrap_or_else(|_| fail(&format!("bad --delay-ms {v}"))),
                );
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            _ => fail(&format!("unknown argument {a}")),
        }
    }
    let target = target.unwrap_or_else(|| fail("--target is required"));
    let delay = Duration::from_millis(delay_ms.unwrap_or_else(|| fail("--delay-ms is required")));
    let proxy = delay::DelayProxy::start(target, delay);
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{}", proxy.port)
        .and_then(|_| out.flush())
        .is_err()
    {
        exit(1);
    }
    drop(out);
    // relays in the proxy's thread until the process is killed
    loop {
        std::thread::park();
    }
}
