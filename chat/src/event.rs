//! The values the chat sink hands this crate and gets back: one [`Event`] as the outbox stored
//! it, an endpoint's [`Settings`], the composed [`Message`], and [`sample_events`] for previews
//! and template checks.

use serde::{Deserialize, Serialize};
use serde_json::json;

/// One event as the chat sink sees it (the outbox row's stored envelope).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Event {
    /// `build`, `task` or `ping`.
    pub event: String,
    /// The filter key: `task.failed`, `build.completed`, `build.fixed`, `build.still_failing`,
    /// `ping`, ...
    pub key: String,
    /// `created`, `updated` or `ping`.
    pub action: String,
    /// The status before, when the event is a change.
    pub old_status: Option<String>,
    /// The status after (`FAILED`; `COMPLETED` for `build.fixed`, `FAILED` for
    /// `build.still_failing`).
    pub new_status: Option<String>,
    /// The endpoint's stored GraphQL query result (`repository`, `build`, `task`, ...). Any field
    /// may be missing or null: nothing here fails on a missing field.
    pub data: serde_json::Value,
    /// When it happened, in milliseconds since the Unix epoch.
    pub at_ms: i64,
}

/// An endpoint's chat settings, as far as composing a message needs them.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// A per-endpoint minijinja template for the message text; `None` (or blank) gives the kind's
    /// default message.
    pub template: Option<String>,
    /// The organization's build URL template (e.g. `https://ci.example.com/build/{{ build.id }}`),
    /// rendered over `data`. A failing or non-http(s) rendering gives no link, never an error.
    pub link_template: Option<String>,
    /// DingTalk: mobiles to mention (`at.atMobiles`, and `@mobile` in the text).
    pub at_mobiles: Vec<String>,
    /// DingTalk: mention everyone (`at.isAtAll`).
    pub is_at_all: bool,
    /// WeCom: user ids to mention (`<@userid>` in the markdown content).
    pub mentioned_list: Vec<String>,
}

/// A composed message, ready to sign and send.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The vendor-native JSON body, unsigned, within the kind's `body_limit()` when serialised.
    pub body: serde_json::Value,
    /// The message as a person reads it (the markdown or plain text shown), for previews.
    pub text: String,
}

/// Two realistic events: a `task.failed` (repository acme/api, branch main, build 42, task
/// `test`, EXECUTING -> FAILED after 125 s) and the `build.completed` of another build.
pub fn sample_events() -> Vec<Event> {
    let repository = json!({"id": "1", "owner": "acme", "name": "api", "isPrivate": false});
    vec![
        Event {
            event: "task".into(),
            key: "task.failed".into(),
            action: "updated".into(),
            old_status: Some("EXECUTING".into()),
            new_status: Some("FAILED".into()),
            data: json!({
                "repository": repository,
                "build": {
                    "id": "42",
                    "branch": "main",
                    "changeIdInRepo": "9f3c2ab5d1e0",
                    "changeMessageTitle": "Fix the flaky login test",
                    "status": "EXECUTING",
                    "durationInSeconds": null,
                    "user": {"username": "alice"}
                },
                "task": {
                    "id": "7",
                    "name": "test",
                    "status": "FAILED",
                    "durationInSeconds": 125
                }
            }),
            at_ms: 1_700_000_125_000,
        },
        Event {
            event: "build".into(),
            key: "build.completed".into(),
            action: "updated".into(),
            old_status: Some("EXECUTING".into()),
            new_status: Some("COMPLETED".into()),
            data: json!({
                "repository": repository,
                "build": {
                    "id": "43",
                    "branch": "main",
                    "changeIdInRepo": "0b7e41c9aa20",
                    "changeMessageTitle": "Retry the login test once",
                    "status": "COMPLETED",
                    "durationInSeconds": 312,
                    "user": {"username": "bob"}
                },
                "task": null
            }),
            at_ms: 1_700_000_900_000,
        },
    ]
}

impl Event {
    /// A `ping` event: what a test message is composed from.
    pub fn ping(at_ms: i64) -> Event {
        Event {
            event: "ping".into(),
            key: "ping".into(),
            action: "ping".into(),
            old_status: None,
            new_status: None,
            data: serde_json::Value::Null,
            at_ms,
        }
    }

    /// Whether this is a test message rather than a CI event.
    pub fn is_ping(&self) -> bool {
        self.key == "ping" || self.event == "ping"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_the_documented_failure_and_completion() {
        let samples = sample_events();
        assert_eq!(samples.len(), 2);
        let failed = &samples[0];
        assert_eq!(failed.key, "task.failed");
        assert_eq!(failed.data["repository"]["owner"], "acme");
        assert_eq!(failed.data["build"]["id"], "42");
        assert_eq!(failed.data["task"]["durationInSeconds"], 125);
        assert_eq!(samples[1].key, "build.completed");
        assert!(samples[1].data["task"].is_null());
        // Serialises and reads back unchanged: the outbox stores this shape.
        let text = serde_json::to_string(&samples).expect("serialise");
        let back: Vec<Event> = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, samples);
        assert!(Event::ping(1).is_ping() && !failed.is_ping());
    }
}
