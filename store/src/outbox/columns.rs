//! The outbox's columns, named once for both databases: a new row (`new_row`), the columns an
//! insert writes, and the rows as written from what the insert returns.

use std::collections::HashMap;

use buildhooks_entity::webhook_delivery;
use sea_orm::{ActiveValue, DbErr, IdenStatic, Iterable, QueryResult, Set, TryIntoModel};

use crate::dialect::Dialect;
use crate::Result;

/// Outbox state names.
pub mod state {
    pub const PENDING: &str = "PENDING";
    pub const IN_FLIGHT: &str = "IN_FLIGHT";
    pub const DELIVERED: &str = "DELIVERED";
    pub const FAILED: &str = "FAILED";
}

/// One outbox row to write for an event of the transition.
pub struct NewDelivery {
    /// The 0-based position of the row's event in the transition's events.
    pub event: usize,
    pub org_id: i32,
    pub endpoint_id: i32,
    pub repository_id: Option<i32>,
    pub url: String,
    /// The event's kind (`build`, `task`) and action (`created`, `updated`).
    pub kind: String,
    pub action: String,
    pub body: String,
    /// The event's build, and the order key when the endpoint orders per build (the build id).
    pub build_id: Option<i32>,
    pub order_key: Option<i32>,
    /// Written IN_FLIGHT under this lease (token, until), for the local dispatcher; else PENDING.
    pub lease: Option<(String, i64)>,
}

/// The outbox row for `new`: a fresh delivery id (`delivery_id`), no attempts, due `now`.
pub(crate) fn new_row(
    new: NewDelivery,
    now: i64,
    dialect: Dialect,
) -> webhook_delivery::ActiveModel {
    let (lease_token, lease_until) = match new.lease {
        Some((token, until)) => (Some(token), Some(until)),
        None => (None, None),
    };
    webhook_delivery::ActiveModel {
        id: ActiveValue::NotSet,
        uuid: Set(delivery_id(dialect)),
        org_id: Set(new.org_id),
        event_id: Set(None),
        endpoint_id: Set(new.endpoint_id),
        repository_id: Set(new.repository_id),
        url: Set(new.url),
        kind: Set(new.kind),
        action: Set(new.action),
        body: Set(new.body),
        state: Set(if lease_token.is_some() {
            state::IN_FLIGHT
        } else {
            state::PENDING
        }
        .to_owned()),
        attempt_count: Set(0),
        round_attempts: Set(0),
        next_attempt_at: Set(now),
        lease_until: Set(lease_until),
        lease_token: Set(lease_token),
        last_status: Set(None),
        last_duration_ms: Set(None),
        last_response: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        build_id: Set(new.build_id),
        order_key: Set(new.order_key),
        replay_id: Set(None),
        erased_at: Set(None),
    }
}

/// A new delivery's public id. On SQLite a UUID v7 (time first, then random): the unique index
/// on it grows at its end as the outbox does, where a random id changes a page anywhere in it
/// with every row (measured: 13.1 against 15.1 page writes per delivery, about 4% more
/// deliveries per second). On PostgreSQL a UUID v4: there concurrent writers inserting at the
/// same end of one more index wait for each other (measured: 4-7% fewer deliveries per second
/// with v7).
fn delivery_id(dialect: Dialect) -> String {
    match dialect {
        Dialect::Sqlite => uuid::Uuid::now_v7().to_string(),
        Dialect::Postgres => uuid::Uuid::new_v4().to_string(),
    }
}

/// Every outbox column but `id`, in table order.
pub(crate) fn delivery_columns() -> Vec<String> {
    webhook_delivery::Column::iter()
        .map(|c| c.as_str().to_owned())
        .filter(|c| c != "id")
        .collect()
}

/// What an outbox insert returns: the generated id and the event id, found by the row's uuid.
pub(crate) const RETURNED: &str = "id, uuid, event_id";

/// The ids outbox rows came back with (`RETURNED`), by uuid: (id, event id).
pub(crate) type ReturnedIds = HashMap<String, (i64, Option<i64>)>;

/// The ids in `returned` (`RETURNED` rows), by uuid.
pub(crate) fn returned_ids(returned: &[QueryResult]) -> Result<ReturnedIds> {
    returned
        .iter()
        .map(|r| {
            Ok((
                r.try_get_by_index::<String>(1)?,
                (r.try_get_by_index(0)?, r.try_get_by_index(2)?),
            ))
        })
        .collect()
}

/// The rows as written: each with the id and event id its uuid came back with (`RETURNED`), so
/// the rows are not read back column by column.
pub(crate) fn as_written(
    rows: Vec<webhook_delivery::ActiveModel>,
    returned: &[QueryResult],
) -> Result<Vec<webhook_delivery::Model>> {
    with_ids(rows, &returned_ids(returned)?)
}

/// The rows with the ids found for their uuids in `ids`.
pub(crate) fn with_ids(
    rows: Vec<webhook_delivery::ActiveModel>,
    ids: &ReturnedIds,
) -> Result<Vec<webhook_delivery::Model>> {
    rows.into_iter()
        .map(|mut row| {
            let (id, event_id) = ids
                .get(row.uuid.as_ref())
                .ok_or_else(|| DbErr::Custom("an outbox row came back without its id".into()))?;
            row.id = Set(*id);
            row.event_id = Set(*event_id);
            row.try_into_model()
        })
        .collect()
}
