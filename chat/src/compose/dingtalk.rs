//! DingTalk custom robot format: a `markdown` message (`title` shown in the notification, `text`
//! in the group) with `at.atMobiles` / `at.isAtAll`. DingTalk only highlights a mention whose
//! `@mobile` also appears in the text, so each mentioned mobile is written at the end.
//! https://open.dingtalk.com/document/robots/custom-robot-access

use serde_json::{json, Value};

use super::{mentions, Budget, Draft};
use crate::cut;
use crate::event::Settings;

/// The notification title: DingTalk documents no limit; a preview shows far less than this.
const TITLE_MAX: usize = 64;

pub(crate) fn body(d: &Draft, b: Budget, s: &Settings) -> (Value, String) {
    let mobiles = mentions(&s.at_mobiles);
    let mut text = match d.custom(b) {
        Some(custom) => custom,
        None => {
            let mut lines = vec![format!("#### {}", d.headline(b)), String::new()];
            if let Some(note) = &d.note {
                lines.push(note.clone());
            }
            for (label, value) in d.facts(b) {
                lines.push(format!("- **{label}:** {value}"));
            }
            if let Some((count, listed)) = d.digest_lines(b) {
                lines.push(String::new());
                lines.push(format!("**{count}:**"));
                lines.push(String::new());
                lines.extend(listed.iter().map(|line| format!("- {line}")));
            }
            if let Some(link) = &d.link {
                lines.push(String::new());
                lines.push(format!("[Open build]({link})"));
            }
            lines.join("\n")
        }
    };
    if !mobiles.is_empty() {
        let at: Vec<String> = mobiles.iter().map(|m| format!("@{m}")).collect();
        text.push_str("\n\n");
        text.push_str(&at.join(" "));
    }
    let body = json!({
        "msgtype": "markdown",
        "markdown": {"title": cut::chars(&d.headline, TITLE_MAX), "text": text},
        "at": {"atMobiles": mobiles, "isAtAll": s.is_at_all},
    });
    (body, text)
}
