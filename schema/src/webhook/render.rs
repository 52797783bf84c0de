//! Payload rendering: an endpoint's stored GraphQL query (or the default one) run through the
//! payload schema inside the transition's transaction, with the endpoint's organization as the
//! only visible tenant, serialized once to the exact body bytes that are sent and signed.

use std::sync::Arc;

use async_graphql::{Request, Variables};
use serde::Serialize;
use serde_json::json;

use crate::auth::Viewer;
use crate::event::EventDraft;
use crate::parsed::ParseCache;
use crate::seed::Seed;
use crate::store::DbHandle;
use crate::PayloadSchema;

/// Stored queries: a thousand distinct texts, of any length (they were checked when saved).
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
    let variables = Variables::from_json(json!({
        "repositoryId": event.repository_id.to_string(),
        "buildId": event.build_id.to_string(),
        "taskId": event.task_id.map(|id| id.to_string()),
    }));
    let mut request = Request::new(query)
        .variables(variables)
        .data(db)
        .data(seed)
        .data(Viewer { org_id });
    if let Some(doc) = STORED.get(query) {
        // The schema still validates it, with its limits, on every run.
        request.set_parsed_query(doc);
    }
    let response = schema.execute(request).await;
    for error in &response.errors {
        tracing::warn!(org_id, error = %error.message, "stored payload query reported an error");
    }
    response.data.into_json().unwrap_or(serde_json::Value::Null)
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
