//! A suite's Release / InRelease file: which indices the suite has, their sizes and
//! SHA-256 sums.
//!
//! Only the SHA256 field is read: MD5Sum and SHA1 are no longer trusted by apt and newer
//! suites may drop them, while every suite since wheezy has SHA256. Only the first
//! paragraph counts, as for apt.

use super::{clearsigned_body, parse_u64, relative_path, sha256_hex};

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
        let (body, _) = clearsigned_body(data)?;
        let para = match deb822_fast::Deb822::iter_paragraphs_from_reader(&body[..]).next() {
            Some(Ok(p)) => p,
            Some(Err(e)) => return Err(format!("not a Release file: {e}")),
            None => return Err("empty Release file".into()),
        };
        let text = |name: &str| {
            para.get(name)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(String::from)
        };
        let sums = para
            .get("SHA256")
            .ok_or("the Release file has no SHA256 field")?;
        let mut files = Vec::new();
        // The field's value starts with the (usually empty) text after "SHA256:".
        for (i, line) in sums.split('\n').enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            files.push(listed(line).map_err(|e| format!("SHA256 line {i} ({line:?}): {e}"))?);
        }
        Ok(Release {
            suite: text("Suite"),
            codename: text("Codename"),
            // apt's StringToBool: "yes" is what dak writes, the others what apt accepts.
            by_hash: para.get("Acquire-By-Hash").is_some_and(|v| {
                let v = v.trim();
                ["yes", "true", "with", "on", "enable"]
                    .iter()
                    .any(|t| v.eq_ignore_ascii_case(t))
            }),
            files,
        })
    }
}

/// ` <sha256> <size> <path>`, the size right-aligned with spaces as dak writes it.
fn listed(line: &str) -> Result<Listed, String> {
    let mut fields = line.split_ascii_whitespace();
    let (Some(hash), Some(size), Some(path), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err("not three fields (sha256 size path)".into());
    };
    Ok(Listed {
        path: relative_path(path)?.to_string(),
        size: parse_u64(size).ok_or_else(|| format!("size {size:?} is not a number"))?,
        sha256: sha256_hex(hash).ok_or_else(|| format!("{hash:?} is not a SHA-256 (64 hex)"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H1: &str = "0b1e50fa2e5fd4a1fb3dd5a0bc5fd78e8e0e22c1a1d1de1b6f85e4e2e9d1e3a1";
    const H2: &str = "a3b5c7d9e1f30517293b4d5f6a7c8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9";

    fn release() -> String {
        format!(
            "Origin: Debian\nLabel: Debian\nSuite: unstable\nCodename: sid\n\
             Date: Sat, 05 Dec 2026 20:11:05 UTC\nAcquire-By-Hash: yes\n\
             Architectures: all amd64\nComponents: main contrib\n\
             Description: Debian x.y Unstable - Not Released\n\
             MD5Sum:\n 0123456789abcdef0123456789abcdef  1234 main/binary-amd64/Packages\n\
             SHA256:\n {H1} 48961234 main/binary-amd64/Packages\n \
             {} 10125234 main/binary-amd64/Packages.xz\n \
             {H2}      123 main/binary-amd64/Release\n {H2}        0 main/i18n/Index\n",
            H1.to_ascii_uppercase()
        )
    }

    fn expect(r: &Release) {
        assert_eq!(r.suite.as_deref(), Some("unstable"));
        assert_eq!(r.codename.as_deref(), Some("sid"));
        assert!(r.by_hash);
        let got: Vec<_> = r.files.iter().map(|l| (l.path.as_str(), l.size)).collect();
        assert_eq!(
            got,
            [
                ("main/binary-amd64/Packages", 48961234),
                ("main/binary-amd64/Packages.xz", 10125234),
                ("main/binary-amd64/Release", 123),
                ("main/i18n/Index", 0),
            ]
        );
        // Upper-case input is stored lower-case.
        assert_eq!(r.files[0].sha256, H1);
        assert_eq!(r.files[1].sha256, H1);
        assert_eq!(r.files[2].sha256, H2);
    }

    #[test]
    fn release_with_by_hash_and_uncompressed_variants() {
        expect(&Release::parse(release().as_bytes()).unwrap());
    }

    #[test]
    fn clearsigned_inrelease_with_dash_escaping() {
        // Any line may be dash-escaped (RFC 4880 7.1); gpg does it to lines starting with '-'.
        let text = release()
            .lines()
            .map(
                |l| match l.starts_with("Suite") || l.starts_with("SHA256") {
                    true => format!("- {l}\n"),
                    false => format!("{l}\n"),
                },
            )
            .collect::<String>();
        let signed = format!(
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n{text}\
             -----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCgAdFiEE\n=abcd\n\
             -----END PGP SIGNATURE-----\n"
        );
        assert!(signed.contains("\n- Suite: unstable\n") && signed.contains("\n- SHA256:\n"));
        expect(&Release::parse(signed.as_bytes()).unwrap());
    }

    #[test]
    fn optional_fields() {
        let r = Release::parse(format!("SHA256:\n {H2} 5 Contents-amd64\n").as_bytes()).unwrap();
        assert_eq!(r.suite, None);
        assert_eq!(r.codename, None);
        assert!(!r.by_hash);
        assert_eq!(r.files.len(), 1);
        let r = Release::parse(b"Suite: x\nAcquire-By-Hash: no\nSHA256:\n").unwrap();
        assert!(!r.by_hash);
        assert!(r.files.is_empty());
    }

    #[test]
    fn errors() {
        let no_sha = Release::parse(b"Suite: sid\nMD5Sum:\n 0 1 a\n").unwrap_err();
        assert!(no_sha.contains("no SHA256 field"), "{no_sha}");
        assert!(Release::parse(b"").unwrap_err().contains("empty"));
        assert!(Release::parse(b"\n\n").unwrap_err().contains("empty"));
        assert!(Release::parse(b" indented first\n")
            .unwrap_err()
            .contains("not a Release"));
        for (bad, what) in [
            (format!("{H1} 12\n"), "three fields"),
            (format!("{H1} 12 a b\n"), "three fields"),
            (format!("{} 12 a\n", &H1[1..]), "64 hex"),
            (format!("{}x 12 a\n", &H1[1..]), "64 hex"),
            (format!("{H1} -12 a\n"), "not a number"),
            (format!("{H1} 99999999999999999999 a\n"), "not a number"),
            (format!("{H1} 12 ../../etc/passwd\n"), "'..'"),
            (format!("{H1} 12 /etc/passwd\n"), "absolute"),
        ] {
            let data = format!("Suite: sid\nSHA256:\n {H2} 1 ok\n {bad}");
            let e = Release::parse(data.as_bytes()).unwrap_err();
            assert!(
                e.contains("SHA256 line 2") && e.contains(what),
                "{bad}: {e}"
            );
        }
    }
}
