//! Oversized input never breaks a body: for every kind, a 100 KB task name of multi-byte
//! characters, a huge template output, a long digest and many mentions all give a body that
//! serialises to valid JSON within `body_limit()`, parses back unchanged, holds no broken
//! character, and keeps each vendor's documented field limits.

use buildhooks_chat::{compose, sample_events, Event, Kind, Message, Settings};
use serde_json::{json, Value};

fn utf16(s: &str) -> usize {
    s.encode_utf16().count()
}

fn str_at<'a>(body: &'a Value, pointer: &str) -> &'a str {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {body}"))
}

/// The body fits, is valid JSON that reads back the same, and no string was split.
fn assert_fits(kind: Kind, message: &Message) {
    let bytes = serde_json::to_vec(&message.body).expect("serialises");
    assert!(
        bytes.len() <= kind.body_limit(),
        "{kind}: {} > {}",
        bytes.len(),
        kind.body_limit()
    );
    let text = std::str::from_utf8(&bytes).expect("UTF-8");
    assert!(
        !text.contains('\u{FFFD}'),
        "{kind}: a replacement character"
    );
    let back: Value = serde_json::from_slice(&bytes).expect("parses back");
    assert_eq!(back, message.body, "{kind}");
    assert!(!message.text.is_empty(), "{kind}");
}

/// Each vendor's per-field limits.
fn assert_field_limits(kind: Kind, body: &Value) {
    match kind {
        Kind::Slack => {
            assert!(utf16(str_at(body, "/text")) <= 3000);
            for block in body["blocks"].as_array().expect("blocks") {
                let text = block["text"]["text"]
                    .as_str()
                    .or_else(|| block["elements"][0]["text"].as_str())
                    .expect("block text");
                assert!(utf16(text) <= 3000, "slack block of {}", utf16(text));
            }
        }
        Kind::Discord => {
            let embed = &body["embeds"][0];
            let title = embed["title"].as_str().unwrap_or_default();
            let description = embed["description"].as_str().unwrap_or_default();
            assert!(utf16(title) <= 256 && utf16(description) <= 4096);
            let mut total = utf16(title) + utf16(description);
            for field in embed["fields"].as_array().into_iter().flatten() {
                let (name, value) = (str_at(field, "/name"), str_at(field, "/value"));
                assert!(utf16(name) <= 256 && utf16(value) <= 1024);
                total += utf16(name) + utf16(value);
            }
            assert!(total <= 6000, "discord embed of {total}");
        }
        Kind::WeCom => assert!(str_at(body, "/markdown/content").len() <= 4096),
        Kind::Teams | Kind::DingTalk | Kind::Feishu => {}
    }
}

fn huge_event() -> Event {
    let mut event = sample_events()[0].clone();
    let huge = "é🎉".repeat(17_000); // 102,000 bytes
    assert!(huge.len() > 100_000);
    event.data["task"]["name"] = json!(huge);
    event.data["repository"]["name"] = json!(huge);
    event.data["build"]["branch"] = json!(huge);
    event.data["build"]["changeMessageTitle"] = json!(huge);
    event
}

#[test]
fn a_hundred_kilobyte_task_name_is_cut_to_every_limit() {
    let events = [huge_event()];
    let settings = Settings {
        link_template: Some("https://ci.example.com/build/{{ build.id }}".into()),
        ..Settings::default()
    };
    for kind in Kind::ALL {
        let message = compose(kind, &settings, &events).expect("composes");
        assert_fits(kind, &message);
        assert_field_limits(kind, &message.body);
        assert!(message.text.contains('…'), "{kind}: the cut is marked");
        assert!(
            message.text.contains("EXECUTING -> FAILED"),
            "{kind}: {}",
            message.text
        );
    }
}

#[test]
fn a_huge_template_output_is_cut_to_every_limit() {
    let settings = Settings {
        template: Some("{{ task.name }}{% for i in range(1000) %}é🎉é🎉é🎉{% endfor %}".into()),
        ..Settings::default()
    };
    for kind in Kind::ALL {
        let message = compose(kind, &settings, &[huge_event()]).expect("composes");
        assert_fits(kind, &message);
        assert_field_limits(kind, &message.body);
        assert!(
            message.text.lines().any(|l| l.starts_with("é🎉é🎉")),
            "{kind}"
        );
    }
}

#[test]
fn a_digest_of_hundreds_of_huge_events_is_cut_to_every_limit() {
    let events: Vec<Event> = (0..300)
        .map(|i| {
            let mut event = huge_event();
            event.at_ms += i;
            event
        })
        .collect();
    for kind in Kind::ALL {
        let message = compose(kind, &Settings::default(), &events).expect("composes");
        assert_fits(kind, &message);
        assert_field_limits(kind, &message.body);
        assert!(
            message.text.contains("300 events"),
            "{kind}: {}",
            message.text
        );
        assert!(message.text.contains("earlier"), "{kind}");
    }
}

#[test]
fn hundreds_of_long_mentions_never_overflow() {
    let settings = Settings {
        at_mobiles: vec!["1".repeat(500); 400],
        mentioned_list: vec!["用户".repeat(200); 400],
        is_at_all: true,
        ..Settings::default()
    };
    for kind in [Kind::DingTalk, Kind::WeCom] {
        let message = compose(kind, &settings, &[huge_event()]).expect("composes");
        assert_fits(kind, &message);
        assert_field_limits(kind, &message.body);
    }
}

#[test]
fn an_ordinary_message_is_not_cut() {
    for kind in Kind::ALL {
        let message = compose(kind, &Settings::default(), &sample_events()).expect("composes");
        assert_fits(kind, &message);
        let wire = serde_json::to_string(&message.body).expect("serialises");
        assert!(!wire.contains('…'), "{kind}: {wire}");
        assert!(message.text.contains("2 events"), "{kind}");
    }
}
