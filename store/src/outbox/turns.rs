//! Order per build: an endpoint that orders per build gets a build's rows one after another.
//! Each such row carries `order_key` (the build id); a row is in turn while no earlier row of
//! the same endpoint and key is waiting or in flight (`IN_TURN`, which both databases' claims and
//! next-due looks check), and a row written while an earlier one is unfinished (`unfinished`) is
//! not handed straight to a dispatcher but claimed when its turn comes.

use buildhooks_entity::webhook_delivery;
use sea_orm::{ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect};

use super::state;
use crate::Result;

/// A row's turn at its endpoint (the same text on both databases): rows without a key (most)
/// pass at once; the look walks `ix_webhook_delivery_order`. On PostgreSQL another instance's
/// claim of an earlier row that a statement's snapshot does not see yet still holds the row
/// back: that row is PENDING in the snapshot.
pub(crate) const IN_TURN: &str =
    "(webhook_delivery.order_key IS NULL OR NOT EXISTS (SELECT 1 FROM \
 webhook_delivery AS p WHERE p.endpoint_id = webhook_delivery.endpoint_id \
 AND p.order_key = webhook_delivery.order_key AND p.id < webhook_delivery.id \
 AND p.state IN ('PENDING', 'IN_FLIGHT')))";

/// Of the (endpoint, build) pairs asked about, those with a row still waiting or in flight: a
/// new row of such a pair must wait its turn (the claim checks it again), a new row of any other
/// pair is in turn at once. One look into `ix_webhook_delivery_order`.
pub async fn unfinished(
    db: &impl sea_orm::ConnectionTrait,
    endpoints: &[i32],
    builds: &[i32],
) -> Result<std::collections::HashSet<(i32, i32)>> {
    #[derive(FromQueryResult)]
    struct Turn {
        endpoint_id: i32,
        order_key: Option<i32>,
    }
    if endpoints.is_empty() || builds.is_empty() {
        return Ok(Default::default());
    }
    let rows = webhook_delivery::Entity::find()
        .select_only()
        .column(webhook_delivery::Column::EndpointId)
        .column(webhook_delivery::Column::OrderKey)
        .distinct()
        .filter(webhook_delivery::Column::EndpointId.is_in(endpoints.iter().copied()))
        .filter(webhook_delivery::Column::OrderKey.is_in(builds.iter().copied()))
        .filter(webhook_delivery::Column::State.is_in([state::PENDING, state::IN_FLIGHT]))
        .into_model::<Turn>()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|t| Some((t.endpoint_id, t.order_key?)))
        .collect())
}
