//! Payload rendering: an endpoint's stored GraphQL query (or the default one) run through the
//! payload schema inside the transition's transaction, with the endpoint's organization as the
//! only visible tenant, serialized once to the exact body bytes that are sent and signed.

use std::sync::Arc;

use async_graphql::{Request, Variables};
use serde::Serialize;
use serde_json::json;

use crate::auth::Viewer;
use crate::bounded;
use crate::event::EventDraft;
use crate::parsed::ParseCache;
use crate::seed::Seed;
use crate::status::{BuildStatus, TaskStatus};
use crate::PayloadSchema;
use buildhooks_store::DbHandle;

/// Stored queries: a thousand distinct texts, within `bounded::STORED` (checked when saved, and
/// again before each parse).
static STORED: ParseCache = ParseCache::new(1_000, usize::MAX);

/// The default stored query, from Cirrus CI's documentation.
pub const DEFAULT_QUERY: &str =
    "query WebhookPayload($repositoryId: ID!, $buildId: ID!, $taskId: ID) {
  repository(id: $repositoryId) { id owner name isPrivate }
  build(id: $buildId) { id name branch changeIdInRepo status changeTimestamp }
  task(id: $taskId) { id name status creationTimestamp finalStatusTimestamp }
}";

/// The body of a delivery: `{"action": ..., "old_status": ..., "data": ...}`.
#[derive(Serialize)]
struct Body<'a> {
    action: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_status: Option<&'a str>,
    data: serde_json::Value,
}

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
        .data(Viewer { org_id });
    // The schema still validates it, with its limits, on every run. A text over the parsing
    // limits (saved before they existed) is never parsed: its payload has null data.
    let request = match crate::parsed::prepare(&STORED, bounded::STORED, request) {
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
    response.data.into_json().unwrap_or(serde_json::Value::Null)
}

/// The default query's data taken from the seed's rows, field for field and in the query's order,
/// as the schema produces it (the payload tests compare the two byte for byte); `None` when the
/// seed lacks a row the query reads, and the schema runs the query. Skipping the schema saves
/// its validation and execution, a fifth of the API process's work per transition.
fn default_data(seed: &Seed, org_id: i32, event: &EventDraft) -> Option<serde_json::Value> {
    let repository = seed.repository(org_id, event.repository_id)?;
    let owner = seed.organization(repository.org_id)?;
    let build = seed.build(org_id, event.build_id)?;
    let task = match event.task_id {
        None => serde_json::Value::Null,
        Some(id) => {
            let task = seed.task(org_id, id)?;
            let status = task.status.parse().unwrap_or(TaskStatus::Aborted);
            json!({
                "id": task.id.to_string(),
                "name": task.name,
                "status": status.as_str(),
                "creationTimestamp": task.creation_timestamp,
                "finalStatusTimestamp": task.final_status_timestamp,
            })
        }
    };
    let status = build.status.parse().unwrap_or(BuildStatus::Errored);
    Some(json!({
        "repository": {
            "id": repository.id.to_string(),
            "owner": owner.name,
            "name": repository.name,
            "isPrivate": repository.is_private,
        },
        "build": {
            "id": build.id.to_string(),
            "name": build.name,
            "branch": build.branch,
            "changeIdInRepo": build.change_id_in_repo,
            "status": status.as_str(),
            "changeTimestamp": build.change_timestamp,
        },
        "task": task,
    }))
}

/// The exact body bytes for an event and its rendered data.
pub fn body(event: &EventDraft, data: serde_json::Value) -> String {
    serde_json::to_string(&Body {
        action: event.action,
        old_status: event.old_status,
        data,
    })
    .unwrap_or_else(|_| String::from("{}"))
}
