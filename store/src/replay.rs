//! Filtered replays (`webhook_replay`): which finished deliveries of an organization a filter
//! selects (counted exactly for a dry run), the replay row, and its runner's steps: claiming
//! the next page atomically (a conditional update of the replay's `cursor`, so several
//! instances never queue one page twice), putting the page's deliveries back in the outbox
//! (same ids, a new round, `replay_id` set) with due times spread over the page, reading its
//! progress from the deliveries that carry its id, and cancelling it.
//!
//! The set a replay works through is fixed when it is made: the filter plus the highest
//! delivery id it matched then (`Stored::last_id`), walked in id order by `cursor`.

use buildhooks_entity::{build, webhook_delivery, webhook_replay};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};

use crate::outbox::state;
use crate::{Db, DbErr, Result};

/// Replay states.
pub mod replay_state {
    pub const RUNNING: &str = "RUNNING";
    pub const DONE: &str = "DONE";
    pub const CANCELLED: &str = "CANCELLED";
}

/// Which deliveries of an organization a replay selects. Times are ms since the epoch, the
/// window `[since, until)` on when the delivery was created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub org_id: i32,
    pub endpoint_id: Option<i32>,
    pub since: i64,
    pub until: i64,
    /// Outbox states (`FAILED`, `DELIVERED`): never the live ones.
    pub states: Vec<String>,
    pub repository_id: Option<i32>,
    /// Deliveries of builds on this branch.
    pub branch: Option<String>,
    pub build_id: Option<i32>,
}

/// What a replay row's `filter` column holds: the filter and the highest delivery id it matched
/// when the replay was made (later deliveries are never part of it).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Stored {
    pub filter: Filter,
    pub last_id: i64,
}

impl Stored {
    /// The stored filter of replay `row`.
    pub fn of(row: &webhook_replay::Model) -> Result<Stored> {
        serde_json::from_str(&row.filter)
            .map_err(|e| DbErr::Custom(format!("replay {} filter: {e}", row.id)))
    }
}

/// The filter as a condition on `webhook_delivery` (organization included). Test messages
/// (`ping`) and erased deliveries (`eraseDeliveryPayloads` blanked their body) are never
/// replayed.
fn condition(f: &Filter) -> Condition {
    use webhook_delivery::Column as D;
    let mut c = Condition::all()
        .add(D::OrgId.eq(f.org_id))
        .add(D::CreatedAt.gte(f.since))
        .add(D::CreatedAt.lt(f.until))
        .add(D::State.is_in(f.states.iter().cloned()))
        .add(D::Kind.ne("ping"))
        .add(D::ErasedAt.is_null());
    if let Some(id) = f.endpoint_id {
        c = c.add(D::EndpointId.eq(id));
    }
    if let Some(id) = f.repository_id {
        c = c.add(D::RepositoryId.eq(id));
    }
    if let Some(id) = f.build_id {
        c = c.add(D::BuildId.eq(id));
    }
    if let Some(branch) = &f.branch {
        c = c.add(
            D::BuildId.in_subquery(
                Query::select()
                    .column(build::Column::Id)
                    .from(build::Entity)
                    .and_where(build::Column::OrgId.eq(f.org_id))
                    .and_where(build::Column::Branch.eq(branch.as_str()))
                    .to_owned(),
            ),
        );
    }
    c
}

/// How many deliveries `filter` selects now, and the highest of their ids: one statement.
pub async fn count(db: &impl ConnectionTrait, filter: &Filter) -> Result<(i64, Option<i64>)> {
    let row: Option<(i64, Option<i64>)> = webhook_delivery::Entity::find()
        .filter(condition(filter))
        .select_only()
        .column_as(webhook_delivery::Column::Id.count(), "matched")
        .column_as(webhook_delivery::Column::Id.max(), "last")
        .into_tuple()
        .one(db)
        .await?;
    Ok(row.unwrap_or((0, None)))
}

/// Writes a RUNNING replay of the deliveries `filter` matched (`matched` of them, ids up to
/// `last_id`), in the caller's write transaction.
pub async fn insert(
    db: &impl ConnectionTrait,
    filter: Filter,
    matched: i64,
    last_id: i64,
    now: i64,
) -> Result<webhook_replay::Model> {
    let org_id = filter.org_id;
    let stored = serde_json::to_string(&Stored { filter, last_id })
        .map_err(|e| DbErr::Custom(format!("replay filter: {e}")))?;
    webhook_replay::ActiveModel {
        org_id: Set(org_id),
        filter: Set(stored),
        state: Set(replay_state::RUNNING.to_owned()),
        matched: Set(matched),
        queued: Set(0),
        cursor: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        finished_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Replay `id` of organization `org_id`.
pub async fn by_id(
    db: &impl ConnectionTrait,
    org_id: i32,
    id: i64,
) -> Result<Option<webhook_replay::Model>> {
    webhook_replay::Entity::find_in_org(org_id)
        .filter(webhook_replay::Column::Id.eq(id))
        .one(db)
        .await
}

/// Every running replay, of every organization, oldest first: the runner's work.
pub async fn running(db: &impl ConnectionTrait) -> Result<Vec<webhook_replay::Model>> {
    webhook_replay::Entity::find()
        .filter(webhook_replay::Column::State.eq(replay_state::RUNNING))
        .order_by_asc(webhook_replay::Column::Id)
        .all(db)
        .await
}

/// The deliveries carrying a replay's id, by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// PENDING or IN_FLIGHT: queued and not finished.
    pub pending: i64,
    pub delivered: i64,
    pub failed: i64,
}

/// How the deliveries replay `id` queued stand (a delivery queued again by a later replay
/// counts for that one).
pub async fn progress(db: &impl ConnectionTrait, id: i64) -> Result<Progress> {
    let rows: Vec<(String, i64)> = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::ReplayId.eq(id))
        .select_only()
        .column(webhook_delivery::Column::State)
        .column_as(webhook_delivery::Column::Id.count(), "n")
        .group_by(webhook_delivery::Column::State)
        .into_tuple()
        .all(db)
        .await?;
    let mut p = Progress::default();
    for (s, n) in rows {
        match s.as_str() {
            state::DELIVERED => p.delivered += n,
            state::FAILED => p.failed += n,
            _ => p.pending += n,
        }
    }
    Ok(p)
}

/// Whether any delivery replay `id` queued is still PENDING or IN_FLIGHT.
pub async fn page_in_outbox(db: &impl ConnectionTrait, id: i64) -> Result<bool> {
    let n = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::ReplayId.eq(id))
        .filter(webhook_delivery::Column::State.is_in([state::PENDING, state::IN_FLIGHT]))
        .limit(1)
        .count(db)
        .await?;
    Ok(n > 0)
}

/// Live rows waiting in the outbox: PENDING, queued by no replay, come due within the last
/// `recent_ms` before `now` (rows long overdue wait for a hanging or paced endpoint, not for
/// the dispatcher, and must not hold replays back forever), counted up to `cap`: a bounded walk
/// of the pending index.
pub async fn live_backlog(
    db: &impl ConnectionTrait,
    now: i64,
    recent_ms: i64,
    cap: u64,
) -> Result<u64> {
    let ids: Vec<i64> = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::State.eq(state::PENDING))
        .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
        .filter(webhook_delivery::Column::NextAttemptAt.gte(now - recent_ms))
        .filter(webhook_delivery::Column::ReplayId.is_null())
        .select_only()
        .column(webhook_delivery::Column::Id)
        .limit(cap)
        .into_tuple()
        .all(db)
        .await?;
    Ok(ids.len() as u64)
}

/// How a page's rows are spread in time: `slice` rows due together, each slice `gap_ms` after
/// the one before, so rows committed meanwhile (due at their commit) go between them.
#[derive(Clone, Copy, Debug)]
pub struct Spread {
    pub page: u64,
    pub slice: usize,
    pub gap_ms: i64,
}

/// What queuing a page did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paged {
    /// Rows queued (some of the page may have been skipped: redelivered meanwhile).
    Queued(u64),
    /// Nothing was left: the replay is DONE.
    Done,
    /// Another instance moved the cursor first, or the replay was cancelled: nothing done.
    Lost,
}

/// Queues the next page of `replay` (as read, with its cursor): one write transaction that
/// first claims the page by a conditional update of the replay (same cursor, still RUNNING),
/// then puts the page's deliveries that still match back in the outbox and moves the cursor.
pub async fn queue_page(
    db: &Db,
    replay: &webhook_replay::Model,
    spread: Spread,
    now: i64,
) -> Result<Paged> {
    use webhook_delivery::Column as D;
    let stored = Stored::of(replay)?;
    let w = db.begin_write().await?;
    let claimed = webhook_replay::Entity::update_many()
        .col_expr(webhook_replay::Column::UpdatedAt, Expr::value(now))
        .filter(webhook_replay::Column::Id.eq(replay.id))
        .filter(webhook_replay::Column::Cursor.eq(replay.cursor))
        .filter(webhook_replay::Column::State.eq(replay_state::RUNNING))
        .exec(w.txn())
        .await?;
    if claimed.rows_affected == 0 {
        return Ok(Paged::Lost);
    }
    let ids: Vec<i64> = webhook_delivery::Entity::find()
        .filter(condition(&stored.filter))
        .filter(D::Id.gt(replay.cursor))
        .filter(D::Id.lte(stored.last_id))
        .select_only()
        .column(D::Id)
        .order_by_asc(D::Id)
        .limit(spread.page)
        .into_tuple()
        .all(w.txn())
        .await?;
    let Some(&last) = ids.last() else {
        webhook_replay::Entity::update_many()
            .col_expr(
                webhook_replay::Column::State,
                Expr::value(replay_state::DONE),
            )
            .col_expr(webhook_replay::Column::FinishedAt, Expr::value(now))
            .filter(webhook_replay::Column::Id.eq(replay.id))
            .exec(w.txn())
            .await?;
        w.commit().await?;
        return Ok(Paged::Done);
    };
    let mut queued = 0;
    for (i, slice) in ids.chunks(spread.slice.max(1)).enumerate() {
        let due = now + i as i64 * spread.gap_ms;
        // The state is checked again: a row redelivered by hand meanwhile is left alone.
        let done = webhook_delivery::Entity::update_many()
            .col_expr(D::State, Expr::value(state::PENDING))
            .col_expr(D::RoundAttempts, Expr::value(0))
            .col_expr(D::NextAttemptAt, Expr::value(due))
            .col_expr(D::LeaseUntil, Expr::value(Option::<i64>::None))
            .col_expr(D::LeaseToken, Expr::value(Option::<String>::None))
            .col_expr(D::UpdatedAt, Expr::value(now))
            .col_expr(D::ReplayId, Expr::value(replay.id))
            .filter(D::Id.is_in(slice.iter().copied()))
            .filter(D::State.is_in(stored.filter.states.iter().cloned()))
            .exec(w.txn())
            .await?;
        queued += done.rows_affected;
    }
    webhook_replay::Entity::update_many()
        .col_expr(webhook_replay::Column::Cursor, Expr::value(last))
        .col_expr(
            webhook_replay::Column::Queued,
            Expr::col(webhook_replay::Column::Queued).add(queued as i64),
        )
        .filter(webhook_replay::Column::Id.eq(replay.id))
        .exec(w.txn())
        .await?;
    w.commit().await?;
    Ok(Paged::Queued(queued))
}

/// Cancels replay `id` of `org_id` if it is RUNNING, in the caller's write transaction (no page
/// is queued after it commits; rows already queued finish); returns the row as it stands after.
pub async fn cancel(
    db: &impl ConnectionTrait,
    org_id: i32,
    id: i64,
    now: i64,
) -> Result<Option<webhook_replay::Model>> {
    webhook_replay::Entity::update_many()
        .col_expr(
            webhook_replay::Column::State,
            Expr::value(replay_state::CANCELLED),
        )
        .col_expr(webhook_replay::Column::FinishedAt, Expr::value(now))
        .col_expr(webhook_replay::Column::UpdatedAt, Expr::value(now))
        .filter(webhook_replay::Column::Id.eq(id))
        .filter(webhook_replay::Column::OrgId.eq(org_id))
        .filter(webhook_replay::Column::State.eq(replay_state::RUNNING))
        .exec(db)
        .await?;
    by_id(db, org_id, id).await
}
