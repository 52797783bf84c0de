//! WeCom group robot format: a `markdown` message. WeCom documents `mentioned_list` for the `text`
//! type only; text and markdown messages mention a member with `<@userid>` in the content, so the
//! endpoint's `mentioned_list` is written that way, and no `mentioned_list` key is sent. Its
//! markdown colours text with `<font color="info|comment|warning">`.
//! https://developer.work.weixin.qq.com/document/path/91770

use serde_json::{json, Value};

use super::{mentions, Budget, Draft};
use crate::cut;
use crate::event::Settings;
use crate::facts::Tone;

/// "markdown内容，最长不超过4096个字节" (at most 4,096 bytes of content).
const CONTENT_MAX: usize = 4096;

/// WeCom's three markdown colours: green, grey, orange-red.
fn font(tone: Tone) -> &'static str {
    match tone {
        Tone::Completed | Tone::Fixed => "info",
        Tone::Failed | Tone::StillFailing | Tone::Errored | Tone::NeedsApproval => "warning",
        Tone::Executing | Tone::Aborted | Tone::Waiting | Tone::Ping => "comment",
    }
}

pub(crate) fn body(d: &Draft, b: Budget, s: &Settings) -> (Value, String) {
    let mut content = match d.custom(b) {
        Some(custom) => custom,
        None => {
            let mut lines = vec![format!("### {}", d.headline(b))];
            if let Some(note) = &d.note {
                lines.push(format!("> {note}"));
            }
            for (label, value) in d.facts(b) {
                let value = match label {
                    "Status" => format!("<font color=\"{}\">{value}</font>", font(d.tone)),
                    _ => value,
                };
                lines.push(format!("> {label}: {value}"));
            }
            if let Some((count, listed)) = d.digest_lines(b) {
                lines.push(format!("**{count}:**"));
                lines.extend(listed.iter().map(|line| format!("- {line}")));
            }
            if let Some(link) = &d.link {
                lines.push(format!("[Open build]({link})"));
            }
            lines.join("\n")
        }
    };
    let users = mentions(&s.mentioned_list);
    if !users.is_empty() {
        let at: Vec<String> = users.iter().map(|u| format!("<@{u}>")).collect();
        content.push('\n');
        content.push_str(&at.join(" "));
    }
    let content = cut::bytes(&content, CONTENT_MAX);
    let body = json!({"msgtype": "markdown", "markdown": {"content": content}});
    (body, content)
}
