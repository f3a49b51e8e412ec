//! `archvsync manpages DIR` and `archvsync completions SHELL`.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_archvsync");

fn archvsync(args: &[&str]) -> Output {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "archvsync {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn have(prog: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {prog}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// (file, the command it must name in NAME and SYNOPSIS)
const PAGES: &[(&str, &str)] = &[
    ("archvsync.1", "archvsync"),
    ("archvsync-ftpsync.1", "archvsync\\-ftpsync"),
    ("archvsync-runmirrors.1", "archvsync\\-runmirrors"),
    ("archvsync-ftpsync-cron.1", "archvsync\\-ftpsync\\-cron"),
    (
        "archvsync-rsync-ssl-tunnel.1",
        "archvsync\\-rsync\\-ssl\\-tunnel",
    ),
    ("archvsync-status.1", "archvsync\\-status"),
    ("archvsync-check-config.1", "archvsync\\-check\\-config"),
    ("archvsync-downstream.1", "archvsync\\-downstream"),
    ("archvsync-rsyncd-config.1", "archvsync\\-rsyncd\\-config"),
    ("archvsync-check-mirror.1", "archvsync\\-check\\-mirror"),
    ("archvsync-manpages.1", "archvsync\\-manpages"),
    ("archvsync-completions.1", "archvsync\\-completions"),
    ("ftpsync.1", "ftpsync"),
    ("runmirrors.1", "runmirrors"),
    ("ftpsync-cron.1", "ftpsync\\-cron"),
    ("rsync-ssl-tunnel.1", "rsync\\-ssl\\-tunnel"),
];

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn manpages_writes_one_page_per_command() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("man/man1"); // created by the command
    archvsync(&["manpages", dir.to_str().unwrap()]);

    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut want: Vec<String> = PAGES.iter().map(|(f, _)| f.to_string()).collect();
    want.sort();
    // the hidden push-follower has no page, nor has clap's `help`
    assert_eq!(found, want);

    for (file, name) in PAGES {
        let text = read(&dir.join(file));
        let title = name.replace("\\-", "-");
        assert!(
            text.starts_with(&format!(".TH {title} 1 ")),
            "{file} does not start with its .TH line:\n{text}"
        );
        assert!(
            text.contains(&format!(".SH NAME\n{name} \\- ")),
            "{file}: NAME does not name {name}:\n{text}"
        );
        assert!(
            text.contains(&format!(
                ".SH SYNOPSIS\n\\fB{}",
                name.replacen("archvsync\\-", "archvsync ", 1)
            )),
            "{file}: SYNOPSIS does not name the command:\n{text}"
        );
        for section in [".SH DESCRIPTION", ".SH OPTIONS"] {
            assert!(text.contains(section), "{file}: no {section}");
        }
        // the help texts became sections of their own, not clap_mangen's raw EXTRA
        assert!(!text.contains(".SH EXTRA"), "{file}");
    }

    // The operator's sections, from the help texts.
    for file in ["ftpsync.1", "archvsync-ftpsync.1"] {
        let text = read(&dir.join(file));
        for want in [
            ".SH \"EXIT STATUS\"",
            ".SH FILES",
            ".SH ENVIRONMENT",
            "SSH_ORIGINAL_COMMAND",
            "/etc/ftpsync",
            "\\fB78\\fR",
            "\\fB\\-T\\fR \\fITRIGGER\\fR",
        ] {
            assert!(text.contains(want), "{file} lacks {want:?}:\n{text}");
        }
    }
    let tunnel = read(&dir.join("rsync-ssl-tunnel.1"));
    assert!(tunnel.contains("RSYNC_SSL_CAPATH"), "{tunnel}");
    let rm = read(&dir.join("runmirrors.1"));
    assert!(rm.contains("\\fB5\\fR"), "{rm}");
    let top = read(&dir.join("archvsync.1"));
    assert!(top.contains("archvsync\\-ftpsync(1)"), "{top}");
    assert!(!top.contains("push\\-trigger"), "{top}");
}

/// The pages render without warnings in man itself (man-db, from scripts/setup-deps).
#[test]
fn manpages_render_with_man_without_warnings() {
    assert!(
        have("man"),
        "man is not installed: run scripts/setup-deps (it installs man-db)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("man1");
    archvsync(&["manpages", dir.to_str().unwrap()]);
    for file in ["archvsync.1", "ftpsync.1", "runmirrors.1"] {
        let out = Command::new("man")
            .args(["--warnings", "-l"])
            .arg(dir.join(file))
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "man -l {file}: {}\n{stderr}",
            out.status
        );
        assert!(stderr.trim().is_empty(), "man -l {file} warned:\n{stderr}");
        assert!(stdout.contains("EXIT STATUS"), "man -l {file}:\n{stdout}");
    }
}

#[test]
fn manpages_into_an_unwritable_place_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, "").unwrap();
    let out = Command::new(BIN)
        .args(["manpages", file.join("sub").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!out.stderr.is_empty());
}

#[test]
fn bash_completion_is_valid_bash() {
    let out = archvsync(&["completions", "bash"]);
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(script.contains("ftpsync"), "{script}");
    assert!(script.contains("check-config"), "{script}");
    assert!(
        !script.contains("push-follower"),
        "a hidden command is offered"
    );
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("archvsync.bash");
    std::fs::write(&f, &script).unwrap();
    let check = Command::new("bash").arg("-n").arg(&f).output().unwrap();
    assert!(
        check.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn other_shells_get_scripts() {
    let out = archvsync(&["completions", "zsh"]);
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(script.starts_with("#compdef archvsync"), "{script}");
    assert!(script.contains("ftpsync"));
    for shell in ["fish", "elvish", "powershell"] {
        let out = archvsync(&["completions", shell]);
        assert!(!out.stdout.is_empty(), "{shell}");
    }
    let bad = Command::new(BIN)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(64));
}

/// The sh block of README's "Installing" section that installs with cargo (the other one
/// is the Debian package's, which scripts/test-deb runs).
fn readme_install_block() -> String {
    let readme = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"));
    let section = readme
        .split("\n## Installing\n")
        .nth(1)
        .expect("README has an Installing section");
    let section = section
        .split("\n### With cargo")
        .nth(1)
        .expect("Installing has a \"With cargo\" subsection");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("Installing has an sh block");
    block.to_string()
}

/// README's install commands, run as written in an empty home (the binary already built):
/// they must leave a working ~/bin with every command's name.
#[test]
fn readme_install_steps_give_every_command_in_bin() {
    let home = tempfile::tempdir().unwrap();
    let repo = env!("CARGO_MANIFEST_DIR");
    let script: String = readme_install_block()
        .lines()
        .filter(|l| !l.starts_with("cargo build"))
        .map(|l| {
            l.replace("target/release/archvsync", BIN).replace(
                "cp ftpsync.conf.sample",
                &format!("cp {repo}/ftpsync.conf.sample"),
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let out = Command::new("sh")
        .args(["-euc", &script])
        .env("HOME", home.path())
        .current_dir(home.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["ftpsync", "runmirrors", "ftpsync-cron", "rsync-ssl-tunnel"] {
        let p = home.path().join("bin").join(name);
        let out = Command::new(&p).arg("--help").output();
        let out = out.unwrap_or_else(|e| panic!("{}: {e}\n{script}", p.display()));
        assert!(
            out.status.success(),
            "{} --help: {}",
            p.display(),
            out.status
        );
        // The link name decides the role: each help names its own command.
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains(name), "{name} --help:\n{help}");
    }
    assert!(home.path().join("etc/ftpsync.conf").is_file());
    assert!(home.path().join("log").is_dir());
}

#[test]
fn mirror_sample_names_the_ssh_options_field_right() {
    let sample = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("runmirrors.mirror.sample"));
    // TYPE SHORTNAME HOSTNAME USER then the options: the fifth field.
    assert!(!sample.contains("fourth field"), "{sample}");
    assert!(sample.contains("A fifth field"), "{sample}");
}
