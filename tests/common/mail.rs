//! Mail: the one fake sendmail that records what it is given ([`sendmail_recorder`]) and
//! the reader of its recordings ([`recorded_mails`]).

use super::{read_string, shq, write_script};
use std::path::{Path, PathBuf};

/// A fake sendmail appending every mail to `<dir>/mail.out` as
/// `=== MAIL ===`, `ARGV: <its arguments>`, the text it read, an empty line, `=== END ===`.
/// The file does not exist before the first mail. Returns (script, output file).
pub fn sendmail_recorder(dir: &Path) -> (PathBuf, PathBuf) {
    let script = dir.join("sendmail");
    let out = dir.join("mail.out");
    write_script(
        &script,
        &format!(
            "{{ echo '=== MAIL ==='; echo \"ARGV: $*\"; cat; echo; echo '=== END ==='; }} >> {}\nexit 0",
            shq(&out.to_string_lossy())
        ),
    );
    (script, out)
}

/// The mails a [`sendmail_recorder`] got, each as its full text (the `ARGV:` line first).
pub fn recorded_mails(out: &Path) -> Vec<String> {
    read_string(out)
        .split("=== MAIL ===\n")
        .skip(1)
        .map(|c| c.split("\n=== END ===").next().unwrap_or("").to_string())
        .collect()
}
