//! The include/exclude rules of a stage's rsync words, evaluated as rsync's walk does.
//!
//! A full stage never descends into an excluded directory. Given names with
//! `--files-from`, rsync applies the rules to each name but sends its parent directories
//! regardless, and a receiver (3.2.5 and later) then refuses the whole transfer ("rejecting
//! excluded file-list name", exit 4); an older one would even take the files. So a journal
//! sync lists only names that a full walk would reach: each of its directories and the name
//! itself included by the first rule that matches, as in rsync's "INCLUDE/EXCLUDE PATTERN
//! RULES". Words this module does not understand (merge files, `--exclude-from`, `-F`, `-C`,
//! rule modifiers) make [`Rules::from_words`] fail, and the sync then runs in full.

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    include: bool,
    /// Matches directories only (the pattern ended in `/`).
    dir_only: bool,
    /// Starts at the top of the transfer (the pattern started with `/`).
    anchored: bool,
    /// Matched against the whole path, not just the last component (the pattern is
    /// anchored, or has an inner `/` or a `**`).
    full_path: bool,
    /// `DIR/***`: the directory and everything below it.
    and_below: bool,
    pattern: Vec<u8>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    rules: Vec<Rule>,
}

/// Short options (in a cluster such as `-prltvHSB8192`) whose argument is the rest of the
/// word or the next word.
const SHORT_WITH_ARG: &[u8] = b"BeMT@";

impl Rules {
    /// The rules in an rsync command line, in order; an error names the word that cannot
    /// be evaluated here.
    pub fn from_words(words: &[String]) -> Result<Rules, String> {
        let mut rules = Vec::new();
        let mut it = words.iter();
        let unsupported =
            |w: &str| Err(format!("the rsync word {w} (not evaluated by the journal)"));
        while let Some(w) = it.next() {
            let (kind, pattern) = if let Some(p) = w.strip_prefix("--include=") {
                (Some(true), p.to_string())
            } else if let Some(p) = w.strip_prefix("--exclude=") {
                (Some(false), p.to_string())
            } else if w == "--include" || w == "--exclude" {
                let Some(p) = it.next() else {
                    return unsupported(w);
                };
                (Some(w == "--include"), p.clone())
            } else if let Some(r) = w.strip_prefix("--filter=") {
                match filter_rule(r) {
                    Some(rule) => rule,
                    None => return unsupported(w),
                }
            } else if w == "--filter" || w == "-f" {
                match it.next().and_then(|r| filter_rule(r)) {
                    Some(rule) => rule,
                    None => return unsupported(w),
                }
            } else if w.starts_with("--include")
                || w.starts_with("--exclude")
                || w.starts_with("--filter")
                || w.starts_with("--cvs-exclude")
                || w.starts_with("--files-from")
            {
                return unsupported(w);
            } else if let Some(cluster) = w.strip_prefix('-').filter(|c| !c.starts_with('-')) {
                for (i, c) in cluster.bytes().enumerate() {
                    if b"fFC".contains(&c) {
                        return unsupported(w);
                    }
                    if SHORT_WITH_ARG.contains(&c) {
                        if i + 1 == cluster.len() {
                            it.next();
                        }
                        break;
                    }
                }
                continue;
            } else {
                continue;
            };
            if let Some(include) = kind {
                rules.push(rule(include, pattern.as_bytes()));
            }
        }
        Ok(Rules { rules })
    }

    /// Whether a full walk reaches `path` (relative, `/`-separated), of which `is_dir` tells
    /// whether it is a directory. Directory verdicts are remembered in `cache`.
    pub fn reaches(&self, path: &[u8], is_dir: bool, cache: &mut HashMap<Vec<u8>, bool>) -> bool {
        if self.rules.is_empty() {
            return true;
        }
        for (i, _) in path.iter().enumerate().filter(|(_, &b)| b == b'/') {
            let dir = &path[..i];
            let ok = match cache.get(dir) {
                Some(ok) => *ok,
                None => {
                    let ok = self.included(dir, true);
                    cache.insert(dir.to_vec(), ok);
                    ok
                }
            };
            if !ok {
                return false;
            }
        }
        self.included(path, is_dir)
    }

    /// The first matching rule's verdict for `path` itself; included when none matches.
    fn included(&self, path: &[u8], is_dir: bool) -> bool {
        self.rules
            .iter()
            .find(|r| r.matches(path, is_dir))
            .is_none_or(|r| r.include)
    }
}

/// `include_P`, `exclude P`, `+ P`, `- P`; protect and risk rules (`protect_P`, `P P`,
/// `risk P`, `R P`) decide deletions only and so are no rule here. Anything else: `None`.
fn filter_rule(r: &str) -> Option<(Option<bool>, String)> {
    let (name, pattern) = match r.find([' ', '_']) {
        Some(i) => (&r[..i], &r[i + 1..]),
        None => return None,
    };
    let kind = match name {
        "include" | "+" => Some(true),
        "exclude" | "-" => Some(false),
        "protect" | "P" | "risk" | "R" => None,
        _ => return None,
    };
    (!pattern.is_empty()).then(|| (kind, pattern.to_string()))
}

fn rule(include: bool, p: &[u8]) -> Rule {
    let (p, dir_only) = match p.strip_suffix(b"/") {
        Some(p) => (p, true),
        None => (p, false),
    };
    let (p, and_below) = match p.strip_suffix(b"/***") {
        Some(p) => (p, true),
        None => (p, false),
    };
    let (p, anchored) = match p.strip_prefix(b"/") {
        Some(p) => (p, true),
        None => (p, false),
    };
    Rule {
        include,
        dir_only,
        anchored,
        full_path: anchored || p.contains(&b'/') || p.windows(2).any(|w| w == b"**") || and_below,
        and_below,
        pattern: p.to_vec(),
    }
}

impl Rule {
    fn matches(&self, path: &[u8], is_dir: bool) -> bool {
        if self.and_below {
            // `DIR/***` is `DIR` (a directory, or what a `/` after it asked for) and
            // `DIR/**`.
            let mut below = self.pattern.clone();
            below.extend_from_slice(b"/**");
            return (is_dir && self.matches_pattern(&self.pattern, path))
                || self.matches_pattern(&below, path);
        }
        if self.dir_only && !is_dir {
            return false;
        }
        self.matches_pattern(&self.pattern, path)
    }

    fn matches_pattern(&self, pattern: &[u8], path: &[u8]) -> bool {
        if !self.full_path {
            let last = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
            return wildmatch(pattern, last);
        }
        if self.anchored {
            return wildmatch(pattern, path);
        }
        // Unanchored: at the start or after any `/`.
        wildmatch(pattern, path)
            || path
                .iter()
                .enumerate()
                .filter(|(_, &b)| b == b'/')
                .any(|(i, _)| wildmatch(pattern, &path[i + 1..]))
    }
}

/// rsync's wildmatch: `*` stops at `/`, `**` does not (and `**/` may match no directory at
/// all), `?` is one character but `/`, `[...]` a class (`!` or `^` negates, `a-z` ranges),
/// `\` quotes the next character.
pub fn wildmatch(p: &[u8], t: &[u8]) -> bool {
    let Some((&c, rest)) = p.split_first() else {
        return t.is_empty();
    };
    match c {
        b'*' if rest.first() == Some(&b'*') => {
            let mut rest = &rest[1..];
            while let Some(r) = rest.strip_prefix(b"*") {
                rest = r;
            }
            if let Some(after) = rest.strip_prefix(b"/") {
                if wildmatch(after, t) {
                    return true;
                }
            }
            (0..=t.len()).any(|i| wildmatch(rest, &t[i..]))
        }
        b'*' => {
            for i in 0..=t.len() {
                if wildmatch(rest, &t[i..]) {
                    return true;
                }
                if i < t.len() && t[i] == b'/' {
                    return false;
                }
            }
            false
        }
        b'?' => t.first().is_some_and(|&b| b != b'/') && wildmatch(rest, &t[1..]),
        b'[' => match (t.first(), class(rest)) {
            (Some(&b), Some((set, after))) if b != b'/' && set(b) => wildmatch(after, &t[1..]),
            (_, Some(_)) => false,
            // An unclosed `[` is itself.
            (Some(b'['), None) => wildmatch(rest, &t[1..]),
            _ => false,
        },
        b'\\' if !rest.is_empty() => t.first() == Some(&rest[0]) && wildmatch(&rest[1..], &t[1..]),
        _ => t.first() == Some(&c) && wildmatch(rest, &t[1..]),
    }
}

/// The class after `[`: whether a byte is in it, and the pattern after its `]`.
#[allow(clippy::type_complexity)]
fn class(p: &[u8]) -> Option<(Box<dyn Fn(u8) -> bool>, &[u8])> {
    let (negate, mut p) = match p.first() {
        Some(b'!') | Some(b'^') => (true, &p[1..]),
        _ => (false, p),
    };
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let (&c, rest) = p.split_first()?;
        if c == b']' && !first {
            p = rest;
            break;
        }
        first = false;
        let (c, rest) = if c == b'\\' {
            let (&q, r) = rest.split_first()?;
            (q, r)
        } else {
            (c, rest)
        };
        match rest {
            [b'-', hi, tail @ ..] if *hi != b']' => {
                ranges.push((c, *hi));
                p = tail;
            }
            _ => {
                ranges.push((c, c));
                p = rest;
            }
        }
    }
    Some((
        Box::new(move |b| ranges.iter().any(|&(lo, hi)| lo <= b && b <= hi) != negate),
        p,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn reach(r: &Rules, p: &str, dir: bool) -> bool {
        r.reaches(p.as_bytes(), dir, &mut HashMap::new())
    }

    #[test]
    fn wildcards() {
        assert!(wildmatch(b"*.deb", b"a_amd64.deb"));
        assert!(!wildmatch(b"*.deb", b"x/a.deb"));
        assert!(wildmatch(b"**.deb", b"x/a.deb"));
        assert!(wildmatch(
            b"dists/**/binary-amd64",
            b"dists/sid/main/binary-amd64"
        ));
        assert!(wildmatch(b"dists/**/binary-amd64", b"dists/binary-amd64"));
        assert!(!wildmatch(
            b"dists/**/binary-amd64",
            b"dists/sid/main/binary-amd64x"
        ));
        assert!(wildmatch(
            b"pool/**/*_amd64.deb",
            b"pool/main/h/hello/h_1_amd64.deb"
        ));
        assert!(wildmatch(b"Contents*", b"Contents-amd64.gz"));
        assert!(wildmatch(
            b"installer-*/current",
            b"installer-amd64/current"
        ));
        assert!(!wildmatch(b"installer-*/current", b"installer-a/b/current"));
        assert!(wildmatch(b"a?c", b"abc"));
        assert!(!wildmatch(b"a?c", b"a/c"));
        assert!(wildmatch(b"[ab]x", b"bx"));
        assert!(wildmatch(b"[!ab]x", b"cx"));
        assert!(!wildmatch(b"[!ab]x", b"ax"));
        assert!(wildmatch(b"[a-c]", b"b"));
        assert!(wildmatch(b"[]]", b"]"));
        assert!(wildmatch(b"\\*", b"*"));
        assert!(!wildmatch(b"\\*", b"a"));
        assert!(wildmatch(b"a[", b"a["));
    }

    #[test]
    fn the_stage_rules_of_a_default_config() {
        let own = "--filter=exclude_/Archive-Update-in-Progress-m --filter=protect_/Archive-Update-in-Progress-m \
                   --filter=include_/project/ --filter=protect_/project/ --filter=include_/project/trace/ \
                   --filter=protect_/project/trace/ --filter=include_/project/trace/*";
        let s1 = format!(
            "rsync --quiet --log-file /l {own} --bwlimit=0 -prltvHSB8192 --safe-links --timeout 120 \
             --exclude=.~tmp~/ --include=*.diff/ --include=by-hash/ --exclude=*.diff/Index \
             --exclude=Contents* --exclude=Packages* --exclude=Sources* --exclude=Release* \
             --exclude=InRelease --exclude=i18n/* --exclude=dep11/* --exclude=installer-*/current \
             --exclude=ls-lR* --itemize-changes h::debian /m/"
        );
        let r = Rules::from_words(&words(&s1)).unwrap();
        assert!(reach(&r, "pool/main/h/hello/hello_1_amd64.deb", false));
        assert!(!reach(&r, "dists/sid/main/binary-amd64/Packages.xz", false));
        assert!(reach(
            &r,
            "dists/sid/main/binary-amd64/Packages.diff/T-1.gz",
            false
        ));
        assert!(!reach(
            &r,
            "dists/sid/main/binary-amd64/Packages.diff/Index",
            false
        ));
        assert!(reach(
            &r,
            "dists/sid/main/binary-amd64/by-hash/SHA256/ab",
            false
        ));
        assert!(!reach(&r, "dists/sid/main/Contents-amd64.gz", false));
        assert!(!reach(&r, "dists/sid/main/i18n/Translation-en.bz2", false));
        assert!(!reach(&r, "dists/sid/main/installer-amd64/current", false));
        assert!(reach(
            &r,
            "dists/sid/main/installer-amd64/20261101/images/MANIFEST",
            false
        ));
        assert!(!reach(&r, "Archive-Update-in-Progress-m", false));
        assert!(reach(&r, "project/trace/master", false));
        assert!(!reach(&r, "pool/.~tmp~/x", false));
        // A directory named like an index: nothing below it is reached.
        assert!(!reach(&r, "dists/x/Packages/inside", false));
        assert!(!reach(&r, "ls-lR.gz", false));
    }

    #[test]
    fn arch_exclude_keeps_the_excluded_arch_out() {
        let mut w = words("rsync --quiet");
        w.extend(crate::common::rsync::arch_filters(
            &[],
            &words("i386 source"),
        ));
        let r = Rules::from_words(&w).unwrap();
        assert!(!reach(&r, "dists/sid/main/binary-i386/Packages", false));
        assert!(!reach(&r, "dists/sid/main/binary-i386", true));
        assert!(reach(&r, "dists/sid/main/binary-amd64/Packages", false));
        assert!(!reach(&r, "pool/main/h/hello/hello_1_i386.deb", false));
        assert!(reach(&r, "pool/main/h/hello/hello_1_amd64.deb", false));
        assert!(!reach(&r, "pool/main/h/hello/hello_1.dsc", false));
        assert!(!reach(&r, "dists/sid/main/source/Sources.xz", false));
        let mut w = words("rsync");
        w.extend(crate::common::rsync::arch_filters(&words("amd64"), &[]));
        let r = Rules::from_words(&w).unwrap();
        assert!(reach(&r, "pool/main/h/hello/hello_1_all.deb", false));
        assert!(!reach(&r, "pool/main/h/hello/hello_1_arm64.deb", false));
        assert!(!reach(&r, "dists/sid/main/binary-arm64/Release", false));
        assert!(reach(&r, "dists/sid/Release", false));
    }

    #[test]
    fn anchoring_dir_only_and_below() {
        let r = Rules::from_words(&words(
            "--exclude=/tools/ --exclude=doc/FAQ --include=keep/*** --exclude=*",
        ))
        .unwrap();
        assert!(!reach(&r, "tools/x", false));
        assert!(!reach(&r, "a/doc/FAQ", false));
        assert!(reach(&r, "keep", true));
        assert!(reach(&r, "keep/a/b", false));
        assert!(!reach(&r, "other", false));
        let r = Rules::from_words(&words("--exclude=/tools/")).unwrap();
        assert!(
            reach(&r, "tools", false),
            "a file named tools is no directory"
        );
        assert!(reach(&r, "x/tools/y", false), "anchored at the top only");
        let w: Vec<String> = ["--exclude", "foo", "--filter", "-_bar", "-f", "exclude baz"]
            .map(str::to_string)
            .to_vec();
        let r = Rules::from_words(&w).unwrap();
        assert!(!reach(&r, "a/foo", false));
        assert!(!reach(&r, "a/bar", false));
        assert!(!reach(&r, "a/baz", false));
        assert!(reach(&r, "a/qux", false));
    }

    #[test]
    fn what_cannot_be_evaluated_is_refused() {
        for w in [
            "--exclude-from=/etc/x",
            "--include-from",
            "--filter=merge_/etc/rules",
            "--filter=-!_x",
            "--filter=:_.rsync-filter",
            "-F",
            "-avC",
            "--cvs-exclude",
            "--files-from=/x",
            "--filter=hide_x",
        ] {
            assert!(Rules::from_words(&words(w)).is_err(), "{w}");
        }
        // Options with arguments are skipped over, not read as rules.
        let r = Rules::from_words(&words("-prltvHSB8192 -e ssh --timeout 120 -T /tmp")).unwrap();
        assert_eq!(r, Rules::default());
    }
}
