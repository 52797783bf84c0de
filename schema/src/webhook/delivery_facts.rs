//! What the deliveries log shows beside a delivery's own row, read for a whole page at once
//! (two queries, whatever the page's size): its event's build, task and status change (the
//! `event` row it was written for), and its latency, from the delivery's creation (in the
//! transaction that committed the event) to the end of its first successful attempt.

use std::collections::HashMap;

use async_graphql::ID;
use buildhooks_store::outbox::log;
use sea_orm::ConnectionTrait;

use super::delivery::WebHookDelivery;
use crate::error::Result;

/// Fills the event and latency fields of `deliveries`, all of organization `org_id`.
pub(crate) async fn attach(
    db: &impl ConnectionTrait,
    org_id: i32,
    deliveries: &mut [WebHookDelivery],
) -> Result<()> {
    let mut event_ids: Vec<i64> = deliveries.iter().filter_map(|d| d.event_row).collect();
    event_ids.sort_unstable();
    event_ids.dedup();
    let events: HashMap<i64, _> = log::events(db, org_id, &event_ids)
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
    let ids: Vec<i64> = deliveries.iter().map(|d| d.row_id).collect();
    let successes = log::first_successes(db, &ids).await?;
    for d in deliveries.iter_mut() {
        // An event of another kind (an audit event, an endpoint's) has no build.
        if let Some(e) = d.event_row.and_then(|id| events.get(&id)) {
            if e.build_id > 0 {
                d.build_id = Some(ID(e.build_id.to_string()));
            }
            d.task_id = e.task_id.map(|t| ID(t.to_string()));
            d.old_status = e.old_status.clone();
            d.new_status = Some(e.new_status.clone());
        }
        d.latency_ms = successes
            .get(&d.row_id)
            .map(|ended| (ended - d.timestamp).max(0));
    }
    Ok(())
}
