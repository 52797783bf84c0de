//! A new build written at once: its ids drawn and the organization's endpoints read before
//! anything is written, then the build, its tasks, its events and their outbox rows together.
//! PostgreSQL: two statements where a write transaction takes six round trips, the second atomic
//! on its own; each sent with the other calls' queued meanwhile (`postgres::draws` the ids and
//! endpoints, `postgres::batch` the write). SQLite (`sqlite::new_build`): ids drawn by moving the
//! tables' `sqlite_sequence` entries up, then one multi-statement write sent with others in a
//! batch through the write gate, where a write transaction holds the gate for seven round trips
//! with the payloads rendered in between.

use buildhooks_entity::{build, task, webhook_delivery, webhook_endpoint};
use sea_orm::ConnectionTrait;

use crate::dialect::Dialect;
use crate::events::NewEvent;
use crate::outbox::columns::new_row;
use crate::outbox::NewDelivery;
use crate::postgres::listen::NOTIFY_CHANNEL;
use crate::{postgres, sqlite, Db, Result};

/// The ids drawn for a new build and its tasks, and the organization's enabled endpoints as
/// read then.
pub struct Drawn {
    pub build_id: i32,
    pub task_ids: Vec<i32>,
    pub endpoints: Vec<webhook_endpoint::Model>,
}

/// The ids of a new build with `tasks` tasks and `org_id`'s enabled endpoints (in position
/// order), read before anything is written.
pub async fn draw(db: &Db, org_id: i32, tasks: usize) -> Result<Drawn> {
    match db.dialect() {
        Dialect::Postgres => db.draws()?.draw(db, org_id, tasks).await,
        Dialect::Sqlite => sqlite::new_build::draw(db, org_id, tasks).await,
    }
}

/// Whether a new build with `tasks` tasks, `events` events and `rows` outbox rows can be
/// written by [`write`]; a larger one goes through a write transaction.
pub fn fits(tasks: usize, events: usize, rows: usize) -> bool {
    postgres::batch::fits(tasks, events, rows)
}

/// Writes a build and its tasks (every column set, their ids from [`draw`]) with `events` and
/// their outbox `rows` (which [`fits`] allowed), atomically; returns the rows written, once
/// durable. `notify`: tell other instances that rows are there to claim.
#[allow(clippy::too_many_arguments)]
pub async fn write(
    db: &Db,
    org_id: i32,
    now: i64,
    build: build::ActiveModel,
    tasks: Vec<task::ActiveModel>,
    events: &[NewEvent<'_>],
    rows: Vec<NewDelivery>,
    notify: bool,
) -> Result<Vec<webhook_delivery::Model>> {
    let rows: Vec<_> = rows
        .into_iter()
        .map(|r| (r.event, new_row(r, now, db.dialect())))
        .collect();
    let drafts = events.iter().map(|e| e.row(org_id, now)).collect();
    if db.dialect() == Dialect::Sqlite {
        // Every writer of the file is in this process: the dispatcher is handed its rows.
        return sqlite::new_build::write(db, &build, &tasks, drafts, rows).await;
    }
    let write = postgres::batch::NewBuild {
        build,
        tasks,
        events: drafts,
        rows,
    };
    let written = db.new_builds()?.write(db, write).await?;
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
