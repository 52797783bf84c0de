//! `webhook_delivery`: the outbox, one row per (event, endpoint), with the exact body bytes to
//! send and the dispatcher's state (attempts, next attempt time, lease).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_delivery")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The `X-Cirrus-Delivery` id: the same on every attempt and redelivery.
    #[sea_orm(unique)]
    pub uuid: String,
    pub org_id: i32,
    pub event_id: Option<i64>,
    pub endpoint_id: i32,
    pub repository_id: Option<i32>,
    pub url: String,
    pub kind: String,
    pub action: String,
    pub body: String,
    /// PENDING, IN_FLIGHT, DELIVERED or FAILED.
    pub state: String,
    /// Every attempt ever recorded.
    pub attempt_count: i32,
    /// Attempts since the delivery was created or last redelivered (the retry rule counts these).
    pub round_attempts: i32,
    pub next_attempt_at: i64,
    pub lease_until: Option<i64>,
    pub lease_token: Option<String>,
    pub last_status: Option<i32>,
    pub last_duration_ms: Option<i64>,
    pub last_response: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The event's build (`None` for a test message).
    pub build_id: Option<i32>,
    /// The build id when the endpoint orders per build: the row waits for every earlier row of
    /// the same endpoint and key to finish. `None`: no order.
    pub order_key: Option<i32>,
    /// The replay (`webhook_replay`) that last queued this delivery again, if any.
    pub replay_id: Option<i64>,
    /// When its payload was erased on demand (body, last response and excerpts blanked); such a
    /// delivery is never sent again.
    pub erased_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::org_scoped!(Entity, Column::OrgId);
