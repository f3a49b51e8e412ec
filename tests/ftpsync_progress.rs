//! ftpsync's progress line on stderr (src/ftpsync/progress.rs): forced on with
//! ARCHVSYNC_PROGRESS=1 it shows each stage's files and bytes as rsync's log reports them;
//! without it a stderr that is not a terminal (cron, ssh, these tests) gets none. rsync's
//! command line is the same either way.

mod common;
use common::*;

/// The progress states drawn on stderr for `stage`, in order: each `\r\x1b[K` starts one.
fn states<'a>(stderr: &'a str, stage: &str) -> Vec<&'a str> {
    stderr
        .split("\r\x1b[K")
        .skip(1)
        .map(|s| s.trim_end_matches('\n'))
        .filter(|s| s.starts_with(&format!("{stage}: ")))
        .collect()
}

/// `stage1: 12 files, ...` → 12
fn files(state: &str) -> u64 {
    let rest = state.split_once(": ").unwrap().1;
    rest.split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("no file count in {state:?}"))
}

/// Files rsync's log itemizes as received, per rsync run (each ends with its summary line).
fn received_per_run(log_rsync: &str) -> Vec<u64> {
    let mut runs = vec![0];
    for l in log_rsync.lines() {
        if l.contains("] >f") {
            *runs.last_mut().unwrap() += 1;
        } else if l.contains("] sent ") && l.contains(" received ") {
            runs.push(0);
        }
    }
    runs.pop();
    runs
}

/// The `Running stage…` lines of the log, with the mirror's own paths made neutral.
fn rsync_lines(m: &Mirror) -> Vec<String> {
    m.log()
        .lines()
        .filter_map(|l| l.split_once("]: Running stage").map(|(_, r)| r))
        .map(|r| r.replace(m.base.to_str().unwrap(), "$BASE"))
        .collect()
}

fn slow_upstream() -> Upstream {
    // 2 MiB at ~1000 KB/s keeps stage 1 busy for about two seconds: several redraws.
    Upstream::new(ArchiveSpec {
        big_file: 2 << 20,
        ..ArchiveSpec::v1()
    })
}

#[test]
fn forced_progress_shows_files_and_bytes_per_stage() {
    let up = slow_upstream();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()).set("RSYNC_BW", "1000"));
    let out = m.run_env(&["sync:all"], &[("ARCHVSYNC_PROGRESS", "1")]);
    m.expect_code(&out, 0);
    assert_same_tree(&up.root, &m.to, &m.name);

    let log_rsync = m.read_log_file("rsync-ftpsync.log");
    let per_run = received_per_run(&log_rsync);
    assert_eq!(per_run.len(), 2, "two rsync runs expected:\n{log_rsync}");

    for (stage, want_files) in [("stage1", per_run[0]), ("stage2", per_run[1])] {
        let st = states(&out.stderr, stage);
        assert!(
            st.len() >= 2,
            "{stage}: no progress drawn:\n{:?}",
            out.stderr
        );
        let (last, running) = st.split_last().unwrap();
        // The final line: ended with a newline, the stage's counts, rsync's wire bytes.
        assert!(
            out.stderr.contains(&format!("{last}\n")),
            "{stage}: final line not ended:\n{:?}",
            out.stderr
        );
        assert!(last.contains(", done (received "), "{last}");
        assert!(
            want_files > 0,
            "{stage}: rsync received nothing:\n{log_rsync}"
        );
        assert_eq!(files(last), want_files, "{stage}: {last}\n{log_rsync}");
        // Running states count up.
        let counts: Vec<u64> = running.iter().map(|s| files(s)).collect();
        assert!(
            counts.windows(2).all(|w| w[0] <= w[1]) && counts.iter().all(|&c| c <= want_files),
            "{stage}: {running:?}"
        );
        for s in running {
            assert!(!s.contains("done"), "{s}");
        }
    }
    // Stage 1 was caught mid-transfer (the big file under way) with files already in.
    let st1 = states(&out.stderr, "stage1");
    assert!(
        st1[..st1.len() - 1].iter().any(|s| files(s) > 0),
        "no update with files while stage 1 ran: {st1:?}"
    );
    // The big file is in stage 1's byte count.
    let last1 = st1.last().unwrap();
    assert!(last1.contains(" MiB"), "{last1}");

    // The log lines themselves (not echoed: stderr is no terminal) are untouched.
    assert!(!m.log().contains("\x1b"), "{}", m.log());
}

#[test]
fn no_progress_without_a_terminal() {
    let up = Upstream::v1();
    let plain = Mirror::new();
    plain.write_conf(&plain.conf(&up.url()));
    let out = plain.run(&["sync:all"]);
    plain.expect_code(&out, 0);
    for s in [&out.stderr, &out.stdout] {
        assert!(!s.contains('\r') && !s.contains('\x1b'), "{s:?}");
        assert!(!s.contains("stage1:") && !s.contains("stage2:"), "{s:?}");
    }
    let off = Mirror::new();
    off.write_conf(&off.conf(&up.url()));
    let out_off = off.run_env(&["sync:all"], &[("ARCHVSYNC_PROGRESS", "0")]);
    off.expect_code(&out_off, 0);
    assert!(!out_off.stderr.contains("stage1:"), "{:?}", out_off.stderr);

    // rsync's command line does not depend on the display.
    let forced = Mirror::new();
    forced.write_conf(&forced.conf(&up.url()));
    let out_forced = forced.run_env(&["sync:all"], &[("ARCHVSYNC_PROGRESS", "1")]);
    forced.expect_code(&out_forced, 0);
    assert!(
        out_forced.stderr.contains("stage1: "),
        "{:?}",
        out_forced.stderr
    );
    let (a, b) = (rsync_lines(&plain), rsync_lines(&forced));
    assert_eq!(a.len(), 2, "{}", plain.log());
    assert_eq!(a, b);
}
