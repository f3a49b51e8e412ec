//! Log rotation and mail (SPEC §6; SENDMAIL per doc/CONTRACT-dev.md).

mod common;
use common::*;
use std::path::PathBuf;

// ---------------------------------------------------------------------------------------
// logs
// ---------------------------------------------------------------------------------------

#[test]
fn logs_are_rotated_savelog_style() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()).set("LOGROTATE", "14"));
    let r1 = m.run(&[]);
    m.expect_code(&r1, 0);
    let r2 = m.run(&[]);
    m.expect_code(&r2, 0);
    let l0 = m.read_log_file("ftpsync.log.0");
    let l1 = m.read_log_file("ftpsync.log.1");
    assert_eq!(count_lines(&l0, "Mirrorsync start"), 1, "log.0: {l0}");
    assert_eq!(count_lines(&l1, "Mirrorsync start"), 1, "log.1: {l1}");
    assert!(
        l1.contains(&format!("ftpsync[{}]", r1.pid)),
        "log.1 should be the first run's"
    );
    assert!(
        l0.contains(&format!("ftpsync[{}]", r2.pid)),
        "log.0 should be the second run's"
    );
    assert!(
        l0.contains("Mirrorsync done"),
        "log.0 lacks the end of the run"
    );
    assert!(
        !m.logdir().join("ftpsync.log").exists(),
        "current log not moved to .0 (or written after rotation)"
    );
    assert!(!m.logdir().join("ftpsync.log.2").exists());
    assert!(m.logdir().join("rsync-ftpsync.log.0").exists());
    assert!(m.logdir().join("rsync-ftpsync.log.1").exists());
    // rsync wrote nothing to its error log: empty files are not rotated
    assert!(
        read_string(&m.logdir().join("rsync-ftpsync.error")).is_empty(),
        "rsync error log unexpectedly non-empty"
    );
    assert!(
        !m.logdir().join("rsync-ftpsync.error.0").exists(),
        "empty rsync error log was rotated"
    );
}

#[test]
fn logrotate_zero_keeps_one_growing_file() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(&m.conf(&up.url()).set("LOGROTATE", "0"));
    m.expect_code(&m.run(&[]), 0);
    m.expect_code(&m.run(&[]), 0);
    let log = m.read_log_file("ftpsync.log");
    assert_eq!(count_lines(&log, "Mirrorsync start"), 2, "{log}");
    assert!(!m.logdir().join("ftpsync.log.0").exists());
    assert!(!m.logdir().join("rsync-ftpsync.log.0").exists());
}

#[test]
fn custom_log_locations_are_honoured() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let logdir = m.dir.join("var-log");
    let custom = m.dir.join("elsewhere");
    std::fs::create_dir_all(&custom).unwrap();
    m.write_conf(
        &m.conf(&up.url())
            .set("LOGDIR", logdir.to_string_lossy())
            .set("LOG_RSYNC", custom.join("r.log").to_string_lossy())
            .set("LOG_RSYNC_ERROR", custom.join("r.err").to_string_lossy()),
    );
    let out = m.run(&[]);
    m.expect_code(&out, 0);
    let log = read_string(&logdir.join("ftpsync.log"));
    assert!(log.contains("Mirrorsync start"), "LOG not in LOGDIR");
    assert!(read_string(&custom.join("r.log")).contains("bytes  received"));
    assert!(custom.join("r.err").exists());
    assert!(!m.logdir().join("ftpsync.log").exists());
    assert!(!logdir.join("rsync-ftpsync.log").exists());
    assert!(log.contains(&format!("--log-file {}", custom.join("r.log").display())));
}

/// Every line a refused run printed on stderr is a line of `log` too, with the same text
/// and in the same order; returns those log lines.
fn stderr_lines_are_logged(out: &RunOutput, log: &str) -> Vec<String> {
    let said: Vec<&str> = out.stderr.lines().filter(|l| !l.is_empty()).collect();
    assert!(!said.is_empty(), "nothing on stderr");
    let logged: Vec<&str> = log
        .lines()
        .filter(|l| said.iter().any(|s| l.ends_with(&format!("]: {s}"))))
        .collect();
    let in_log: Vec<String> = logged
        .iter()
        .map(|l| l.split_once("]: ").map_or("", |(_, t)| t).to_string())
        .collect();
    assert_eq!(in_log, said, "stderr:\n{}\nlog:\n{log}", out.stderr);
    logged.into_iter().map(str::to_string).collect()
}

/// A run refused before it starts says why where someone whose runs cron starts looks: in
/// the run's log (LOG in LOGDIR), with the text of stderr, the config's warnings first.
#[test]
fn refusals_before_the_run_are_logged_too() {
    // No host, because of a typo: the warning, then the refusal.
    let m = Mirror::new();
    m.write_conf(
        &m.conf("unused")
            .unset("RSYNC_HOST")
            .unset("RSYNC_SOURCE")
            .set("RSYNC_HOTS", "ftp.example.org"),
    );
    let out = m.run(&[]);
    m.expect_code(&out, 1);
    let lines = stderr_lines_are_logged(&out, &m.read_log_file("ftpsync.log"));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].contains("unknown key RSYNC_HOTS"), "{lines:?}");
    assert!(
        lines[1].contains("Missing a host to mirror from"),
        "{lines:?}"
    );
    assert!(
        lines[1].contains(&format!("ftpsync[{}]: ", out.pid)),
        "{lines:?}"
    );

    // A relative LOGDIR means one below BASEDIR, where the run works, even for a refusal
    // that comes before the run went there (runs start in $HOME here).
    m.write_conf(
        &m.conf("unused")
            .unset("RSYNC_HOST")
            .unset("RSYNC_SOURCE")
            .set("LOGDIR", "relative-log"),
    );
    let out = m.run(&[]);
    m.expect_code(&out, 1);
    stderr_lines_are_logged(&out, &read_string(&m.base.join("relative-log/ftpsync.log")));
    assert!(!m.home.join("relative-log").exists());

    // A TO that cannot be created (below a file), with a LOGDIR of the config's own.
    let up = Upstream::v1();
    let m = Mirror::new();
    let logdir = m.dir.join("var-log");
    let file = m.dir.join("a-file");
    std::fs::write(&file, "").unwrap();
    m.write_conf(
        &m.conf(&up.url())
            .set("TO", file.join("mirror").to_string_lossy())
            .set("LOGDIR", logdir.to_string_lossy()),
    );
    let out = m.run(&[]);
    m.expect_code(&out, 1);
    let lines = stderr_lines_are_logged(&out, &read_string(&logdir.join("ftpsync.log")));
    assert!(
        lines.len() == 1 && lines[0].contains(&format!("cannot create {}", file.display())),
        "{lines:?}"
    );

    // ftpsync-cron: in its own log.
    let m = Mirror::new();
    m.write_conf(&m.conf("unused").unset("RSYNC_HOST").unset("RSYNC_SOURCE"));
    let out = m.run_cmd(m.command_prog(&m.link_bin("ftpsync-cron"), &[]));
    m.expect_code(&out, 1);
    let lines = stderr_lines_are_logged(&out, &m.read_log_file("ftpsync-cron.log"));
    assert!(
        lines.len() == 1 && lines[0].contains(&format!("ftpsync-cron[{}]: ", out.pid)),
        "{lines:?}"
    );

    // runmirrors the same, in its log.
    m.write_raw("runmirrors.conf", "MAILTO=\"\"\nPUSHTIMEOUT=0\n");
    let out = m.run_cmd(m.command_prog(&m.link_bin("runmirrors"), &[]));
    m.expect_code(&out, 78);
    let lines = stderr_lines_are_logged(&out, &m.read_log_file("runmirrors.log"));
    assert!(
        lines.len() == 1 && lines[0].contains("PUSHTIMEOUT=0 is out of range"),
        "{lines:?}"
    );

    // No config: nothing says where a log would go, and an archive name pushed over ssh
    // must not leave a log file of its own.
    let out = m.run(&["sync:archive:nosuch"]);
    m.expect_code(&out, 78);
    assert!(!m.logdir().join("ftpsync-nosuch.log").exists());
}

// ---------------------------------------------------------------------------------------
// mail
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
struct Mail {
    argv: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn parse_headers(text: &str) -> (Vec<(String, String)>, String) {
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut lines = text.split('\n');
    for l in lines.by_ref() {
        let l = l.strip_suffix('\r').unwrap_or(l);
        if l.is_empty() {
            break;
        }
        if l.starts_with(' ') || l.starts_with('\t') {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(l.trim());
            }
            continue;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let body = lines.collect::<Vec<_>>().join("\n");
    (headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a') as u32 + 26,
            b'0'..=b'9' => (c - b'0') as u32 + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        if let Some(v) = val(c) {
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
    }
    out
}

impl Mail {
    fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
    fn subject(&self) -> &str {
        self.header("Subject").unwrap_or("")
    }
    fn boundary(&self) -> Option<String> {
        let ct = self.header("Content-Type")?;
        let i = ct.find("boundary=")?;
        let rest = &ct[i + "boundary=".len()..];
        Some(if let Some(q) = rest.strip_prefix('"') {
            q.split('"').next().unwrap().to_string()
        } else {
            rest.split([';', ' ']).next().unwrap().to_string()
        })
    }
    /// Decoded MIME parts (headers, text).
    fn parts(&self) -> Vec<(Vec<(String, String)>, String)> {
        let Some(b) = self.boundary() else {
            return Vec::new();
        };
        let delim = format!("--{b}");
        let mut parts = Vec::new();
        let mut cur: Option<Vec<&str>> = None;
        for l in self.body.split('\n') {
            let lt = l.trim_end_matches('\r');
            if lt == delim || lt == format!("{delim}--") {
                if let Some(p) = cur.take() {
                    let (h, body) = parse_headers(&p.join("\n"));
                    let text = if header(&h, "Content-Transfer-Encoding")
                        .is_some_and(|e| e.eq_ignore_ascii_case("base64"))
                    {
                        String::from_utf8_lossy(&base64_decode(&body)).into_owned()
                    } else {
                        body
                    };
                    parts.push((h, text));
                }
                if lt == delim {
                    cur = Some(Vec::new());
                } else {
                    break;
                }
            } else if let Some(p) = cur.as_mut() {
                p.push(l);
            }
        }
        parts
    }
    fn all_text(&self) -> String {
        let mut s = self.body.clone();
        for (_, t) in self.parts() {
            s.push_str(&t);
        }
        s
    }
}

fn mails(out: &std::path::Path) -> Vec<Mail> {
    recorded_mails(out)
        .iter()
        .map(|chunk| {
            let (argv_line, rest) = chunk.split_once('\n').unwrap_or((chunk, ""));
            let (headers, body) = parse_headers(rest);
            Mail {
                argv: argv_line.trim_start_matches("ARGV: ").to_string(),
                headers,
                body,
            }
        })
        .collect()
}

#[test]
fn success_mail_when_errorsonly_false() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let (sm, mail_out) = sendmail_recorder(&m.dir);
    m.write_conf(
        &m.conf(&up.url())
            .set("SENDMAIL", sm.to_string_lossy())
            .set("MAILTO", "ops@example.org")
            .set("ERRORSONLY", "false")
            .set("FULLLOGS", "true"),
    );
    let out = m.run(&[]);
    m.expect_code(&out, 0);
    let ms = mails(&mail_out);
    assert_eq!(
        ms.len(),
        1,
        "expected one mail:\n{}",
        read_string(&mail_out)
    );
    let mail = &ms[0];
    assert_eq!(mail.argv, "-i -- ops@example.org");
    let subj = mail.subject();
    assert!(
        subj.starts_with(&format!("[ftpsync@{}] SUCCESS", short_hostname())),
        "subject {subj:?}"
    );
    assert!(
        mail.header("To")
            .is_some_and(|t| t.contains("ops@example.org")),
        "{:?}",
        mail.headers
    );
    assert_eq!(mail.header("MIME-Version"), Some("1.0"));
    assert!(
        mail.header("Content-Type")
            .is_some_and(|c| c.starts_with("multipart/")),
        "{:?}",
        mail.headers
    );
    let parts = mail.parts();
    assert!(
        parts.len() >= 2,
        "expected body + log attachment(s): {parts:?}"
    );
    let text = mail.all_text();
    assert!(text.contains("Mirrorsync start"), "main log not attached");
    // FULLLOGS=true: rsync's own log (file list) is attached too
    assert!(
        text.contains("hello_2.10-3_amd64.deb"),
        "rsync log not attached with FULLLOGS=true"
    );
}

#[test]
fn no_success_mail_by_default_and_no_rsync_log_without_fulllogs() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let (sm, mail_out) = sendmail_recorder(&m.dir);
    m.write_conf(
        &m.conf(&up.url())
            .set("SENDMAIL", sm.to_string_lossy())
            .set("MAILTO", "ops@example.org"),
    );
    m.expect_code(&m.run(&[]), 0);
    assert_eq!(
        mails(&mail_out).len(),
        0,
        "mail sent with ERRORSONLY default"
    );

    m.write_conf(
        &m.conf(&up.url())
            .set("SENDMAIL", sm.to_string_lossy())
            .set("MAILTO", "ops@example.org")
            .set("ERRORSONLY", "false"),
    );
    build_archive(&up.root, &ArchiveSpec::v2());
    m.expect_code(&m.run(&[]), 0);
    let ms = mails(&mail_out);
    assert_eq!(ms.len(), 1);
    assert!(
        !ms[0].all_text().contains("newpkg_0.1-1_amd64.deb"),
        "rsync's file list mailed although FULLLOGS=false"
    );
}

#[test]
fn error_mail_on_failure() {
    let m = Mirror::new();
    let (sm, mail_out) = sendmail_recorder(&m.dir);
    m.write_conf(
        &m.conf(&format!("rsync://127.0.0.1:{}/debian/", free_port()))
            .set("SENDMAIL", sm.to_string_lossy())
            .set("MAILTO", "ops@example.org a2@example.org"),
    );
    let out = m.run(&[]);
    m.expect_code(&out, 3);
    let ms = mails(&mail_out);
    assert!(!ms.is_empty(), "no mail after a failed run");
    let host = short_hostname();
    assert!(
        ms.iter()
            .any(|x| x.subject().starts_with(&format!("[ftpsync@{host}] ERROR"))),
        "no ERROR mail: {:?}",
        ms.iter().map(|x| x.subject()).collect::<Vec<_>>()
    );
    assert!(
        !ms.iter().any(|x| x.subject().contains("SUCCESS")),
        "SUCCESS mail for a failed run"
    );
    for x in &ms {
        assert_eq!(x.argv, "-i -- ops@example.org a2@example.org");
    }
}

#[test]
fn missing_sendmail_does_not_change_result() {
    let up = Upstream::v1();
    let m = Mirror::new();
    m.write_conf(
        &m.conf(&up.url())
            .set("SENDMAIL", "/nonexistent/sendmail")
            .set("MAILTO", "ops@example.org")
            .set("ERRORSONLY", "false"),
    );
    let out = m.run(&[]);
    m.expect_code(&out, 0);
    let log = m.log();
    assert!(log.contains("No mail could be sent"), "{log}");
    assert_same_tree(&up.root, &m.to, &m.name);
}

#[test]
fn empty_mailto_sends_nothing() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let (sm, mail_out) = sendmail_recorder(&m.dir);
    m.write_conf(
        &m.conf(&up.url())
            .set("SENDMAIL", sm.to_string_lossy())
            .set("MAILTO", "")
            .set("ERRORSONLY", "false"),
    );
    m.expect_code(&m.run(&[]), 0);
    // and a failure does not mail either
    m.write_conf(
        &m.conf(&format!("rsync://127.0.0.1:{}/debian/", free_port()))
            .set("SENDMAIL", sm.to_string_lossy())
            .set("MAILTO", ""),
    );
    m.expect_code(&m.run(&[]), 3);
    assert_eq!(
        mails(&mail_out).len(),
        0,
        "mail sent with MAILTO=\"\":\n{}",
        read_string(&mail_out)
    );
}

#[test]
fn rsync_stderr_output_is_mailed_even_with_errorsonly() {
    let up = Upstream::v1();
    let m = Mirror::new();
    let (sm, mail_out) = sendmail_recorder(&m.dir);
    let w = m.dir.join("noisy-rsync");
    write_script(
        &w,
        &format!(
            r#"case "$*" in
  *--version*) exec {real} "$@" ;;
esac
echo "rsync: [sender] link_stat \"/frobnicated-path\" failed: No such file or directory (2)" >&2
exec {real} "$@""#,
            real = shq(rsync_bin())
        ),
    );
    m.write_conf(
        &m.conf(&up.url())
            .set("RSYNC", w.to_string_lossy())
            .set("SENDMAIL", sm.to_string_lossy())
            .set("MAILTO", "ops@example.org"),
    );
    let out = m.run(&[]);
    m.expect_code(&out, 0);
    assert!(
        m.read_log_file("rsync-ftpsync.error")
            .contains("frobnicated-path"),
        "rsync's stderr not in LOG_RSYNC_ERROR"
    );
    let ms = mails(&mail_out);
    assert!(
        !ms.is_empty(),
        "no mail although rsync wrote to its error log"
    );
    assert!(
        ms.iter().any(|x| x.all_text().contains("frobnicated-path")),
        "rsync's error output not in the mail"
    );
    let host = short_hostname();
    assert!(ms
        .iter()
        .all(|x| x.subject().starts_with(&format!("[ftpsync@{host}] "))));
}

// ---------------------------------------------------------------------------------------
// the reason of a failure
// ---------------------------------------------------------------------------------------

/// The path after `label` in `line`, up to the next `,` or `)`.
fn path_after(line: &str, label: &str) -> Option<PathBuf> {
    let rest = &line[line.find(label)? + label.len()..];
    let end = rest.find([',', ')']).unwrap_or(rest.len());
    Some(PathBuf::from(rest[..end].trim()))
}

/// A wrong rsync password: what rsync says (`@ERROR: auth failed on module debian`) is in
/// the failure's log line, its error mail and on stderr, not only in the rotated rsync error
/// log; and the files that line names exist after the run (the log was named after it had
/// been rotated away).
#[test]
fn the_reason_of_a_failed_stage_reaches_log_mail_and_stderr() {
    let tmp = tempdir();
    let root = tmp.path().join("debian");
    build_archive(&root, &ArchiveSpec::v1());
    let d = RsyncDaemon::start_modules(vec![
        ModuleSpec::new("debian", &root).with_auth("syncuser", "the-right-one")
    ]);
    let m = Mirror::new();
    let (sm, mail_out) = sendmail_recorder(&m.dir);
    m.write_conf(
        &m.conf(&format!("rsync://syncuser@127.0.0.1:{}/debian/", d.port))
            .set("RSYNC_PASSWORD", "a-wrong-one")
            .set("LOGROTATE", "3")
            .set("SENDMAIL", sm.to_string_lossy())
            .set("MAILTO", "ops@example.org"),
    );
    let out = m.run(&[]);
    m.expect_code(&out, 3);
    let reason = "@ERROR: auth failed on module debian";
    assert!(
        out.stderr.contains(reason),
        "stderr: {}",
        m.diagnostics(&out)
    );
    assert!(!out.stderr.contains("a-wrong-one"), "{}", out.stderr);

    let log = m.read_log_file("ftpsync.log.0");
    let line = log
        .lines()
        .find(|l| l.contains("Sync step 1 went wrong"))
        .unwrap_or_else(|| panic!("no failure line in\n{}", m.diagnostics(&out)));
    assert!(line.contains(reason), "{line}");
    // Every file the line names is there to be read after the run.
    let logfile = path_after(line, "Logfile: ").unwrap_or_else(|| panic!("{line}"));
    assert!(
        logfile.is_file(),
        "{} does not exist: {line}",
        logfile.display()
    );
    assert!(read_string(&logfile).contains(line), "{line}");
    let errors = path_after(line, "rsync errors: ").unwrap_or_else(|| panic!("{line}"));
    assert!(
        read_string(&errors).contains(reason),
        "{}: {line}",
        errors.display()
    );

    let ms = mails(&mail_out);
    let report = ms
        .iter()
        .find(|x| x.subject().contains("Sync step 1 went wrong"))
        .unwrap_or_else(|| panic!("no error report mail: {}", read_string(&mail_out)));
    let body: String = report
        .parts()
        .first()
        .map(|p| p.1.clone())
        .unwrap_or_default();
    assert!(body.contains(reason), "the report's body: {body}");
}
