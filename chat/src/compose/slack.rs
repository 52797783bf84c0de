//! Slack incoming webhook format: Block Kit with a fallback `text` (what notifications show), a
//! `section` of mrkdwn (headline, status, build, task, author, digest, link) and a `context` line
//! (repository, branch, duration, time).
//! https://api.slack.com/messaging/webhooks

use serde_json::{json, Value};

use super::{Budget, Draft};
use crate::cut;

/// "Maximum length for the text in this field is 3000 characters" (section and context text).
/// https://api.slack.com/reference/block-kit/blocks#section
const TEXT_MAX: usize = 3000;

/// The facts shown in the context line rather than the section.
const CONTEXT_FACTS: [&str; 3] = ["Repository", "Branch", "Duration"];

/// Slack's mrkdwn control characters as entities: "you shouldn't encode any other characters"
/// than `&`, `<` and `>`. https://api.slack.com/reference/surfaces/formatting#escaping
pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A date Slack shows in each reader's time zone, with a plain fallback.
/// https://api.slack.com/reference/surfaces/formatting#date-formatting
fn date(at_ms: i64) -> String {
    format!(
        "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
        at_ms.div_euclid(1000),
        crate::facts::rfc3339(at_ms)
    )
}

pub(crate) fn body(d: &Draft, b: Budget) -> (Value, String) {
    if let Some(custom) = d.custom(b) {
        // A template's output is the text and the one section, as the user wrote it (mrkdwn,
        // links and all): not escaped.
        let text = cut::chars(&custom, TEXT_MAX);
        let body = json!({
            "text": text,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        });
        return (body, text);
    }
    let headline = escape(&d.headline(b));
    let mut section = vec![format!("*{headline}*")];
    if let Some(note) = &d.note {
        section.push(escape(note));
    }
    let facts = d.facts(b);
    for (label, value) in facts.iter().filter(|(l, _)| !CONTEXT_FACTS.contains(l)) {
        section.push(format!("*{label}:* {}", escape(value)));
    }
    if let Some((count, lines)) = d.digest_lines(b) {
        section.push(format!("*{count}:*"));
        section.extend(lines.iter().map(|line| format!("• {}", escape(line))));
    }
    if let Some(link) = &d.link {
        section.push(format!("<{link}|Open build>"));
    }
    let section = cut::chars(&section.join("\n"), TEXT_MAX);
    let mut context: Vec<String> = facts
        .iter()
        .filter(|(l, _)| CONTEXT_FACTS.contains(l))
        .map(|(label, value)| format!("{label}: *{}*", escape(value)))
        .collect();
    context.push(date(d.at_ms));
    let context = cut::chars(&context.join(" · "), TEXT_MAX);
    let body = json!({
        "text": cut::chars(&headline, TEXT_MAX),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": section}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ],
    });
    // People read the entities as the characters they stand for.
    let text = format!("{section}\n{context}")
        .replace("&gt;", ">")
        .replace("&lt;", "<")
        .replace("&amp;", "&");
    (body, text)
}
