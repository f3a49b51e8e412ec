//! PLACEHOLDER (helper replaces)

/// One index a Release file lists (its SHA256 field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Relative to the Release file's directory (`main/binary-amd64/Packages.xz`).
    pub path: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Release {
    pub suite: Option<String>,
    pub codename: Option<String>,
    /// `Acquire-By-Hash: yes`.
    pub by_hash: bool,
    /// In the file's order.
    pub files: Vec<Listed>,
}

impl Release {
    /// A Release or InRelease file (the clearsigned form's armour is stripped, its
    /// signature not checked). Err says what is wrong (no SHA256 field, a bad line).
    pub fn parse(data: &[u8]) -> Result<Release, String> {
        let _ = data;
        unimplemented!()
    }
}
