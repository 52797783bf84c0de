//! What the deliveries log shows beside a delivery's own row, read for a whole page at once
//! (two queries, whatever the page's size): its event's build, task and status change (the
//! `event` row it was written for), and its latency, from the delivery's creation (in the
//! transaction that committed the event) to the end of its first successful attempt.

use std::collections::HashMap;

use buildhooks_entity::webhook_delivery;
use buildhooks_store::outbox::log;
use sea_orm::ConnectionTrait;

use crate::error::Result;

/// One delivery's facts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// The event's build (`None` for an event of no build: an audit event, an endpoint's).
    pub build_id: Option<i32>,
    pub task_id: Option<i32>,
    pub old_status: Option<String>,
    pub new_status: Option<String>,
    /// Creation to the end of the first successful attempt, once there is one.
    pub latency_ms: Option<i64>,
}

/// The facts of `rows` (deliveries of organization `org_id`), by delivery id.
pub(crate) async fn of(
    db: &impl ConnectionTrait,
    org_id: i32,
    rows: &[webhook_delivery::Model],
) -> Result<HashMap<i64, Facts>> {
    let mut event_ids: Vec<i64> = rows.iter().filter_map(|d| d.event_id).collect();
    event_ids.sort_unstable();
    event_ids.dedup();
    let events: HashMap<i64, _> = log::events(db, org_id, &event_ids)
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
    let ids: Vec<i64> = rows.iter().map(|d| d.id).collect();
    let successes = log::first_successes(db, &ids).await?;
    Ok(rows
        .iter()
        .map(|d| {
            let mut f = Facts {
                build_id: d.build_id,
                latency_ms: successes.get(&d.id).map(|end| (end - d.created_at).max(0)),
                ..Facts::default()
            };
            if let Some(e) = d.event_id.and_then(|id| events.get(&id)) {
                f.build_id = (e.build_id > 0).then_some(e.build_id);
                f.task_id = e.task_id;
                f.old_status = e.old_status.clone();
                f.new_status = Some(e.new_status.clone());
            }
            (d.id, f)
        })
        .collect())
}
