//! Text helpers: shell quoting, line counts, and cuts that cannot panic (failure messages
//! quote logs that may hold any byte; a panic while formatting one would hide the failure).

/// Single-quote a string for /bin/sh and bash.
pub fn shq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Count lines of `text` containing `needle`.
pub fn count_lines(text: &str, needle: &str) -> usize {
    text.lines().filter(|l| l.contains(needle)).count()
}

/// The last `max` bytes of `s` at most, starting on a character boundary (so fewer when
/// `max` would cut a character): for the tail of a log in a failure message.
pub fn tail(s: &str, max: usize) -> &str {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// The first `max` bytes of `s` at most, ending on a character boundary.
pub fn head(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
