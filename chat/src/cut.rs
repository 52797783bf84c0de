//! Cutting text to a vendor's limit without ever splitting a character: by UTF-8 bytes (DingTalk,
//! Feishu, WeCom count bytes) or by UTF-16 code units (Slack, Discord and Teams count
//! "characters" in JavaScript terms; a UTF-16 count is never below a count of code points, so it
//! is safe under either reading). A cut string ends in "…", counted within the limit.

/// What a limit counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    /// UTF-8 bytes.
    Bytes,
    /// UTF-16 code units (a character outside the BMP counts 2).
    Chars,
}

/// The mark a cut string ends with.
pub(crate) const MORE: char = '…';

impl Unit {
    fn of(self, c: char) -> usize {
        match self {
            Unit::Bytes => c.len_utf8(),
            Unit::Chars => c.len_utf16(),
        }
    }

    /// The size of `s` in this unit.
    pub(crate) fn len(self, s: &str) -> usize {
        match self {
            Unit::Bytes => s.len(),
            Unit::Chars => s.encode_utf16().count(),
        }
    }
}

/// `s` held to `max` units: unchanged when it fits, else its longest prefix that leaves room for
/// "…", then "…". Empty when `max` cannot hold even the mark.
pub(crate) fn cut(s: &str, max: usize, unit: Unit) -> String {
    if unit.len(s) <= max {
        return s.to_owned();
    }
    let Some(room) = max.checked_sub(unit.of(MORE)) else {
        return String::new();
    };
    let mut used = 0;
    let mut out = String::new();
    for c in s.chars() {
        let w = unit.of(c);
        if used + w > room {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push(MORE);
    out
}

/// `s` held to `max` UTF-8 bytes (see [`cut`]).
pub(crate) fn bytes(s: &str, max: usize) -> String {
    cut(s, max, Unit::Bytes)
}

/// `s` held to `max` UTF-16 code units (see [`cut`]).
pub(crate) fn chars(s: &str, max: usize) -> String {
    cut(s, max, Unit::Chars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_unchanged() {
        assert_eq!(bytes("héllo", 6), "héllo");
        assert_eq!(chars("🎉🎉", 4), "🎉🎉");
    }

    #[test]
    fn cuts_on_character_boundaries_and_marks_the_cut() {
        // "é" is 2 bytes and "🎉" 4: 9 bytes leave 6 for text before the 3-byte "…".
        let cut = bytes("é🎉é🎉", 9);
        assert_eq!(cut, "é🎉…");
        assert_eq!(cut.len(), 9);
        // With 8 bytes the emoji no longer fits whole, so it is left out, not split.
        assert_eq!(bytes("é🎉é🎉", 8), "é…");
        // UTF-16: the emoji counts 2.
        assert_eq!(chars("é🎉é🎉", 4), "é🎉…");
        assert_eq!(chars("é🎉é🎉", 3), "é…");
        assert_eq!(Unit::Chars.len(&chars(&"🎉".repeat(5000), 4096)), 4095);
    }

    #[test]
    fn a_limit_below_the_mark_gives_nothing() {
        assert_eq!(bytes("abcdef", 2), "");
        assert_eq!(chars("abcdef", 0), "");
        assert_eq!(chars("abcdef", 1), "…");
    }
}
