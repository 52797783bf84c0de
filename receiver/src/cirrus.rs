//! Typed bodies of the `CIRRUS` payload format: the flat body Cirrus CI sends today (and
//! buildhooks sends to endpoints that ask for it), as `cirruslabs/cirrus-webhooks-server` reads
//! it: `old_status`, `action`, then `repository`, `build` and `task` at the top level, ids as
//! JSON numbers, null fields left out and `{}` for an entity the event has none of (read here as
//! `None`). [`AuditEvent`] is the body of an `X-Cirrus-Event: audit_event` delivery.
//!
//! The fields are those of Cirrus's payload; a custom stored query that selects others still
//! parses (unknown fields are ignored, missing ones are `None` or empty).

use serde::{Deserialize, Deserializer, Serialize};

/// A `build` or `task` event's body in the `CIRRUS` format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CirrusPayload {
    /// The status before this change, when the event is a status change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_status: Option<String>,
    /// `created` or `updated` (`fixed`, `still_failing` for buildhooks' derived build events).
    pub action: String,
    /// The repository of the build.
    #[serde(default, deserialize_with = "entity")]
    pub repository: Option<CirrusRepository>,
    /// The build (of the task).
    #[serde(default, deserialize_with = "entity")]
    pub build: Option<CirrusBuild>,
    /// The task, for task events (`{}` on build events).
    #[serde(default, deserialize_with = "entity")]
    pub task: Option<CirrusTask>,
}

/// A repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CirrusRepository {
    pub id: i64,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub is_private: Option<bool>,
}

/// A build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CirrusBuild {
    pub id: i64,
    #[serde(default)]
    pub branch: Option<String>,
    /// The pull request's number; absent on a branch build.
    #[serde(default)]
    pub pull_request: Option<i64>,
    #[serde(default)]
    pub duration_in_seconds: Option<i64>,
    #[serde(default)]
    pub change_id_in_repo: Option<String>,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub change_timestamp: Option<i64>,
    #[serde(default)]
    pub change_message_title: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    /// Who the build is for; absent on a build created through the API without one.
    #[serde(default, deserialize_with = "entity")]
    pub user: Option<CirrusUser>,
}

/// A user (`build.user`, an audit event's `actor`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CirrusUser {
    #[serde(default)]
    pub id: Option<i64>,
    #[serde(default)]
    pub username: Option<String>,
}

/// A task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CirrusTask {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub name_alias: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub status_timestamp: Option<i64>,
    #[serde(default)]
    pub creation_timestamp: Option<i64>,
    #[serde(default)]
    pub duration_in_seconds: Option<i64>,
    #[serde(default)]
    pub unique_labels: Vec<String>,
    #[serde(default)]
    pub automatic_re_run: bool,
    #[serde(default)]
    pub automatically_re_runnable: bool,
    #[serde(default)]
    pub instance_type: Option<String>,
    #[serde(default)]
    pub notifications: Vec<CirrusNotification>,
}

/// A task's notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CirrusNotification {
    /// `INFO`, `WARNING` or `ERROR`.
    pub level: String,
    pub message: String,
    #[serde(default)]
    pub link: Option<String>,
}

/// An `audit_event` body in the `CIRRUS` format: one GraphQL mutation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// The event's id (a UUID).
    pub id: String,
    /// `graphql.mutation`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// Pretty-printed JSON: `mutationName` and the mutation's input fields that identify what
    /// was done (never a secret); [`AuditEvent::data`] parses it.
    #[serde(rename = "data")]
    pub data_text: String,
    /// Who acted: the API token's id.
    #[serde(default, deserialize_with = "entity")]
    pub actor: Option<CirrusUser>,
    /// The address the mutation came from, when known.
    #[serde(default)]
    pub actor_location_ip: Option<String>,
    /// `created`.
    pub action: String,
    /// The repository the mutation concerned, if one.
    #[serde(default, deserialize_with = "entity")]
    pub repository: Option<CirrusRepository>,
}

impl AuditEvent {
    /// The `data` text as JSON (`mutationName`, ...); `None` if it is not JSON.
    pub fn data(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.data_text).ok()
    }

    /// The mutation's name (`SaveWebHookSettings`, `TaskReRun`).
    pub fn mutation_name(&self) -> Option<String> {
        self.data()?
            .get("mutationName")?
            .as_str()
            .map(str::to_owned)
    }
}

/// An entity that may be `{}` or null (none) or an object with its fields.
fn entity<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    match Option::<serde_json::Value>::deserialize(deserializer)? {
        None => Ok(None),
        Some(serde_json::Value::Object(fields)) if fields.is_empty() => Ok(None),
        Some(value) => T::deserialize(value)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// Parses a `build` or `task` body of the `CIRRUS` format.
pub fn parse_cirrus_payload(body: &[u8]) -> Result<CirrusPayload, serde_json::Error> {
    serde_json::from_slice(body)
}

/// Parses an `audit_event` body of the `CIRRUS` format.
pub fn parse_audit_event(body: &[u8]) -> Result<AuditEvent, serde_json::Error> {
    serde_json::from_slice(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/cirrus-webhooks-server"
    );

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{FIXTURES}/{name}")).expect("fixture")
    }

    #[test]
    fn reads_what_cirrus_sends() {
        let build = parse_cirrus_payload(&fixture("build.json")).expect("build.json");
        assert_eq!(build.old_status.as_deref(), Some("COMPLETED"));
        assert_eq!(build.task, None, "`task: {{}}` on a build event");
        let b = build.build.expect("build");
        assert_eq!(b.id, 5082236150611968);
        assert_eq!(
            b.user.and_then(|u| u.username).as_deref(),
            Some("edigaryev")
        );
        let task = parse_cirrus_payload(&fixture("task.json")).expect("task.json");
        let t = task.task.expect("task");
        assert_eq!(t.instance_type.as_deref(), Some("CommunityContainer"));
        assert_eq!(t.name_alias.as_deref(), Some("lint"));
        assert_eq!(task.repository.map(|r| r.id), Some(5129885287448576));
        let audit = parse_audit_event(&fixture("audit_event.json")).expect("audit_event.json");
        assert_eq!(audit.kind, "graphql.mutation");
        assert_eq!(
            audit.mutation_name().as_deref(),
            Some("GenerateNewScopedAccessToken")
        );
        assert_eq!(audit.repository, None);
        assert_eq!(audit.actor_location_ip.as_deref(), Some("1.2.3.4"));
    }

    #[test]
    fn a_string_id_is_refused_as_the_go_receiver_refuses_it() {
        let body = br#"{"action":"created","build":{"id":"5"},"task":{}}"#;
        assert!(parse_cirrus_payload(body).is_err());
    }
}
