//! Man pages and shell completions, generated from the clap definitions in `cli/mod.rs`,
//! so they can never disagree with what the binary accepts.
//!
//! `archvsync manpages DIR` writes `archvsync.1`, one `archvsync-COMMAND.1` per visible
//! subcommand, and `ftpsync.1`, `runmirrors.1`, `ftpsync-cron.1`, `rsync-ssl-tunnel.1` for
//! the multicall names (their own syntax, from their own CLI structs). The commands'
//! `after_long_help` texts (exit status, files, environment) become real man sections.

use super::{Cli, CompletionsArgs, CronCli, FtpsyncCli, ManpagesArgs, RunmirrorsCli, TunnelCli};
use clap::CommandFactory;
use clap_mangen::roff::{bold, roman, Roff};
use std::io::Write;
use std::path::Path;

/// Written by `roff` in front of every rendering; it defines `\*(Aq` (an apostrophe).
const ROFF_PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

pub fn manpages(args: ManpagesArgs) -> u8 {
    match write_manpages(&args.dir) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            0
        }
        Err(e) => {
            eprintln!("manpages: {}: {e}", args.dir.display());
            1
        }
    }
}

pub fn completions(args: CompletionsArgs) -> u8 {
    // The same command without its hidden subcommands, which clap_complete would offer.
    let full = Cli::command();
    let mut cmd = clap::Command::new("archvsync")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(true)
        .subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    if let Some(about) = full.get_about() {
        cmd = cmd.about(about.clone());
    }
    // Into memory first: clap_complete panics on a write error (`| head`).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "archvsync", &mut script);
    let mut out = std::io::stdout().lock();
    match out.write_all(&script).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("completions: {e}");
            1
        }
    }
}

/// Writes every page into `dir` (created if missing); returns the files written.
pub fn write_manpages(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, page) in pages() {
        let path = dir.join(name);
        std::fs::write(&path, page)?;
        written.push(path);
    }
    Ok(written)
}

/// Every page as (file name, roff text).
pub fn pages() -> Vec<(String, String)> {
    let mut top = Cli::command().disable_help_subcommand(true);
    top.build();
    let mut pages = Vec::new();
    for sub in top.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages.push(page(sub.clone()));
    }
    pages.push(page(top));
    for cmd in [
        FtpsyncCli::command(),
        RunmirrorsCli::command(),
        CronCli::command(),
        TunnelCli::command(),
    ] {
        pages.push(page(cmd));
    }
    pages
}

fn page(cmd: clap::Command) -> (String, String) {
    let extra = cmd.get_after_long_help().map(|h| h.to_string());
    let fixes = synopsis_fixes(&cmd);
    // clap_mangen would print the text raw under "EXTRA"; it gets sections of its own.
    let man = clap_mangen::Man::new(cmd.after_long_help(None::<&str>).after_help(None::<&str>))
        .manual("archvsync");
    let name = man.get_filename();
    let mut out = Vec::new();
    man.render(&mut out).expect("rendering into memory");
    let mut text = String::from_utf8_lossy(&out).into_owned();
    if let Some(at) = text.find(".SH SYNOPSIS\n") {
        let start = at + ".SH SYNOPSIS\n".len();
        let end = text[start..].find('\n').map_or(text.len(), |e| start + e);
        let mut line = text[start..end].to_string();
        for (bare, fixed) in &fixes {
            line = line.replace(bare, fixed);
        }
        text.replace_range(start..end, &line);
    }
    let sections = extra.as_deref().map(sections).unwrap_or_default();
    (name, assemble(&text, &sections))
}

/// clap_mangen's synopsis leaves out option values (`[-T ]`, `[--max-age]`): pairs of
/// (its rendering, ours) for each option.
fn synopsis_fixes(cmd: &clap::Command) -> Vec<(String, String)> {
    let esc = |s: &str| s.replace('-', "\\-");
    cmd.get_arguments()
        .filter(|a| !a.is_positional() && !a.is_hide_set())
        .filter_map(|a| {
            let value = a
                .get_action()
                .takes_values()
                .then(|| a.get_value_names().map(|v| v.join(" ")))
                .flatten()
                .map(|v| format!(" \\fI{v}\\fR"))
                .unwrap_or_default();
            let (bare, name) = match (a.get_short(), a.get_long()) {
                (Some(s), None) => (format!("\\fB\\-{s} \\fR]"), format!("\\fB\\-{s}\\fR")),
                (None, Some(l)) => (
                    format!("\\fB\\-\\-{}\\fR]", esc(l)),
                    format!("\\fB\\-\\-{}\\fR", esc(l)),
                ),
                (Some(s), Some(l)) => {
                    let both = format!("\\fB\\-{s}\\fR|\\fB\\-\\-{}\\fR", esc(l));
                    (format!("{both}]"), both)
                }
                (None, None) => return None,
            };
            Some((bare, format!("{name}{value}]")))
        })
        .collect()
}

/// The rendered page with `.TH` first (before the preamble roff writes) and `sections`
/// inserted before the VERSION section (or at the end).
fn assemble(rendered: &str, sections: &str) -> String {
    let body = rendered.strip_prefix(ROFF_PREAMBLE).unwrap_or(rendered);
    let (th, rest) = match body.split_once('\n') {
        Some((first, rest)) if first.starts_with(".TH ") => (first, rest),
        _ => ("", body),
    };
    let mut page = String::new();
    if !th.is_empty() {
        page.push_str(th);
        page.push('\n');
    }
    if rendered.starts_with(ROFF_PREAMBLE) {
        page.push_str(ROFF_PREAMBLE);
    }
    match rest.find(".SH VERSION\n") {
        Some(at) => {
            page.push_str(&rest[..at]);
            page.push_str(sections);
            page.push_str(&rest[at..]);
        }
        None => {
            page.push_str(rest);
            page.push_str(sections);
        }
    }
    page
}

/// Turns a help text (see the comment at the top of `help.rs`) into man sections:
/// `Heading:` → `.SH HEADING`, `  TAG  text` and deeper indented continuations → `.TP`
/// entries, other lines → paragraphs.
fn sections(help: &str) -> String {
    let mut roff = Roff::new();
    // The text being gathered: an entry's (tag, text), or a paragraph's text.
    let mut tag: Option<String> = None;
    let mut text = String::new();
    let flush = |roff: &mut Roff, tag: &mut Option<String>, text: &mut String| {
        if let Some(t) = tag.take() {
            roff.control("TP", []);
            roff.text([bold(t)]);
            if !text.is_empty() {
                roff.text([roman(text.as_str())]);
            }
        } else if !text.is_empty() {
            roff.control("PP", []);
            roff.text([roman(text.as_str())]);
        }
        text.clear();
    };
    for line in help.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if trimmed.is_empty() {
            flush(&mut roff, &mut tag, &mut text);
        } else if indent == 0 && trimmed.ends_with(':') && !trimmed.contains(". ") {
            flush(&mut roff, &mut tag, &mut text);
            roff.control(
                "SH",
                [trimmed.trim_end_matches(':').to_uppercase().as_str()],
            );
        } else if indent == 2 {
            flush(&mut roff, &mut tag, &mut text);
            let (t, rest) = trimmed.split_once("  ").unwrap_or((trimmed, ""));
            tag = Some(t.to_string());
            text = rest.trim().to_string();
        } else {
            if indent == 0 && tag.is_some() {
                // A paragraph after entries ends the entry list.
                flush(&mut roff, &mut tag, &mut text);
            }
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(trimmed);
        }
    }
    flush(&mut roff, &mut tag, &mut text);
    let rendered = roff.render();
    rendered
        .strip_prefix(ROFF_PREAMBLE)
        .unwrap_or(&rendered)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_text_becomes_sections() {
        let r = sections(
            "Exit status:\n  0    Done.\n  1    Lock held, or\n       a bad config.\n  128+N\n       Signal N.\nA hook's failure is its status.\n\nFiles:\n  a.conf\n       The config.\n",
        );
        assert_eq!(
            r,
            ".SH \"EXIT STATUS\"\n.TP\n\\fB0\\fR\nDone.\n.TP\n\\fB1\\fR\nLock held, or a bad config.\n\
             .TP\n\\fB128+N\\fR\nSignal N.\n.PP\nA hook\\*(Aqs failure is its status.\n\
             .SH FILES\n.TP\n\\fBa.conf\\fR\nThe config.\n",
            "{r}"
        );
    }

    #[test]
    fn every_page_starts_with_th() {
        let pages = pages();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        for want in [
            "archvsync.1",
            "archvsync-ftpsync.1",
            "archvsync-status.1",
            "ftpsync.1",
            "rsync-ssl-tunnel.1",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("push-follower")));
        for (name, text) in &pages {
            assert!(text.starts_with(".TH "), "{name}:\n{text}");
            assert_eq!(text.matches(".TH ").count(), 1, "{name}");
        }
    }
}
