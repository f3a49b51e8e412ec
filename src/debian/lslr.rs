//! PLACEHOLDER (helper replaces)
use std::collections::BTreeMap;

/// One entry of an `ls -lR` listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The mode's first letter: `-` file, `d` directory, `l` symlink, others as ls gives.
    pub kind: u8,
    pub size: u64,
    /// The time as ls printed it (`Dec  7 03:11`, `Dec  7  2025`, or an ISO form),
    /// compared as text: a changed file shows a changed stamp or size.
    pub stamp: String,
    /// A symlink's target.
    pub target: Option<Vec<u8>>,
}

/// Every entry of an `ls -lR` output (GNU ls, C locale, any --time-style), by path
/// relative to the listing's top, without `./` (`dists/sid/Release`). The listing's
/// top itself is not an entry. Err names the bad line.
pub fn parse(data: &[u8]) -> Result<BTreeMap<Vec<u8>, Entry>, String> {
    let _ = data;
    unimplemented!()
}
