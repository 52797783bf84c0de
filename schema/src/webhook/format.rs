//! The two body shapes a webhook (or broker) endpoint can ask for, in one place:
//! `DOCUMENTED`, `{"action", "old_status", "data": <the stored query's result>}` as Cirrus's
//! documentation describes it; and `CIRRUS`, the flat body Cirrus sends today
//! (`cirruslabs/cirrus-webhooks-server`'s fixtures): `old_status`, `action`, then the query's
//! top-level fields (`repository`, `build`, `task`) beside them, ids as JSON numbers, a missing
//! entity as `{}` and null fields left out. The stored query decides the data in both.

use async_graphql::Enum;
use serde_json::{Map, Value};

use crate::event::EventDraft;

/// Which body an endpoint's deliveries carry.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum PayloadFormat {
    /// `{"action", "old_status", "data": {...}}`, string ids (the default).
    #[default]
    Documented,
    /// The flat body Cirrus CI sends today: `repository`, `build`, `task` at the top level,
    /// numeric ids, `{}` for an entity the event has none of.
    Cirrus,
}

impl PayloadFormat {
    /// The stored name (`webhook_endpoint.payload_format`).
    pub fn stored(self) -> &'static str {
        match self {
            PayloadFormat::Documented => "documented",
            PayloadFormat::Cirrus => "cirrus",
        }
    }

    /// The format of a stored name; anything else reads as the default.
    pub fn of_stored(name: &str) -> PayloadFormat {
        match name {
            "cirrus" => PayloadFormat::Cirrus,
            _ => PayloadFormat::Documented,
        }
    }

    /// The query an endpoint of this format runs when it stores none.
    pub fn default_query(self) -> &'static str {
        match self {
            PayloadFormat::Documented => DEFAULT_QUERY,
            PayloadFormat::Cirrus => CIRRUS_QUERY,
        }
    }
}

/// The default stored query, from Cirrus CI's documentation.
pub const DEFAULT_QUERY: &str =
    "query WebhookPayload($repositoryId: ID!, $buildId: ID!, $taskId: ID) {
  repository(id: $repositoryId) { id owner name isPrivate }
  build(id: $buildId) { id name branch changeIdInRepo status changeTimestamp }
  task(id: $taskId) { id name status creationTimestamp finalStatusTimestamp }
}";

/// What Cirrus's body carries today, field for field and in its order (the fixtures of
/// `cirruslabs/cirrus-webhooks-server`: `build.json`, `task.json`), plus `pullRequest`, which
/// Cirrus's documented query asks and its body leaves out on a branch build (null is left out).
pub const CIRRUS_QUERY: &str = "query WebhookPayload($repositoryId: ID!, $buildId: ID!, $taskId: ID) {
  repository(id: $repositoryId) { id owner name isPrivate }
  build(id: $buildId) { id branch pullRequest durationInSeconds changeIdInRepo changeTimestamp changeMessageTitle status user { id username } }
  task(id: $taskId) { id name nameAlias status statusTimestamp creationTimestamp durationInSeconds uniqueLabels automaticReRun automaticallyReRunnable instanceType notifications { level message link } }
}";

/// The exact body bytes of `event` with its rendered `data`, in `format`.
pub fn body(format: PayloadFormat, event: &EventDraft, data: Value) -> String {
    match format {
        PayloadFormat::Documented => documented(event.action, event.old_status, data),
        PayloadFormat::Cirrus => cirrus(event.action, event.old_status, data),
    }
}

/// `{"action", "old_status" (when there is one), "data"}`.
pub fn documented(action: &str, old_status: Option<&str>, data: Value) -> String {
    let mut body = Map::new();
    body.insert("action".into(), action.into());
    if let Some(old) = old_status {
        body.insert("old_status".into(), old.into());
    }
    body.insert("data".into(), data);
    Value::Object(body).to_string()
}

/// `{"old_status" (when there is one), "action", <data's fields>}`, Cirrus's flat body.
pub fn cirrus(action: &str, old_status: Option<&str>, data: Value) -> String {
    let mut body = Map::new();
    if let Some(old) = old_status {
        body.insert("old_status".into(), old.into());
    }
    body.insert("action".into(), action.into());
    if let Value::Object(fields) = data {
        for (name, value) in fields {
            if !body.contains_key(&name) {
                body.insert(name, entity(value));
            }
        }
    }
    Value::Object(body).to_string()
}

/// A top-level field of the data as Cirrus sends it: an entity the event has none of is `{}`.
pub fn entity(value: Value) -> Value {
    match value {
        Value::Null => Value::Object(Map::new()),
        other => numeric_ids(other),
    }
}

/// Null members left out, and ids (`id`, `...Id`) that are decimal numbers as JSON numbers.
fn numeric_ids(value: Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(name, v)| {
                    let v = match v {
                        Value::String(s) if is_id(&name) => number(s),
                        other => numeric_ids(other),
                    };
                    (name, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(numeric_ids).collect()),
        other => other,
    }
}

fn is_id(name: &str) -> bool {
    name == "id" || name.ends_with("Id")
}

/// A decimal id as a number; any other text stays a string.
fn number(text: String) -> Value {
    match text.parse::<i64>() {
        Ok(n) if n.to_string() == text => Value::from(n),
        _ => Value::String(text),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn cirrus_flattens_numbers_ids_and_leaves_nulls_out() {
        let data = json!({
            "repository": {"id": "5", "owner": "acme", "name": "app", "isPrivate": false},
            "build": {"id": "7", "branch": "main", "pullRequest": null,
                      "user": {"id": "42", "username": "octo"}},
            "task": null,
        });
        assert_eq!(
            cirrus("updated", Some("CREATED"), data),
            r#"{"old_status":"CREATED","action":"updated","repository":{"id":5,"owner":"acme","name":"app","isPrivate":false},"build":{"id":7,"branch":"main","user":{"id":42,"username":"octo"}},"task":{}}"#
        );
    }

    #[test]
    fn an_id_that_is_not_a_plain_number_stays_a_string() {
        let data = json!({"build": {"id": "007", "changeIdInRepo": "abc", "buildId": "x1"}});
        assert_eq!(
            cirrus("created", None, data),
            r#"{"action":"created","build":{"id":"007","changeIdInRepo":"abc","buildId":"x1"}}"#
        );
    }

    #[test]
    fn documented_keeps_the_data_as_rendered() {
        let data = json!({"task": null, "build": {"id": "7"}});
        assert_eq!(
            documented("updated", Some("CREATED"), data),
            r#"{"action":"updated","old_status":"CREATED","data":{"task":null,"build":{"id":"7"}}}"#
        );
    }
}
