//! Bounded parsing: the gate every GraphQL text passes before async-graphql's parser sees it.
//!
//! That parser is recursive (pest): each `{`, `[` or `(` costs it stack frames, so a value nested
//! a few thousand deep (`build(id: [[[[...]]]])`, `{a:{a:{...}}}`, a variable default, a
//! directive argument, a stored query) overflows a 2 MiB tokio worker stack and aborts the whole
//! process before any depth limit of the schema runs. [`check`] refuses such texts first with one
//! linear, non-recursive scan: it counts the nesting of `{`, `[` and `(` together outside string
//! literals (`"..."` with escapes, block strings `"""..."""`) and comments (`#` to the end of the
//! line), and it caps the text's size. Its errors are `VALIDATION` and never quote the text.
//!
//! The scan over-counts rather than under-counts: a string ends at a line break (where the parser
//! fails anyway) and a stray closing bracket never lowers the count below zero, so the parser's
//! own nesting never exceeds what the scan allowed.

use crate::{MAX_NESTING, MAX_OPERATION_BYTES};

/// What a GraphQL text may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes.
    pub max_bytes: usize,
    /// Deepest nesting of `{`, `[` and `(`, counted together, outside strings and comments.
    pub max_nesting: usize,
}

/// API operations: the `query` of `POST /graphql`.
pub const API: Limits = Limits {
    max_bytes: MAX_OPERATION_BYTES,
    max_nesting: MAX_NESTING,
};

/// Largest stored query, in bytes.
pub const MAX_QUERY_BYTES: usize = 10 * 1024;

/// Stored payload queries: when saved or previewed, and again at every render.
pub const STORED: Limits = Limits {
    max_bytes: MAX_QUERY_BYTES,
    max_nesting: MAX_NESTING,
};

/// Why a text was refused. The message says where, never what: it does not quote the text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Longer than [`Limits::max_bytes`].
    #[error("the query has {len} bytes; at most {max} are accepted")]
    TooLong { len: usize, max: usize },
    /// Nested deeper than [`Limits::max_nesting`].
    #[error(
        "the query nests brackets ({{, [ and ( together) more than {max} deep, \
         at line {line}, column {column}"
    )]
    TooDeep {
        max: usize,
        line: usize,
        column: usize,
    },
}

impl From<Refused> for crate::Error {
    fn from(refused: Refused) -> Self {
        crate::Error::Validation(refused.to_string())
    }
}

/// Refuses `text` when it is longer or nested deeper than `limits` allow; runs in time linear in
/// its length and constant stack.
pub fn check(text: &str, limits: Limits) -> Result<(), Refused> {
    if text.len() > limits.max_bytes {
        return Err(Refused::TooLong {
            len: text.len(),
            max: limits.max_bytes,
        });
    }
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        i += 1;
        match b {
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > limits.max_nesting {
                    let (line, column) = line_column(text, i - 1);
                    return Err(Refused::TooDeep {
                        max: limits.max_nesting,
                        line,
                        column,
                    });
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            b'#' => i = skip_comment(bytes, i),
            b'"' if bytes[i..].starts_with(b"\"\"") => i = skip_block_string(bytes, i + 2),
            b'"' => i = skip_string(bytes, i),
            _ => {}
        }
    }
    Ok(())
}

fn is_line_break(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

/// The index of the line break that ends a comment starting before `i`, or the end.
fn skip_comment(bytes: &[u8], i: usize) -> usize {
    bytes[i..]
        .iter()
        .position(|&b| is_line_break(b))
        .map_or(bytes.len(), |n| i + n)
}

/// Past the `"` that closes a string whose content starts at `i`. A line break ends it too: the
/// parser refuses the string there, and scanning on as code can only count more brackets.
fn skip_string(bytes: &[u8], mut i: usize) -> usize {
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => return i + 1,
            b'\\' if bytes.get(i + 1).is_some_and(|&n| !is_line_break(n)) => i += 2,
            b if is_line_break(b) => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Past the `"""` that closes a block string whose content starts at `i` (`\"""` is escaped).
fn skip_block_string(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        let rest = &bytes[i..];
        if rest.starts_with(b"\\\"\"\"") {
            i += 4;
        } else if rest.starts_with(b"\"\"\"") {
            return i + 3;
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// The 1-based line and column (in characters, as the parser counts) of byte `at`.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = text.get(..at).unwrap_or(text);
    let mut line = 1;
    let mut column = 1;
    let mut chars = before.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' | '\n' => {
                line += 1;
                column = 1;
            }
            _ => column += 1,
        }
    }
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIGHT: Limits = Limits {
        max_bytes: 1_000,
        max_nesting: 3,
    };

    fn depth_ok(text: &str) -> bool {
        check(text, TIGHT).is_ok()
    }

    #[test]
    fn counts_every_kind_of_bracket_together() {
        assert!(depth_ok("{ a(b: [1]) }"));
        assert!(!depth_ok("{ a(b: [[1]]) }"));
        assert!(!depth_ok("{ a { b { c { d } } } }"));
        assert!(!depth_ok("query($a: [[[ID]]]) { a }"));
        assert!(!depth_ok("{ a(b: {c: {d: 1}}) }"));
        assert!(
            depth_ok("{ a } { b } { c } ] ] ] { d }"),
            "siblings do not add up"
        );
    }

    #[test]
    fn skips_strings_block_strings_and_comments() {
        assert!(depth_ok(r#"{ a(b: "[[[[{{{{((((") }"#));
        assert!(depth_ok(r#"{ a(b: "\"[[[[[[") }"#));
        assert!(
            depth_ok(r#"{ a(b: "\\") }"#),
            "an escaped backslash ends nothing"
        );
        assert!(depth_ok("{ a(b: \"\"\"[[[[\n\"[[[[\\\"\"\"[[[[\"\"\") }"));
        assert!(depth_ok("{ a # [[[[[[[[\n }"));
        assert!(
            depth_ok(r#"{ a(b: "") }"#),
            "an empty string is not a block string"
        );
    }

    #[test]
    fn a_string_or_comment_ends_at_a_line_break_and_brackets_after_it_count() {
        assert!(!depth_ok("{ a(b: \"unterminated\n[[[[[1]]]]]) }"));
        assert!(!depth_ok("{ a(b: \"escaped break\\\n[[[[[1]]]]]) }"));
        assert!(!depth_ok("{ a # comment\r[[[[[1]]]]] }"));
    }

    #[test]
    fn unterminated_strings_and_comments_end_the_text() {
        assert!(depth_ok("{ a(b: \"[[[[[["));
        assert!(depth_ok("{ a(b: \"\"\"[[[[[[\n[[[["));
        assert!(depth_ok("{ a # [[[[[["));
        assert!(depth_ok("\"\\"));
    }

    #[test]
    fn refusals_say_where_and_never_quote_the_text() {
        let text = format!("{{ a(b: {}1{}) }}", "[".repeat(10_000), "]".repeat(10_000));
        let limits = Limits {
            max_bytes: 100_000,
            max_nesting: 64,
        };
        let refused = check(&text, limits).expect_err("too deep");
        assert_eq!(
            refused,
            Refused::TooDeep {
                max: 64,
                line: 1,
                column: 70
            }
        );
        assert!(refused.to_string().len() < 120, "{refused}");
        assert_eq!(crate::Error::from(refused).code(), "VALIDATION");

        let refused = check("é\r\n\"x\ny\"\n {{", TIGHT).map(|_| ()).err();
        assert_eq!(refused, None);
        let refused = check("é\r\n\"x\ny\"\n ((((", TIGHT).expect_err("too deep");
        assert!(matches!(
            refused,
            Refused::TooDeep {
                line: 4,
                column: 5,
                ..
            }
        ));
    }

    #[test]
    fn refuses_long_texts_before_scanning_them() {
        let text = "a".repeat(1_001);
        assert_eq!(
            check(&text, TIGHT),
            Err(Refused::TooLong {
                len: 1_001,
                max: 1_000
            })
        );
        assert!(check(&text[..1_000], TIGHT).is_ok());
    }

    #[test]
    fn the_limits_leave_room_for_every_accepted_operation() {
        // async-graphql refuses selection sets nested deeper than 32 (its recursion limit) and
        // our input objects nest a handful of levels: the deepest real operation is far below.
        const _: () = assert!(MAX_NESTING >= 32 + 1 + 16);
        const _: () = assert!(MAX_NESTING >= 4 * crate::MAX_DEPTH);
        let save = "mutation($u: ID!) { saveWebHookSettings(input: {ownerUid: $u, \
            deliveryEndpoints: [{webhookURL: \"https://x\", events: [\"*\"]}]}) \
            { settings { endpoints { id } } } }";
        assert!(check(save, API).is_ok());
        let fragments = format!(
            "{{ {}id{} }}",
            "a { ... on B { ".repeat(crate::MAX_DEPTH),
            " } }".repeat(crate::MAX_DEPTH)
        );
        assert!(check(&fragments, API).is_ok());
        assert!(check(crate::webhook::render::DEFAULT_QUERY, STORED).is_ok());
    }
}
