//! What `event(id) { routing }` reads: an organization's event, every endpoint it has ever had
//! (deleted ones too, so a delivery can say where it went), and the deliveries written for the
//! event.

use buildhooks_entity::{event, webhook_delivery, webhook_endpoint};
use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder};

use crate::Result;

/// Event `id` of organization `org_id`.
pub async fn event(
    db: &impl ConnectionTrait,
    org_id: i32,
    id: i64,
) -> Result<Option<event::Model>> {
    event::Entity::find_in_org(org_id)
        .filter(event::Column::Id.eq(id))
        .one(db)
        .await
}

/// Every endpoint of `org_id`, deleted ones included, in position order (deleted last).
pub async fn endpoints(
    db: &impl ConnectionTrait,
    org_id: i32,
) -> Result<Vec<webhook_endpoint::Model>> {
    webhook_endpoint::Entity::find_in_org(org_id)
        .order_by_asc(webhook_endpoint::Column::Deleted)
        .order_by_asc(webhook_endpoint::Column::Position)
        .order_by_asc(webhook_endpoint::Column::Id)
        .all(db)
        .await
}

/// The deliveries written for event `event_id` of `org_id`.
pub async fn deliveries(
    db: &impl ConnectionTrait,
    org_id: i32,
    event_id: i64,
) -> Result<Vec<webhook_delivery::Model>> {
    webhook_delivery::Entity::find_in_org(org_id)
        .filter(webhook_delivery::Column::EventId.eq(event_id))
        .order_by_asc(webhook_delivery::Column::Id)
        .all(db)
        .await
}
