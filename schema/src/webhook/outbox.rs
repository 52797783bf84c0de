//! The transactional outbox: for each event of a transition, one `webhook_delivery` row per
//! matching endpoint, written in the transition's own transaction, then the commit and the
//! dispatcher's wake-up. A refused or rolled-back transition leaves no event and no row.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use async_graphql::Context;
use buildhooks_entity::{webhook_delivery, webhook_endpoint};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DbBackend, IdenStatic, Iterable,
    QueryFilter, QueryOrder, QueryResult, Set, Statement, TryIntoModel,
};

use super::{pattern, render};
use crate::clock::now_ms;
use crate::ctx::store;
use crate::error::{Error, Result};
use crate::event::EventDraft;
use crate::seed::Seed;
use crate::store::{Lease, WriteTxn};
use crate::transition::Changes;
use crate::PayloadSchema;

/// PostgreSQL channel notified (on commit) when outbox rows were written, so every instance's
/// dispatcher wakes; in-process, `Store::wake_dispatcher` does the same.
pub const NOTIFY_CHANNEL: &str = "buildhooks_outbox";

/// Faults a test can switch on to prove atomicity. Not for production use.
#[doc(hidden)]
#[derive(Default, Debug)]
pub struct Faults {
    /// Fail the transaction after the outbox rows were inserted, before the commit.
    pub fail_after_outbox: AtomicBool,
}

/// Outbox state names.
pub mod state {
    pub const PENDING: &str = "PENDING";
    pub const IN_FLIGHT: &str = "IN_FLIGHT";
    pub const DELIVERED: &str = "DELIVERED";
    pub const FAILED: &str = "FAILED";
}

/// Completes a new outbox row whose target and body are set: a fresh delivery id, no attempts,
/// due `now`; IN_FLIGHT under `lease` (token, until) when given, else PENDING.
pub(crate) fn new_row(
    mut row: webhook_delivery::ActiveModel,
    now: i64,
    lease: Option<(&str, i64)>,
) -> webhook_delivery::ActiveModel {
    row.uuid = Set(uuid::Uuid::new_v4().to_string());
    row.state = Set(if lease.is_some() {
        state::IN_FLIGHT
    } else {
        state::PENDING
    }
    .to_owned());
    row.attempt_count = Set(0);
    row.round_attempts = Set(0);
    row.next_attempt_at = Set(now);
    row.lease_until = Set(lease.map(|l| l.1));
    row.lease_token = Set(lease.map(|l| l.0.to_owned()));
    row.last_status = Set(None);
    row.last_duration_ms = Set(None);
    row.last_response = Set(None);
    row.created_at = Set(now);
    row.updated_at = Set(now);
    row
}

/// Writes the events and their outbox rows in `w`, leased with `lease` (token, until) when
/// given, PENDING otherwise; returns the rows written. `seed` holds the rows the transition left,
/// which the payload renders take instead of reading them again.
pub async fn publish(
    w: &WriteTxn<'_>,
    schema: &PayloadSchema,
    org_id: i32,
    events: &[EventDraft],
    mut seed: Seed,
    lease: Option<&Lease>,
) -> Result<(Vec<webhook_delivery::Model>, Vec<webhook_endpoint::Model>)> {
    let endpoints = match seed.take_endpoints() {
        Some(read_with_the_transition) => read_with_the_transition,
        None => {
            webhook_endpoint::Entity::find_in_org(org_id)
                .filter(webhook_endpoint::Column::Enabled.eq(true))
                .filter(webhook_endpoint::Column::Deleted.eq(false))
                .order_by_asc(webhook_endpoint::Column::Position)
                .all(w.txn())
                .await?
        }
    };
    let endpoints: Vec<(webhook_endpoint::Model, Vec<String>)> = endpoints
        .into_iter()
        .map(|e| {
            let patterns = serde_json::from_str(&e.events).unwrap_or_default();
            (e, patterns)
        })
        .collect();
    let now = now_ms();
    let mut rows = Vec::new();
    if !endpoints.is_empty() && !events.is_empty() {
        if let Some(org) = w.rows().organization(w.txn(), org_id).await? {
            seed.put_organization(org);
        }
        let mut repositories: Vec<i32> = events.iter().map(|e| e.repository_id).collect();
        repositories.sort_unstable();
        repositories.dedup();
        for id in repositories {
            if let Some(repository) = w.rows().repository(w.txn(), org_id, id).await? {
                seed.put_repository(repository);
            }
        }
    }
    let seed = Arc::new(seed);
    for (position, event) in events.iter().enumerate() {
        let key = event.filter_key();
        // Rendered once per distinct query per event, not once per endpoint.
        let mut bodies: HashMap<&str, String> = HashMap::new();
        for (endpoint, patterns) in &endpoints {
            if endpoint
                .repository_id
                .is_some_and(|r| r != event.repository_id)
                || !pattern::any_matches(patterns, &key)
            {
                continue;
            }
            let query = endpoint.query.as_deref().unwrap_or(render::DEFAULT_QUERY);
            if !bodies.contains_key(query) {
                let data =
                    render::render_data(schema, w.handle(), seed.clone(), org_id, query, event)
                        .await;
                bodies.insert(query, render::body(event, data));
            }
            let body = bodies.get(query).cloned().unwrap_or_default();
            rows.push((
                position,
                new_row(
                    webhook_delivery::ActiveModel {
                        org_id: Set(org_id),
                        endpoint_id: Set(endpoint.id),
                        repository_id: Set(Some(event.repository_id)),
                        url: Set(endpoint.url.clone()),
                        kind: Set(event.kind.as_str().to_owned()),
                        action: Set(event.action.to_owned()),
                        body: Set(body),
                        ..Default::default()
                    },
                    now,
                    lease.and_then(|l| l.for_row(org_id, endpoint.id)),
                ),
            ));
        }
    }
    let backend = w.txn().get_database_backend();
    let written = if rows.is_empty() {
        crate::event::insert_all(w.txn(), org_id, now, events).await?;
        Vec::new()
    } else if backend == DbBackend::Postgres {
        let drafts = events.iter().map(|e| e.row(org_id, now)).collect();
        super::outbox_postgres::insert_events_and_rows(w.txn(), drafts, rows).await?
    } else {
        let event_ids = crate::event::insert_all(w.txn(), org_id, now, events).await?;
        let rows = rows.into_iter().map(|(position, mut row)| {
            row.event_id = Set(event_ids.get(position).copied());
            row
        });
        insert_rows(w.txn(), rows.collect()).await?
    };
    // Leased rows go to this process's dispatcher; only rows written for any instance to claim
    // wake the others (rows without a free share here are claimed when a slot frees, or by
    // another instance's next look at the outbox).
    if !written.is_empty() && lease.is_none() && backend == DbBackend::Postgres {
        w.txn()
            .execute_unprepared(&format!("NOTIFY {NOTIFY_CHANNEL}"))
            .await?;
    }
    let used: Vec<webhook_endpoint::Model> = endpoints
        .into_iter()
        .map(|(e, _)| e)
        .filter(|e| written.iter().any(|d| d.endpoint_id == e.id))
        .collect();
    Ok((written, used))
}

/// Every outbox column but `id`, in table order.
pub(super) fn delivery_columns() -> Vec<String> {
    webhook_delivery::Column::iter()
        .map(|c| c.as_str().to_owned())
        .filter(|c| c != "id")
        .collect()
}

/// Writes outbox rows whose every column but `id` is set (`new_row`); returns them as written.
async fn insert_rows(
    txn: &impl ConnectionTrait,
    rows: Vec<webhook_delivery::ActiveModel>,
) -> Result<Vec<webhook_delivery::Model>> {
    static HEAD: LazyLock<(String, usize)> = LazyLock::new(|| {
        let columns = delivery_columns();
        (
            format!("INSERT INTO webhook_delivery ({})", columns.join(", ")),
            columns.len(),
        )
    });
    let backend = txn.get_database_backend();
    let mut values = Vec::with_capacity(rows.len() * HEAD.1);
    for row in &rows {
        for column in webhook_delivery::Column::iter().filter(|c| c.as_str() != "id") {
            match row.get(column) {
                ActiveValue::Set(v) | ActiveValue::Unchanged(v) => values.push(v),
                ActiveValue::NotSet => {
                    return Err(Error::Internal(format!(
                        "outbox column {} not set",
                        column.as_str()
                    )))
                }
            }
        }
    }
    let sql = crate::sql::insert_rows(backend, &HEAD.0, HEAD.1, rows.len(), RETURNED);
    let returned = txn
        .query_all(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    as_written(rows, &returned)
}

/// What an outbox insert returns: the generated id and the event id, found by the row's uuid.
pub(super) const RETURNED: &str = "id, uuid, event_id";

/// The rows as written: each with the id and event id its uuid came back with (`RETURNED`), so
/// the rows are not read back column by column.
pub(super) fn as_written(
    rows: Vec<webhook_delivery::ActiveModel>,
    returned: &[QueryResult],
) -> Result<Vec<webhook_delivery::Model>> {
    let ids: HashMap<String, (i32, Option<i32>)> = returned
        .iter()
        .map(|r| {
            Ok((
                r.try_get_by_index::<String>(1)?,
                (r.try_get_by_index(0)?, r.try_get_by_index(2)?),
            ))
        })
        .collect::<std::result::Result<_, sea_orm::DbErr>>()?;
    rows.into_iter()
        .map(|mut row| {
            let (id, event_id) = ids
                .get(row.uuid.as_ref())
                .ok_or_else(|| Error::Internal("an outbox row came back without its id".into()))?;
            row.id = Set(*id);
            row.event_id = Set(*event_id);
            Ok(row.try_into_model()?)
        })
        .collect()
}

/// Publishes `events` in `w`, commits, and wakes the dispatcher when rows were written.
pub(crate) async fn commit_with_events(
    ctx: &Context<'_>,
    w: WriteTxn<'_>,
    org_id: i32,
    changes: Changes,
) -> Result<()> {
    let schema = ctx
        .data_opt::<PayloadSchema>()
        .ok_or_else(|| Error::Internal("no payload schema in context".into()))?;
    let store = store(ctx)?;
    let lease = store.handoff_lease(now_ms());
    let Changes { events, seed } = changes;
    let (written, endpoints) = publish(&w, schema, org_id, &events, seed, lease.as_ref()).await?;
    if ctx
        .data_opt::<std::sync::Arc<Faults>>()
        .is_some_and(|f| f.fail_after_outbox.load(Ordering::SeqCst))
    {
        return Err(Error::Internal("injected fault after outbox insert".into()));
    }
    if written.is_empty() {
        return w.commit().await;
    }
    // Handed to the dispatcher by the committing task, so a request dropped while waiting for
    // its commit still gets its deliveries sent at once (not after its lease expires).
    let store = store.clone();
    w.commit_then(Box::new(move || {
        let ids: Vec<String> = written.iter().map(|d| d.uuid.clone()).collect();
        store.committed(&ids);
        match lease {
            // Leased rows go to the dispatcher; rows written PENDING for want of a free share
            // are claimed when their endpoint's or organization's slot frees.
            Some(lease) => {
                let leased: Vec<_> = written
                    .into_iter()
                    .filter(|d| d.lease_token.is_some())
                    .collect();
                if !leased.is_empty() {
                    store.hand_off(leased, lease.token, endpoints);
                }
            }
            None => store.wake_dispatcher(),
        }
    }))
    .await
}
