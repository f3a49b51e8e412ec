//! Reading a bash config the only faithful way: bash sources it and reports the variables
//! over a private pipe.

use super::{looks_like_key, FixedEnv, Kind, RawConfig, Value};
use anyhow::{anyhow, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};

/// `text` with every line end `\r\n` (and a `\r` ending the last line) made `\n`, and the
/// number of the first line that had one. Line numbers stay the same.
pub(super) fn strip_crlf(text: String) -> (String, Option<usize>) {
    let first = text
        .split_inclusive('\n')
        .position(|l| l.trim_end_matches('\n').ends_with('\r'));
    let Some(first) = first else {
        return (text, None);
    };
    let stripped = text
        .split_inclusive('\n')
        .map(|l| match l.strip_suffix("\r\n") {
            Some(body) => format!("{body}\n"),
            None => l.strip_suffix('\r').unwrap_or(l).to_string(),
        })
        .collect();
    (stripped, Some(first + 1))
}

/// Sources the config and reports on fd 3, without forking: the variable names before
/// (`B`), the known keys that are set (`K`), and the names after (`A`) and exported (`E`).
/// The difference, computed in Rust, is what the file defined.
const BASH_READER: &str = r#"
exec 3>&1 1>&2
printf 'B\0' >&3; compgen -v >&3; printf '\0' >&3
set -e
if [[ -n $__ARCHVSYNC_FROM_STDIN ]]; then
    . /dev/stdin
else
    . "$__ARCHVSYNC_FILE"
fi
set +e
for __archvsync_k in $__ARCHVSYNC_KEYS; do
    if [[ -v $__archvsync_k ]]; then
        printf 'K%s\0%s\0' "$__archvsync_k" "${!__archvsync_k}" >&3
    fi
done
printf 'A\0' >&3; compgen -v >&3; printf '\0' >&3
printf 'E\0' >&3; compgen -e >&3; printf '\0' >&3
"#;

impl RawConfig {
    /// `from_stdin`: source the (CRLF-stripped) text from bash's stdin instead of the file.
    /// `fixed`: source it with only that environment (and the prelude), in its directory.
    pub(super) fn load_bash(
        &mut self,
        keys: &[(&str, Kind)],
        prelude: &[(&str, String)],
        from_stdin: bool,
        fixed: Option<&FixedEnv>,
    ) -> Result<()> {
        let key_list: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
        let mut cmd = Command::new("bash");
        let mut file = self.path.clone();
        // Cleared first: env_clear also drops what was set on the command before it.
        if let Some(f) = fixed {
            cmd.env_clear()
                .envs(f.vars.iter().map(|(k, v)| (k, v)))
                .current_dir(&f.cwd);
            // A relative config path means the caller's directory, not the fixed one.
            file = std::path::absolute(&file).unwrap_or(file);
        }
        cmd.args([
            "--noprofile",
            "--norc",
            "-c",
            BASH_READER,
            "archvsync-config",
        ])
        .env("__ARCHVSYNC_FILE", &file)
        .env("__ARCHVSYNC_KEYS", key_list.join(" "))
        .stdin(if from_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        if from_stdin {
            cmd.env("__ARCHVSYNC_FROM_STDIN", "1");
        }
        for (k, v) in prelude {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .context("cannot run bash to read the config (is bash installed?)")?;
        // Written from a thread: bash reads all of it before it writes much, but a config
        // larger than a pipe buffer must not deadlock against our reading its output.
        let feeder = child.stdin.take().map(|mut stdin| {
            let text = self.text.clone();
            std::thread::spawn(move || {
                let _ = std::io::Write::write_all(&mut stdin, text.as_bytes());
            })
        });
        let out = child
            .wait_with_output()
            .context("cannot read what bash said about the config")?;
        if let Some(f) = feeder {
            let _ = f.join();
        }
        let path = self.path.display().to_string();
        let mut stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        // bash names the file it sourced: with the text on stdin that is /dev/stdin.
        if from_stdin {
            stderr = stderr.replace("/dev/stdin", &path);
        }
        if !out.status.success() {
            return Err(anyhow!(
                "{path}: the config failed to load (bash exit status {}): {}",
                out.status.code().unwrap_or(-1),
                stderr.trim()
            ));
        }
        // Messages a config prints (echo, or a failing command it tolerates) are shown,
        // not hidden: they are usually the operator's own diagnostics.
        for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
            self.warnings
                .push(format!("{}: {}", self.path.display(), line));
        }
        let mut fields = out.stdout.split(|b| *b == 0);
        let known: BTreeSet<&str> = key_list.iter().copied().collect();
        let mut lists: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        while let Some(field) = fields.next() {
            let field = String::from_utf8_lossy(field);
            if let Some(name) = field.strip_prefix('K') {
                let value = fields
                    .next()
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default();
                self.values.insert(name.to_string(), Value::Str(value));
            } else if let Some(tag) = ["B", "A", "E"].into_iter().find(|t| field == *t) {
                let names = fields.next().unwrap_or_default();
                lists.insert(
                    tag,
                    String::from_utf8_lossy(names)
                        .lines()
                        .map(str::to_string)
                        .collect(),
                );
            }
        }
        let empty = BTreeSet::new();
        let before = lists.get("B").unwrap_or(&empty);
        let exported = lists.get("E").unwrap_or(&empty);
        // Exported variables are meant for hooks and children, not typos of our keys.
        let defined: Vec<String> = lists
            .get("A")
            .unwrap_or(&empty)
            .iter()
            .filter(|n| !before.contains(*n) && !exported.contains(*n))
            .filter(|n| !known.contains(n.as_str()) && looks_like_key(n))
            .cloned()
            .collect();
        for name in defined {
            self.warn_unknown(&name, &key_list);
        }
        Ok(())
    }
}
