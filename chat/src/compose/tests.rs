//! Tests of every kind's default message, digests, templates and test messages.

use serde_json::{json, Value};

use super::compose;
use crate::event::{sample_events, Event, Message, Settings};
use crate::kind::Kind;

const LINK: &str = "https://ci.example.com/build/42";

fn with_link() -> Settings {
    Settings {
        link_template: Some("https://ci.example.com/build/{{ build.id }}".into()),
        ..Settings::default()
    }
}

fn failed() -> Vec<Event> {
    sample_events()[..1].to_vec()
}

fn make(kind: Kind, settings: &Settings, events: &[Event]) -> Message {
    compose(kind, settings, events).expect("composes")
}

fn wire(message: &Message) -> String {
    serde_json::to_string(&message.body).expect("serialises")
}

/// One event of build 42 of acme/api.
fn event(kind: &str, name: &str, old: &str, new: &str, at_ms: i64) -> Event {
    let task = match kind {
        "task" => json!({"id": "7", "name": name, "status": new, "durationInSeconds": 61}),
        _ => Value::Null,
    };
    Event {
        event: kind.into(),
        key: format!("{kind}.{}", new.to_ascii_lowercase()),
        action: "updated".into(),
        old_status: Some(old.into()),
        new_status: Some(new.into()),
        data: json!({
            "repository": {"id": "1", "owner": "acme", "name": "api"},
            "build": {"id": "42", "branch": "main", "durationInSeconds": 240},
            "task": task,
        }),
        at_ms,
    }
}

fn five_events() -> Vec<Event> {
    vec![
        event("task", "lint", "EXECUTING", "COMPLETED", 1),
        event("task", "test", "SCHEDULED", "EXECUTING", 2),
        event("task", "test", "EXECUTING", "FAILED", 3),
        event("task", "deploy", "TRIGGERED", "ABORTED", 4),
        event("build", "", "EXECUTING", "FAILED", 5),
    ]
}

#[test]
fn every_default_message_carries_the_facts_and_the_link() {
    for kind in Kind::ALL {
        let message = make(kind, &with_link(), &failed());
        let text = &message.text;
        for fact in [
            "acme/api",
            "main",
            "EXECUTING -> FAILED",
            "2m 05s",
            "alice",
            "test",
            "❌",
        ] {
            assert!(text.contains(fact), "{kind}: {fact:?} missing from {text}");
        }
        assert!(
            wire(&message).contains(LINK),
            "{kind}: no link in {}",
            wire(&message)
        );
    }
}

#[test]
fn slack_is_block_kit_with_a_fallback_text() {
    let body = make(Kind::Slack, &with_link(), &failed()).body;
    assert_eq!(body["text"], "❌ acme/api: task test failed");
    assert_eq!(body["blocks"][0]["type"], "section");
    assert_eq!(body["blocks"][0]["text"]["type"], "mrkdwn");
    let section = body["blocks"][0]["text"]["text"]
        .as_str()
        .expect("section text");
    assert!(
        section.contains("*Status:* EXECUTING -&gt; FAILED"),
        "{section}"
    );
    assert!(section.contains(&format!("<{LINK}|Open build>")));
    assert_eq!(body["blocks"][1]["type"], "context");
    let context = body["blocks"][1]["elements"][0]["text"]
        .as_str()
        .expect("context");
    assert!(context.contains("Repository: *acme/api*") && context.contains("Branch: *main*"));
    assert!(context.contains("<!date^1700000125^"), "{context}");
}

#[test]
fn slack_escapes_its_control_characters_in_names() {
    let mut events = failed();
    events[0].data["task"]["name"] = json!("a <b> & c");
    let body = make(Kind::Slack, &Settings::default(), &events).body;
    let section = body["blocks"][0]["text"]["text"].as_str().expect("section");
    assert!(section.contains("a &lt;b&gt; &amp; c"), "{section}");
}

#[test]
fn discord_is_one_coloured_embed_with_fields() {
    let body = make(Kind::Discord, &with_link(), &failed()).body;
    let embed = &body["embeds"][0];
    assert_eq!(embed["title"], "❌ acme/api: task test failed");
    assert_eq!(embed["color"], 0xE0_1E_5A);
    assert_eq!(embed["url"], LINK);
    assert_eq!(embed["timestamp"], "2023-11-14T22:15:25.000Z");
    let names: Vec<&str> = embed["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "Repository",
            "Branch",
            "Build",
            "Task",
            "Status",
            "Duration",
            "Author"
        ]
    );
    assert!(embed["description"]
        .as_str()
        .expect("description")
        .contains("[Open build]"));
    // Completed is green.
    let done = make(Kind::Discord, &Settings::default(), &sample_events()[1..]).body;
    assert_eq!(done["embeds"][0]["color"], 0x2E_B6_7D);
    assert!(done["embeds"][0].get("url").is_none());
}

#[test]
fn teams_is_an_adaptive_card_attachment() {
    let body = make(Kind::Teams, &with_link(), &failed()).body;
    assert_eq!(body["type"], "message");
    let attachment = &body["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachment["content"];
    assert_eq!(
        card["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    assert_eq!(card["body"][0]["type"], "TextBlock");
    assert_eq!(card["body"][0]["color"], "Attention");
    assert_eq!(card["body"][1]["type"], "FactSet");
    assert_eq!(
        card["body"][1]["facts"][4],
        json!({"title": "Status", "value": "EXECUTING -> FAILED"})
    );
    assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
    assert_eq!(card["actions"][0]["url"], LINK);
}

#[test]
fn dingtalk_is_markdown_and_mentions_in_the_text() {
    let settings = Settings {
        at_mobiles: vec!["13800000000".into(), " ".into()],
        is_at_all: true,
        ..with_link()
    };
    let body = make(Kind::DingTalk, &settings, &failed()).body;
    assert_eq!(body["msgtype"], "markdown");
    assert_eq!(body["markdown"]["title"], "❌ acme/api: task test failed");
    let text = body["markdown"]["text"].as_str().expect("text");
    assert!(text.starts_with("#### ❌ acme/api: task test failed"));
    assert!(text.contains("- **Status:** EXECUTING -> FAILED"));
    assert!(text.contains(&format!("[Open build]({LINK})")));
    assert!(text.ends_with("@13800000000"), "{text}");
    assert_eq!(
        body["at"],
        json!({"atMobiles": ["13800000000"], "isAtAll": true})
    );
    let plain = make(Kind::DingTalk, &Settings::default(), &failed()).body;
    assert_eq!(plain["at"], json!({"atMobiles": [], "isAtAll": false}));
}

#[test]
fn feishu_is_an_interactive_card_with_a_coloured_header() {
    let body = make(Kind::Feishu, &with_link(), &failed()).body;
    assert_eq!(body["msg_type"], "interactive");
    let card = &body["card"];
    assert_eq!(card["header"]["title"]["tag"], "plain_text");
    assert_eq!(
        card["header"]["title"]["content"],
        "❌ acme/api: task test failed"
    );
    assert_eq!(card["header"]["template"], "red");
    assert_eq!(card["elements"][0]["tag"], "markdown");
    assert!(card["elements"][0]["content"]
        .as_str()
        .expect("markdown")
        .contains("**Duration:** 2m 05s"));
    let done = make(Kind::Feishu, &Settings::default(), &sample_events()[1..]).body;
    assert_eq!(done["card"]["header"]["template"], "green");
}

#[test]
fn wecom_is_markdown_and_mentions_with_user_ids() {
    let settings = Settings {
        mentioned_list: vec!["alice".into(), "bob".into()],
        ..with_link()
    };
    let body = make(Kind::WeCom, &settings, &failed()).body;
    assert_eq!(body["msgtype"], "markdown");
    let content = body["markdown"]["content"].as_str().expect("content");
    assert!(content.starts_with("### ❌ acme/api: task test failed"));
    assert!(content.contains("> Status: <font color=\"warning\">EXECUTING -> FAILED</font>"));
    assert!(content.ends_with("<@alice> <@bob>"), "{content}");
    // WeCom documents mentioned_list for text messages only.
    assert!(body["markdown"].get("mentioned_list").is_none());
    assert_eq!(body.as_object().map(|o| o.len()), Some(2));
}

#[test]
fn a_digest_of_five_is_one_message_with_every_transition_and_the_latest_state() {
    let events = five_events();
    for kind in Kind::ALL {
        let message = make(kind, &Settings::default(), &events);
        let text = &message.text;
        assert!(
            text.contains("❌ acme/api: build #42 failed"),
            "{kind}: {text}"
        );
        assert!(text.contains("5 events"), "{kind}: {text}");
        for line in [
            "task lint: EXECUTING -> COMPLETED",
            "task test: SCHEDULED -> EXECUTING",
            "task test: EXECUTING -> FAILED",
            "task deploy: TRIGGERED -> ABORTED",
            "build #42: EXECUTING -> FAILED",
        ] {
            assert!(text.contains(line), "{kind}: {line:?} missing from {text}");
        }
        // In order, oldest first.
        let lint = text.find("task lint:").expect("lint");
        let build = text.find("build #42: EXECUTING").expect("build");
        assert!(lint < build, "{kind}");
        assert!(!text.contains("earlier"), "{kind}");
    }
}

#[test]
fn a_long_digest_lists_the_latest_and_counts_the_rest() {
    let events: Vec<Event> = (0..40)
        .map(|i| event("task", &format!("t{i:02}"), "EXECUTING", "COMPLETED", i))
        .collect();
    for kind in Kind::ALL {
        let message = make(kind, &Settings::default(), &events);
        let text = &message.text;
        assert!(text.contains("40 events"), "{kind}");
        assert!(
            text.contains("task t39: EXECUTING -> COMPLETED"),
            "{kind}: {text}"
        );
        assert!(!text.contains("task t00:"), "{kind}");
        let earlier = text
            .split("and ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse::<usize>().ok())
            .expect("and K earlier");
        let listed = (0..40)
            .filter(|i| text.contains(&format!("task t{i:02}:")))
            .count();
        assert_eq!(earlier + listed, 40, "{kind}: every event accounted for");
        assert!(text.contains(&format!("and {earlier} earlier")), "{kind}");
    }
}

#[test]
fn a_template_is_the_message_text_in_each_native_field() {
    let settings = Settings {
        template: Some(
            "Build {{ build.id }} is {{ new_status }} ({{ events | length }}) {{ link }}".into(),
        ),
        ..with_link()
    };
    let want = format!("Build 42 is FAILED (1) {LINK}");
    for kind in Kind::ALL {
        let message = make(kind, &settings, &failed());
        let body = &message.body;
        let field = match kind {
            Kind::Slack => {
                assert_eq!(body["blocks"].as_array().map(Vec::len), Some(1));
                assert_eq!(body["blocks"][0]["text"]["text"], want.as_str());
                &body["text"]
            }
            Kind::Discord => &body["embeds"][0]["description"],
            Kind::Teams => &body["attachments"][0]["content"]["body"][0]["text"],
            Kind::DingTalk => &body["markdown"]["text"],
            Kind::Feishu => &body["card"]["elements"][0]["content"],
            Kind::WeCom => &body["markdown"]["content"],
        };
        assert_eq!(field, want.as_str(), "{kind}");
        assert!(message.text.contains(&want), "{kind}");
    }
}

#[test]
fn a_failing_template_is_an_error_and_a_failing_link_template_is_no_link() {
    let bad = Settings {
        template: Some("ok\n{{ key | nope }}".into()),
        ..Settings::default()
    };
    let err = compose(Kind::Slack, &bad, &failed()).expect_err("unknown filter");
    assert_eq!(err.line, Some(2));
    let bad_link = Settings {
        link_template: Some("https://x/{{ build.id | nope }}".into()),
        ..Settings::default()
    };
    let message = make(Kind::Teams, &bad_link, &failed());
    assert!(message.body["attachments"][0]["content"]
        .get("actions")
        .is_none());
}

#[test]
fn a_ping_is_a_short_test_message_in_every_format() {
    let ping = [Event::ping(1_700_000_000_000)];
    for kind in Kind::ALL {
        let message = make(kind, &with_link(), &ping);
        assert!(
            message.text.contains("Test message from buildhooks"),
            "{kind}: {}",
            message.text
        );
        assert!(!message.text.contains("->"), "{kind}");
        // With a template (a DingTalk keyword, say) the test carries its text too.
        let keyword = Settings {
            template: Some("[CI] {{ key }}".into()),
            ..Settings::default()
        };
        let message = make(kind, &keyword, &ping);
        assert!(
            message.text.contains("Test message from buildhooks"),
            "{kind}"
        );
        assert!(
            message.text.contains("[CI] ping"),
            "{kind}: {}",
            message.text
        );
    }
}

#[test]
fn events_without_data_still_compose() {
    let mut bare = sample_events()[0].clone();
    bare.data = json!({"repository": null, "build": {"id": null}, "task": "odd"});
    for kind in Kind::ALL {
        let message = make(kind, &with_link(), &[bare.clone()]);
        assert!(
            message.text.contains("EXECUTING -> FAILED"),
            "{kind}: {}",
            message.text
        );
        // No build id, so the link template renders no usable URL... or a URL without an id.
        assert!(!wire(&message).contains("build/42"), "{kind}");
    }
    for kind in Kind::ALL {
        assert!(compose(kind, &Settings::default(), &[]).is_ok());
    }
}
