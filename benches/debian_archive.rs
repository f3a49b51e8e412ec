//! `debian-archive`: the test harness's archive generator (tests/common/dinstall.rs) as a
//! program, for the shell benchmarks.
//!
//!   debian-archive init DIR --pool-files N --seed S [--ubuntu]
//!   debian-archive dinstall DIR [--seed S] [--rounds K]
//!
//! `init` lays out a Debian-like archive of about N pool files in DIR (which must not
//! exist or be empty; `--ubuntu`: the Ubuntu-like layout) and keeps the generator's state
//! in `DIR.state`. `dinstall` runs K (default 1) dinstall rounds on it, each continuing
//! from that state; `--seed`, when given, must be the archive's. Each round prints one
//! summary line on stdout (`round 3: 1505 new pool files, 627 deleted, ...`); the time
//! taken goes to stderr.
//!
//! Build: `cargo build --release --example debian-archive`.

#[allow(dead_code)]
#[path = "../tests/common/dinstall.rs"]
mod dinstall;

use std::path::PathBuf;
use std::process::exit;
use std::time::Instant;

const USAGE: &str = "usage: debian-archive init DIR --pool-files N --seed S [--ubuntu]\n       \
                     debian-archive dinstall DIR [--seed S] [--rounds K]";

fn fail(msg: &str) -> ! {
    eprintln!("debian-archive: {msg}\n{USAGE}");
    exit(64);
}

fn number(flag: &str, v: Option<String>) -> u64 {
    let v = v.unwrap_or_else(|| fail(&format!("{flag} needs a number")));
    v.parse()
        .unwrap_or_else(|_| fail(&format!("bad {flag} {v}")))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let cmd = args.next().unwrap_or_else(|| fail("no command"));
    if cmd == "-h" || cmd == "--help" {
        println!("{USAGE}");
        return;
    }
    let dir = PathBuf::from(args.next().unwrap_or_else(|| fail("no DIR")));
    let mut pool_files = None;
    let mut seed = None;
    let mut rounds = 1;
    let mut ubuntu = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--pool-files" => pool_files = Some(number(&a, args.next())),
            "--seed" => seed = Some(number(&a, args.next())),
            "--rounds" => rounds = number(&a, args.next()),
            "--ubuntu" => ubuntu = true,
            _ => fail(&format!("unknown argument {a}")),
        }
    }
    let started = Instant::now();
    match cmd.as_str() {
        "init" => {
            let n = pool_files.unwrap_or_else(|| fail("init needs --pool-files N"));
            let seed = seed.unwrap_or_else(|| fail("init needs --seed S"));
            let made = if ubuntu {
                dinstall::Archive::init_ubuntu_like(&dir, n as usize, seed)
            } else {
                dinstall::Archive::init(&dir, n as usize, seed)
            };
            let a = made.unwrap_or_else(|e| {
                eprintln!("debian-archive: init {}: {e}", dir.display());
                exit(1)
            });
            let pool = a
                .referenced_files()
                .map(|v| v.iter().filter(|(p, _)| p.starts_with("pool/")).count())
                .unwrap_or(0);
            println!(
                "round 0: {pool} pool files, suites {}, serial {}",
                a.suites().join(" "),
                a.serial()
            );
            eprintln!("init took {:.2}s", started.elapsed().as_secs_f64());
        }
        "dinstall" => {
            if pool_files.is_some() || ubuntu {
                fail("--pool-files and --ubuntu are for init");
            }
            let mut a = dinstall::Archive::open(&dir).unwrap_or_else(|e| {
                eprintln!(
                    "debian-archive: open {} (state {}): {e}",
                    dir.display(),
                    dinstall::state_path(&dir).display()
                );
                exit(1)
            });
            if let Some(s) = seed {
                if s != a.seed() {
                    fail(&format!(
                        "{} was made with --seed {}, not {s}",
                        dir.display(),
                        a.seed()
                    ));
                }
            }
            for _ in 0..rounds {
                let t = Instant::now();
                let sum = a.dinstall().unwrap_or_else(|e| {
                    eprintln!("debian-archive: dinstall {}: {e}", dir.display());
                    exit(1)
                });
                println!("{sum}");
                eprintln!("round {} took {:.2}s", sum.round, t.elapsed().as_secs_f64());
            }
        }
        _ => fail(&format!("unknown command {cmd}")),
    }
}
