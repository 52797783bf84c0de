//! The types Cirrus's own receiver decodes webhook bodies into, mirrored field for field from
//! `cirruslabs/cirrus-webhooks-server` (Go, `encoding/json`):
//! `internal/command/datadog/payload/common.go` @ 379451098a1be384839b5845ffd16a5435a34ebf
//! (`common`), `internal/command/datadog/payload/auditevent.go` @ 42814dd805cce960a93badd1deedb6417a5a7f69
//! (`AuditEvent`), and the newest `BuildOrTask`, from its sister repository
//! `cirruslabs/cirrus-webhooks-server-example` `internal/command/datadog/payload/buildortask.go`
//! @ ffdbc5326900b0886cf07e076a74c247a3e49d37 (a superset of the one in
//! cirrus-webhooks-server @ 42814dd).
//!
//! How `encoding/json` decodes, and how the mirror does the same:
//! - `*int64`, `*string`, `*bool` are `Option<..>`: absent or null is nil (`None`); a JSON value
//!   of another type (a string where a number is declared, `1.5` for an int) is an error.
//! - `[]string` is `Option<Vec<String>>`: null or absent is a nil slice, `[]` an empty one.
//! - a nested struct is filled from an object; absent or null leaves its zero value
//!   ([`go_struct`]); another JSON type is an error.
//! - unknown keys are ignored (no `deny_unknown_fields`).
//! - an embedded struct's fields are promoted to the outer object (`#[serde(flatten)]`), and an
//!   outer field shadows a promoted one of the same name (`AuditEvent.Actor` over `common.Actor`;
//!   serde's flatten sees only the keys the outer struct did not take).
//! - Go matches keys case-insensitively; the mirror matches them exactly. Cirrus's bodies use the
//!   tags' exact spelling, so a body that only Go's folding would read is reported as missing.

use serde::{Deserialize, Deserializer};

/// A nested Go struct: null or absent leaves the zero value.
fn go_struct<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `common`'s `Actor`.
#[derive(Deserialize, Default, Debug)]
pub struct CommonActor {
    pub id: Option<i64>,
}

/// `common`'s `Repository`.
#[derive(Deserialize, Default, Debug)]
pub struct Repository {
    pub id: Option<i64>,
    pub owner: Option<String>,
    pub name: Option<String>,
}

/// `common`: what every event carries.
#[derive(Deserialize, Default, Debug)]
pub struct Common {
    pub action: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub timestamp: Option<i64>,
    #[serde(default, deserialize_with = "go_struct")]
    pub actor: CommonActor,
    #[serde(default, deserialize_with = "go_struct")]
    pub repository: Repository,
}

/// `BuildOrTask.Build.User`.
#[derive(Deserialize, Default, Debug)]
pub struct User {
    pub username: Option<String>,
}

/// `BuildOrTask.Build`.
#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Build {
    pub id: Option<i64>,
    pub status: Option<String>,
    pub branch: Option<String>,
    pub pull_request: Option<i64>,
    pub pull_request_draft: Option<bool>,
    #[serde(rename = "changeIdInRepo")]
    pub change_id_in_repo: Option<String>,
    #[serde(default, deserialize_with = "go_struct")]
    pub user: User,
}

/// `BuildOrTask.Task`.
#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub id: Option<i64>,
    pub name: Option<String>,
    pub status: Option<String>,
    pub status_timestamp: Option<i64>,
    pub instance_type: Option<String>,
    pub unique_labels: Option<Vec<String>>,
    pub manual_rerun_count: Option<i64>,
    #[serde(rename = "localGroupId")]
    pub local_group_id: Option<i64>,
}

/// `BuildOrTask`: what the receiver decodes `X-Cirrus-Event: build` and `task` bodies into.
#[derive(Deserialize, Default, Debug)]
pub struct BuildOrTask {
    #[serde(default, deserialize_with = "go_struct")]
    pub build: Build,
    #[serde(default, deserialize_with = "go_struct")]
    pub task: Task,
    #[serde(flatten)]
    pub common: Common,
}

/// `AuditEvent.Actor`.
#[derive(Deserialize, Default, Debug)]
pub struct AuditActor {
    pub username: Option<String>,
}

/// `AuditEvent`: what it decodes `X-Cirrus-Event: audit_event` bodies into.
#[derive(Deserialize, Default, Debug)]
pub struct AuditEvent {
    pub data: Option<String>,
    #[serde(default, deserialize_with = "go_struct")]
    pub actor: AuditActor,
    #[serde(rename = "actorLocationIp")]
    pub actor_location_ip: Option<String>,
    #[serde(flatten)]
    pub common: Common,
}

/// Decodes `body` as the receiver does (`json.Unmarshal(body, &BuildOrTask{})`).
pub fn decode(body: &[u8]) -> Result<BuildOrTask, String> {
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// The fields the receiver reads that `payload` lacks, by their JSON path (`build.user.username`).
/// Read for every event: `action`, `repository.{id,owner,name}`, `build.{id,status,branch}` and,
/// when the build has a user, `build.user.username` (else the receiver tags it "api"); for task
/// events `task.{id,name,status,statusTimestamp,instanceType,uniqueLabels}`.
/// (`build.pullRequest`, `pullRequestDraft`, `task.manualRerunCount` and `localGroupId` are
/// read when present: Cirrus's own fixtures leave them out.)
pub fn missing(payload: &BuildOrTask, task_event: bool, has_user: bool) -> Vec<&'static str> {
    let (c, b, t) = (&payload.common, &payload.build, &payload.task);
    let mut checks = vec![
        ("action", c.action.is_some()),
        ("repository.id", c.repository.id.is_some()),
        ("repository.owner", c.repository.owner.is_some()),
        ("repository.name", c.repository.name.is_some()),
        ("build.id", b.id.is_some()),
        ("build.status", b.status.is_some()),
        ("build.branch", b.branch.is_some()),
    ];
    if has_user {
        checks.push(("build.user.username", b.user.username.is_some()));
    }
    if task_event {
        checks.extend([
            ("task.id", t.id.is_some()),
            ("task.name", t.name.is_some()),
            ("task.status", t.status.is_some()),
            ("task.statusTimestamp", t.status_timestamp.is_some()),
            ("task.instanceType", t.instance_type.is_some()),
            ("task.uniqueLabels", t.unique_labels.is_some()),
        ]);
    }
    checks
        .into_iter()
        .filter(|(_, present)| !present)
        .map(|(path, _)| path)
        .collect()
}

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/cirrus-webhooks-server")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The mirror reads Cirrus's own fixtures as the Go tests expect (their tag lists, buildortask_test.go
/// and auditevent_test.go @ 379451…), and fails where Go fails.
#[test]
fn the_mirror_reads_cirruss_fixtures_like_the_go_receiver() {
    let task = decode(&fixture("task.json")).expect("task.json");
    assert!(missing(&task, true, true).is_empty());
    assert_eq!(task.common.repository.id, Some(5129885287448576));
    assert_eq!(task.build.user.username.as_deref(), Some("edigaryev"));
    assert_eq!(task.task.id, Some(6017965227769856));
    assert_eq!(
        task.task.instance_type.as_deref(),
        Some("CommunityContainer")
    );
    assert_eq!(task.task.unique_labels, Some(vec![]));
    assert_eq!(task.task.manual_rerun_count, None);

    let build = decode(&fixture("build.json")).expect("build.json");
    assert!(missing(&build, false, true).is_empty());
    assert_eq!(build.common.action.as_deref(), Some("updated"));
    assert_eq!(build.build.status.as_deref(), Some("EXECUTING"));
    assert_eq!(build.task.id, None, "\"task\": {{}}");

    let audit: AuditEvent =
        serde_json::from_slice(&fixture("audit_event.json")).expect("audit_event.json");
    assert_eq!(audit.actor.username.as_deref(), Some("edigaryev"));
    assert_eq!(audit.actor_location_ip.as_deref(), Some("1.2.3.4"));
    assert_eq!(audit.common.kind.as_deref(), Some("graphql.mutation"));
    assert_eq!(
        audit.common.actor.id, None,
        "shadowed by AuditEvent.Actor, as in Go"
    );
    assert!(audit
        .data
        .is_some_and(|d| d.contains("GenerateNewScopedAccessToken")));

    // Where Go's json.Unmarshal fails, so does the mirror: a string id, a fraction, a string
    // where an object is declared.
    for bad in [
        r#"{"build": {"id": "5082236150611968"}}"#,
        r#"{"task": {"statusTimestamp": 1.5}}"#,
        r#"{"repository": "acme/app"}"#,
        r#"{"task": {"uniqueLabels": [1]}}"#,
    ] {
        assert!(decode(bad.as_bytes()).is_err(), "{bad}");
    }
    // And where Go reads nothing, neither does it: null entities, unknown keys.
    let empty = decode(br#"{"action": "created", "build": null, "data": {"build": {"id": "7"}}}"#)
        .expect("decodes");
    assert_eq!(empty.build.id, None);
}
