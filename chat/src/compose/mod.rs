//! Composing the message for one event or a digest of several: the kind-neutral [`Draft`] (tone,
//! headline, facts, transitions, link, or a user template's text), then the kind's own format
//! module turns it into the vendor-native body under a [`Budget`], halved until the serialised
//! body fits the kind's limit. Strings are cut on character boundaries before serialising, so the
//! body is always valid JSON.

mod dingtalk;
mod discord;
mod feishu;
mod slack;
mod teams;
mod wecom;

use serde_json::Value;

use crate::cut;
use crate::event::{Event, Message, Settings};
use crate::facts::{headline, transition, Facts, Tone};
use crate::kind::Kind;
use crate::template::{self, TemplateError, OUTPUT_LIMIT};

/// Room kept free in a Feishu body for the `timestamp` and `sign` fields [`crate::request`]
/// adds (`,"timestamp":"1700000000","sign":"<44 base64 chars>"` is about 80 bytes).
const FEISHU_SIGN_ROOM: usize = 128;

/// At most this many mentions are sent, each held to [`MENTION_CHARS`].
const MENTIONS_MAX: usize = 50;
const MENTION_CHARS: usize = 64;

/// What a default message shows, before any vendor's format.
#[derive(Clone, Debug)]
pub(crate) struct Draft {
    pub tone: Tone,
    /// "❌ acme/api: task test failed", from the latest event.
    pub headline: String,
    /// The latest event's labelled facts.
    pub facts: Vec<(&'static str, String)>,
    /// Every event's transition, oldest first, when there is more than one.
    pub transitions: Vec<String>,
    /// One line under the headline of a test message.
    pub note: Option<String>,
    /// The build link, when the organization's link template gave one.
    pub link: Option<String>,
    /// A user template's output: the whole message text, in place of the default one.
    pub custom: Option<String>,
    /// When the latest event happened.
    pub at_ms: i64,
}

/// How much of each variable part a format may use; halved until the body fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Budget {
    /// Characters of one fact value (or of the headline, twice this).
    pub value: usize,
    /// Digest transitions listed (the latest ones; the rest are counted as "and K earlier").
    pub items: usize,
    /// Characters of a template's text.
    pub text: usize,
}

impl Budget {
    const START: Budget = Budget {
        value: 300,
        items: 25,
        text: OUTPUT_LIMIT,
    };
    const FLOOR: Budget = Budget {
        value: 12,
        items: 1,
        text: 48,
    };

    /// Every part halved (not below the floor); `None` once everything is at the floor.
    fn halve(self) -> Option<Budget> {
        let next = Budget {
            value: (self.value / 2).max(Self::FLOOR.value),
            items: (self.items / 2).max(Self::FLOOR.items),
            text: (self.text / 2).max(Self::FLOOR.text),
        };
        (next != self).then_some(next)
    }
}

impl Draft {
    fn new(events: &[Event], link: Option<String>, custom: Option<String>) -> Draft {
        let last = events.last();
        let tone = last.map_or(Tone::Waiting, Tone::of);
        Draft {
            tone,
            headline: last.map_or_else(|| "🕒 No events".to_owned(), headline),
            facts: last.map(|e| Facts::of(e).labelled()).unwrap_or_default(),
            transitions: if events.len() > 1 {
                events.iter().map(transition).collect()
            } else {
                Vec::new()
            },
            note: (tone == Tone::Ping)
                .then(|| "If you can read this, this robot is set up for buildhooks.".to_owned()),
            link,
            custom,
            at_ms: last.map_or(0, |e| e.at_ms),
        }
    }

    /// The headline within the budget.
    pub(crate) fn headline(&self, b: Budget) -> String {
        cut::chars(&self.headline, b.value * 2)
    }

    /// The facts, each value within the budget.
    pub(crate) fn facts(&self, b: Budget) -> Vec<(&'static str, String)> {
        self.facts
            .iter()
            .map(|(label, value)| (*label, cut::chars(value, b.value)))
            .collect()
    }

    /// For a digest: how many events, the latest transitions the budget lists (oldest first,
    /// each within the budget) and how many earlier ones are left unlisted.
    pub(crate) fn digest(&self, b: Budget) -> Option<(usize, Vec<String>, usize)> {
        if self.transitions.is_empty() {
            return None;
        }
        let total = self.transitions.len();
        let earlier = total.saturating_sub(b.items);
        let listed = self.transitions[earlier..]
            .iter()
            .map(|line| cut::chars(line, b.value))
            .collect();
        Some((total, listed, earlier))
    }

    /// The template's text within the budget.
    pub(crate) fn custom(&self, b: Budget) -> Option<String> {
        self.custom.as_deref().map(|text| cut::chars(text, b.text))
    }

    /// The plain lines of a digest: "5 events:", "… and 2 earlier", then the listed ones.
    pub(crate) fn digest_lines(&self, b: Budget) -> Option<(String, Vec<String>)> {
        let (total, listed, earlier) = self.digest(b)?;
        let mut lines = Vec::with_capacity(listed.len() + 1);
        if earlier > 0 {
            lines.push(format!("… and {earlier} earlier"));
        }
        lines.extend(listed);
        Some((format!("{total} events"), lines))
    }
}

/// The mentions a setting lists, bounded in number and length.
pub(crate) fn mentions(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|m| m.trim())
        .filter(|m| !m.is_empty())
        .take(MENTIONS_MAX)
        .map(|m| cut::chars(m, MENTION_CHARS))
        .collect()
}

/// The message for `events` (oldest first): about the one event, or a digest of several (one
/// build's), showing the latest state and every transition. A user template gives the text;
/// otherwise the kind's default message. Only a failing user template is an error; a failing link
/// template gives no link.
pub fn compose(
    kind: Kind,
    settings: &Settings,
    events: &[Event],
) -> Result<Message, TemplateError> {
    let last = events.last();
    let link = last.and_then(|e| template::link(settings.link_template.as_deref(), e));
    let source = settings
        .template
        .as_deref()
        .filter(|s| !s.trim().is_empty());
    let custom = match source {
        Some(source) => {
            let ctx = template::message_context(events, link.as_deref());
            let text = template::render(source, &ctx)?;
            match last.is_some_and(Event::is_ping) {
                // A test message says what it is, and still carries the template's text (a
                // DingTalk keyword, say) so the test proves the template passes too.
                true if text.trim().is_empty() => None,
                true => Some(format!("{}\n\n{text}", headline(&Event::ping(0)))),
                false => Some(text),
            }
        }
        None => None,
    };
    let draft = Draft::new(events, link, custom);
    Ok(fit(kind, &draft, settings))
}

/// The room a kind's body may take before signing.
fn room(kind: Kind) -> usize {
    match kind {
        Kind::Feishu => kind.body_limit() - FEISHU_SIGN_ROOM,
        _ => kind.body_limit(),
    }
}

fn format(kind: Kind, d: &Draft, b: Budget, s: &Settings) -> (Value, String) {
    match kind {
        Kind::Slack => slack::body(d, b),
        Kind::Discord => discord::body(d, b),
        Kind::Teams => teams::body(d, b),
        Kind::DingTalk => dingtalk::body(d, b, s),
        Kind::Feishu => feishu::body(d, b),
        Kind::WeCom => wecom::body(d, b, s),
    }
}

fn size(body: &Value) -> usize {
    serde_json::to_vec(body).map_or(usize::MAX, |bytes| bytes.len())
}

/// The kind's format under a budget halved until the body fits; at the floor, the headline alone.
fn fit(kind: Kind, draft: &Draft, settings: &Settings) -> Message {
    let limit = room(kind);
    let mut budget = Budget::START;
    loop {
        let (body, text) = format(kind, draft, budget, settings);
        if size(&body) <= limit {
            return Message { body, text };
        }
        match budget.halve() {
            Some(next) => budget = next,
            None => break,
        }
    }
    // Even the floor did not fit (hundreds of long mentions, say): the headline alone, with no
    // mentions, is a few hundred bytes in every format.
    let bare = Draft {
        facts: Vec::new(),
        transitions: Vec::new(),
        custom: draft.custom.as_ref().map(|_| draft.headline.clone()),
        ..draft.clone()
    };
    let (body, text) = format(kind, &bare, Budget::FLOOR, &Settings::default());
    Message { body, text }
}

#[cfg(test)]
mod tests;
