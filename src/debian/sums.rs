//! PLACEHOLDER (helper replaces)

/// `(sha256, path)` of each line of a sha256sum-format list (`HASH  PATH` or `HASH *PATH`),
/// as `extrafiles` (clearsigned: the armour is stripped) and an installer's `SHA256SUMS`
/// (paths `./x` given as `x`) are. Err names the bad line.
pub fn sha256_list(data: &[u8]) -> Result<Vec<(String, String)>, String> {
    let _ = data;
    unimplemented!()
}
