//! Microsoft Teams format: a `message` with one Adaptive Card attachment (version 1.4) holding a
//! coloured headline `TextBlock`, a `FactSet`, the digest, and an `Action.OpenUrl` to the build.
//! Workflows webhooks and incoming webhooks both take this shape.
//! https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook

use serde_json::{json, Value};

use super::{Budget, Draft};
use crate::facts::Tone;

/// The Adaptive Card `TextBlock` colour for a tone.
/// https://adaptivecards.io/explorer/TextBlock.html
fn color(tone: Tone) -> &'static str {
    match tone {
        Tone::Failed | Tone::StillFailing => "Attention",
        Tone::Completed | Tone::Fixed => "Good",
        Tone::Executing | Tone::Ping => "Accent",
        Tone::Errored | Tone::NeedsApproval => "Warning",
        Tone::Aborted | Tone::Waiting => "Default",
    }
}

fn text_block(text: &str) -> Value {
    json!({"type": "TextBlock", "text": text, "wrap": true})
}

fn card(blocks: Vec<Value>, link: Option<&str>) -> Value {
    let mut content = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": blocks,
    });
    if let Some(url) = link {
        content["actions"] = json!([{"type": "Action.OpenUrl", "title": "Open build", "url": url}]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": content,
        }],
    })
}

pub(crate) fn body(d: &Draft, b: Budget) -> (Value, String) {
    if let Some(custom) = d.custom(b) {
        // A template's output is one TextBlock (Teams renders its markdown subset).
        let body = card(vec![text_block(&custom)], d.link.as_deref());
        return (body, custom);
    }
    let headline = d.headline(b);
    let mut blocks = vec![json!({
        "type": "TextBlock",
        "text": headline,
        "weight": "Bolder",
        "size": "Medium",
        "color": color(d.tone),
        "wrap": true,
    })];
    let mut text = vec![headline.clone()];
    if let Some(note) = &d.note {
        blocks.push(text_block(note));
        text.push(note.clone());
    }
    let facts = d.facts(b);
    if !facts.is_empty() {
        let list: Vec<Value> = facts
            .iter()
            .map(|(title, value)| json!({"title": title, "value": value}))
            .collect();
        blocks.push(json!({"type": "FactSet", "facts": list}));
        text.extend(
            facts
                .iter()
                .map(|(label, value)| format!("{label}: {value}")),
        );
    }
    if let Some((count, lines)) = d.digest_lines(b) {
        blocks.push(json!({"type": "TextBlock", "text": format!("{count}:"), "weight": "Bolder", "wrap": true}));
        // A blank line between entries: TextBlock markdown joins single newlines.
        let list: Vec<String> = lines.iter().map(|line| format!("- {line}")).collect();
        blocks.push(text_block(&list.join("\n\n")));
        text.push(format!("{count}:"));
        text.extend(list);
    }
    if let Some(link) = &d.link {
        text.push(format!("Open build: {link}"));
    }
    (card(blocks, d.link.as_deref()), text.join("\n"))
}
