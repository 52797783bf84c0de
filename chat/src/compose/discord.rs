//! Discord webhook format: one embed (`title`, `description`, `color`, `url`, inline `fields`,
//! `timestamp`), held to Discord's embed limits.
//! https://discord.com/developers/docs/resources/webhook#execute-webhook

use serde_json::{json, Value};

use super::{Budget, Draft};
use crate::cut::{self, Unit};

// Embed limits: title 256, description 4096, 25 fields, field name 256, field value 1024, and
// 6000 characters across title, description, field names and values, footer and author.
// https://discord.com/developers/docs/resources/message#embed-object-embed-limits
const TITLE_MAX: usize = 256;
const DESCRIPTION_MAX: usize = 4096;
const FIELDS_MAX: usize = 25;
const FIELD_NAME_MAX: usize = 256;
const FIELD_VALUE_MAX: usize = 1024;
const TOTAL_MAX: usize = 6000;

/// Characters Discord markdown reads anywhere in a line.
fn inline(c: char) -> bool {
    matches!(c, '\\' | '*' | '_' | '~' | '`' | '|' | '[' | ']')
}

/// Characters it reads at the start of a line (quote, heading, list).
fn leading(c: char) -> bool {
    matches!(c, '>' | '#' | '-')
}

/// Discord markdown's control characters backslash-escaped, so a task name stays literal (a
/// `my_task` would otherwise turn italic, a leading "# " a heading; "#42" is left alone).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        let opens_line = first && leading(c) && matches!(chars.peek(), Some(' ' | '#'));
        if inline(c) || opens_line {
            out.push('\\');
        }
        out.push(c);
        first = false;
    }
    out
}

/// What a person reads: the escapes taken out again.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match chars.peek() {
            Some(&next) if c == '\\' && (inline(next) || leading(next)) => {
                out.push(next);
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

pub(crate) fn body(d: &Draft, b: Budget) -> (Value, String) {
    let mut embed = serde_json::Map::new();
    let mut fields = Vec::new();
    let (title, description) = match d.custom(b) {
        // A template's output is the embed's description, as the user wrote it.
        Some(custom) => (String::new(), cut::chars(&custom, DESCRIPTION_MAX)),
        None => {
            let title = cut::chars(&d.headline(b), TITLE_MAX);
            let mut lines = Vec::new();
            if let Some(note) = &d.note {
                lines.push(escape(note));
            }
            if let Some((count, listed)) = d.digest_lines(b) {
                lines.push(format!("**{count}:**"));
                lines.extend(listed.iter().map(|line| format!("• {}", escape(line))));
            }
            if let Some(link) = &d.link {
                lines.push(format!("[Open build]({link})"));
            }
            for (label, value) in d.facts(b).into_iter().take(FIELDS_MAX) {
                fields.push((
                    cut::chars(label, FIELD_NAME_MAX),
                    cut::chars(&escape(&value), FIELD_VALUE_MAX),
                ));
            }
            (title, cut::chars(&lines.join("\n"), DESCRIPTION_MAX))
        }
    };
    // The 6000-character total: the description gives way first, then the last fields.
    let fixed = |fields: &[(String, String)]| {
        Unit::Chars.len(&title)
            + fields
                .iter()
                .map(|(n, v)| Unit::Chars.len(n) + Unit::Chars.len(v))
                .sum::<usize>()
    };
    while fixed(&fields) > TOTAL_MAX && fields.pop().is_some() {}
    let description = cut::chars(&description, TOTAL_MAX.saturating_sub(fixed(&fields)));

    if !title.is_empty() {
        embed.insert("title".into(), title.clone().into());
    }
    if !description.is_empty() {
        embed.insert("description".into(), description.clone().into());
    }
    embed.insert("color".into(), d.tone.rgb().into());
    if let Some(link) = &d.link {
        embed.insert("url".into(), link.clone().into());
    }
    if !fields.is_empty() {
        let list: Vec<Value> = fields
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value, "inline": true}))
            .collect();
        embed.insert("fields".into(), list.into());
    }
    embed.insert("timestamp".into(), crate::facts::rfc3339(d.at_ms).into());

    let text = if d.custom.is_some() {
        description
    } else {
        let mut text: Vec<String> = [title, unescape(&description)]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        text.extend(
            fields
                .iter()
                .map(|(name, value)| format!("{name}: {}", unescape(value))),
        );
        text.join("\n")
    };
    (json!({"embeds": [Value::Object(embed)]}), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_in_names_is_escaped() {
        assert_eq!(escape("my_task *x*"), "my\\_task \\*x\\*");
        assert_eq!(escape("plain -> text #1"), "plain -> text #1");
        assert_eq!(escape("#42 · title"), "#42 · title");
        assert_eq!(escape("- item"), "\\- item");
        assert_eq!(escape("# heading"), "\\# heading");
        for s in ["my_task *x*", "# heading", "a\\b", "[x](y)"] {
            assert_eq!(unescape(&escape(s)), s);
        }
    }
}
