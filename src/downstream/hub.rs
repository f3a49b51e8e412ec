//! Setting HUB=true in the hub's ftpsync config, changing as little of the operator's file
//! as possible: one simple `HUB=...` line rewritten, or one line added.

/// What to do to the file's text.
#[derive(Debug, PartialEq, Eq)]
pub enum Edit {
    /// The new text, and what was done, in words (`line 12: HUB=false became HUB=true`).
    Change(Vec<u8>, String),
    /// The file sets HUB in a way we do not rewrite (a command substitution, inside an `if`
    /// on one line, ...): the operator must. Why, in words.
    Manual(String),
}

/// The edit that makes HUB true in `text` (a bash config, or TOML when `toml`).
pub fn plan(text: &[u8], toml: bool) -> Edit {
    let text_str = String::from_utf8_lossy(text);
    let lines: Vec<&str> = text_str.split_inclusive('\n').collect();
    let mut last_simple = None;
    for (i, l) in lines.iter().enumerate() {
        let body = l.trim_end_matches(['\n', '\r']);
        if !mentions_hub(body, toml) {
            continue;
        }
        if simple_assignment(body, toml) {
            last_simple = Some(i);
        } else {
            return Edit::Manual(format!(
                "line {}: `{}` sets HUB in a way archvsync does not rewrite",
                i + 1,
                body.trim()
            ));
        }
    }
    let new_line = if toml { "HUB = true" } else { "HUB=true" };
    match last_simple {
        Some(i) => {
            let old = lines[i];
            let ending = &old[old.trim_end_matches(['\n', '\r']).len()..];
            let mut out = String::new();
            for (j, l) in lines.iter().enumerate() {
                if j == i {
                    out.push_str(new_line);
                    out.push_str(ending);
                } else {
                    out.push_str(l);
                }
            }
            Edit::Change(
                out.into_bytes(),
                format!(
                    "line {}: `{}` became `{new_line}`",
                    i + 1,
                    old.trim_end_matches(['\n', '\r']).trim()
                ),
            )
        }
        // TOML: at the top, where a key cannot land in a [table] by mistake.
        None if toml => {
            let mut out = format!("{new_line}\n").into_bytes();
            out.extend_from_slice(text);
            Edit::Change(out, format!("line 1: `{new_line}` added"))
        }
        None => {
            let mut out = text.to_vec();
            if !out.is_empty() && !out.ends_with(b"\n") {
                out.push(b'\n');
            }
            out.extend_from_slice(format!("{new_line}\n").as_bytes());
            let n = String::from_utf8_lossy(&out).lines().count();
            Edit::Change(out, format!("line {n}: `{new_line}` added"))
        }
    }
}

/// The line assigns HUB (or might), outside a comment.
fn mentions_hub(line: &str, toml: bool) -> bool {
    let code = line.trim_start();
    if code.starts_with('#') {
        return false;
    }
    if toml {
        return code
            .strip_prefix("HUB")
            .is_some_and(|r| r.trim_start().starts_with('='));
    }
    // `HUB=`, `HUB+=`, `export HUB=`, `declare HUB=`, `a; HUB=x`, `${HUB:=x}`...
    let bytes = code.as_bytes();
    code.match_indices("HUB").any(|(i, _)| {
        let before_ok = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let after = &code[i + 3..];
        before_ok && (after.starts_with('=') || after.starts_with("+=") || after.starts_with(":="))
    })
}

/// `HUB=word`, `HUB="word"`, `HUB='word'`, `export HUB=word`, with an optional trailing
/// comment; for TOML `HUB = true|false|"word"`.
fn simple_assignment(line: &str, toml: bool) -> bool {
    let mut code = line.trim();
    if let Some(i) = code.find(" #") {
        code = code[..i].trim_end();
    }
    let value = if toml {
        match code.strip_prefix("HUB").map(str::trim_start) {
            Some(r) => match r.strip_prefix('=') {
                Some(v) => v.trim(),
                None => return false,
            },
            None => return false,
        }
    } else {
        let code = code.strip_prefix("export ").map_or(code, str::trim_start);
        match code.strip_prefix("HUB=") {
            Some(v) => v,
            None => return false,
        }
    };
    let unquoted = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value);
    !unquoted.is_empty()
        && unquoted
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(text: &str, toml: bool) -> (String, String) {
        match plan(text.as_bytes(), toml) {
            Edit::Change(t, m) => (String::from_utf8(t).unwrap(), m),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn adds_a_line_when_hub_is_not_set() {
        let (t, m) = change("TO=/srv\n# HUB=false is the default\nMAILTO=x", false);
        assert_eq!(
            t,
            "TO=/srv\n# HUB=false is the default\nMAILTO=x\nHUB=true\n"
        );
        assert_eq!(m, "line 4: `HUB=true` added");
        let (t, _) = change("", false);
        assert_eq!(t, "HUB=true\n");
        let (t, m) = change("TO = \"/srv\"\n[extra]\nx = 1\n", true);
        assert_eq!(t, "HUB = true\nTO = \"/srv\"\n[extra]\nx = 1\n");
        assert_eq!(m, "line 1: `HUB = true` added");
    }

    #[test]
    fn rewrites_the_last_simple_assignment_only() {
        let (t, m) = change(
            "HUB=true\nTO=/srv\nexport HUB=\"false\"  # not yet\r\nX=1\n",
            false,
        );
        assert_eq!(t, "HUB=true\nTO=/srv\nHUB=true\r\nX=1\n");
        assert_eq!(
            m,
            "line 3: `export HUB=\"false\"  # not yet` became `HUB=true`"
        );
        let (t, _) = change("HUB = false\n", true);
        assert_eq!(t, "HUB = true\n");
        // A key that merely contains HUB is not HUB.
        let (t, _) = change("GITHUB=1\nHUBX=2\n", false);
        assert_eq!(t, "GITHUB=1\nHUBX=2\nHUB=true\n");
    }

    #[test]
    fn leaves_clever_assignments_to_the_operator() {
        for text in [
            "HUB=$(cat /etc/hub)\n",
            "[[ -e /x ]] && HUB=true\n",
            "HUB+=x\n",
            ": ${HUB:=false}\n",
        ] {
            assert!(
                matches!(plan(text.as_bytes(), false), Edit::Manual(_)),
                "{text}"
            );
        }
    }
}
