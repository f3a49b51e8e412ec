//! PLACEHOLDER (helper replaces)

/// A file of the pool that an index references.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PoolFile {
    /// Relative to the archive's top (`pool/main/h/hello/hello_2.10-3.dsc`).
    pub path: String,
    pub size: u64,
    /// Lower-case hex; None when the index gives none.
    pub sha256: Option<String>,
}

/// Which kind of index a path is, by its name (`.../Packages[.xz|.gz]`, `.../Sources...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    Packages,
    Sources,
}

impl IndexKind {
    /// `main/binary-amd64/Packages.xz` is Packages, `main/source/Sources` Sources; also
    /// `main/debian-installer/binary-amd64/Packages`. Anything else: None.
    pub fn of(path: &str) -> Option<IndexKind> {
        let _ = path;
        unimplemented!()
    }
}

/// The pool files a Packages (Filename/Size/SHA256) or Sources (Directory +
/// Checksums-Sha256, else Files) index lists, streamed paragraph by paragraph with
/// deb822-fast. Err names the paragraph that is wrong.
pub fn pool_files(kind: IndexKind, data: &[u8]) -> Result<Vec<PoolFile>, String> {
    let _ = (kind, data);
    unimplemented!()
}
