//! The filter oracle: a small rsync filter-rule evaluator written from the SPEC text,
//! independently of src/ (harness_selfcheck holds it against the real rsync), and the
//! architecture and stage-1 rules of SPEC §4 it predicts a mirror's content from.

use super::{is_ftpsync_owned, Tree};

/// rsync-style wildcard match: `*` does not cross `/`, `**` does.
pub fn wildmatch(p: &[u8], t: &[u8]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some(b'*') if p.get(1) == Some(&b'*') => {
            let rest = &p[2..];
            (0..=t.len()).any(|i| wildmatch(rest, &t[i..]))
        }
        Some(b'*') => {
            let rest = &p[1..];
            for i in 0..=t.len() {
                if wildmatch(rest, &t[i..]) {
                    return true;
                }
                if i < t.len() && t[i] == b'/' {
                    break;
                }
            }
            false
        }
        Some(&c) => !t.is_empty() && t[0] == c && wildmatch(&p[1..], &t[1..]),
    }
}

/// Does an rsync filter pattern match the transfer-relative path `rel`?
pub fn pattern_matches(pattern: &str, rel: &str, is_dir: bool) -> bool {
    let (pat, dir_only) = match pattern.strip_suffix('/') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    if dir_only && !is_dir {
        return false;
    }
    if let Some(anchored) = pat.strip_prefix('/') {
        return wildmatch(anchored.as_bytes(), rel.as_bytes());
    }
    if pat.contains('/') || pat.contains("**") {
        wildmatch(pat.as_bytes(), rel.as_bytes())
            || rel
                .match_indices('/')
                .any(|(i, _)| wildmatch(pat.as_bytes(), &rel.as_bytes()[i + 1..]))
    } else {
        let last = rel.rsplit('/').next().unwrap();
        wildmatch(pat.as_bytes(), last.as_bytes())
    }
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub include: bool,
    pub pattern: String,
}

pub fn inc(p: &str) -> Rule {
    Rule {
        include: true,
        pattern: p.to_string(),
    }
}
pub fn exc(p: &str) -> Rule {
    Rule {
        include: false,
        pattern: p.to_string(),
    }
}

/// First-match-wins, applied to each ancestor directory and then the entry itself (an
/// excluded directory hides everything below it).
pub fn rules_include(rules: &[Rule], rel: &str, is_dir: bool) -> bool {
    let comps: Vec<&str> = rel.split('/').collect();
    for i in 1..=comps.len() {
        let prefix = comps[..i].join("/");
        let d = i < comps.len() || is_dir;
        if let Some(r) = rules
            .iter()
            .find(|r| pattern_matches(&r.pattern, &prefix, d))
        {
            if !r.include {
                return false;
            }
        }
    }
    true
}

/// The per-architecture patterns of SPEC §4.
pub fn arch_patterns(arch: &str) -> Vec<String> {
    if arch == "source" {
        vec![
            "/dists/**/source/".into(),
            "/pool/**/*.tar.*".into(),
            "/pool/**/*.diff.*".into(),
            "/pool/**/*.dsc".into(),
        ]
    } else {
        let a = arch;
        vec![
            format!("/dists/**/binary-{a}/"),
            format!("/dists/**/installer-{a}/"),
            format!("/dists/**/Contents-{a}.gz"),
            format!("/dists/**/Contents-udeb-{a}.gz"),
            format!("/dists/**/Contents-{a}.diff/"),
            format!("/indices/**/arch-{a}.files"),
            format!("/indices/**/arch-{a}.list.gz"),
            format!("/pool/**/*_{a}.deb"),
            format!("/pool/**/*_{a}.udeb"),
            format!("/pool/**/*_{a}.changes"),
        ]
    }
}

#[derive(Clone, Debug)]
pub enum ArchConfig {
    All,
    Include(Vec<&'static str>),
    Exclude(Vec<&'static str>),
}

/// The architecture filter rules of SPEC §4.
pub fn arch_rules(cfg: &ArchConfig) -> Vec<Rule> {
    let mut rules = Vec::new();
    let add = |rules: &mut Vec<Rule>, include: bool, arch: &str| {
        for p in arch_patterns(arch) {
            rules.push(Rule {
                include,
                pattern: p,
            });
        }
    };
    match cfg {
        ArchConfig::All => {}
        ArchConfig::Exclude(list) => {
            for a in list {
                add(&mut rules, false, a);
            }
            add(&mut rules, true, "*");
            add(&mut rules, true, "source");
        }
        ArchConfig::Include(list) => {
            for a in list {
                add(&mut rules, true, a);
            }
            if list.iter().any(|a| *a != "source") {
                add(&mut rules, true, "all");
            }
            add(&mut rules, false, "*");
            add(&mut rules, false, "source");
        }
    }
    rules
}

/// RSYNC_OPTIONS1 filters (stage 1).
pub fn stage1_rules() -> Vec<Rule> {
    vec![
        inc("*.diff/"),
        inc("by-hash/"),
        exc("*.diff/Index"),
        exc("Contents*"),
        exc("Packages*"),
        exc("Sources*"),
        exc("Release*"),
        exc("InRelease"),
        exc("i18n/*"),
        exc("dep11/*"),
        exc("installer-*/current"),
        exc("ls-lR*"),
    ]
}

/// The subset of `tree` (files and links only, owned files dropped) that `rules` let through.
pub fn expected_subset(tree: &Tree, rules: &[Rule], mirrorname: &str) -> Tree {
    tree.iter()
        .filter(|(k, v)| !v.is_dir() && !is_ftpsync_owned(k, mirrorname))
        .filter(|(k, v)| rules_include(rules, k, v.is_dir()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
