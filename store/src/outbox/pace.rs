//! What a paced endpoint (a chat robot that takes so many messages a minute) needs of the outbox:
//! its next send slot, taken atomically on the endpoint row (`webhook_endpoint.send_after`), so
//! instances sharing one database keep one pace between them; a claimed row sent back to wait
//! for the slot without counting an attempt (`defer`); and the other waiting rows of the same
//! build, leased with a claimed row so one message (a digest) carries them all (`take_build`).

use buildhooks_entity::{webhook_delivery, webhook_endpoint};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::state;
use crate::{Db, Result};

/// Most rows one digest carries (the first claimed and the others of its build).
pub const DIGEST_MAX: u64 = 50;

/// Takes endpoint `id`'s send slot at `now` when it is free (its `send_after` has passed) and
/// moves the next one to `now + pace_ms`: `Ok(None)`. When it is not free, the time it frees:
/// `Ok(Some(send_after))`. A removed endpoint gets its slot (its attempt is refused anyway).
pub async fn take_slot(db: &Db, id: i32, now: i64, pace_ms: i64) -> Result<Option<i64>> {
    let update = webhook_endpoint::Entity::update_many()
        .col_expr(
            webhook_endpoint::Column::SendAfter,
            Expr::value(now + pace_ms),
        )
        .filter(webhook_endpoint::Column::Id.eq(id))
        .filter(webhook_endpoint::Column::SendAfter.lte(now));
    let taken = {
        let w = db.begin_write_priority().await?;
        let result = update.exec(w.txn()).await?;
        w.commit().await?;
        result.rows_affected
    };
    if taken > 0 {
        return Ok(None);
    }
    let row = webhook_endpoint::Entity::find_by_id(id)
        .one(db.conn())
        .await?;
    Ok(row.map(|e| e.send_after).filter(|&at| at > now))
}

/// Moves endpoint `id`'s next send slot to at least `until` (the vendor asked for a pause).
pub async fn push_back(db: &Db, id: i32, until: i64) -> Result<()> {
    let w = db.begin_write_priority().await?;
    webhook_endpoint::Entity::update_many()
        .col_expr(webhook_endpoint::Column::SendAfter, Expr::value(until))
        .filter(webhook_endpoint::Column::Id.eq(id))
        .filter(webhook_endpoint::Column::SendAfter.lt(until))
        .exec(w.txn())
        .await?;
    w.commit().await
}

/// Gives leased rows `ids` of lease `token` back to the outbox, due at `until`: nothing was
/// sent, so no attempt is counted.
pub async fn defer(db: &Db, ids: &[i64], token: &str, until: i64) -> Result<()> {
    let w = db.begin_write_priority().await?;
    webhook_delivery::Entity::update_many()
        .col_expr(webhook_delivery::Column::State, Expr::value(state::PENDING))
        .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(until))
        .col_expr(
            webhook_delivery::Column::LeaseUntil,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            webhook_delivery::Column::LeaseToken,
            Expr::value(Option::<String>::None),
        )
        .filter(webhook_delivery::Column::Id.is_in(ids.iter().copied()))
        .filter(webhook_delivery::Column::LeaseToken.eq(token))
        .exec(w.txn())
        .await?;
    w.commit().await
}

/// Leases, until `lease_until` under a lease token of their own (in each returned row), the
/// other waiting (PENDING) rows of endpoint `endpoint_id` for build `build_id`, oldest first,
/// at most `DIGEST_MAX - 1`; returns them.
pub async fn take_build(
    db: &Db,
    endpoint_id: i32,
    build_id: i32,
    lease_until: i64,
) -> Result<Vec<webhook_delivery::Model>> {
    let token = uuid::Uuid::new_v4().to_string();
    let token = token.as_str();
    let mut waiting = Query::select();
    waiting
        .column(webhook_delivery::Column::Id)
        .from(webhook_delivery::Entity)
        .and_where(webhook_delivery::Column::EndpointId.eq(endpoint_id))
        .and_where(webhook_delivery::Column::BuildId.eq(build_id))
        .and_where(webhook_delivery::Column::State.eq(state::PENDING))
        .order_by(webhook_delivery::Column::Id, sea_orm::Order::Asc)
        .limit(DIGEST_MAX - 1);
    let w = db.begin_write_priority().await?;
    webhook_delivery::Entity::update_many()
        .col_expr(
            webhook_delivery::Column::State,
            Expr::value(state::IN_FLIGHT),
        )
        .col_expr(
            webhook_delivery::Column::LeaseUntil,
            Expr::value(lease_until),
        )
        .col_expr(webhook_delivery::Column::LeaseToken, Expr::value(token))
        .filter(webhook_delivery::Column::Id.in_subquery(waiting))
        .filter(webhook_delivery::Column::State.eq(state::PENDING))
        .exec(w.txn())
        .await?;
    let taken = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::State.eq(state::IN_FLIGHT))
        .filter(webhook_delivery::Column::LeaseUntil.eq(lease_until))
        .filter(webhook_delivery::Column::LeaseToken.eq(token))
        .order_by_asc(webhook_delivery::Column::Id)
        .all(w.txn())
        .await?;
    w.commit().await?;
    Ok(taken)
}
