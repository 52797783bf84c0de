//! Feishu / Lark custom bot format: an `interactive` message whose `card` (card JSON 1.0) has a
//! coloured `header` and `markdown` elements. A custom bot sends a card as the object under
//! `card`, not as the string under `content` the app API takes.
//! https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot

use serde_json::{json, Value};

use super::{Budget, Draft};
use crate::facts::Tone;

/// The header colour (`template`) for a tone, from the card title's colour list.
/// https://open.larksuite.com/document/uAjLw4CM/ukzMukzMukzM/feishu-cards/card-components/content-components/title
fn template(tone: Tone) -> &'static str {
    match tone {
        Tone::Failed | Tone::StillFailing => "red",
        Tone::Completed | Tone::Fixed => "green",
        Tone::Executing | Tone::Ping => "blue",
        Tone::Errored => "orange",
        Tone::NeedsApproval => "yellow",
        Tone::Aborted | Tone::Waiting => "grey",
    }
}

fn markdown(content: &str) -> Value {
    json!({"tag": "markdown", "content": content})
}

pub(crate) fn body(d: &Draft, b: Budget) -> (Value, String) {
    let headline = d.headline(b);
    let (elements, text) = match d.custom(b) {
        // A template's output is the card's one markdown element, under the coloured header.
        Some(custom) => (vec![markdown(&custom)], format!("{headline}\n{custom}")),
        None => {
            let mut lines = Vec::new();
            if let Some(note) = &d.note {
                lines.push(note.clone());
            }
            for (label, value) in d.facts(b) {
                lines.push(format!("**{label}:** {value}"));
            }
            let mut elements = Vec::new();
            if !lines.is_empty() {
                elements.push(markdown(&lines.join("\n")));
            }
            if let Some((count, listed)) = d.digest_lines(b) {
                let mut digest = vec![format!("**{count}:**")];
                digest.extend(listed.iter().map(|line| format!("- {line}")));
                elements.push(json!({"tag": "hr"}));
                elements.push(markdown(&digest.join("\n")));
                lines.extend(digest);
            }
            if let Some(link) = &d.link {
                let open = format!("[Open build]({link})");
                elements.push(markdown(&open));
                lines.push(open);
            }
            if elements.is_empty() {
                elements.push(markdown(&headline));
            }
            (elements, format!("{headline}\n{}", lines.join("\n")))
        }
    };
    let body = json!({
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": true},
            "header": {
                "title": {"tag": "plain_text", "content": headline},
                "template": template(d.tone),
            },
            "elements": elements,
        },
    });
    (body, text.trim_end().to_owned())
}
