//! runmirrors at hub scale (issue 9), against a real sshd whose forced commands are small
//! `/bin/sh` scripts (no ftpsync behind them: they record what arrived and exit):
//!
//! - two runmirrors for the same name at once: the push lock orders them, each downstream
//!   gets one trigger per push, and the second push starts only after the first delivered
//!   every trigger;
//! - 200 detached triggers are sent and followed by one push follower, whose memory stays
//!   under 20 MB, and every session's own exit status lands in its mirror's log and in the
//!   state record;
//! - downstreams whose session ends at once (before the follower may have looked for it)
//!   still get the right final status, round after round.
//!
//! Longer than the ~650 lines a file should keep to, on purpose: three long real-sshd
//! scenarios whose follower and /proc probes (below) are of no use to any other test.

mod common;
use common::sshd::*;
use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A pusher (runmirrors configured, with a push key) whose logs are never rotated, so that
/// every run's lines stay in one file, and whose triggers are bounded by PUSHTIMEOUT.
fn pusher(extra: &[(&str, String)]) -> Downstream {
    let mut b = Downstream::builder("pusher.test")
        .pusher()
        .rm_set("LOGROTATE", "0")
        .rm_set("PUSHTIMEOUT", "60");
    for (k, v) in extra {
        b = b.rm_set(k, v.clone());
    }
    b.start()
}

/// The pid in a log line's `PROGRAM[PID]:` (every line of runmirrors and its follower).
fn line_pid(line: &str) -> Option<u32> {
    let i = line.find("runmirrors[")? + "runmirrors[".len();
    let rest = &line[i..];
    rest[..rest.find("]:")?].parse().ok()
}

/// The lines of `text` written by process `pid` that contain `needle`.
fn lines_of<'a>(text: &'a str, pid: u32, needle: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| line_pid(l) == Some(pid) && l.contains(needle))
        .collect()
}

/// (runmirrors pid, follower pid) of every push in runmirrors.log, in order.
fn followers(rl: &str) -> Vec<(u32, u32)> {
    rl.lines()
        .filter_map(|l| {
            let rest = l.split(": Follower ").nth(1)?;
            let (pid, tail) = rest.split_once(' ')?;
            if !tail.starts_with("sends and follows the triggers of this push") {
                return None;
            }
            Some((line_pid(l)?, pid.parse().ok()?))
        })
        .collect()
}

/// `(N, K)` of the follower's last line `push-follower done: N triggers followed, ...,
/// peak RSS K kB`, once it is there.
fn follower_done(rl: &str, follower: u32) -> Option<(u64, u64)> {
    let l = lines_of(rl, follower, "push-follower done:").pop()?;
    let rest = l.split("push-follower done: ").nth(1)?;
    let n = rest.split(' ').next()?.parse().ok()?;
    let k = rest
        .split("peak RSS ")
        .nth(1)?
        .split(' ')
        .next()?
        .parse()
        .ok()?;
    Some((n, k))
}

fn state(pusher: &Downstream) -> Value {
    let p = pusher.m.logdir().join("ftpsync.state.json");
    serde_json::from_str(&read_string(&p))
        .unwrap_or_else(|e| panic!("{} is not JSON ({e}):\n{}", p.display(), read_string(&p)))
}

fn diag(pusher: &Downstream, sshd: &Sshd) -> String {
    format!(
        "{}--- sshd log ---\n{}\n",
        pusher.diagnostics(),
        tail(&sshd.log(), 4000)
    )
}

fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Is `pid` a push follower started for the mirror whose HOME is `home`? A child it has
/// just forked (ssh, sendmail, before their exec) looks the same and is not counted.
fn is_our_follower(pid: u32, home: &str) -> bool {
    looks_like_our_follower(pid, home)
        && !ppid_of(pid).is_some_and(|pp| looks_like_our_follower(pp, home))
}

fn looks_like_our_follower(pid: u32, home: &str) -> bool {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim() != "archvsync" {
        return false;
    }
    let argv = proc_cmdline(pid).unwrap_or_default();
    if argv.get(1).map(String::as_str) != Some("push-follower") {
        return false;
    }
    proc_environ(pid)
        .unwrap_or_default()
        .iter()
        .any(|e| e.strip_prefix("HOME=") == Some(home))
}

#[derive(Default, Debug)]
struct Seen {
    /// follower pid → (largest VmRSS, last VmHWM) sampled, kB
    followers: BTreeMap<u32, (u64, u64)>,
}

/// Watches /proc every 50 ms for the push followers of one pusher (found by argv and by
/// the HOME runmirrors gave them) and samples their memory. On drop it stops and kills any
/// follower it saw that is still there, so that a failed test leaves nothing behind.
struct FollowerWatch {
    home: String,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FollowerWatch {
    fn start(home: &Path) -> FollowerWatch {
        let home = home.to_string_lossy().into_owned();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s, st) = (home.clone(), seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                let mut found = Vec::new();
                if let Ok(rd) = std::fs::read_dir("/proc") {
                    for e in rd.flatten() {
                        if let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() {
                            if is_our_follower(pid, &h) {
                                found.push(pid);
                            }
                        }
                    }
                }
                for pid in found {
                    let rss = proc_status_kib(pid, "VmRSS:");
                    let hwm = proc_status_kib(pid, "VmHWM:");
                    let mut seen = s.lock().unwrap();
                    let e = seen.followers.entry(pid).or_default();
                    if let Some(r) = rss {
                        e.0 = e.0.max(r);
                    }
                    if let Some(h) = hwm {
                        e.1 = e.1.max(h);
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        FollowerWatch {
            home,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// What was seen so far.
    fn seen(&self) -> BTreeMap<u32, (u64, u64)> {
        self.seen.lock().unwrap().followers.clone()
    }

    /// Every follower seen has ended within `within` (one that logged its last line still
    /// needs a moment to exit); otherwise what the ones left are doing.
    fn assert_none_left(&self, within: Duration) {
        let end = Instant::now() + within;
        while !self.alive().is_empty() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        let left = self.alive();
        assert!(
            left.is_empty(),
            "push followers still running {within:?} after their last line:\n{}",
            left.iter()
                .map(|p| process_report(*p))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    /// Followers seen that still run.
    fn alive(&self) -> Vec<u32> {
        self.seen()
            .keys()
            .copied()
            .filter(|p| is_our_follower(*p, &self.home))
            .collect()
    }
}

impl Drop for FollowerWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for pid in self.alive() {
            kill_9(pid);
        }
    }
}

/// A process's state and, for each of its threads, where it waits: for a failure message.
fn process_report(pid: u32) -> String {
    let read = |p: String| std::fs::read_to_string(p).unwrap_or_default();
    let mut r = format!("pid {pid}: {}", read(format!("/proc/{pid}/stat")));
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in rd.flatten() {
            let tp = t.path().to_string_lossy().into_owned();
            r += &format!(
                "  task {}: wchan {} stack:\n{}",
                t.file_name().to_string_lossy(),
                read(format!("{tp}/wchan")),
                read(format!("{tp}/stack"))
            );
        }
    }
    r += &format!(
        "  fds: {:?}\n",
        std::fs::read_dir(format!("/proc/{pid}/fd")).map(|rd| rd
            .flatten()
            .map(|e| format!(
                "{} -> {}",
                e.file_name().to_string_lossy(),
                std::fs::read_link(e.path())
                    .map(|l| l.display().to_string())
                    .unwrap_or_default()
            ))
            .collect::<Vec<_>>())
    );
    r
}

/// The forced command: `body` as a `/bin/sh` script in `dir`.
fn forced_script(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("downstream.sh");
    write_script(&p, body);
    p
}

/// A forced command in `dir` that appends the words it got to `dir/got` and exits with
/// `status`, a shell expression over `$a`, the archive word with `sync:archive:` taken
/// off. Returns (script, `dir/got`).
fn recording_downstream(dir: &Path, status: &str) -> (PathBuf, PathBuf) {
    let got = dir.join("got");
    let script = forced_script(
        dir,
        &format!(
            "echo \"$SSH_ORIGINAL_COMMAND\" >> {}\na=${{SSH_ORIGINAL_COMMAND%% *}}\n\
             a=${{a#sync:archive:}}\nexit {status}",
            shq(&got.to_string_lossy())
        ),
    );
    (script, got)
}

// ---------------------------------------------------------------------------------------
// 1. two pushes at once
// ---------------------------------------------------------------------------------------

#[test]
fn two_pushes_at_once_reach_each_downstream_once_per_push() {
    const N: usize = 4;
    let dir = tempdir();
    let arrivals = dir.path().join("arrivals");
    // Each push carries its tag to the downstream (SendEnv/AcceptEnv); HOOK2 paces the
    // hand-over of the triggers, so the first push holds the lock for a while.
    let pusher = pusher(&[
        ("HOOK2", "sleep 0.2".into()),
        ("SSH_OPTS", format!("{SSH_OPTS} -o SendEnv=PUSH_TAG")),
    ]);
    let script = forced_script(
        dir.path(),
        &format!(
            "a=${{SSH_ORIGINAL_COMMAND%% *}}\nn=${{a#sync:archive:}}\n\
             echo \"start $n ${{PUSH_TAG:-none}} $(date +%s%N)\" >> {f}\n\
             sleep 1\n\
             echo \"end $n ${{PUSH_TAG:-none}} $(date +%s%N)\" >> {f}\nexit 0",
            f = shq(&arrivals.to_string_lossy())
        ),
    );
    let sshd = Sshd::start_with_config(
        &forced_command_line(&script, pusher.key()),
        "AcceptEnv PUSH_TAG",
    );
    let names: Vec<String> = (1..=N).map(|i| format!("d{i}")).collect();
    pusher.write_mirrors(
        &names
            .iter()
            .map(|n| format!("all {n} ssh+ftpsync://root@127.0.0.1:{}/{n}", sshd.port))
            .collect::<Vec<_>>(),
    );
    let watch = FollowerWatch::start(&pusher.m.home);

    let t0 = Instant::now();
    let a = pusher
        .m
        .spawn_cmd(pusher.runmirrors_cmd(&[]), &[("PUSH_TAG", "A")]);
    let b = pusher
        .m
        .spawn_cmd(pusher.runmirrors_cmd(&[]), &[("PUSH_TAG", "B")]);
    let (pid_a, pid_b) = (a.pid(), b.pid());
    let out_a = a.wait(Duration::from_secs(60));
    let out_b = b.wait(Duration::from_secs(60));
    let both_returned = t0.elapsed();
    for out in [&out_a, &out_b] {
        assert_eq!(
            out.code,
            Some(0),
            "{}\n{}",
            pusher.m.diagnostics(out),
            diag(&pusher, &sshd)
        );
    }
    wait_for(Duration::from_secs(30), "both followers to finish", || {
        count_lines(&pusher.runmirrors_log(), "push-follower done:") == 2
    });
    wait_for(
        Duration::from_secs(10),
        "every session's end at the downstream",
        || count_lines(&read_string(&arrivals), "end ") >= 2 * N,
    );
    eprintln!(
        "two pushes of {N}: both runmirrors returned after {both_returned:?}, all done after {:?}",
        t0.elapsed()
    );
    let rl = pusher.runmirrors_log();
    let d = || diag(&pusher, &sshd);

    // Who went first: the second runmirrors says it waits, naming the first's follower.
    let waiting: Vec<&str> = rl
        .lines()
        .filter(|l| l.contains("is under way (pid ") && l.contains("waiting for it to finish"))
        .collect();
    assert_eq!(
        waiting.len(),
        1,
        "no (or more than one) waiting line\n{}",
        d()
    );
    assert!(
        waiting[0].contains("Another push of runmirrors is under way (pid "),
        "{}",
        waiting[0]
    );
    let second_rm = line_pid(waiting[0]).unwrap();
    assert!(
        second_rm == pid_a || second_rm == pid_b,
        "the waiting line is from neither runmirrors ({pid_a}, {pid_b}): {}",
        waiting[0]
    );
    let (first_rm, first_tag, second_tag) = if second_rm == pid_b {
        (pid_a, "A", "B")
    } else {
        (pid_b, "B", "A")
    };
    let fl: BTreeMap<u32, u32> = followers(&rl).into_iter().collect();
    assert_eq!(fl.len(), 2, "one follower per push\n{}", d());
    let (first_f, second_f) = (fl[&first_rm], fl[&second_rm]);
    let lock_line = waiting[0];
    let lockdir = pusher.m.base.join("locks");
    assert!(
        lock_line.contains(&format!(", lock {}/runmirrors.lock):", lockdir.display())),
        "the lock is LOCKDIR/runmirrors.lock: {lock_line}"
    );
    assert_eq!(
        watch.seen().len(),
        2,
        "two followers expected: {:?}",
        watch.seen()
    );

    // Each push: every trigger delivered, summary, done.
    for (rm, f) in [(first_rm, first_f), (second_rm, second_f)] {
        assert_eq!(
            lines_of(&rl, f, "normal trigger succeeded: 127.0.0.1").len(),
            N,
            "follower {f}\n{}",
            d()
        );
        assert_eq!(
            lines_of(
                &rl,
                rm,
                &format!("Summary: {N} triggers sent, {N} delivered, 0 failed")
            )
            .len(),
            1,
            "runmirrors {rm}\n{}",
            d()
        );
        assert_eq!(lines_of(&rl, rm, "Mirrorpush done").len(), 1, "{}", d());
        assert_eq!(
            follower_done(&rl, f).map(|x| x.0),
            Some(N as u64),
            "{}",
            d()
        );
    }

    // runmirrors.log is one file: the first push delivered every trigger before the second
    // runmirrors handed over its first one.
    let pos = |pid: u32, needle: &str| -> Vec<usize> {
        rl.lines()
            .enumerate()
            .filter(|(_, l)| line_pid(l) == Some(pid) && l.contains(needle))
            .map(|(i, _)| i)
            .collect()
    };
    let last_delivered = *pos(first_f, "normal trigger succeeded:").last().unwrap();
    let first_handed = pos(second_rm, "Trigger d")[0];
    assert!(
        last_delivered < first_handed,
        "the second push handed over a trigger (line {first_handed}) before the first push \
         delivered all of its own (line {last_delivered})\n{}",
        d()
    );
    let second_ready = pos(second_rm, "waiting for it to finish")[0];
    assert!(
        pos(second_rm, "Trigger d")
            .iter()
            .all(|&i| i > second_ready),
        "{}",
        d()
    );

    // Each mirror's log: one trigger per push, the second sent after the first was accepted,
    // both followed to their end.
    for n in &names {
        let pl = pusher.push_log(n);
        let sending = format!("Sending normal trigger: sync:archive:{n} sync:all");
        for f in [first_f, second_f] {
            assert_eq!(lines_of(&pl, f, &sending).len(), 1, "{n}.log:\n{pl}");
            assert_eq!(
                lines_of(&pl, f, "normal trigger accepted after").len(),
                1,
                "{n}.log:\n{pl}"
            );
            assert_eq!(
                lines_of(&pl, f, "normal trigger finished: exit status 0 after").len(),
                1,
                "{n}.log:\n{pl}"
            );
        }
        let idx = |pid: u32, needle: &str| {
            pl.lines()
                .position(|l| line_pid(l) == Some(pid) && l.contains(needle))
                .unwrap()
        };
        assert!(
            idx(first_f, "normal trigger accepted after") < idx(second_f, &sending),
            "{n}.log:\n{pl}"
        );
    }

    // What the downstreams saw: each exactly two triggers, one of each push, and every
    // trigger of the second push arrived after every trigger of the first.
    let arr = read_string(&arrivals);
    let starts: Vec<(String, String, u128)> = arr
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.len() == 4 && w[0] == "start")
                .then(|| (w[1].into(), w[2].into(), w[3].parse().unwrap()))
        })
        .collect();
    assert_eq!(starts.len(), 2 * N, "arrivals:\n{arr}");
    for n in &names {
        let tags: BTreeSet<&str> = starts
            .iter()
            .filter(|s| &s.0 == n)
            .map(|s| s.1.as_str())
            .collect();
        let count = starts.iter().filter(|s| &s.0 == n).count();
        assert_eq!(count, 2, "{n} got {count} triggers; arrivals:\n{arr}");
        assert_eq!(
            tags,
            BTreeSet::from(["A", "B"]),
            "{n} should get one trigger of each push; arrivals:\n{arr}"
        );
    }
    let last_first = starts
        .iter()
        .filter(|s| s.1 == first_tag)
        .map(|s| s.2)
        .max()
        .unwrap();
    let first_second = starts
        .iter()
        .filter(|s| s.1 == second_tag)
        .map(|s| s.2)
        .min()
        .unwrap();
    assert!(
        last_first < first_second,
        "the pushes interleaved at the downstreams (push {first_tag} went first); arrivals:\n{arr}"
    );
    watch.assert_none_left(Duration::from_secs(10));

    // Last, as it is the least of it: the waiting line names who holds the lock.
    let held_by: Option<u32> = lock_line
        .split("(pid ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|p| p.parse().ok());
    assert_eq!(
        held_by,
        Some(first_f),
        "the waiting line should name the lock's holder, the first push's follower \
         {first_f}: {lock_line}"
    );
}

// ---------------------------------------------------------------------------------------
// 2. 200 detached triggers, one follower
// ---------------------------------------------------------------------------------------

#[test]
fn two_hundred_detached_triggers_one_follower() {
    const N: usize = 200;
    let dir = tempdir();
    let pusher = pusher(&[]);
    // The session's exit status is the mirror's number (`mNNN`) modulo 5 (`1NNN - 1000`:
    // no octal).
    let (script, got) = recording_downstream(dir.path(), "$(( (1${a#m} - 1000) % 5 ))");
    let sshd = Sshd::start_with_config(
        &forced_command_line(&script, pusher.key()),
        "MaxStartups 1000:30:1000\nMaxSessions 1000",
    );
    let name = |i: usize| format!("m{i:03}");
    pusher.write_mirrors(
        &(0..N)
            .map(|i| {
                format!(
                    "all {m} ssh+ftpsync://root@127.0.0.1:{}/{m}",
                    sshd.port,
                    m = name(i)
                )
            })
            .collect::<Vec<_>>(),
    );
    let watch = FollowerWatch::start(&pusher.m.home);
    let d = || diag(&pusher, &sshd);

    let t0 = Instant::now();
    let out = pusher.runmirrors(&[]);
    let returned = t0.elapsed();
    assert_eq!(out.code, Some(0), "{}\n{}", pusher.m.diagnostics(&out), d());
    // runmirrors returned once every trigger was accepted (the summary is written then).
    let rl = pusher.runmirrors_log();
    assert!(
        rl.contains(&format!(
            "Summary: {N} triggers sent, {N} delivered, 0 failed\n"
        )),
        "{}",
        d()
    );
    let accepted = (0..N)
        .filter(|&i| count_lines(&pusher.push_log(&name(i)), "normal trigger accepted after") == 1)
        .count();
    assert_eq!(
        accepted,
        N,
        "runmirrors returned before every trigger was accepted\n{}",
        d()
    );
    let fl = followers(&rl);
    assert_eq!(fl.len(), 1, "one follower for the push\n{}", d());
    let (rm, follower) = fl[0];
    assert_eq!(rm, out.pid);
    wait_for(Duration::from_secs(60), "the follower to finish", || {
        follower_done(&pusher.runmirrors_log(), follower).is_some()
    });
    let all_done = t0.elapsed();
    let rl = pusher.runmirrors_log();
    let (followed, peak_kb) = follower_done(&rl, follower).unwrap();
    let seen = watch.seen();
    eprintln!(
        "{N} triggers: runmirrors returned after {returned:?}, the follower was done after \
         {all_done:?}; follower's peak RSS {peak_kb} kB; sampled (max VmRSS, VmHWM) kB: {seen:?}"
    );

    // Exactly one follower ran for this push, and it wrote every mirror's lines.
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        vec![follower],
        "push followers seen in /proc for this pusher"
    );
    assert_eq!(followed, N as u64, "{}", d());
    assert_eq!(
        lines_of(&rl, follower, "normal trigger succeeded: 127.0.0.1").len(),
        N,
        "{}",
        d()
    );
    assert!(!rl.contains("trigger failed"), "{}", d());

    // Memory: the follower's own report, and what /proc showed while it ran.
    assert!(
        peak_kb > 0 && peak_kb < 20480,
        "the follower's peak RSS was {peak_kb} kB (limit 20480 kB)"
    );
    let (rss, hwm) = seen[&follower];
    assert!(rss > 0, "no VmRSS sample of the follower");
    assert!(
        rss < 20480 && hwm < 20480,
        "sampled VmRSS {rss} kB, VmHWM {hwm} kB (limit 20480 kB)"
    );

    // The downstream got each trigger once.
    let got_text = read_string(&got);
    let mut got_lines: Vec<&str> = got_text.lines().collect();
    got_lines.sort_unstable();
    let mut want: Vec<String> = (0..N)
        .map(|i| format!("sync:archive:{} sync:all", name(i)))
        .collect();
    want.sort_unstable();
    assert_eq!(got_lines, want, "what the downstream received");

    // Every mirror's log: sent, accepted and finished with its own status, all by the one
    // follower.
    let mut wrong_log = Vec::new();
    for i in 0..N {
        let m = name(i);
        let pl = pusher.push_log(&m);
        let status = i % 5;
        let mine: Vec<&str> = pl.lines().filter(|l| line_pid(l).is_some()).collect();
        let others: Vec<&&str> = mine
            .iter()
            .filter(|l| line_pid(l) != Some(follower))
            .collect();
        assert!(
            others.is_empty(),
            "{m}.log has lines of another process:\n{pl}"
        );
        assert_eq!(
            count_lines(
                &pl,
                &format!("Sending normal trigger: sync:archive:{m} sync:all")
            ),
            1,
            "{m}.log:\n{pl}"
        );
        assert_eq!(
            count_lines(&pl, "normal trigger accepted after"),
            1,
            "{m}.log:\n{pl}"
        );
        let finished: Vec<&str> = pl
            .lines()
            .filter(|l| l.contains("normal trigger finished"))
            .collect();
        if finished.len() != 1
            || !finished[0].contains(&format!("finished: exit status {status} after"))
        {
            wrong_log.push(format!("{m} (want {status}): {finished:?}"));
        }
    }

    // The state record.
    let st = state(&pusher);
    let ds = &st["downstreams"];
    let mut wrong_state = Vec::new();
    for i in 0..N {
        let m = name(i);
        let e = &ds[m.as_str()];
        assert_eq!(
            e["words"],
            serde_json::json!([format!("sync:archive:{m}"), "sync:all"]),
            "{m}: {e}"
        );
        assert_eq!(e["outcome"], "accepted", "{m}: {e}");
        if e["finished_exit_status"] != serde_json::json!(i % 5) || !e["finished_seconds"].is_f64()
        {
            wrong_state.push(format!("{m} (want {}): {e}", i % 5));
        }
    }
    let lp = &st["last_push"];
    assert_eq!(lp["triggers"], N as u64, "{lp}");
    assert_eq!(lp["delivered"], N as u64, "{lp}");
    assert_eq!(lp["failed"], 0, "{lp}");
    assert_eq!(lp["not_sent"], serde_json::json!([]), "{lp}");
    assert!(lp["interrupted"].is_null(), "{lp}");
    watch.assert_none_left(Duration::from_secs(10));
    assert!(
        all_done < Duration::from_secs(60),
        "the push of {N} took {all_done:?}"
    );
    assert!(
        wrong_log.is_empty() && wrong_state.is_empty(),
        "{} of {N} mirror logs and {} of {N} state entries lack their own final status:\n{}\n{}",
        wrong_log.len(),
        wrong_state.len(),
        wrong_log.join("\n"),
        wrong_state.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// 3. sessions that end at once
// ---------------------------------------------------------------------------------------

/// The children of `pid` (every thread's).
fn children_of(pid: u32) -> Vec<u32> {
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in rd.flatten() {
            let c = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            v.extend(c.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
        }
    }
    v
}

fn signal(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status();
}

/// A follower stopped with SIGSTOP: continued on drop, whatever happens.
struct Stopped(u32);

impl Drop for Stopped {
    fn drop(&mut self) {
        signal(self.0, "-CONT");
    }
}

/// Runs one push while holding its follower still (SIGSTOP) from the moment its ssh
/// processes run until every session of the push has ended, so that the follower looks
/// for them only when they are all gone: the order in which it then learns of them is its
/// own. Returns runmirrors' result.
fn push_with_follower_paused(
    pusher: &Downstream,
    round: usize,
    triggers: usize,
    got: &Path,
    marker: &str,
) -> RunOutput {
    let mut run = pusher.m.spawn_cmd(pusher.runmirrors_cmd(&[]), &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let follower = loop {
        if let Some(&(_, f)) = followers(&pusher.runmirrors_log()).get(round) {
            break f;
        }
        assert!(
            Instant::now() < deadline && !run.try_done(),
            "round {round}: no follower in runmirrors.log"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    // Stop it once all its ssh processes (the children carrying this round's words) were
    // started; most are still connecting. They need not all be seen at the same instant:
    // on a loaded machine the first may end before the last one starts, and is then simply
    // followed unpaused.
    let mut ssh = BTreeSet::new();
    loop {
        ssh.extend(
            children_of(follower)
                .into_iter()
                .filter(|c| proc_cmdline(*c).is_some_and(|a| a.iter().any(|w| w.contains(marker)))),
        );
        if ssh.len() == triggers {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "round {round}: the follower started {} of {triggers} ssh processes",
            ssh.len()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    signal(follower, "-STOP");
    let stopped = Stopped(follower);
    // Every downstream ran its command, and every child of the follower has ended.
    wait_for(
        Duration::from_secs(20),
        &format!("round {round}: every session to end while the follower is stopped"),
        || {
            count_lines(&read_string(got), marker) == triggers
                && children_of(follower)
                    .iter()
                    .all(|c| proc_state(*c).is_none_or(|s| s == 'Z'))
        },
    );
    drop(stopped);
    run.wait(Duration::from_secs(60))
}

#[test]
fn a_downstream_that_ends_at_once_still_gets_its_final_status() {
    const ROUNDS: usize = 10;
    // Six downstreams; in round R mirror sB's session exits with (B + R) % 10 at once:
    // distinct within a round, different from one round to the next.
    const BASES: [usize; 6] = [0, 3, 7, 5, 1, 9];
    let dir = tempdir();
    let pusher = pusher(&[]);
    // The archive word `rR-eE` carries the status the session exits with.
    let (script, got) = recording_downstream(dir.path(), "\"${a##*-e}\"");
    let sshd = Sshd::start_with_config(&forced_command_line(&script, pusher.key()), "");
    let watch = FollowerWatch::start(&pusher.m.home);
    let d = || diag(&pusher, &sshd);
    let t0 = Instant::now();
    let mut wrong = Vec::new();
    for round in 0..ROUNDS {
        // Rounds 0, 3, 6, 9 run freely (the sessions may or may not end before the
        // follower looks for them); in the others they all have ended before it looks.
        let paused = round % 3 != 0;
        let want = |b: usize| (b + round) % 10;
        let archive = |b: usize| format!("r{round}-e{}", want(b));
        pusher.write_mirrors(
            &BASES
                .iter()
                .map(|&b| {
                    format!(
                        "all s{b} ssh+ftpsync://root@127.0.0.1:{}/{}",
                        sshd.port,
                        archive(b)
                    )
                })
                .collect::<Vec<_>>(),
        );
        let out = if paused {
            push_with_follower_paused(&pusher, round, BASES.len(), &got, &format!("r{round}-e"))
        } else {
            pusher.runmirrors(&[])
        };
        let how = if paused { "paused" } else { "free" };
        assert_eq!(
            out.code,
            Some(0),
            "round {round} ({how})\n{}\n{}",
            pusher.m.diagnostics(&out),
            d()
        );
        let rl = pusher.runmirrors_log();
        let fl = followers(&rl);
        assert_eq!(fl.len(), round + 1, "round {round}\n{}", d());
        let (rm, follower) = fl[round];
        assert_eq!(rm, out.pid);
        wait_for(
            Duration::from_secs(30),
            &format!("round {round}'s follower to finish"),
            || follower_done(&pusher.runmirrors_log(), follower).is_some(),
        );
        let rl = pusher.runmirrors_log();
        assert_eq!(
            follower_done(&rl, follower).map(|x| x.0),
            Some(BASES.len() as u64),
            "round {round}\n{}",
            d()
        );
        let n = BASES.len();
        assert_eq!(
            lines_of(
                &rl,
                rm,
                &format!("Summary: {n} triggers sent, {n} delivered, 0 failed")
            )
            .len(),
            1,
            "round {round}\n{}",
            d()
        );
        let st = state(&pusher);
        for &b in &BASES {
            let m = format!("s{b}");
            let pl = pusher.push_log(&m);
            let sent = lines_of(
                &pl,
                follower,
                &format!(
                    "Sending normal trigger: sync:archive:{} sync:all",
                    archive(b)
                ),
            );
            assert_eq!(sent.len(), 1, "round {round}, {m}.log:\n{pl}");
            let finished = lines_of(&pl, follower, "normal trigger finished");
            if finished.len() != 1
                || !finished[0].contains(&format!("finished: exit status {} after", want(b)))
            {
                wrong.push(format!(
                    "round {round} ({how}), {m}.log (want {}): {finished:?}",
                    want(b)
                ));
            }
            let e = &st["downstreams"][m.as_str()];
            assert_eq!(
                e["words"],
                serde_json::json!([format!("sync:archive:{}", archive(b)), "sync:all"]),
                "round {round}, {m}: {e}"
            );
            if e["outcome"] != "accepted" || e["finished_exit_status"] != serde_json::json!(want(b))
            {
                wrong.push(format!(
                    "round {round} ({how}), state of {m} (want accepted, {}): {e}",
                    want(b)
                ));
            }
        }
    }
    eprintln!(
        "{ROUNDS} rounds of {} immediate sessions took {:?}",
        BASES.len(),
        t0.elapsed()
    );
    let got_text = read_string(&got);
    assert_eq!(
        got_text.lines().count(),
        ROUNDS * BASES.len(),
        "each round reaches each downstream once:\n{got_text}"
    );
    watch.assert_none_left(Duration::from_secs(10));
    assert!(
        wrong.is_empty(),
        "final statuses missing or wrong:\n{}\n{}",
        wrong.join("\n"),
        d()
    );
}
