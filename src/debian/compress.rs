//! The compressed forms an archive's indices come in, read into memory.
//!
//! The limit is there because the data comes from an upstream mirror: a few kilobytes of
//! `.xz` can expand to gigabytes, and an index is read whole. A decoder's complaint is
//! reported as InvalidData (the file is bad, fetching it again may help), while an error
//! of the file itself keeps its own kind (NotFound lets a caller try the next suffix).

use flate2::read::MultiGzDecoder;
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use xz2::read::XzDecoder;

/// The contents of `path`, decompressed by its name's suffix (`.gz`, `.xz`, none), refused
/// past `limit` bytes decompressed.
pub fn read(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let name = path.as_os_str().as_encoded_bytes();
    let file = File::open(path).map_err(|e| file_error(path, e))?;
    let (result, format) = decode(BufReader::new(Source(file)), name, limit);
    match result {
        Ok(Some(data)) => Ok(data),
        Ok(None) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: more than {limit} bytes{}",
                path.display(),
                if format.is_empty() {
                    ""
                } else {
                    " decompressed"
                }
            ),
        )),
        Err(e) => match e.get_ref().and_then(|i| i.downcast_ref::<FileError>()) {
            Some(FileError(inner)) => {
                Err(file_error(path, io::Error::new(e.kind(), inner.clone())))
            }
            None if format.is_empty() => Err(file_error(path, e)),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: corrupt {format} data: {e}", path.display()),
            )),
        },
    }
}

/// `data` (already read) decompressed by the suffix of `name`, refused past `limit`.
pub fn decompress_as(data: &[u8], name: &[u8], limit: u64) -> std::io::Result<Vec<u8>> {
    let (result, format) = decode(data, name, limit);
    match result {
        Ok(Some(d)) => Ok(d),
        Ok(None) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("more than {limit} bytes decompressed"),
        )),
        Err(e) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("corrupt {format} data: {e}"),
        )),
    }
}

/// The suffixes [`read`] decompresses, most preferred first ("" is the plain file).
pub const SUFFIXES: [&str; 3] = [".xz", ".gz", ""];

/// What `source` holds, decoded by the suffix of `name`, with the format's name ("" for a
/// plain file); None when there is more than `limit` bytes of it.
fn decode(
    source: impl io::BufRead,
    name: &[u8],
    limit: u64,
) -> (io::Result<Option<Vec<u8>>>, &'static str) {
    if name.ends_with(b".gz") {
        // Multi-member: `cat a.gz b.gz` is one valid gzip file, as gzip -d reads it.
        (read_limited(MultiGzDecoder::new(source), limit), "gzip")
    } else if name.ends_with(b".xz") {
        (
            read_limited(XzDecoder::new_multi_decoder(source), limit),
            "xz",
        )
    } else {
        (read_limited(source, limit), "")
    }
}

/// The data, or None when there is more than `limit` bytes of it.
fn read_limited(r: impl Read, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    r.take(limit.saturating_add(1)).read_to_end(&mut data)?;
    Ok((data.len() as u64 <= limit).then_some(data))
}

fn file_error(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Marks the errors of the file under a decoder, which the decoders pass on unchanged, so
/// that a failing disk is not reported as corrupt data.
struct Source(File);

#[derive(Debug)]
struct FileError(String);

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FileError {}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| match e.kind() {
            // read_to_end retries these; they must keep their kind and need no mark.
            io::ErrorKind::Interrupted => e,
            kind => io::Error::new(kind, FileError(e.to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn xz(data: &[u8]) -> Vec<u8> {
        let mut enc = xz2::write::XzEncoder::new(Vec::new(), 6);
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn file(dir: &Path, name: &str, data: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, data).unwrap();
        p
    }

    const TEXT: &[u8] = b"Package: hello\nVersion: 2.10-3\n";

    #[test]
    fn round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let plain = file(dir.path(), "Packages", TEXT);
        let gzp = file(dir.path(), "Packages.gz", &gz(TEXT));
        let xzp = file(dir.path(), "Packages.xz", &xz(TEXT));
        for p in [&plain, &gzp, &xzp] {
            assert_eq!(read(p, 1 << 20).unwrap(), TEXT, "{}", p.display());
            // Exactly at the limit is still fine.
            assert_eq!(read(p, TEXT.len() as u64).unwrap(), TEXT);
        }
        let empty = file(dir.path(), "Sources", b"");
        assert_eq!(read(&empty, 0).unwrap(), b"");
    }

    #[test]
    fn concatenated_streams_are_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut two = gz(b"one\n");
        two.extend(gz(b"two\n"));
        assert_eq!(
            read(&file(dir.path(), "a.gz", &two), 100).unwrap(),
            b"one\ntwo\n"
        );
        let mut two = xz(b"one\n");
        two.extend(xz(b"two\n"));
        assert_eq!(
            read(&file(dir.path(), "a.xz", &two), 100).unwrap(),
            b"one\ntwo\n"
        );
    }

    #[test]
    fn past_the_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = vec![b'x'; 100_000];
        for (name, data) in [("P", big.clone()), ("P.gz", gz(&big)), ("P.xz", xz(&big))] {
            let p = file(dir.path(), name, &data);
            let e = read(&p, 99_999).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{name}");
            assert!(e.to_string().contains("more than 99999 bytes"), "{e}");
            assert_eq!(read(&p, 100_000).unwrap().len(), 100_000);
        }
    }

    #[test]
    fn corrupt_data_is_invalid_data() {
        let dir = tempfile::tempdir().unwrap();
        let mut bad_crc = gz(TEXT);
        let n = bad_crc.len();
        bad_crc[n - 6] ^= 0xff; // in the CRC32 of the trailer
        let mut truncated = gz(TEXT);
        truncated.truncate(truncated.len() - 10);
        let mut bad_xz = xz(TEXT);
        let n = bad_xz.len();
        bad_xz[n / 2] ^= 0xff;
        for (name, data) in [
            ("crc.gz", bad_crc),
            ("trunc.gz", truncated),
            ("notgz.gz", TEXT.to_vec()),
            ("bad.xz", bad_xz),
            ("notxz.xz", TEXT.to_vec()),
            ("empty.gz", Vec::new()),
            ("empty.xz", Vec::new()),
        ] {
            let e = read(&file(dir.path(), name, &data), 1 << 20).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{name}: {e}");
            assert!(e.to_string().contains("corrupt"), "{name}: {e}");
            assert!(e.to_string().contains(name), "{name}: {e}");
        }
    }

    #[test]
    fn a_missing_file_stays_not_found() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["Packages", "Packages.gz", "Packages.xz"] {
            let e = read(&dir.path().join(name), 100).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound);
            assert!(e.to_string().contains(name), "{e}");
        }
    }

    #[test]
    fn a_read_error_of_the_file_is_not_called_corrupt() {
        // Reading a directory fails in read(2) (EISDIR), under the decoder.
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("dir.gz");
        std::fs::create_dir(&d).unwrap();
        let e = read(&d, 100).unwrap_err();
        assert!(!e.to_string().contains("corrupt"), "{e}");
        assert_ne!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    }
}
