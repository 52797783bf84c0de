//! Typed webhook bodies: `{"action", "old_status", "data"}` where `data` is the result of the
//! default payload query over `repository`, `build` and `task`.
//!
//! Field names follow the GraphQL schema (camelCase), except `old_status`, which Cirrus documents
//! in snake case. Unknown fields are ignored and optional ones may be missing, so a hook with a
//! custom query that selects more still parses; one that selects other fields can deserialize
//! the body into its own type with `serde_json`.

use serde::{Deserialize, Serialize};

/// A webhook body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// What happened to the object.
    pub action: Action,
    /// The status before this change, when the event is a status change.
    #[serde(default)]
    pub old_status: Option<String>,
    /// The result of the hook's query.
    #[serde(default)]
    pub data: PayloadData,
}

/// The `action` of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The build or task was created.
    Created,
    /// The build or task changed (usually its status).
    Updated,
}

/// The `data` of a body: what the default query selects. Each part is null or absent when the
/// query did not select it (`task` is null for build events).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadData {
    /// The repository of the build.
    #[serde(default)]
    pub repository: Option<Repository>,
    /// The build the event is about (or the task's build).
    #[serde(default)]
    pub build: Option<Build>,
    /// The task, for task events.
    #[serde(default)]
    pub task: Option<Task>,
}

/// A repository, as selected by `repository { id owner name isPrivate }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Repository {
    /// The repository's id.
    pub id: String,
    /// The owner (organization) name.
    pub owner: String,
    /// The repository name.
    pub name: String,
    /// Whether the repository is private.
    #[serde(default)]
    pub is_private: bool,
}

/// A build, as selected by `build { id name branch changeIdInRepo status changeTimestamp }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Build {
    /// The build's id.
    pub id: String,
    /// The build's name, if it has one.
    #[serde(default)]
    pub name: Option<String>,
    /// The branch built.
    pub branch: String,
    /// The commit built.
    pub change_id_in_repo: String,
    /// The build's status after this event (`EXECUTING`, `FAILED`, ...).
    pub status: String,
    /// When the change was made, in milliseconds since the epoch.
    pub change_timestamp: i64,
}

/// A task, as selected by `task { id name status creationTimestamp finalStatusTimestamp }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// The task's id.
    pub id: String,
    /// The task's name.
    pub name: String,
    /// The task's status after this event (`EXECUTING`, `FAILED`, ...).
    pub status: String,
    /// When the task was created, in milliseconds since the epoch.
    pub creation_timestamp: i64,
    /// When the task reached a final status, in milliseconds since the epoch.
    #[serde(default)]
    pub final_status_timestamp: Option<i64>,
}

/// Parses a webhook body. Verify its signature first.
pub fn parse_payload(body: &[u8]) -> Result<Payload, serde_json::Error> {
    serde_json::from_slice(body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{"action":"updated","old_status":"EXECUTING","data":{"repository":{"id":"1","owner":"acme","name":"web","isPrivate":false},"build":{"id":"2","name":null,"branch":"main","changeIdInRepo":"abc","status":"EXECUTING","changeTimestamp":1700000000000},"task":{"id":"3","name":"test","status":"FAILED","creationTimestamp":1700000000000,"finalStatusTimestamp":1700000001000}}}"#;

    #[test]
    fn parses_the_documented_task_event() {
        let payload = parse_payload(EXAMPLE.as_bytes()).unwrap();
        assert_eq!(
            payload,
            Payload {
                action: Action::Updated,
                old_status: Some("EXECUTING".to_owned()),
                data: PayloadData {
                    repository: Some(Repository {
                        id: "1".to_owned(),
                        owner: "acme".to_owned(),
                        name: "web".to_owned(),
                        is_private: false,
                    }),
                    build: Some(Build {
                        id: "2".to_owned(),
                        name: None,
                        branch: "main".to_owned(),
                        change_id_in_repo: "abc".to_owned(),
                        status: "EXECUTING".to_owned(),
                        change_timestamp: 1_700_000_000_000,
                    }),
                    task: Some(Task {
                        id: "3".to_owned(),
                        name: "test".to_owned(),
                        status: "FAILED".to_owned(),
                        creation_timestamp: 1_700_000_000_000,
                        final_status_timestamp: Some(1_700_000_001_000),
                    }),
                },
            }
        );
    }

    #[test]
    fn serializes_back_to_the_same_json() {
        let payload = parse_payload(EXAMPLE.as_bytes()).unwrap();
        let expected: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        assert_eq!(serde_json::to_value(&payload).unwrap(), expected);
    }

    #[test]
    fn a_created_build_event_has_no_old_status_and_a_null_task() {
        let body = r#"{"action":"created","data":{"repository":null,
            "build":{"id":"2","branch":"main","changeIdInRepo":"abc","status":"CREATED",
            "changeTimestamp":1},"task":null}}"#;
        let payload = parse_payload(body.as_bytes()).unwrap();
        assert_eq!(payload.action, Action::Created);
        assert_eq!(payload.old_status, None);
        assert_eq!(payload.data.task, None);
        assert_eq!(payload.data.build.unwrap().name, None);
    }

    #[test]
    fn unknown_fields_from_custom_queries_are_ignored() {
        let body = r#"{"action":"updated","old_status":null,"extra":1,"data":{
            "task":{"id":"3","name":"t","status":"EXECUTING","creationTimestamp":5,
            "labels":["a"],"durationInSeconds":3},"viewer":{"id":"x"}}}"#;
        let payload = parse_payload(body.as_bytes()).unwrap();
        let task = payload.data.task.unwrap();
        assert_eq!(task.final_status_timestamp, None);
        assert_eq!(payload.data.repository, None);
    }

    #[test]
    fn rejects_unknown_actions_and_missing_required_fields() {
        assert!(parse_payload(br#"{"action":"deleted","data":{}}"#).is_err());
        assert!(parse_payload(br#"{"action":"created","data":{"task":{"id":"1"}}}"#).is_err());
        assert!(parse_payload(b"not json").is_err());
    }
}
