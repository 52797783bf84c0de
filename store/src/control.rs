//! Endpoint health bookkeeping (issue 19): how long an endpoint's deliveries have been failing
//! and how many ended FAILED since its last success, and the endpoint disabled by buildhooks
//! (with why and when) or re-enabled. Only the failure path and the first success after it run
//! these statements: a delivery that succeeds at an endpoint that is not failing writes nothing
//! here.

use buildhooks_entity::webhook_endpoint::{self, Column};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::Result;

/// Counts `failed` more deliveries of endpoint `id` ended FAILED at `now` (the failing spell
/// starts then if none is under way); returns the endpoint as it is now.
pub async fn note_failed(
    db: &impl ConnectionTrait,
    id: i32,
    failed: i32,
    now: i64,
) -> Result<Option<webhook_endpoint::Model>> {
    webhook_endpoint::Entity::update_many()
        .col_expr(
            Column::FailedDeliveries,
            Expr::col(Column::FailedDeliveries).add(failed),
        )
        .col_expr(
            Column::FailingSince,
            Expr::col(Column::FailingSince).if_null(now),
        )
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    webhook_endpoint::Entity::find_by_id(id).one(db).await
}

/// Ends the failing spell of the endpoints `ids` that have one (a delivery to each succeeded).
pub async fn note_delivered(db: &impl ConnectionTrait, ids: Vec<i32>) -> Result<u64> {
    let done = webhook_endpoint::Entity::update_many()
        .col_expr(Column::FailedDeliveries, Expr::value(0))
        .col_expr(Column::FailingSince, Expr::value(Option::<i64>::None))
        .filter(Column::Id.is_in(ids))
        .filter(Column::FailingSince.is_not_null())
        .exec(db)
        .await?;
    Ok(done.rows_affected)
}

/// Disables endpoint `id` for `reason` at `now`, if it is enabled and not deleted; true when
/// this call disabled it (so one caller, of several that saw it fail, tells of it).
pub async fn disable(db: &impl ConnectionTrait, id: i32, reason: &str, now: i64) -> Result<bool> {
    let done = webhook_endpoint::Entity::update_many()
        .col_expr(Column::Enabled, Expr::value(false))
        .col_expr(Column::DisabledReason, Expr::value(reason))
        .col_expr(Column::DisabledAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::Enabled.eq(true))
        .filter(Column::Deleted.eq(false))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Enables endpoint `id` of `org_id` again, its failing spell and disabling forgotten; true
/// when this call enabled it.
pub async fn enable(db: &impl ConnectionTrait, org_id: i32, id: i32) -> Result<bool> {
    let done = webhook_endpoint::Entity::update_many()
        .col_expr(Column::Enabled, Expr::value(true))
        .col_expr(Column::DisabledReason, Expr::value(Option::<String>::None))
        .col_expr(Column::DisabledAt, Expr::value(Option::<i64>::None))
        .col_expr(Column::FailedDeliveries, Expr::value(0))
        .col_expr(Column::FailingSince, Expr::value(Option::<i64>::None))
        .filter(Column::Id.eq(id))
        .filter(Column::OrgId.eq(org_id))
        .filter(Column::Enabled.eq(false))
        .filter(Column::Deleted.eq(false))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}
