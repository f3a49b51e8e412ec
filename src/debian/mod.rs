//! Debian's archive metadata, read: Release/InRelease, Packages, Sources, sha256sum lists
//! (`extrafiles`, the installer's `SHA256SUMS`), `ls-lR` listings, and the compressed forms
//! they come in. A layer below the commands: it answers what a file says, never what to
//! sync; the index-driven sync (crate::ftpsync::index) decides from its answers.

pub mod compress;
pub mod index;
pub mod lslr;
pub mod release;
pub mod sums;
