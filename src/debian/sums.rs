//! sha256sum-format lists: the archive's `extrafiles` (clearsigned) and the installer's
//! `SHA256SUMS`, which name files that no Release lists.
//!
//! The format is GNU sha256sum's own, including its escaped form (a line starting with
//! `\` whose path has `\\`, `\n` and `\r` escaped), since the lists are made with it.

use super::{clearsigned_body, relative_path, sha256_hex};

/// `(sha256, path)` of each line of a sha256sum-format list (`HASH  PATH` or `HASH *PATH`),
/// as `extrafiles` (clearsigned: the armour is stripped) and an installer's `SHA256SUMS`
/// (paths `./x` given as `x`) are. Err names the bad line.
///
/// The hash is lower-cased; blank lines are skipped; a path that would leave the archive
/// (absolute, `..`) is an Err.
pub fn sha256_list(data: &[u8]) -> Result<Vec<(String, String)>, String> {
    let (body, before) = clearsigned_body(data)?;
    let text = body.strip_suffix(b"\n").unwrap_or(&body);
    let mut list = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let entry = sum_line(line).map_err(|e| format!("line {}: {e}", before + i + 1))?;
        list.push(entry);
    }
    Ok(list)
}

fn sum_line(line: &[u8]) -> Result<(String, String), String> {
    let (escaped, line) = match line.strip_prefix(b"\\") {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let (hash, path) = match (line.get(..64), line.get(64..66), line.get(66..)) {
        (Some(hash), Some(b"  " | b" *"), Some(path)) => (hash, path),
        _ => return Err("not \"SHA256  PATH\" or \"SHA256 *PATH\"".into()),
    };
    let hash = std::str::from_utf8(hash)
        .ok()
        .and_then(sha256_hex)
        .ok_or("the hash is not a SHA-256 (64 hex)")?;
    let path = if escaped {
        unescape(path)?
    } else {
        path.to_vec()
    };
    let path = String::from_utf8(path).map_err(|_| "the path is not UTF-8".to_string())?;
    let path = relative_path(&path)?.to_string();
    Ok((hash, path))
}

/// sha256sum's escaping of a path with a backslash or a line break in it.
fn unescape(path: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while let Some(&b) = path.get(i) {
        if b == b'\\' {
            out.push(match path.get(i + 1) {
                Some(b'\\') => b'\\',
                Some(b'n') => b'\n',
                Some(b'r') => b'\r',
                _ => return Err("a bad escape (\\) in the path".into()),
            });
            i += 2;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H1: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const H2: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(h, p)| (h.to_string(), p.to_string()))
            .collect()
    }

    #[test]
    fn text_and_binary_forms() {
        let data = format!(
            "{H1}  ./netboot/netboot.tar.gz\n\n{} *cdrom/vmlinuz\n{H1}  with space  \n",
            H2.to_ascii_uppercase()
        );
        assert_eq!(
            sha256_list(data.as_bytes()).unwrap(),
            pairs(&[
                (H1, "netboot/netboot.tar.gz"),
                (H2, "cdrom/vmlinuz"),
                (H1, "with space  ")
            ])
        );
        assert_eq!(sha256_list(b"").unwrap(), []);
        assert_eq!(sha256_list(b"\n  \n").unwrap(), []);
    }

    #[test]
    fn escaped_paths() {
        let data = format!("\\{H1}  a\\\\b\\nc\\rd\n");
        assert_eq!(
            sha256_list(data.as_bytes()).unwrap(),
            pairs(&[(H1, "a\\b\nc\rd")])
        );
        let e = sha256_list(format!("\\{H1}  a\\x\n").as_bytes()).unwrap_err();
        assert!(e.starts_with("line 1: ") && e.contains("bad escape"), "{e}");
        let e = sha256_list(format!("\\{H1}  a\\\n").as_bytes()).unwrap_err();
        assert!(e.contains("bad escape"), "{e}");
    }

    #[test]
    fn clearsigned_extrafiles() {
        // Line 5 is dash-escaped, line 6 starts with '-' unescaped.
        let data = format!(
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{H1}  README\n\
             - {H2}  escaped\n-{H2}  x\n-----BEGIN PGP SIGNATURE-----\n\nxyz\n\
             -----END PGP SIGNATURE-----\n"
        );
        assert!(sha256_list(data.as_bytes())
            .unwrap_err()
            .starts_with("line 6: "));
        assert_eq!(
            sha256_list(data.replace("\n-9f", "\n- 9f").as_bytes()).unwrap(),
            pairs(&[(H1, "README"), (H2, "escaped"), (H2, "x")])
        );
        let data = format!(
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{H1}  README\n\
             {H2}  indices/files/x.txt\n\n{H1}  bad\n-----BEGIN PGP SIGNATURE-----\n"
        );
        assert_eq!(
            sha256_list(data.replace("  bad", " bad").as_bytes()).unwrap_err(),
            "line 7: not \"SHA256  PATH\" or \"SHA256 *PATH\""
        );
        assert_eq!(
            sha256_list(data.as_bytes()).unwrap(),
            pairs(&[(H1, "README"), (H2, "indices/files/x.txt"), (H1, "bad")])
        );
    }

    #[test]
    fn errors_name_the_line() {
        for (line, what) in [
            (format!("{H1} x"), "not \"SHA256"),
            (format!("{H1}\tx"), "not \"SHA256"),
            (H1.to_string(), "not \"SHA256"),
            (format!("{H1}  "), "empty path"),
            (format!("{}g  x", &H1[1..]), "64 hex"),
            (format!("{}  x", &H1[1..]), "not \"SHA256"),
            (format!("{H1}  ../x"), "'..'"),
            (format!("{H1}  a/../../x"), "'..'"),
            (format!("{H1}  /etc/passwd"), "absolute"),
            (format!("{H1}  .//etc/passwd"), "absolute"),
        ] {
            let data = format!("{H2}  ok\n\n{line}\n{H2}  ok2\n");
            let e = sha256_list(data.as_bytes()).unwrap_err();
            assert!(
                e.starts_with("line 3: ") && e.contains(what),
                "{line:?}: {e}"
            );
        }
        let mut bad = format!("{H1}  x").into_bytes();
        bad.push(0xff);
        assert!(sha256_list(&bad).unwrap_err().contains("not UTF-8"));
    }
}
