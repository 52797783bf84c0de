//! The deliveries log's reads, and putting a finished delivery back in the outbox (redeliver).

use buildhooks_entity::{webhook_attempt, webhook_delivery};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::columns::state;
use crate::{Result, Window};

/// The deliveries of `org_id` in `window` (ids ascending: oldest first), in the order read.
pub async fn page(
    db: &impl ConnectionTrait,
    org_id: i32,
    window: &Window,
) -> Result<Vec<webhook_delivery::Model>> {
    window
        .apply(
            webhook_delivery::Entity::find_in_org(org_id),
            webhook_delivery::Column::Id,
        )
        .all(db)
        .await
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
