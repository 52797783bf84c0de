//! Payload rendering: an endpoint's stored GraphQL query (or the default one) run through the
//! payload schema inside the transition's transaction, with the endpoint's organization as the
//! only visible tenant, serialized once to the exact body bytes that are sent and signed.

use std::sync::Arc;

use async_graphql::{Request, Variables};
use serde_json::json;

use crate::auth::Viewer;
use crate::bounded;
use crate::event::EventDraft;
use crate::parsed::{ParseCache, TypeNames};
use crate::seed::Seed;
use crate::status::{BuildStatus, TaskStatus};
use crate::PayloadSchema;
use buildhooks_store::DbHandle;

/// Stored queries: a thousand distinct texts, within `bounded::STORED` (checked when saved, and
/// again before each parse).
static STORED: ParseCache = ParseCache::new(1_000, usize::MAX);

/// The payload schema's type names.
pub(crate) static STORED_TYPES: TypeNames = TypeNames::new();

pub use super::format::DEFAULT_QUERY;

/// Runs `query` for one event as organization `org_id` on `db`, taking rows from `seed` where it
/// has them, and returns `data`. Errors in a stored query never block the transition: the fields
/// they hit are null and the cause is logged.
pub async fn render_data(
    schema: &PayloadSchema,
    db: DbHandle,
    seed: Arc<Seed>,
    org_id: i32,
    query: &str,
    event: &EventDraft,
) -> serde_json::Value {
    if query == DEFAULT_QUERY {
        if let Some(data) = default_data(&seed, org_id, event) {
            return data;
        }
    }
    let variables = Variables::from_json(json!({
        "repositoryId": event.repository_id.to_string(),
        "buildId": event.build_id.to_string(),
        "taskId": event.task_id.map(|id| id.to_string()),
    }));
    let request = Request::new(query)
        .variables(variables)
        .data(db)
        .data(seed)
        .data(Viewer::org(org_id));
    // The schema still validates it, with its limits, on every run. A text over the parsing
    // limits (saved before they existed) is never parsed: its payload has null data.
    let known = STORED_TYPES.of(schema);
    let request = match crate::parsed::prepare(&STORED, bounded::STORED, request, known) {
        Ok(request) => request,
        Err(refused) => {
            tracing::warn!(org_id, %refused, "stored payload query refused");
            return serde_json::Value::Null;
        }
    };
    let response = schema.execute(request).await;
    for error in &response.errors {
        tracing::warn!(org_id, error = %error.message, "stored payload query reported an error");
    }
    let data = response.data.into_json().unwrap_or(serde_json::Value::Null);
    super::order::in_query_order(query, data)
}

/// The default query's data taken from the seed's rows, field for field and in the query's order,
/// as the schema produces it (the payload tests compare the two byte for byte); `None` when the
/// seed lacks a row the query reads, or a row's stored status names no status, and the schema
/// runs the query. Skipping the schema saves its validation and execution, a fifth of the API
/// process's work per transition.
fn default_data(seed: &Seed, org_id: i32, event: &EventDraft) -> Option<serde_json::Value> {
    serde_json::from_str(&default_data_text(seed, org_id, event)?).ok()
}

/// The whole documented body of the default query, written as text straight from the seed's
/// rows: what `format::documented` makes of `default_data`, byte for byte (a test holds it),
/// without building and hashing a JSON map per event.
pub(crate) fn default_body(seed: &Seed, org_id: i32, event: &EventDraft) -> Option<String> {
    let data = default_data_text(seed, org_id, event)?;
    let mut out = String::with_capacity(data.len() + 64);
    out.push_str("{\"action\":");
    text(&mut out, event.action);
    if let Some(old) = event.old_status {
        out.push_str(",\"old_status\":");
        text(&mut out, old);
    }
    out.push_str(",\"data\":");
    out.push_str(&data);
    out.push('}');
    Some(out)
}

/// `value` as a JSON string.
fn text(out: &mut String, value: &str) {
    out.push_str(&serde_json::Value::from(value).to_string());
}

/// The default query's data as JSON text (see `default_data`).
fn default_data_text(seed: &Seed, org_id: i32, event: &EventDraft) -> Option<String> {
    use std::fmt::Write as _;
    let repository = seed.repository(org_id, event.repository_id)?;
    let owner = seed.organization(repository.org_id)?;
    let build = seed.build(org_id, event.build_id)?;
    // Not a made-up status: the schema's `status` field fails, is logged and counted, and the
    // payload lacks it, as it lacks any field of a stored query that fails.
    let build_status: BuildStatus = build.status.parse().ok()?;
    let task = match event.task_id {
        None => None,
        Some(id) => {
            let task = seed.task(org_id, id)?;
            let status: TaskStatus = task.status.parse().ok()?;
            Some((task, status))
        }
    };
    let mut out = String::with_capacity(512);
    let _ = write!(
        out,
        "{{\"repository\":{{\"id\":\"{}\",\"owner\":",
        repository.id
    );
    text(&mut out, &owner.name);
    out.push_str(",\"name\":");
    text(&mut out, &repository.name);
    let _ = write!(
        out,
        ",\"isPrivate\":{}}},\"build\":{{\"id\":\"{}\",\"name\":",
        repository.is_private, build.id
    );
    match &build.name {
        Some(name) => text(&mut out, name),
        None => out.push_str("null"),
    }
    out.push_str(",\"branch\":");
    text(&mut out, &build.branch);
    out.push_str(",\"changeIdInRepo\":");
    text(&mut out, &build.change_id_in_repo);
    let _ = write!(
        out,
        ",\"status\":\"{}\",\"changeTimestamp\":{}}},\"task\":",
        build_status.as_str(),
        build.change_timestamp
    );
    match task {
        None => out.push_str("null"),
        Some((task, status)) => {
            let _ = write!(out, "{{\"id\":\"{}\",\"name\":", task.id);
            text(&mut out, &task.name);
            let _ = write!(
                out,
                ",\"status\":\"{}\",\"creationTimestamp\":{},\"finalStatusTimestamp\":",
                status.as_str(),
                task.creation_timestamp
            );
            match task.final_status_timestamp {
                Some(ts) => {
                    let _ = write!(out, "{ts}");
                }
                None => out.push_str("null"),
            }
            out.push('}');
        }
    }
    out.push('}');
    Some(out)
}

/// The exact body bytes for an event and its rendered data, in the documented format.
pub fn body(event: &EventDraft, data: serde_json::Value) -> String {
    super::format::body(super::format::PayloadFormat::Documented, event, data)
}

#[cfg(test)]
mod tests {
    use buildhooks_entity::{build, organization, repository, task};

    use super::*;
    use crate::event::EventKind;
    use crate::status::unparsable_statuses;
    use crate::Store;

    const ORG: i32 = 1;

    /// A seed with every row the default query reads, with these stored statuses.
    fn seed(build_status: &str, task_status: &str) -> Seed {
        let mut seed = Seed::default();
        seed.put_organization(organization::Model {
            id: ORG,
            platform: "github".into(),
            name: "acme".into(),
            created_at: 1,
            build_url_template: None,
        });
        seed.put_repository(repository::Model {
            id: 2,
            org_id: ORG,
            name: "app".into(),
            is_private: false,
            default_branch: "main".into(),
            created_at: 1,
        });
        seed.put_build(build::Model {
            id: 3,
            org_id: ORG,
            repository_id: 2,
            name: None,
            branch: "main".into(),
            tag: None,
            change_id_in_repo: "abc".into(),
            change_message: "fix".into(),
            pull_request: None,
            status: build_status.into(),
            change_timestamp: 1,
            build_created_timestamp: 1,
            status_timestamp: 1,
            executing_timestamp: None,
            final_status_timestamp: None,
            attributes: None,
        });
        seed.put_task(task::Model {
            id: 4,
            org_id: ORG,
            build_id: 3,
            repository_id: 2,
            name: "test".into(),
            name_alias: None,
            status: task_status.into(),
            labels: "[]".into(),
            optional: false,
            manual_rerun_count: 0,
            previous_run_id: None,
            superseded: false,
            status_timestamp: 1,
            creation_timestamp: 1,
            scheduled_timestamp: None,
            executing_timestamp: None,
            final_status_timestamp: None,
            attributes: None,
        });
        seed
    }

    /// Renders the default query (`fast`: its text, which may skip the schema) or the same query
    /// in other words (always through the schema) over `seed`. The database has no tables: every
    /// row comes from the seed.
    async fn render(seed: Seed, fast: bool) -> serde_json::Value {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = buildhooks_store::connect::file_url(&dir.path().join("empty.db"));
        let conn = sea_orm::Database::connect(&url).await.expect("connect");
        let schema =
            crate::build_payload_schema(&Store::new(buildhooks_store::Db::new(conn.clone())));
        let query = match fast {
            true => DEFAULT_QUERY.to_owned(),
            false => format!("{DEFAULT_QUERY}\n"),
        };
        let event = EventDraft::updated(EventKind::Task, "SCHEDULED", "EXECUTING", (2, 3, Some(4)));
        let db = DbHandle::Conn(conn);
        render_data(&schema, db, Arc::new(seed), ORG, &query, &event).await
    }

    #[test]
    fn the_written_body_is_what_the_json_value_makes() {
        let mut seed = seed("EXECUTING", "FAILED");
        let mut tricky = seed.build(ORG, 3).expect("build").clone();
        tricky.name = Some("say \"hi\" \\ \u{1}ü".into());
        seed.put_build(tricky);
        for event in [
            EventDraft::updated(EventKind::Task, "EXECUTING", "FAILED", (2, 3, Some(4))),
            EventDraft::created(EventKind::Build, "CREATED", (2, 3, None)),
        ] {
            let written = default_body(&seed, ORG, &event).expect("written");
            let data = default_data(&seed, ORG, &event).expect("data");
            assert_eq!(written, super::body(&event, data.clone()));
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&written).expect("json")["data"],
                data
            );
        }
        let mut no_name = seed.build(ORG, 3).expect("build").clone();
        no_name.name = None;
        seed.put_build(no_name);
        let event = EventDraft::created(EventKind::Build, "CREATED", (2, 3, None));
        let written = default_body(&seed, ORG, &event).expect("written");
        assert!(written.contains("\"name\":null"), "{written}");
    }

    #[tokio::test]
    async fn the_schema_and_the_fast_path_read_seeded_statuses_alike() {
        let fast = render(seed("EXECUTING", "EXECUTING"), true).await;
        let slow = render(seed("EXECUTING", "EXECUTING"), false).await;
        assert_eq!(fast, slow);
        assert_eq!(fast["build"]["status"], "EXECUTING");
        assert_eq!(fast["task"]["status"], "EXECUTING");
    }

    #[tokio::test]
    async fn an_unparsable_stored_status_is_counted_and_never_replaced_by_an_invented_one() {
        for fast in [true, false] {
            let before = unparsable_statuses();
            let data = render(seed("BOGUS", "EXECUTING"), fast).await;
            // The failed field is absent, as any failing field of a stored query is; the rest
            // of the payload is there.
            assert_eq!(data["build"].get("status"), None, "{data}");
            assert_eq!(data["build"]["id"], "3", "{data}");
            assert_eq!(data["task"]["status"], "EXECUTING", "{data}");
            assert_eq!(data["repository"]["name"], "app", "{data}");
            assert!(unparsable_statuses() > before, "counted");

            let before = unparsable_statuses();
            let data = render(seed("EXECUTING", "NOPE"), fast).await;
            assert_eq!(data["task"].get("status"), None, "{data}");
            assert_eq!(data["task"]["id"], "4", "{data}");
            assert_eq!(data["build"]["status"], "EXECUTING", "{data}");
            assert!(unparsable_statuses() > before, "counted");

            let body = super::body(
                &EventDraft::created(EventKind::Build, "CREATED", (2, 3, None)),
                data,
            );
            for invented in ["ERRORED", "ABORTED", "NOPE"] {
                assert!(!body.contains(invented), "{body}");
            }
        }
    }
}
