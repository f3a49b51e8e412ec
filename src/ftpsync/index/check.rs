//! The checks that keep an index sync from publishing a broken tree, as dak checks before
//! it pushes: after stage 1, every pool file the changed indices add is here with its size
//! (so no index may arrive that names a file we lack); after stage 2, our Release files are
//! the ones the plan was made from (the upstream did not change under us) and every file
//! they list is here with its size. Only what the stages' own filters reach is asked for:
//! a mirror with ARCH_EXCLUDE lacks the excluded indices by design.

use super::{diff, Check};
use crate::ftpsync::journal::filter::Rules;
use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// How many missing files a failed check names.
const SHOWN: usize = 3;

fn missing_or_wrong(to: &Path, path: &[u8], size: u64) -> Option<String> {
    let shown = String::from_utf8_lossy(path);
    match std::fs::metadata(to.join(std::ffi::OsStr::from_bytes(path))) {
        Ok(m) if m.len() == size => None,
        Ok(m) => Some(format!("{shown} ({} bytes, not {size})", m.len())),
        Err(_) => Some(format!("{shown} (missing)")),
    }
}

fn verdict(what: &str, bad: Vec<String>) -> Result<(), String> {
    if bad.is_empty() {
        return Ok(());
    }
    let more = bad.len().saturating_sub(SHOWN);
    let mut list = bad.into_iter().take(SHOWN).collect::<Vec<_>>().join(", ");
    if more > 0 {
        list.push_str(&format!(" and {more} more"));
    }
    Err(format!("{what}: {list}"))
}

/// After stage 1: the pool files the new indices add.
pub fn after_stage1(check: &Check, to: &Path, rules: &Rules) -> Result<(), String> {
    let mut cache = HashMap::new();
    let bad: Vec<String> = check
        .additions
        .iter()
        .flatten()
        .filter(|f| rules.reaches(f.path.as_bytes(), false, &mut cache))
        .filter_map(|f| missing_or_wrong(to, f.path.as_bytes(), f.size))
        .collect();
    verdict("files the new indices add are not here after stage 1", bad)
}

/// After stage 2: the Release files planned on, and everything they and the indices list.
pub fn after_stage2(check: &Check, to: &Path, rules: &Rules) -> Result<(), String> {
    let mut cache = HashMap::new();
    let mut bad = Vec::new();
    for (suite, name, planned) in &check.suites {
        let rel = format!("{}/{name}", suite.dir);
        if rules.reaches(rel.as_bytes(), false, &mut cache)
            && std::fs::read(to.join(&rel)).ok().as_ref() != Some(planned)
        {
            return Err(format!(
                "our {rel} is not the one this sync was planned on: the upstream changed during the sync"
            ));
        }
        for l in diff::required(&suite.new, &suite.dir, &check.listing) {
            let name = format!("{}/{}", suite.dir, l.path);
            let real = diff::resolve(&check.listing, name.as_bytes()).unwrap_or(name.into_bytes());
            if !rules.reaches(&real, false, &mut cache) {
                continue;
            }
            bad.extend(missing_or_wrong(to, &real, l.size));
        }
    }
    bad.extend(
        check
            .additions
            .iter()
            .flatten()
            .filter(|f| rules.reaches(f.path.as_bytes(), false, &mut cache))
            .filter_map(|f| missing_or_wrong(to, f.path.as_bytes(), f.size)),
    );
    verdict(
        "files the new Release files and indices list are not here",
        bad,
    )
}
