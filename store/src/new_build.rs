//! A new build written at once where the database allows it (PostgreSQL, `postgres::new_build`):
//! its ids drawn beside the organization's endpoints before anything is written, then the build,
//! its tasks, its events and their outbox rows in one statement, atomic on its own: two round
//! trips where a write transaction takes six. On SQLite [`draw`] answers `None` and the caller
//! writes through a write transaction (its writers share one gate, whose group commit already
//! saves the commits).

use buildhooks_entity::{build, task, webhook_delivery};
use sea_orm::{ConnectionTrait, DbErr};

pub use crate::postgres::new_build::Drawn;

use crate::dialect::Dialect;
use crate::events::NewEvent;
use crate::outbox::columns::new_row;
use crate::outbox::NewDelivery;
use crate::postgres::listen::NOTIFY_CHANNEL;
use crate::{postgres, Db, Result};

/// The ids of a new build with `tasks` tasks and `org_id`'s enabled endpoints (in position
/// order), read before anything is written; `None` where a new build is written in a write
/// transaction instead.
pub async fn draw(db: &Db, org_id: i32, tasks: usize) -> Result<Option<Drawn>> {
    match db.dialect() {
        Dialect::Postgres => Ok(Some(
            postgres::new_build::draw(db.conn(), org_id, tasks).await?,
        )),
        Dialect::Sqlite => Ok(None),
    }
}

/// Whether a new build with `tasks` tasks, `events` events and `rows` outbox rows can be
/// written by [`write`]; a larger one goes through a write transaction.
pub fn fits(tasks: usize, events: usize, rows: usize) -> bool {
    postgres::new_build::fit(tasks, events, rows)
}

/// Writes a build and its tasks (every column set, their ids from [`draw`]) with `events` and
/// their outbox `rows` (which [`fits`] allowed), atomically; returns the rows written. `notify`: tell other instances
/// that rows are there to claim.
#[allow(clippy::too_many_arguments)]
pub async fn write(
    db: &Db,
    org_id: i32,
    now: i64,
    build: &build::ActiveModel,
    tasks: &[task::ActiveModel],
    events: &[NewEvent<'_>],
    rows: Vec<NewDelivery>,
    notify: bool,
) -> Result<Vec<webhook_delivery::Model>> {
    if db.dialect() != Dialect::Postgres {
        return Err(DbErr::Custom(
            "a new build is written at once only where its ids were drawn".into(),
        ));
    }
    let rows: Vec<_> = rows
        .into_iter()
        .map(|r| (r.event, new_row(r, now)))
        .collect();
    let drafts = events.iter().map(|e| e.row(org_id, now)).collect();
    let written = postgres::new_build::write(db.conn(), build, tasks, drafts, rows).await?;
    if notify && !written.is_empty() {
        // After the commit: the rows are there to claim. A failure here loses no row (other
        // instances look at the outbox on their own schedule), so the call still succeeds.
        if let Err(error) = db
            .conn()
            .execute_unprepared(&format!("NOTIFY {NOTIFY_CHANNEL}"))
            .await
        {
            tracing::warn!(%error, "cannot tell other instances of new outbox rows");
        }
    }
    Ok(written)
}
