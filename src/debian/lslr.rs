//! `ls -lR` listings (the archive's `ls-lR.gz`), read to tell which files changed: a
//! listing is the one picture of a whole archive that costs one download, where the
//! indices leave out everything outside pool/ and dists/.
//!
//! Only GNU ls in the C locale is read (month names in English, literal names), as
//! `cd TOP && TZ=UTC LC_ALL=C ls -lR` writes it, in any of the default, `iso`,
//! `long-iso` and `full-iso` time styles. The time is kept as text: it is only compared
//! with a later listing's, so parsing it into a date would buy nothing and would tie the
//! parser to one style. Names are bytes, kept exactly (spaces included): the key must
//! match the file's real name. A path that would leave the listing's top (an absolute or
//! `..` section header, a `/` in a name) is an error, since the listing comes from the
//! network.

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
///
/// Details: a section header `./dists:` and `dists:` both mean `dists`, `.:` the top; the
/// `stamp` has its runs of spaces collapsed (`Dec 7 03:11`); a device's size is 0 (ls
/// shows its numbers instead); `.` and `..` entries (`ls -a`) are skipped; a path listed
/// twice keeps its last entry. A listing that starts with `total N` and no header (plain
/// `ls -l`) is taken as the top's.
pub fn parse(data: &[u8]) -> Result<BTreeMap<Vec<u8>, Entry>, String> {
    let mut entries = BTreeMap::new();
    let text = data.strip_suffix(b"\n").unwrap_or(data);
    // The directory of the section being read; None where a header must come (at the
    // start and after a blank line).
    let mut dir: Option<Vec<u8>> = None;
    let mut after_header = false;
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        if line.is_empty() {
            dir = None;
            continue;
        }
        let Some(d) = &dir else {
            if i == 0 && line.starts_with(b"total ") {
                dir = Some(Vec::new());
            } else {
                dir = Some(header(line).map_err(|e| format!("line {n}: {e}"))?);
                after_header = true;
            }
            continue;
        };
        if std::mem::take(&mut after_header) && line.starts_with(b"total ") {
            continue;
        }
        let (name, entry) = parse_entry(line).map_err(|e| format!("line {n}: {e}"))?;
        if name == b"." || name == b".." {
            continue;
        }
        let mut key = Vec::with_capacity(d.len() + 1 + name.len());
        key.extend_from_slice(d);
        if !d.is_empty() {
            key.push(b'/');
        }
        key.extend_from_slice(name);
        entries.insert(key, entry);
    }
    Ok(entries)
}

/// `./dists/sid:` (or `dists/sid:`) as `dists/sid`; `.:` as the top, empty.
fn header(line: &[u8]) -> Result<Vec<u8>, String> {
    let Some(mut d) = line.strip_suffix(b":") else {
        return Err(format!(
            "expected a directory header (\"DIR:\"), found {:?}",
            lossy(line)
        ));
    };
    while let Some(rest) = d.strip_prefix(b"./") {
        d = rest;
    }
    if d == b"." {
        d = b"";
    }
    while let Some(rest) = d.strip_suffix(b"/").filter(|r| !r.is_empty()) {
        d = rest;
    }
    if d.first() == Some(&b'/') {
        Err(format!(
            "the directory header {:?} is an absolute path",
            lossy(line)
        ))
    } else if d.split(|&b| b == b'/').any(|c| c == b"..") {
        Err(format!(
            "the directory header {:?} has a '..' component",
            lossy(line)
        ))
    } else {
        Ok(d.to_vec())
    }
}

/// The fields of a line, split at runs of spaces, as ls aligns its columns.
struct Fields<'a> {
    line: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    fn next(&mut self, what: &str) -> Result<&'a [u8], String> {
        let line = self.line;
        while line.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
        let start = self.pos;
        while line.get(self.pos).is_some_and(|&b| b != b' ') {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(format!("not an `ls -l` entry: no {what}"));
        }
        Ok(&line[start..self.pos])
    }
}

fn parse_entry(line: &[u8]) -> Result<(&[u8], Entry), String> {
    let mut f = Fields { line, pos: 0 };
    let mode = f.next("mode")?;
    if !is_mode(mode) {
        return Err(format!(
            "not an `ls -l` entry: {:?} is no mode",
            lossy(mode)
        ));
    }
    let kind = mode[0];
    let links = f.next("link count")?;
    if !all_digits(links) {
        return Err(format!("the link count {:?} is not a number", lossy(links)));
    }
    f.next("owner")?;
    f.next("group")?;
    let size = f.next("size")?;
    let size = match size.strip_suffix(b",") {
        // A device: "major, minor" where the size would be.
        Some(major) if matches!(kind, b'c' | b'b') => {
            let minor = f.next("minor device number")?;
            if !all_digits(major) || !all_digits(minor) {
                return Err(format!(
                    "the device numbers {:?}, {:?} are not numbers",
                    lossy(major),
                    lossy(minor)
                ));
            }
            0
        }
        _ => number(size).ok_or_else(|| format!("the size {:?} is not a number", lossy(size)))?,
    };
    let (stamp, name_at) = stamp(&mut f)?;
    let name = line
        .get(name_at..)
        .filter(|n| !n.is_empty())
        .ok_or("no name after the time")?;
    let (name, target) = if kind == b'l' {
        let arrow = find(name, b" -> ").ok_or("a symlink without \" -> target\"")?;
        (&name[..arrow], Some(name[arrow + 4..].to_vec()))
    } else {
        (name, None)
    };
    if name.is_empty() {
        return Err("an empty name".into());
    }
    if name.contains(&b'/') {
        return Err(format!("the name {:?} has a '/'", lossy(name)));
    }
    Ok((
        name,
        Entry {
            kind,
            size,
            stamp,
            target,
        },
    ))
}

/// The time, spaces collapsed, and where the name starts. The style shows in the first
/// field: a month name (default: `Dec  7 03:11`, `Sep  9  2001`), `YYYY-MM-DD` followed
/// by `HH:MM` (long-iso) or `HH:MM:SS.N +ZZZZ` (full-iso) or by a second space (iso, an
/// old file: `2001-09-09  name`), or `MM-DD HH:MM` (iso, a recent file).
fn stamp(f: &mut Fields) -> Result<(String, usize), String> {
    let line = f.line;
    let t1 = f.next("time")?;
    let start = f.pos - t1.len();
    let bad = |end: usize| {
        let shown = lossy(&line[start..end]);
        format!("{shown:?} is no time that ls writes")
    };
    let mut parts = [t1, b"", b""];
    let name_at = if t1.len() == 3 && t1.iter().all(u8::is_ascii_alphabetic) {
        let day = f.next("day")?;
        let t3 = f.next("time or year")?;
        if !(matches!(day.len(), 1 | 2) && all_digits(day)) || !(is_hh_mm(t3) || all_digits(t3)) {
            return Err(bad(f.pos));
        }
        parts[1] = day;
        parts[2] = t3;
        f.pos + 1
    } else if is_date(t1) {
        let after = f.pos;
        if line.get(after) == Some(&b' ') && line.get(after + 1) == Some(&b' ') {
            after + 2
        } else {
            let t2 = f.next("time")?;
            parts[1] = t2;
            if is_hh_mm(t2) {
            } else if is_full_time(t2) {
                let zone = f.next("time zone")?;
                if !is_zone(zone) {
                    return Err(bad(f.pos));
                }
                parts[2] = zone;
            } else {
                return Err(bad(f.pos));
            }
            f.pos + 1
        }
    } else if t1.len() == 5 && t1[2] == b'-' && all_digits(&t1[..2]) && all_digits(&t1[3..]) {
        let t2 = f.next("time")?;
        if !is_hh_mm(t2) {
            return Err(bad(f.pos));
        }
        parts[1] = t2;
        f.pos + 1
    } else {
        return Err(format!("{:?} starts no time that ls writes", lossy(t1)));
    };
    if line.get(name_at - 1) != Some(&b' ') {
        return Err("no name after the time".into());
    }
    let mut stamp = String::with_capacity(32);
    for p in parts.iter().filter(|p| !p.is_empty()) {
        if !stamp.is_empty() {
            stamp.push(' ');
        }
        // Every part was checked to be ASCII above; lossy only to need no unwrap.
        stamp.push_str(&String::from_utf8_lossy(p));
    }
    Ok((stamp, name_at))
}

/// `drwxr-xr-x`, with GNU's `+` (ACL) or `.` (SELinux context) after it if so.
fn is_mode(m: &[u8]) -> bool {
    let perms = match m.len() {
        10 => &m[1..],
        11 if matches!(m[10], b'+' | b'.') => &m[1..10],
        _ => return false,
    };
    // The file type letters of GNU ls (filetype_letter in ls.c), but its '?'.
    b"-bcdDlpsw".contains(&m[0]) && perms.iter().all(|b| b"rwxsStT-".contains(b))
}

fn all_digits(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_digit)
}

/// A decimal number, None when it is not one or does not fit.
fn number(s: &[u8]) -> Option<u64> {
    if !all_digits(s) {
        return None;
    }
    s.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// `HH:MM`.
fn is_hh_mm(t: &[u8]) -> bool {
    t.len() == 5 && t[2] == b':' && all_digits(&t[..2]) && all_digits(&t[3..])
}

/// `YYYY-MM-DD`.
fn is_date(t: &[u8]) -> bool {
    t.len() == 10
        && t[4] == b'-'
        && t[7] == b'-'
        && all_digits(&t[..4])
        && all_digits(&t[5..7])
        && all_digits(&t[8..])
}

/// `HH:MM:SS` and a fraction, as full-iso writes it.
fn is_full_time(t: &[u8]) -> bool {
    t.len() >= 8
        && is_hh_mm(&t[..5])
        && t[5] == b':'
        && t[6..].iter().all(|b| b.is_ascii_digit() || *b == b'.')
}

/// `+0000`.
fn is_zone(t: &[u8]) -> bool {
    t.len() == 5 && matches!(t[0], b'+' | b'-') && all_digits(&t[1..])
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Bytes of the listing as an error message shows them: lossy, and cut short (a garbage
/// "line" may be megabytes).
fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    const MAX: usize = 100;
    match b.get(..MAX) {
        Some(head) if b.len() > MAX => format!("{}...", String::from_utf8_lossy(head)).into(),
        _ => String::from_utf8_lossy(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::process::Command;
    use std::time::{Duration, SystemTime};

    fn e(kind: u8, size: u64, stamp: &str, target: Option<&[u8]>) -> Entry {
        Entry {
            kind,
            size,
            stamp: stamp.into(),
            target: target.map(<[u8]>::to_vec),
        }
    }

    fn get<'a>(m: &'a BTreeMap<Vec<u8>, Entry>, k: &[u8]) -> &'a Entry {
        m.get(k).unwrap_or_else(|| {
            panic!(
                "no {:?} in {:?}",
                lossy(k),
                m.keys().map(|k| lossy(k)).collect::<Vec<_>>()
            )
        })
    }

    #[test]
    fn default_style() {
        let data = b".:\ntotal 12\n\
            drwxr-xr-x 3 root root 4096 Dec  7 03:11 dists\n\
            -rw-r--r-- 1 1000 1000 1234 Sep  9  2001 README\n\
            lrwxrwxrwx 1 root root    6 Dec  7 03:11 stable -> trixie\n\
            -rw-r--r--+ 1 root root   0 Dec 17 13:11 acl\n\
            -rw-r--r--. 1 root root   0 Dec 17 13:11 selinux\n\
            -rw-r--r-- 1 root root  2 Dec  7 03:11  two  spaces \n\
            -rw-r--r-- 1 root root  2 Dec  7 03:11 not -> a link\n\
            \n./dists:\ntotal 4\n\
            drwxr-xr-x 2 root root 4096 Dec  7 03:11 sid\n\
            \n./dists/sid:\ntotal 0\n\
            -rw-r--r-- 1 root root 18446744073709551615 Dec  7 03:11 Release\n";
        let m = parse(data).unwrap();
        assert_eq!(m.len(), 9);
        assert_eq!(get(&m, b"dists"), &e(b'd', 4096, "Dec 7 03:11", None));
        assert_eq!(get(&m, b"README"), &e(b'-', 1234, "Sep 9 2001", None));
        assert_eq!(
            get(&m, b"stable"),
            &e(b'l', 6, "Dec 7 03:11", Some(b"trixie"))
        );
        assert_eq!(get(&m, b"acl"), &e(b'-', 0, "Dec 17 13:11", None));
        assert_eq!(get(&m, b"selinux").kind, b'-');
        assert_eq!(get(&m, b" two  spaces ").size, 2);
        assert_eq!(get(&m, b"not -> a link").target, None);
        assert_eq!(get(&m, b"dists/sid").kind, b'd');
        assert_eq!(get(&m, b"dists/sid/Release").size, u64::MAX);
        assert!(!m.contains_key(&b""[..]) && !m.contains_key(&b"."[..]));
    }

    #[test]
    fn iso_styles() {
        let data = b".:\ntotal 0\n\
            -rw-r--r-- 1 root root 5 2001-09-09 01:46 long\n\
            -rw-r--r-- 1 root root 5 2026-12-07 03:11:05.123456789 +0000 full\n\
            lrwxrwxrwx 1 root root 1 2026-12-07 03:11:05.123456789 -0130 l -> a b\n\
            -rw-r--r-- 1 root root 5 2001-09-09  iso-old\n\
            -rw-r--r-- 1 root root 5 2001-09-09  03:11\n\
            -rw-r--r-- 1 root root 5 2001-09-09   lead\n\
            -rw-r--r-- 1 root root 5 12-07 03:11 iso-recent\n";
        let m = parse(data).unwrap();
        assert_eq!(get(&m, b"long").stamp, "2001-09-09 01:46");
        assert_eq!(
            get(&m, b"full").stamp,
            "2026-12-07 03:11:05.123456789 +0000"
        );
        assert_eq!(
            get(&m, b"l"),
            &e(b'l', 1, "2026-12-07 03:11:05.123456789 -0130", Some(b"a b"))
        );
        assert_eq!(get(&m, b"iso-old").stamp, "2001-09-09");
        // iso's two spaces before an old file's name tell it from long-iso's time.
        assert_eq!(get(&m, b"03:11").stamp, "2001-09-09");
        assert_eq!(get(&m, b" lead").stamp, "2001-09-09");
        assert_eq!(get(&m, b"iso-recent").stamp, "12-07 03:11");
        assert_eq!(m.len(), 7);
    }

    #[test]
    fn headers_devices_and_dot_entries() {
        // Headers without "./", as `ls -lR dists` writes them; no total line (an
        // unreadable directory); `ls -a`'s . and ..; devices; a name that is not UTF-8.
        let data = b"dists:\n\
            drwxr-xr-x 2 root root 4096 Dec  7 03:11 .\n\
            drwxr-xr-x 2 root root 4096 Dec  7 03:11 ..\n\
            drwxr-xr-x 2 root root 4096 Dec  7 03:11 sid\n\
            \n\ndists/sid/:\ntotal 0\n\
            crw-rw-rw- 1 root root 1, 3 Dec  7 03:11 null\n\
            brw-rw---- 1 root disk 259,   0 Dec  7 03:11 nvme0n1\n\
            prw-r--r-- 1 root root 0 Dec  7 03:11 fifo\n\
            srwxrwxrwx 1 root root 0 Dec  7 03:11 sock\n\
            -rw-r--r-- 1 root root 0 Dec  7 03:11 caf\xe9\n";
        let m = parse(data).unwrap();
        let keys: Vec<&[u8]> = m.keys().map(Vec::as_slice).collect();
        assert_eq!(
            keys,
            [
                &b"dists/sid"[..],
                b"dists/sid/caf\xe9",
                b"dists/sid/fifo",
                b"dists/sid/null",
                b"dists/sid/nvme0n1",
                b"dists/sid/sock",
            ]
        );
        assert_eq!(get(&m, b"dists/sid/null"), &e(b'c', 0, "Dec 7 03:11", None));
        assert_eq!(get(&m, b"dists/sid/nvme0n1").kind, b'b');
        assert_eq!(get(&m, b"dists/sid/fifo").kind, b'p');
        // The same listing with "./" headers gives the same paths.
        let dotted = [&b"./"[..], &data[..]].concat();
        let dotted = String::from_utf8_lossy(&dotted).replace("\ndists/sid/:", "\n./dists/sid:");
        let keys2: Vec<Vec<u8>> = parse(dotted.as_bytes()).unwrap().into_keys().collect();
        assert_eq!(keys2.len(), 6);
        assert!(keys2.contains(&b"dists/sid/sock".to_vec()));
        // Plain `ls -l`: the top's entries, no header.
        let m = parse(b"total 4\n-rw-r--r-- 1 root root 0 Dec  7 03:11 x\n").unwrap();
        assert!(m.contains_key(&b"x"[..]));
        assert!(parse(b"").unwrap().is_empty());
        assert!(parse(b".:\ntotal 0\n").unwrap().is_empty());
    }

    fn err(data: &str) -> String {
        parse(data.as_bytes()).unwrap_err()
    }

    #[test]
    fn errors_name_the_line() {
        let ok = "-rw-r--r-- 1 root root 5 Dec  7 03:11 ok";
        for (bad, what) in [
            (
                "-rw-r--r-- 1 root root 4.0K Dec  7 03:11 x",
                "size \"4.0K\"",
            ),
            (
                "-rw-r--r-- 1 root root 18446744073709551616 Dec  7 03:11 x",
                "not a number",
            ),
            ("-rw-r--r-- 1 root root 1, 3 Dec  7 03:11 x", "size \"1,\""),
            (
                "crw-r--r-- 1 root root 1, x Dec  7 03:11 x",
                "device numbers",
            ),
            ("-rw-r--r-- x root root 5 Dec  7 03:11 x", "link count"),
            ("-rw-r--r-Z 1 root root 5 Dec  7 03:11 x", "no mode"),
            ("?????????? 1 root root 5 Dec  7 03:11 x", "no mode"),
            ("-rw-r--r--  1 root root", "no size"),
            ("-rw-r--r-- 1 root root 5 Dec  7 03:11", "no name"),
            ("-rw-r--r-- 1 root root 5 Dec  7 03:11 ", "no name"),
            ("-rw-r--r-- 1 root root 5 Dec  7 3:11 x", "no time"),
            ("-rw-r--r-- 1 root root 5 Dec 123 03:11 x", "no time"),
            ("-rw-r--r-- 1 root root 5 7 Dec 03:11 x", "no time"),
            ("-rw-r--r-- 1 root root 5 2026-12-07 3:11 x", "no time"),
            (
                "-rw-r--r-- 1 root root 5 2026-12-07 03:11:05.1 UTC x",
                "no time",
            ),
            (
                "-rw-r--r-- 1 root root 5 2026-12-07 03:11:05.1",
                "no time zone",
            ),
            ("-rw-r--r-- 1 root root 5 12-07 x", "no time"),
            ("lrwxrwxrwx 1 root root 5 Dec  7 03:11 x->y", "without"),
            ("lrwxrwxrwx 1 root root 5 Dec  7 03:11  -> y", "empty name"),
            ("-rw-r--r-- 1 root root 5 Dec  7 03:11 a/b", "'/'"),
            ("garbage", "no mode"),
            ("   ", "no mode"),
        ] {
            let e = err(&format!(".:\ntotal 0\n{ok}\n{bad}\n{ok}\n"));
            assert!(
                e.starts_with("line 4: ") && e.contains(what),
                "{bad:?}: {e}"
            );
        }
        for (bad, what) in [
            ("./dists", "directory header"),
            ("/srv/mirror:", "absolute"),
            ("./../x:", "'..'"),
            ("dists/../..:", "'..'"),
        ] {
            let e = err(&format!(".:\n{ok}\n\n{bad}\n{ok}\n"));
            assert!(
                e.starts_with("line 4: ") && e.contains(what),
                "{bad:?}: {e}"
            );
        }
        assert!(err(&format!("{ok}\n")).starts_with("line 1: expected a directory header"));
        let long = format!(".:\n{}\n", "x".repeat(10_000));
        assert!(
            err(&long).len() < 300,
            "a long bad line is cut short in the message"
        );
    }

    /// The real ls, on a tree with what a mirror has and some names that are hard to
    /// split: spaces (leading, doubled), " -> " in a file's name, bytes that are no UTF-8.
    #[test]
    fn real_ls_output() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path();
        let write = |p: &str, n: usize| std::fs::write(top.join(p), vec![b'x'; n]).unwrap();
        std::fs::create_dir_all(top.join("dists/sid/main")).unwrap();
        std::fs::create_dir(top.join("empty dir")).unwrap();
        write("README", 5);
        write("dists/sid/Release", 1234);
        write("dists/sid/main/Packages", 0);
        write("with space", 3);
        write("  lead", 4);
        write("x -> y", 6);
        std::fs::write(top.join(std::ffi::OsStr::from_bytes(b"caf\xe9")), b"1").unwrap();
        std::os::unix::fs::symlink("sid", top.join("dists/unstable")).unwrap();
        std::os::unix::fs::symlink("no such/target", top.join("dangling")).unwrap();
        // An old time, for the default style's year form.
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        std::fs::File::options()
            .write(true)
            .open(top.join("README"))
            .unwrap()
            .set_modified(old)
            .unwrap();

        // (path, kind, size, target)
        type Want<'a> = (&'a [u8], u8, u64, Option<&'a [u8]>);
        let expected: &[Want] = &[
            (b"  lead", b'-', 4, None),
            (b"README", b'-', 5, None),
            (b"caf\xe9", b'-', 1, None),
            (b"dangling", b'l', 14, Some(b"no such/target")),
            (b"dists", b'd', 0, None),
            (b"dists/sid", b'd', 0, None),
            (b"dists/sid/Release", b'-', 1234, None),
            (b"dists/sid/main", b'd', 0, None),
            (b"dists/sid/main/Packages", b'-', 0, None),
            (b"dists/unstable", b'l', 3, Some(b"sid")),
            (b"empty dir", b'd', 0, None),
            (b"with space", b'-', 3, None),
            (b"x -> y", b'-', 6, None),
        ];
        for (style, readme_stamp) in [
            (None, "Sep 9 2001"),
            (
                Some("--time-style=full-iso"),
                "2001-09-09 01:46:40.000000000 +0000",
            ),
            (Some("--time-style=long-iso"), "2001-09-09 01:46"),
            (Some("--time-style=iso"), "2001-09-09"),
        ] {
            let out = ls(top, style);
            let m = parse(&out).unwrap_or_else(|e| panic!("{style:?}: {e}\n{}", lossy(&out)));
            let got: Vec<_> = m
                .iter()
                .map(|(k, e)| (k.as_slice(), e.kind, e.target.as_deref()))
                .collect();
            let want: Vec<_> = expected
                .iter()
                .map(|&(k, kind, _, t)| (k, kind, t))
                .collect();
            assert_eq!(got, want, "{style:?}:\n{}", lossy(&out));
            for &(k, kind, size, _) in expected {
                if kind != b'd' {
                    assert_eq!(m[k].size, size, "{style:?} {}", lossy(k));
                }
            }
            assert_eq!(m[&b"README"[..]].stamp, readme_stamp, "{style:?}");
            assert!(!m[&b"with space"[..]].stamp.contains("  "));
        }
    }

    fn ls(top: &Path, style: Option<&str>) -> Vec<u8> {
        let out = Command::new("ls")
            .arg("-lR")
            .args(style)
            .current_dir(top)
            .env("TZ", "UTC")
            .env("LC_ALL", "C")
            .env("QUOTING_STYLE", "literal")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", lossy(&out.stderr));
        out.stdout
    }

    #[test]
    fn a_large_listing() {
        use std::io::Write;
        let (dirs, per_dir) = (1000, 200);
        let mut data = Vec::with_capacity(dirs * per_dir * 70);
        data.extend_from_slice(b".:\ntotal 1\ndrwxr-xr-x 1002 root root 4096 Dec  7 03:11 pool\n");
        for d in 0..dirs {
            write!(data, "\n./pool/d{d}:\ntotal 1234\n").unwrap();
            for f in 0..per_dir {
                writeln!(
                    data,
                    "-rw-r--r-- 1 root root {f:>8} Dec  7 03:11 pkg{f}_1.0-1_amd64.deb"
                )
                .unwrap();
            }
        }
        let start = std::time::Instant::now();
        let m = parse(&data).unwrap();
        let took = start.elapsed();
        assert_eq!(m.len(), 1 + dirs * per_dir);
        assert_eq!(m[&b"pool/d999/pkg199_1.0-1_amd64.deb"[..]].size, 199);
        // Generous, for a debug build on a busy machine.
        assert!(took.as_secs() < 10, "{took:?}");
        eprintln!("{} lines in {took:?}", dirs * (per_dir + 3) + 3);
    }
}
