//! The journal file: what a mirror publishes at [`NAME`] inside its tree, and keeps a private
//! copy of. Text, one record a line, so that an operator can read it and rsync can send
//! only what changed in it since the downstream's last copy:
//!
//! ```text
//! archvsync-journal 1
//! mirror MIRRORNAME TRACEHOST
//! base ID
//! entry FROM TO UNIXTIME N
//! K PATH                      (N lines: K is f, l, d or x; PATH escaped, see escape)
//! ...
//! end HEAD ENTRIES SHA256
//! ```
//!
//! Every ID names one state of the publisher's tree: a random 128-bit value drawn when a
//! sync changed the tree (two syncs can share an archive serial, never an ID). `base` is
//! the oldest state the journal leads from; the entries form one chain from it (each
//! entry's FROM is the TO before it) to HEAD, the state the tree is in. The `end` line
//! counts the entries and carries the SHA-256 of every byte before it: a file cut short,
//! or changed on the way, is refused as a whole.

use ring::digest;
use std::collections::BTreeMap;

/// Where a mirror publishes its journal, relative to TO.
pub use crate::common::trace::JOURNAL as NAME;

const MAGIC: &str = "archvsync-journal 1";

/// What happened to a path, as far as a downstream needs to know: whether it is still there
/// and whether it is a directory (a path below a non-directory cannot exist).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A regular file, device or special file was created, replaced or changed.
    File,
    Link,
    Dir,
    /// The path was deleted.
    Gone,
}

impl Kind {
    pub fn code(self) -> u8 {
        match self {
            Kind::File => b'f',
            Kind::Link => b'l',
            Kind::Dir => b'd',
            Kind::Gone => b'x',
        }
    }

    pub fn from_code(c: u8) -> Option<Kind> {
        Some(match c {
            b'f' => Kind::File,
            b'l' => Kind::Link,
            b'd' => Kind::Dir,
            b'x' => Kind::Gone,
            _ => return None,
        })
    }
}

/// Paths (bytes, relative to TO) with the last thing that happened to each.
pub type Changes = BTreeMap<Vec<u8>, Kind>;

/// One successful sync: the tree went from state `from` to state `to` by changing `paths`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub from: String,
    pub to: String,
    /// Unix seconds when it was published.
    pub time: i64,
    pub paths: Changes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journal {
    /// The publisher's MIRRORNAME and TRACEHOST, as in its `_hierarchy` line.
    pub mirror: String,
    pub host: String,
    pub base: String,
    pub entries: Vec<Entry>,
}

impl Journal {
    /// A journal without history: the tree is in state `head`, nothing is known before it.
    pub fn new(mirror: &str, host: &str, head: &str) -> Journal {
        Journal {
            mirror: mirror.to_string(),
            host: host.to_string(),
            base: head.to_string(),
            entries: Vec::new(),
        }
    }

    pub fn head(&self) -> &str {
        self.entries.last().map_or(&self.base, |e| &e.to)
    }

    /// The entries after state `id`, oldest first: empty when `id` is the head, `None` when
    /// the journal does not lead from `id` (older than its base, or never one of its states).
    pub fn since(&self, id: &str) -> Option<&[Entry]> {
        if self.head() == id {
            return Some(&[]);
        }
        let i = self.entries.iter().position(|e| e.from == id)?;
        Some(&self.entries[i..])
    }

    /// Add a sync that led from the head to `to`.
    pub fn push(&mut self, to: &str, time: i64, paths: Changes) {
        let from = self.head().to_string();
        self.entries.push(Entry {
            from,
            to: to.to_string(),
            time,
            paths,
        });
    }

    /// Drop the oldest entries until at most `max_entries` are left and the file takes at
    /// most `max_bytes`; the base moves up with them.
    pub fn trim(&mut self, max_entries: usize, max_bytes: usize) {
        let mut size = self.render().len();
        let mut drop = 0;
        while drop < self.entries.len()
            && (self.entries.len() - drop > max_entries || size > max_bytes)
        {
            size -= entry_len(&self.entries[drop]);
            drop += 1;
        }
        if drop > 0 {
            self.base = self.entries[drop - 1].to.clone();
            self.entries.drain(..drop);
        }
    }

    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(
            format!(
                "{MAGIC}\nmirror {} {}\nbase {}\n",
                self.mirror, self.host, self.base
            )
            .as_bytes(),
        );
        for e in &self.entries {
            render_entry(e, &mut out);
        }
        let sum = hex(digest::digest(&digest::SHA256, &out).as_ref());
        out.extend_from_slice(
            format!("end {} {} {sum}\n", self.head(), self.entries.len()).as_bytes(),
        );
        out
    }

    /// Parse a journal, refusing anything that is not exactly what [`Journal::render`]
    /// writes: a wrong checksum or count, a broken chain, a path that could leave the tree.
    pub fn parse(data: &[u8]) -> Result<Journal, String> {
        let end_at = data
            .strip_suffix(b"\n")
            .and_then(|d| d.iter().rposition(|&b| b == b'\n'))
            .map(|i| i + 1)
            .ok_or("it does not end with an `end` line (cut short?)")?;
        let (body, end) = data.split_at(end_at);
        let end = std::str::from_utf8(end).map_err(|_| "its `end` line is not text")?;
        let end: Vec<&str> = end.trim_end_matches('\n').split(' ').collect();
        let [word, head, count, sum] = end[..] else {
            return Err("it does not end with an `end` line (cut short?)".into());
        };
        if word != "end" {
            return Err("it does not end with an `end` line (cut short?)".into());
        }
        if hex(digest::digest(&digest::SHA256, body).as_ref()) != sum {
            return Err("its checksum does not match (changed or cut short)".into());
        }
        let mut lines = body.split(|&b| b == b'\n');
        let mut next = |what: &str| -> Result<&[u8], String> {
            lines
                .next()
                .ok_or_else(|| format!("it ends where {what} should be"))
        };
        if next("the header")? != MAGIC.as_bytes() {
            return Err(format!("it does not start with `{MAGIC}`"));
        }
        let mirror_line = text(next("the mirror line")?)?;
        let w: Vec<&str> = mirror_line.split(' ').collect();
        let ["mirror", mirror, host] = w[..] else {
            return Err("its second line is not `mirror NAME HOST`".into());
        };
        let base = match text(next("the base line")?)?.split_once(' ') {
            Some(("base", id)) if is_id(id) => id.to_string(),
            _ => return Err("its third line is not `base ID`".into()),
        };
        let mut journal = Journal::new(mirror, host, &base);
        loop {
            let line = next("an entry")?;
            if line.is_empty() {
                // The split's last piece: the body ends with a newline.
                break;
            }
            let header = text(line)?;
            let w: Vec<&str> = header.split(' ').collect();
            let ["entry", from, to, time, n] = w[..] else {
                return Err(format!("`{}` is not an entry line", bounded(header)));
            };
            let (Ok(time), Ok(n)) = (time.parse::<i64>(), n.parse::<usize>()) else {
                return Err(format!("`{}` is not an entry line", bounded(header)));
            };
            if !is_id(from) || !is_id(to) {
                return Err(format!("`{}` has a malformed state id", bounded(header)));
            }
            if from != journal.head() {
                return Err(format!(
                    "entry {from} does not follow state {}: the chain is broken",
                    journal.head()
                ));
            }
            let mut paths = Changes::new();
            for _ in 0..n {
                let line = next("a path line")?;
                let (&k, rest) = line.split_first().ok_or("an empty path line")?;
                let kind = Kind::from_code(k)
                    .filter(|_| rest.first() == Some(&b' '))
                    .ok_or_else(|| format!("`{}` is not a path line", lossy(line)))?;
                let path = unescape(&rest[1..])
                    .ok_or_else(|| format!("`{}` is not a path line", lossy(line)))?;
                check_path(&path)?;
                if paths.insert(path, kind).is_some() {
                    return Err(format!("`{}` appears twice in one entry", lossy(line)));
                }
            }
            journal.entries.push(Entry {
                from: from.to_string(),
                to: to.to_string(),
                time,
                paths,
            });
        }
        if lines.next().is_some() {
            return Err("it has an empty line inside".into());
        }
        if count != journal.entries.len().to_string() || head != journal.head() {
            return Err("its `end` line does not match its entries".into());
        }
        Ok(journal)
    }
}

fn render_entry(e: &Entry, out: &mut Vec<u8>) {
    out.extend_from_slice(
        format!("entry {} {} {} {}\n", e.from, e.to, e.time, e.paths.len()).as_bytes(),
    );
    for (path, kind) in &e.paths {
        out.push(kind.code());
        out.push(b' ');
        escape_into(path, out);
        out.push(b'\n');
    }
}

fn entry_len(e: &Entry) -> usize {
    let mut v = Vec::new();
    render_entry(e, &mut v);
    v.len()
}

/// A fresh state id: 128 random bits from the system's generator, in hex.
pub fn new_id() -> std::io::Result<String> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| std::io::Error::other("the system's random generator failed"))?;
    Ok(hex(&b))
}

pub fn is_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// SHA-256 of `data`, in hex.
pub fn sha256(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

/// A path as one journal line holds it: valid UTF-8 as it is, except `\` (written `\\`) and
/// control characters (`\xHH`); bytes that are not UTF-8 as `\xHH` too. So any name — with
/// spaces, newlines, in any encoding — is one line, and the file stays text.
pub fn escape_into(path: &[u8], out: &mut Vec<u8>) {
    for chunk in path.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.extend_from_slice(b"\\\\"),
                c if c.is_control() && c.is_ascii() => {
                    out.extend_from_slice(format!("\\x{:02x}", c as u8).as_bytes())
                }
                c => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        for b in chunk.invalid() {
            out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
        }
    }
}

pub fn escape(path: &[u8]) -> String {
    let mut v = Vec::new();
    escape_into(path, &mut v);
    String::from_utf8_lossy(&v).into_owned()
}

/// The inverse of [`escape_into`]; `None` for anything it would not have written.
pub fn unescape(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'\\' => match s.get(i + 1)? {
                b'\\' => {
                    out.push(b'\\');
                    i += 2;
                }
                b'x' => {
                    let h = std::str::from_utf8(s.get(i + 2..i + 4)?).ok()?;
                    if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return None;
                    }
                    out.push(u8::from_str_radix(h, 16).ok()?);
                    i += 4;
                }
                _ => return None,
            },
            b if b < 0x20 || b == 0x7f => return None,
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

/// A path a journal may name: relative, inside the tree, no empty, `.` or `..` component,
/// no NUL (it separates the names rsync gets with `--from0`).
pub fn check_path(p: &[u8]) -> Result<(), String> {
    let bad = p.is_empty()
        || p.contains(&0)
        || p.split(|&b| b == b'/')
            .any(|c| c.is_empty() || c == b"." || c == b"..");
    if bad {
        return Err(format!(
            "it names the path `{}`, which is not inside the tree",
            escape(p)
        ));
    }
    Ok(())
}

fn text(b: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(b).map_err(|_| format!("`{}` is not text", lossy(b)))
}

fn lossy(b: &[u8]) -> String {
    bounded(&String::from_utf8_lossy(b))
}

fn bounded(s: &str) -> String {
    match s.char_indices().nth(120) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> String {
        format!("{n:032x}")
    }

    fn changes(list: &[(&[u8], Kind)]) -> Changes {
        list.iter().map(|(p, k)| (p.to_vec(), *k)).collect()
    }

    fn sample() -> Journal {
        let mut j = Journal::new("hub.example", "hubhost.example", &id(1));
        j.push(
            &id(2),
            1_800_000_000,
            changes(&[
                (b"pool/main/h/hello/hello_1_amd64.deb", Kind::File),
                (b"pool/main/h/hello", Kind::Dir),
                (b"dists/sid/Release", Kind::File),
                (b"a name with spaces", Kind::Gone),
                (b"new\nline\\and\xff\xfebytes", Kind::Link),
                ("caf\u{e9}/\u{263a}".as_bytes(), Kind::File),
            ]),
        );
        j.push(&id(3), 1_800_000_100, changes(&[(b"x", Kind::Gone)]));
        j
    }

    #[test]
    fn renders_and_parses_back() {
        let j = sample();
        let text = j.render();
        assert!(std::str::from_utf8(&text).is_ok(), "the file is text");
        let back = Journal::parse(&text).unwrap();
        assert_eq!(back, j);
        assert_eq!(back.head(), id(3));
        let s = String::from_utf8(text).unwrap();
        assert!(s.contains("l new\\x0aline\\\\and\\xff\\xfebytes\n"), "{s}");
        assert!(s.contains("x a name with spaces\n"), "{s}");
        assert!(s.contains("f caf\u{e9}/\u{263a}\n"), "{s}");
        assert!(s.starts_with("archvsync-journal 1\nmirror hub.example hubhost.example\nbase "));
    }

    #[test]
    fn since_finds_the_entries_after_a_state() {
        let j = sample();
        assert_eq!(j.since(&id(1)).unwrap().len(), 2);
        assert_eq!(j.since(&id(2)).unwrap().len(), 1);
        assert_eq!(j.since(&id(3)).unwrap().len(), 0);
        assert!(j.since(&id(9)).is_none());
        let empty = Journal::new("m", "h", &id(7));
        assert_eq!(empty.since(&id(7)).unwrap().len(), 0);
        assert!(empty.since(&id(1)).is_none());
    }

    #[test]
    fn truncation_and_corruption_are_refused() {
        let text = sample().render();
        for cut in [1, 10, text.len() / 2, text.len() - 1, text.len() - 30] {
            assert!(Journal::parse(&text[..cut]).is_err(), "cut at {cut}");
        }
        assert!(Journal::parse(b"").is_err());
        for i in (0..text.len()).step_by(7) {
            let mut t = text.clone();
            t[i] ^= 0x01;
            assert!(Journal::parse(&t).is_err(), "flip at {i}");
        }
        // A file written to look right but with a broken chain, or a path leaving the tree.
        let mut j = sample();
        j.entries[1].from = id(5);
        let e = Journal::parse(&j.render()).unwrap_err();
        assert!(e.contains("chain"), "{e}");
        for bad in [
            &b"../etc/passwd"[..],
            b"/etc",
            b"a//b",
            b"a/./b",
            b"a/",
            b"",
            b"a\0b",
        ] {
            let mut j = Journal::new("m", "h", &id(1));
            j.push(&id(2), 0, changes(&[(bad, Kind::File)]));
            assert!(Journal::parse(&j.render()).is_err(), "{bad:?}");
        }
        let mut j = sample().render();
        j.splice(0..0, b"\n".iter().copied());
        assert!(Journal::parse(&j).is_err());
    }

    #[test]
    fn trimming_keeps_the_newest_entries_and_moves_the_base() {
        let mut j = Journal::new("m", "h", &id(1));
        for n in 2..=10 {
            let p = format!("pool/file{n}");
            j.push(&id(n), n as i64, changes(&[(p.as_bytes(), Kind::File)]));
        }
        j.trim(3, usize::MAX);
        assert_eq!(j.entries.len(), 3);
        assert_eq!(j.base, id(7));
        assert_eq!(j.head(), id(10));
        Journal::parse(&j.render()).unwrap();
        // One byte too many: the oldest entry goes, no more.
        let limit = j.render().len() - 1;
        j.trim(100, limit);
        assert_eq!(j.entries.len(), 2);
        assert_eq!(j.base, id(8));
        assert!(j.render().len() <= limit);
        j.trim(100, 0);
        assert!(j.entries.is_empty());
        assert_eq!(j.base, id(10));
        assert_eq!(j.head(), id(10));
    }

    #[test]
    fn escaping_round_trips_every_byte() {
        let all: Vec<u8> = (1..=255).collect();
        let mut e = Vec::new();
        escape_into(&all, &mut e);
        assert!(!e.contains(&b'\n'));
        assert_eq!(unescape(&e).unwrap(), all);
        assert!(unescape(b"a\\q").is_none());
        assert!(unescape(b"a\\x4").is_none());
        assert!(unescape(b"a\\").is_none());
        assert!(unescape(b"a\tb").is_none());
        assert!(is_id(&new_id().unwrap()));
        assert_ne!(new_id().unwrap(), new_id().unwrap());
    }
}
