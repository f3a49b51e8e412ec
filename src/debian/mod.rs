//! Debian's archive metadata, read: Release/InRelease, Packages, Sources, sha256sum lists
//! (`extrafiles`, the installer's `SHA256SUMS`), `ls-lR` listings, and the compressed forms
//! they come in. A layer below the commands: it answers what a file says, never what to
//! sync; the index-driven sync (`ftpsync/index/`) decides from its answers.
//!
//! Everything here reads what an upstream mirror sent, so nothing trusts it: a malformed
//! file is an `Err` naming the place, never a panic, and a path that would leave the
//! archive (absolute, `..`) is refused here once rather than by every caller.

pub mod compress;
pub mod index;
pub mod lslr;
pub mod release;
pub mod sums;

use std::borrow::Cow;

const SIGNED_BEGIN: &[u8] = b"-----BEGIN PGP SIGNED MESSAGE-----";
const SIGNATURE_BEGIN: &[u8] = b"-----BEGIN PGP SIGNATURE-----";

/// The signed text of a clearsigned file (InRelease, `extrafiles`), with the number of file
/// lines before it, so that callers can name lines as the file numbers them (dash-escaping
/// removes no line). Data without the armour is returned as it is, with 0.
///
/// The signature is not checked: that is gpgv's job, before these files are trusted. The
/// strictness (armour headers end at a blank line; the signature must follow; a body line
/// may start with `-` only dash-escaped) is what keeps a second, unsigned text from hiding
/// inside the armour, as apt refuses it too.
pub(crate) fn clearsigned_body(data: &[u8]) -> Result<(Cow<'_, [u8]>, usize), String> {
    // The piece after a final newline is no line (it would pass for the blank line that
    // ends the armour headers).
    let text = data.strip_suffix(b"\n").unwrap_or(data);
    let mut lines = text.split(|&b| b == b'\n').enumerate();
    // Blank lines before the armour are tolerated; anything else means a plain file.
    let armoured = loop {
        match lines.next() {
            Some((_, l)) if trim_end(l).is_empty() => continue,
            Some((_, l)) => break trim_end(l) == SIGNED_BEGIN,
            None => break false,
        }
    };
    if !armoured {
        return Ok((Cow::Borrowed(data), 0));
    }
    let first = loop {
        match lines.next() {
            Some((i, l)) if trim_end(l).is_empty() => break i + 1,
            Some((i, l)) => {
                if !l.contains(&b':') {
                    return Err(format!(
                        "line {}: not an armour header (Name: value) of the clearsigned text",
                        i + 1
                    ));
                }
            }
            None => return Err("clearsigned, but no blank line after the armour headers".into()),
        }
    };
    let mut body = Vec::with_capacity(data.len());
    for (i, l) in lines {
        if trim_end(l) == SIGNATURE_BEGIN {
            return Ok((Cow::Owned(body), first));
        }
        let l = match l.strip_prefix(b"- ") {
            Some(rest) => rest,
            None if l.first() == Some(&b'-') => {
                return Err(format!(
                    "line {}: a '-' that is not dash-escaped (\"- \")",
                    i + 1
                ));
            }
            None => l,
        };
        body.extend_from_slice(l);
        body.push(b'\n');
    }
    Err("clearsigned, but no -----BEGIN PGP SIGNATURE----- after the text".into())
}

fn trim_end(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    &line[..end]
}

/// `path` as a path inside the archive: a leading `./` (flat repositories, installer
/// checksum lists) is dropped; empty, absolute, `..` and NUL are refused, since the path
/// came from the network and would otherwise name a file outside the mirror.
pub(crate) fn relative_path(path: &str) -> Result<&str, String> {
    let mut p = path;
    while let Some(rest) = p.strip_prefix("./") {
        p = rest;
    }
    if p.is_empty() {
        Err(format!("empty path {path:?}"))
    } else if p.starts_with('/') {
        Err(format!("absolute path {path:?}"))
    } else if p.split('/').any(|c| c == "..") {
        Err(format!("path {path:?} has a '..' component"))
    } else if p.contains('\0') {
        Err(format!("path {path:?} has a NUL byte"))
    } else {
        Ok(p)
    }
}

/// A decimal size: ASCII digits only (no sign, no blanks), and None on overflow.
pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A SHA-256 in hex, lower-cased; None unless it is 64 hex digits.
pub(crate) fn sha256_hex(s: &str) -> Option<String> {
    (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_data_is_returned_as_is() {
        let (body, first) = clearsigned_body(b"Suite: sid\n").unwrap();
        assert!(matches!(body, Cow::Borrowed(_)));
        assert_eq!(&*body, b"Suite: sid\n");
        assert_eq!(first, 0);
        assert_eq!(&*clearsigned_body(b"").unwrap().0, b"");
    }

    #[test]
    fn clearsign_armour_is_stripped_and_dashes_unescaped() {
        let data = b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nA: b\n- -x\n- \n\
                     -----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n";
        let (body, first) = clearsigned_body(data).unwrap();
        assert_eq!(&*body, b"A: b\n-x\n\n");
        assert_eq!(first, 3);
        // CRLF line ends are tolerated around the armour lines.
        let data = b"-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\nA: b\n\
                     -----BEGIN PGP SIGNATURE-----\r\n";
        assert_eq!(&*clearsigned_body(data).unwrap().0, b"A: b\n");
    }

    #[test]
    fn broken_armour_is_refused() {
        let no_blank = b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n";
        assert!(clearsigned_body(no_blank)
            .unwrap_err()
            .contains("no blank line"));
        let bad_header = b"-----BEGIN PGP SIGNED MESSAGE-----\nHash SHA512\n\nA: b\n";
        assert!(clearsigned_body(bad_header).unwrap_err().contains("line 2"));
        let no_sig = b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nA: b\n";
        assert!(clearsigned_body(no_sig)
            .unwrap_err()
            .contains("no -----BEGIN PGP SIGNATURE"));
        let unescaped = b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nA: b\n\
                          -----BEGIN PGP SIGNED MESSAGE-----\n-----BEGIN PGP SIGNATURE-----\n";
        assert!(clearsigned_body(unescaped).unwrap_err().contains("line 5"));
    }

    #[test]
    fn relative_paths() {
        assert_eq!(relative_path("pool/main/h/x.deb"), Ok("pool/main/h/x.deb"));
        assert_eq!(relative_path("./x.deb"), Ok("x.deb"));
        assert_eq!(relative_path("./.hidden"), Ok(".hidden"));
        assert_eq!(relative_path("a..b/c.."), Ok("a..b/c.."));
        for bad in [
            "",
            "./",
            "/etc/passwd",
            ".//etc/passwd",
            "..",
            "a/../../b",
            "a/..",
            "a\0b",
        ] {
            assert!(relative_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn numbers_and_hashes() {
        assert_eq!(parse_u64("0"), Some(0));
        assert_eq!(parse_u64("18446744073709551615"), Some(u64::MAX));
        for bad in ["", "+1", "-1", " 1", "1 ", "1e3", "18446744073709551616"] {
            assert_eq!(parse_u64(bad), None, "{bad:?}");
        }
        let h = "AB".repeat(32);
        assert_eq!(sha256_hex(&h), Some("ab".repeat(32)));
        assert_eq!(sha256_hex(&h[1..]), None);
        assert_eq!(sha256_hex(&"g".repeat(64)), None);
        for at in [0, 15, 16, 40, 63] {
            let mut bad = "a".repeat(64).into_bytes();
            bad[at] = b'+';
            assert_eq!(
                sha256_hex(std::str::from_utf8(&bad).unwrap()),
                None,
                "+ at {at}"
            );
        }
        // 64 bytes, but not 64 ASCII characters.
        assert_eq!(
            sha256_hex(&format!("{}é{}", "a".repeat(15), "a".repeat(47))),
            None
        );
    }
}
