//! The deliveries log's reads (a page, filtered by endpoint, state and event; the events and
//! first successes of a page's deliveries, one query each), and putting a finished delivery
//! back in the outbox (redeliver).

use std::collections::HashMap;

use buildhooks_entity::{event, webhook_attempt, webhook_delivery};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::columns::state;
use crate::{Result, Window};

/// Which of an organization's deliveries the log shows; the default shows all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this endpoint's (read through `ix_webhook_delivery_endpoint`).
    pub endpoint_id: Option<i32>,
    /// Only these states (none: any).
    pub states: Vec<String>,
    /// Only this kind (`build`, `task`, `ping`, ...).
    pub kind: Option<String>,
    /// With `kind`: only deliveries whose action is this word (`created`, `fixed`, ...) or
    /// whose event's new status is it in upper case (`failed`: FAILED), as event patterns say.
    pub word: Option<String>,
}

/// The deliveries of `org_id` that pass `filter`, in `window` (ids ascending: oldest first),
/// in the order read.
pub async fn page(
    db: &impl ConnectionTrait,
    org_id: i32,
    filter: &Filter,
    window: &Window,
) -> Result<Vec<webhook_delivery::Model>> {
    use webhook_delivery::Column as D;
    let mut q = webhook_delivery::Entity::find_in_org(org_id);
    if let Some(endpoint_id) = filter.endpoint_id {
        q = q.filter(D::EndpointId.eq(endpoint_id));
    }
    if !filter.states.is_empty() {
        q = q.filter(D::State.is_in(filter.states.iter().map(String::as_str)));
    }
    if let Some(kind) = &filter.kind {
        q = q.filter(D::Kind.eq(kind.as_str()));
        if let Some(word) = &filter.word {
            let by_status = Query::select()
                .column(event::Column::Id)
                .from(event::Entity)
                .and_where(event::Column::OrgId.eq(org_id))
                .and_where(event::Column::Kind.eq(kind.as_str()))
                .and_where(event::Column::NewStatus.eq(word.to_uppercase()))
                .to_owned();
            q = q.filter(
                Condition::any()
                    .add(D::Action.eq(word.as_str()))
                    .add(D::EventId.in_subquery(by_status)),
            );
        }
    }
    window.apply(q, D::Id).all(db).await
}

/// The events of `org_id` among `ids` (a page's deliveries' events), in one query.
pub async fn events(
    db: &impl ConnectionTrait,
    org_id: i32,
    ids: &[i64],
) -> Result<Vec<event::Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    event::Entity::find_in_org(org_id)
        .filter(event::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await
}

/// When the first successful attempt of each of `delivery_ids` ended (ms since the epoch), in
/// one query: an attempt succeeded when it has no error and no status or a 2xx one (a broker
/// has no status).
pub async fn first_successes(
    db: &impl ConnectionTrait,
    delivery_ids: &[i64],
) -> Result<HashMap<i64, i64>> {
    use webhook_attempt::Column as A;
    if delivery_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, i64, i64)> = webhook_attempt::Entity::find()
        .select_only()
        .columns([A::DeliveryId, A::StartedAt, A::DurationMs])
        .filter(A::DeliveryId.is_in(delivery_ids.iter().copied()))
        .filter(A::Error.is_null())
        .filter(
            Condition::any()
                .add(A::Status.is_null())
                .add(A::Status.between(200, 299)),
        )
        .into_tuple()
        .all(db)
        .await?;
    let mut first: HashMap<i64, i64> = HashMap::new();
    for (delivery, started, duration) in rows {
        let ended = started + duration;
        first
            .entry(delivery)
            .and_modify(|e| *e = (*e).min(ended))
            .or_insert(ended);
    }
    Ok(first)
}

/// The delivery of `org_id` whose delivery id is `uuid`.
pub async fn by_uuid(
    db: &impl ConnectionTrait,
    org_id: i32,
    uuid: &str,
) -> Result<Option<webhook_delivery::Model>> {
    webhook_delivery::Entity::find_in_org(org_id)
        .filter(webhook_delivery::Column::Uuid.eq(uuid))
        .one(db)
        .await
}

/// Every attempt of delivery `delivery_id`, in order.
pub async fn attempts(
    db: &impl ConnectionTrait,
    delivery_id: i64,
) -> Result<Vec<webhook_attempt::Model>> {
    webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::DeliveryId.eq(delivery_id))
        .order_by_asc(webhook_attempt::Column::Number)
        .all(db)
        .await
}

/// Puts delivery `row` back in the outbox, due `now`, for a new round of attempts.
pub async fn requeue(
    db: &impl ConnectionTrait,
    row: webhook_delivery::Model,
    now: i64,
) -> Result<webhook_delivery::Model> {
    let mut active: webhook_delivery::ActiveModel = row.into();
    active.state = Set(state::PENDING.to_owned());
    active.round_attempts = Set(0);
    active.next_attempt_at = Set(now);
    active.lease_until = Set(None);
    active.lease_token = Set(None);
    active.updated_at = Set(now);
    active.update(db).await
}

/// The latest attempt of delivery `delivery_id`, if any.
pub async fn last_attempt(
    db: &impl ConnectionTrait,
    delivery_id: i64,
) -> Result<Option<webhook_attempt::Model>> {
    webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::DeliveryId.eq(delivery_id))
        .order_by_desc(webhook_attempt::Column::Number)
        .one(db)
        .await
}

/// Every delivery of `org_id` but test messages, oldest first.
pub async fn of_org(
    db: &impl ConnectionTrait,
    org_id: i32,
) -> Result<Vec<webhook_delivery::Model>> {
    webhook_delivery::Entity::find_in_org(org_id)
        .filter(webhook_delivery::Column::Kind.ne("ping"))
        .order_by_asc(webhook_delivery::Column::Id)
        .all(db)
        .await
}

/// Delivery `id`, whatever its organization (the dispatcher's own rows).
pub async fn by_id(db: &impl ConnectionTrait, id: i64) -> Result<Option<webhook_delivery::Model>> {
    webhook_delivery::Entity::find_by_id(id).one(db).await
}
