//! The pool files a Packages or Sources index references: what a mirror must hold for the
//! index to be served whole.
//!
//! Streamed paragraph by paragraph: a Packages file has some 200,000 paragraphs, and only
//! three fields of each matter, so no document is built, and the other fields' lines are
//! dropped before deb822-fast sees them ([`Wanted`]): they are nine tenths of the text,
//! and copying each into a String of its own took seconds in a debug build. The paths
//! come from the network and are refused here if they would leave the archive.

use super::{parse_u64, relative_path, sha256_hex};
use deb822_fast::{Deb822, Paragraph};
use std::io::{self, BufRead, Read};

const PACKAGES_FIELDS: &[&str] = &["Package", "Filename", "Size", "SHA256"];
const SOURCES_FIELDS: &[&str] = &["Package", "Directory", "Checksums-Sha256", "Files"];

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
        let name = path.rsplit('/').next().unwrap_or(path);
        match name {
            "Packages" | "Packages.gz" | "Packages.xz" => Some(IndexKind::Packages),
            "Sources" | "Sources.gz" | "Sources.xz" => Some(IndexKind::Sources),
            _ => None,
        }
    }
}

/// The pool files a Packages (Filename/Size/SHA256) or Sources (Directory +
/// Checksums-Sha256, else Files) index lists, streamed paragraph by paragraph with
/// deb822-fast. Err names the paragraph that is wrong.
///
/// In the index's order; a file listed twice comes twice.
pub fn pool_files(kind: IndexKind, data: &[u8]) -> Result<Vec<PoolFile>, String> {
    let mut files = Vec::new();
    let fields = match kind {
        IndexKind::Packages => PACKAGES_FIELDS,
        IndexKind::Sources => SOURCES_FIELDS,
    };
    for (i, para) in Deb822::iter_paragraphs_from_reader(Wanted::new(data, fields)).enumerate() {
        let n = i + 1;
        let para = para.map_err(|e| format!("paragraph {n}: {e}"))?;
        let added = match kind {
            IndexKind::Packages => package(&para).map(|f| files.push(f)),
            IndexKind::Sources => source(&para, &mut files),
        };
        added.map_err(|e| match para.get("Package") {
            Some(p) => format!("paragraph {n} (Package {}): {e}", p.trim()),
            None => format!("paragraph {n}: {e}"),
        })?;
    }
    Ok(files)
}

fn package(para: &Paragraph) -> Result<PoolFile, String> {
    let path = para.get("Filename").ok_or("no Filename field")?.trim();
    let size = para.get("Size").ok_or("no Size field")?.trim();
    let sha256 = match para.get("SHA256").map(str::trim) {
        None => None,
        Some(h) => Some(sha256_hex(h).ok_or_else(|| format!("SHA256 {h:?} is not 64 hex"))?),
    };
    Ok(PoolFile {
        path: relative_path(path)
            .map_err(|e| format!("Filename: {e}"))?
            .to_string(),
        size: parse_u64(size).ok_or_else(|| format!("Size {size:?} is not a number"))?,
        sha256,
    })
}

fn source(para: &Paragraph, files: &mut Vec<PoolFile>) -> Result<(), String> {
    let dir = para.get("Directory").ok_or("no Directory field")?.trim();
    let (field, list, sha) = match para.get("Checksums-Sha256") {
        Some(list) => ("Checksums-Sha256", list, true),
        None => (
            "Files",
            para.get("Files")
                .ok_or("no Checksums-Sha256 or Files field")?,
            false,
        ),
    };
    // The value starts with the (usually empty) text after the field name.
    for (i, line) in list.split('\n').enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |e: String| format!("{field} line {i} ({line:?}): {e}");
        let mut fields = line.split_ascii_whitespace();
        let (Some(hash), Some(size), Some(name), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(at("not three fields (checksum size name)".into()));
        };
        if name.contains('/') {
            return Err(at(format!("{name:?} is not a file name")));
        }
        let path = format!("{dir}/{name}");
        files.push(PoolFile {
            path: relative_path(&path).map_err(at)?.to_string(),
            size: parse_u64(size).ok_or_else(|| at(format!("size {size:?} is not a number")))?,
            sha256: if sha {
                Some(sha256_hex(hash).ok_or_else(|| at(format!("{hash:?} is not 64 hex")))?)
            } else {
                None
            },
        });
    }
    Ok(())
}

/// The lines of `data` that deb822-fast needs to give the `fields` and the same paragraphs
/// as it would for all of `data`: blank lines (they end paragraphs), each paragraph's first
/// line (so that none becomes empty and vanishes from the numbering), the fields' own lines
/// with their continuations, and every line that is no field at all (comments, and the
/// malformed ones, so that the parser still reports them).
struct Wanted<'a> {
    data: &'a [u8],
    /// The kept lines ready to be read: `data[run.0..run.1]`.
    run: (usize, usize),
    /// Where the lines not yet judged start.
    next: usize,
    fields: &'static [&'static str],
    /// At a paragraph's first line.
    at_start: bool,
    /// Continuation lines belong to a kept field.
    keeping: bool,
}

impl<'a> Wanted<'a> {
    fn new(data: &'a [u8], fields: &'static [&'static str]) -> Self {
        Wanted {
            data,
            run: (0, 0),
            next: 0,
            fields,
            at_start: true,
            keeping: false,
        }
    }

    /// Whether to keep the line (without its newline).
    fn keep(&mut self, line: &[u8]) -> bool {
        match line.first() {
            Some(b) if !b.is_ascii_whitespace() => {
                if *b == b'#' {
                    return true;
                }
                // The field's name ends at the first ':' (skip_until is memchr, the rest
                // of the line is not looked at).
                let wanted = match (&line[..]).skip_until(b':') {
                    Ok(n) if n > 0 && line[n - 1] == b':' => {
                        let name = &line[..n - 1];
                        self.at_start
                            || self
                                .fields
                                .iter()
                                .any(|f| name.eq_ignore_ascii_case(f.as_bytes()))
                    }
                    _ => true,
                };
                self.at_start = false;
                self.keeping = wanted;
                wanted
            }
            _ if line.iter().all(u8::is_ascii_whitespace) => {
                self.at_start = true;
                self.keeping = false;
                true
            }
            _ => self.keeping || self.at_start,
        }
    }
}

impl BufRead for Wanted<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.run.0 == self.run.1 {
            // The next run of kept lines, and the dropped lines before it gone.
            let mut run: Option<(usize, usize)> = None;
            while self.next < self.data.len() {
                let at = self.next;
                let mut rest = &self.data[at..];
                self.next += rest.skip_until(b'\n')?;
                let line = &self.data[at..self.next];
                match (
                    self.keep(line.strip_suffix(b"\n").unwrap_or(line)),
                    &mut run,
                ) {
                    (true, Some((_, end))) => *end = self.next,
                    (true, None) => run = Some((at, self.next)),
                    (false, Some(_)) => break,
                    (false, None) => {}
                }
            }
            self.run = run.unwrap_or((self.next, self.next));
        }
        Ok(&self.data[self.run.0..self.run.1])
    }

    fn consume(&mut self, n: usize) {
        self.run.0 = (self.run.0 + n).min(self.run.1);
    }
}

impl Read for Wanted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.fill_buf()?.read(buf)?;
        self.consume(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H1: &str = "5b6d4b2a1f9f0c3e2d1c0b9a8f7e6d5c4b3a29180716253443526170819aabbc";
    const H2: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn pf(path: &str, size: u64, sha: Option<&str>) -> PoolFile {
        PoolFile {
            path: path.into(),
            size,
            sha256: sha.map(String::from),
        }
    }

    #[test]
    fn kinds_by_name() {
        use IndexKind::*;
        for (p, k) in [
            ("main/binary-amd64/Packages", Some(Packages)),
            ("main/binary-amd64/Packages.xz", Some(Packages)),
            (
                "main/debian-installer/binary-amd64/Packages.gz",
                Some(Packages),
            ),
            ("Packages", Some(Packages)),
            ("main/source/Sources", Some(Sources)),
            ("main/source/Sources.gz", Some(Sources)),
            ("main/source/Sources.xz", Some(Sources)),
            ("main/binary-amd64/Packages.diff/Index", None),
            ("main/binary-amd64/Packages.bz2", None),
            ("main/Contents-amd64.gz", None),
            ("main/i18n/Translation-en", None),
            ("main/source/Sources/", None),
            ("main/binary-amd64/Release", None),
        ] {
            assert_eq!(IndexKind::of(p), k, "{p}");
        }
    }

    #[test]
    fn packages() {
        let data = format!(
            "Package: hello\nVersion: 2.10-3\nArchitecture: amd64\n\
             Description: example package\n multi-line\n .\n text\n\
             Filename: pool/main/h/hello/hello_2.10-3_amd64.deb\nSize: 53216\n\
             MD5sum: 0123456789abcdef0123456789abcdef\nSHA256: {}\n\n\
             Package: flat\nFilename: ./flat_1_all.deb\nSize: 7\n",
            H1.to_ascii_uppercase()
        );
        assert_eq!(
            pool_files(IndexKind::Packages, data.as_bytes()).unwrap(),
            [
                pf("pool/main/h/hello/hello_2.10-3_amd64.deb", 53216, Some(H1)),
                pf("flat_1_all.deb", 7, None),
            ]
        );
        assert_eq!(pool_files(IndexKind::Packages, b"").unwrap(), []);
        assert_eq!(pool_files(IndexKind::Packages, b"\n\n").unwrap(), []);
    }

    #[test]
    fn sources_with_checksums_sha256() {
        let data = format!(
            "Package: hello\nBinary: hello\nVersion: 2.10-3\n\
             Directory: pool/main/h/hello\n\
             Files:\n 0123456789abcdef0123456789abcdef 1847 hello_2.10-3.dsc\n\
             \x200123456789abcdef0123456789abcdef 725946 hello_2.10.orig.tar.gz\n\
             Checksums-Sha256:\n {H1} 1847 hello_2.10-3.dsc\n {H2}   725946 hello_2.10.orig.tar.gz\n\
             Priority: optional\n"
        );
        assert_eq!(
            pool_files(IndexKind::Sources, data.as_bytes()).unwrap(),
            [
                pf("pool/main/h/hello/hello_2.10-3.dsc", 1847, Some(H1)),
                pf("pool/main/h/hello/hello_2.10.orig.tar.gz", 725946, Some(H2)),
            ]
        );
    }

    #[test]
    fn sources_with_files_only() {
        let data = "Package: old\nDirectory: .\nFiles:\n \
                    0123456789abcdef0123456789abcdef 12 old_1.dsc\n \
                    0123456789abcdef0123456789abcdef 34 old_1.tar.gz\n";
        assert_eq!(
            pool_files(IndexKind::Sources, data.as_bytes()).unwrap(),
            [pf("old_1.dsc", 12, None), pf("old_1.tar.gz", 34, None)]
        );
    }

    fn err(kind: IndexKind, data: &str) -> String {
        pool_files(kind, data.as_bytes()).unwrap_err()
    }

    #[test]
    fn packages_errors() {
        let ok = "Package: a\nFilename: pool/a.deb\nSize: 1\n\n";
        let e = err(
            IndexKind::Packages,
            &format!("{ok}Package: hello\nFilename: pool/x.deb\n"),
        );
        assert_eq!(e, "paragraph 2 (Package hello): no Size field");
        let e = err(IndexKind::Packages, &format!("{ok}{ok}Size: 1\n"));
        assert_eq!(e, "paragraph 3: no Filename field");
        for (bad, what) in [
            ("Filename: pool/../../etc/passwd\nSize: 1\n", "'..'"),
            ("Filename: /etc/passwd\nSize: 1\n", "absolute"),
            ("Filename: \nSize: 1\n", "empty path"),
            ("Filename: a.deb\nSize: 1x\n", "is not a number"),
            (
                "Filename: a.deb\nSize: 99999999999999999999\n",
                "is not a number",
            ),
            ("Filename: a.deb\nSize: 1\nSHA256: abc\n", "not 64 hex"),
        ] {
            let e = err(IndexKind::Packages, &format!("{ok}Package: b\n{bad}"));
            assert!(
                e.starts_with("paragraph 2 (Package b): ") && e.contains(what),
                "{bad}: {e}"
            );
        }
        let e = err(IndexKind::Packages, &format!("{ok}{ok}no colon here\n"));
        assert!(e.starts_with("paragraph 3: "), "{e}");
    }

    #[test]
    fn sources_errors() {
        let e = err(
            IndexKind::Sources,
            &format!("Package: x\nChecksums-Sha256:\n {H1} 1 x.dsc\n"),
        );
        assert_eq!(e, "paragraph 1 (Package x): no Directory field");
        let e = err(IndexKind::Sources, "Package: x\nDirectory: pool/x\n");
        assert!(e.contains("no Checksums-Sha256 or Files field"), "{e}");
        for (bad, what) in [
            (format!("{H1} 1 ../../x.dsc"), "not a file name"),
            (format!("{H1} 1"), "three fields"),
            (format!("{H1} x x.dsc"), "not a number"),
            (format!("{} 1 x.dsc", &H1[..63]), "not 64 hex"),
        ] {
            let data = format!(
                "Package: a\nDirectory: pool/a\nFiles:\n 0 1 a.dsc\n\n\
                 Package: x\nDirectory: pool/x\nChecksums-Sha256:\n {H2} 5 ok.dsc\n {bad}\n"
            );
            let e = err(IndexKind::Sources, &data);
            assert!(
                e.starts_with("paragraph 2 (Package x): Checksums-Sha256 line 2")
                    && e.contains(what),
                "{bad}: {e}"
            );
        }
        let e = err(
            IndexKind::Sources,
            "Package: x\nDirectory: ../x\nFiles:\n 0 1 x.dsc\n",
        );
        assert!(e.contains("'..'"), "{e}");
        let e = err(
            IndexKind::Sources,
            "Package: x\nDirectory: /srv\nFiles:\n 0 1 x.dsc\n",
        );
        assert!(e.contains("absolute"), "{e}");
    }

    #[test]
    fn a_200k_paragraph_packages_file() {
        use std::fmt::Write;
        // Some 500 bytes a paragraph, as a real Packages file has them; the fields this
        // module skips are most of the text, as they are in a real one.
        let n = 200_000;
        let mut data = String::with_capacity(n * 520);
        for i in 0..n {
            data.push_str(
                "Package: pkg\nSource: src\nVersion: 1.0-1\nInstalled-Size: 123\n\
                 Maintainer: Some One <someone@example.org>\nArchitecture: amd64\n\
                 Depends: libc6 (>= 2.34), libfoo1 (>= 1.2.3)\nDescription: a package\n\
                 \x20long description of a package,\n .\n over more than one line\n\
                 Homepage: https://example.org/pkg\n\
                 Description-md5: 0123456789abcdef0123456789abcdef\nSection: misc\n\
                 Priority: optional\nMD5sum: 0123456789abcdef0123456789abcdef\n",
            );
            let _ = write!(
                data,
                "Filename: pool/main/p/pkg/pkg_{i}_amd64.deb\nSize: {i}\n"
            );
            data.push_str("SHA256: ");
            data.push_str(H1);
            data.push_str("\n\n");
        }
        let start = std::time::Instant::now();
        let files = pool_files(IndexKind::Packages, data.as_bytes()).unwrap();
        let took = start.elapsed();
        assert_eq!(files.len(), n);
        for (i, f) in [0, n - 1].into_iter().map(|i| (i, &files[i])) {
            assert_eq!(
                f,
                &pf(
                    &format!("pool/main/p/pkg/pkg_{i}_amd64.deb"),
                    i as u64,
                    Some(H1)
                )
            );
        }
        // Generous, for a debug build on a busy machine; a release build takes a tenth.
        assert!(took.as_secs() < 10, "{n} paragraphs took {took:?}");
        eprintln!("{n} paragraphs ({} MB) in {took:?}", data.len() >> 20);
    }
}
