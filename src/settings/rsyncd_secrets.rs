//! The rsync daemon's secrets file (`secrets file =` in rsyncd.conf): one `NAME:password`
//! line per user, read the way rsync reads it (a `#` in the first column is a comment, the
//! name is everything before the first `:`, a trailing CR is not part of the password).
//!
//! Edits keep every other byte of the file as it was: lines archvsync did not write (a
//! pull-only mirror's password, comments) are the operator's.

use std::io::Read;
use std::path::Path;

/// Generated passwords: letters and digits only, so they survive any quoting in
/// ftpsync.conf and never contain rsync's `:`; 24 of 62 symbols is about 143 bits.
const PASSWORD_LEN: usize = 24;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based.
    pub line: usize,
    pub user: String,
    pub password: String,
}

/// The file's bytes, or empty when it does not exist yet.
pub fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        other => other,
    }
}

pub fn parse(text: &[u8]) -> Vec<Entry> {
    lines(text)
        .enumerate()
        .filter_map(|(i, l)| {
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            if l.first() == Some(&b'#') {
                return None;
            }
            let colon = l.iter().position(|b| *b == b':')?;
            Some(Entry {
                line: i + 1,
                user: String::from_utf8_lossy(&l[..colon]).into_owned(),
                password: String::from_utf8_lossy(&l[colon + 1..]).into_owned(),
            })
        })
        .collect()
}

pub fn find<'a>(entries: &'a [Entry], user: &str) -> Option<&'a Entry> {
    entries.iter().find(|e| e.user == user)
}

/// `text` with `user:password` appended as a line of its own.
pub fn with_added(text: &[u8], user: &str, password: &str) -> Vec<u8> {
    let mut out = text.to_vec();
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(format!("{user}:{password}\n").as_bytes());
    out
}

/// `text` without the lines for `user`, and how many there were.
pub fn without(text: &[u8], user: &str) -> (Vec<u8>, usize) {
    let doomed: Vec<usize> = parse(text)
        .iter()
        .filter(|e| e.user == user)
        .map(|e| e.line)
        .collect();
    let mut out = Vec::with_capacity(text.len());
    for (i, l) in text.split_inclusive(|b| *b == b'\n').enumerate() {
        if !doomed.contains(&(i + 1)) {
            out.extend_from_slice(l);
        }
    }
    (out, doomed.len())
}

fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split_inclusive(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\n").unwrap_or(l))
}

/// A new random password (from /dev/urandom, without modulo bias).
pub fn generate_password() -> std::io::Result<String> {
    let mut urandom = std::fs::File::open("/dev/urandom")?;
    let mut out = String::with_capacity(PASSWORD_LEN);
    let mut buf = [0u8; 64];
    // 248 = 4 * 62: bytes at or above it are dropped so every symbol is equally likely.
    while out.len() < PASSWORD_LEN {
        urandom.read_exact(&mut buf)?;
        for b in buf.iter().filter(|b| **b < 248) {
            if out.len() == PASSWORD_LEN {
                break;
            }
            out.push(char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_rsync() {
        let text = b"# comment\n eu:x\nus:pa:ss\r\nnocolon\n@grp:g\nlast:y";
        let e = parse(text);
        let got: Vec<(usize, &str, &str)> = e
            .iter()
            .map(|e| (e.line, e.user.as_str(), e.password.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, " eu", "x"),
                (3, "us", "pa:ss"),
                (5, "@grp", "g"),
                (6, "last", "y")
            ]
        );
        assert!(find(&e, "us").is_some() && find(&e, "eu").is_none());
    }

    #[test]
    fn edits_keep_every_other_byte() {
        let text = b"# mine\nold:pw\r\npull-only:zz";
        let added = with_added(text, "eu", "secret");
        assert_eq!(added, b"# mine\nold:pw\r\npull-only:zz\neu:secret\n");
        let (removed, n) = without(&added, "old");
        assert_eq!(
            (removed.as_slice(), n),
            (&b"# mine\npull-only:zz\neu:secret\n"[..], 1)
        );
        let (same, n) = without(&removed, "nobody");
        assert_eq!((same, n), (removed.clone(), 0));
        assert_eq!(with_added(b"", "a", "b"), b"a:b\n");
    }

    #[test]
    fn passwords_are_long_random_and_plain() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert_eq!(a.len(), PASSWORD_LEN);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()), "{a}");
    }
}
