//! The statements of build and task transitions: locking a build with its organization's
//! endpoints, reading a task, writing a new status with its timestamps, the states of a build's
//! latest task runs, and (PostgreSQL) a task's move in one statement. The rules themselves (which
//! moves are allowed, which timestamps a move sets) come from the caller as plain values.

use buildhooks_entity::{build as build_row, task as task_row, webhook_endpoint};
use sea_orm::{ConnectionTrait, FromQueryResult};

use crate::dialect::Dialect;
pub use crate::moves::{Moved, Stamps, TaskMove};
use crate::text::{aliased, columns, Text};
use crate::Result;

/// The build of a task joined with its organization's enabled, undeleted endpoints in position
/// order: one row per endpoint, or one row with no endpoint. (PostgreSQL locks the build row.)
fn lock_text(for_update: &str) -> String {
    let mut columns = aliased::<build_row::Column>("b", "b_");
    columns.extend(aliased::<webhook_endpoint::Column>("e", "e_"));
    format!(
        "SELECT {} FROM build b LEFT JOIN webhook_endpoint e \
           ON e.org_id = b.org_id AND e.enabled AND NOT e.deleted \
         WHERE b.org_id = $2 AND b.id = \
           (SELECT build_id FROM task WHERE id = $1 AND org_id = $2) \
         ORDER BY e.position{for_update}",
        columns.join(", ")
    )
}
static LOCK: Text = Text::new(|| lock_text(""));
static LOCK_FOR_UPDATE: Text = Text::new(|| lock_text(" FOR UPDATE OF b"));

/// Locks the build of task `task_id` of `org_id` (found through the task in the same
/// statement; SQLite writers are serialised already), so that task rows read afterwards are the
/// ones this transaction will change, and reads the organization's enabled endpoints with it.
/// `None` when there is no such task.
pub async fn lock_build_with_endpoints(
    db: &impl ConnectionTrait,
    org_id: i32,
    task_id: i32,
) -> Result<Option<(build_row::Model, Vec<webhook_endpoint::Model>)>> {
    let text = match Dialect::of(db) {
        Dialect::Postgres => &LOCK_FOR_UPDATE,
        Dialect::Sqlite => &LOCK,
    };
    let rows = db
        .query_all(text.on(db, [task_id.into(), org_id.into()]))
        .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let build = build_row::Model::from_query_result(first, "b_")?;
    let mut endpoints = Vec::new();
    for row in &rows {
        if row.try_get::<Option<i32>>("e_", "id")?.is_some() {
            endpoints.push(webhook_endpoint::Model::from_query_result(row, "e_")?);
        }
    }
    Ok(Some((build, endpoints)))
}

/// Task `id` of `org_id`.
pub async fn task(
    db: &impl ConnectionTrait,
    org_id: i32,
    task_id: i32,
) -> Result<Option<task_row::Model>> {
    static TASK: Text = Text::new(|| {
        format!(
            "SELECT {} FROM task WHERE id = $1 AND org_id = $2",
            columns::<task_row::Column>()
        )
    });
    match db
        .query_one(TASK.on(db, [task_id.into(), org_id.into()]))
        .await?
    {
        Some(row) => Ok(Some(task_row::Model::from_query_result(&row, "")?)),
        None => Ok(None),
    }
}

/// Writes a build's status and timestamps (the row is locked by this transaction); false when
/// no row changed.
pub async fn write_build_status(
    db: &impl ConnectionTrait,
    build: &build_row::Model,
) -> Result<bool> {
    static UPDATE: Text = Text::new(|| {
        "UPDATE build SET status = $1, status_timestamp = $2, executing_timestamp = $3, \
         final_status_timestamp = $4 WHERE id = $5"
            .into()
    });
    let values = [
        build.status.clone().into(),
        build.status_timestamp.into(),
        build.executing_timestamp.into(),
        build.final_status_timestamp.into(),
        build.id.into(),
    ];
    Ok(db.execute(UPDATE.on(db, values)).await?.rows_affected() == 1)
}

/// Writes a task's status and timestamps; false when no row changed.
pub async fn write_task_status(db: &impl ConnectionTrait, task: &task_row::Model) -> Result<bool> {
    static UPDATE: Text = Text::new(|| {
        "UPDATE task SET status = $1, status_timestamp = $2, scheduled_timestamp = $3, \
         executing_timestamp = $4, final_status_timestamp = $5 WHERE id = $6"
            .into()
    });
    let values = [
        task.status.clone().into(),
        task.status_timestamp.into(),
        task.scheduled_timestamp.into(),
        task.executing_timestamp.into(),
        task.final_status_timestamp.into(),
        task.id.into(),
    ];
    Ok(db.execute(UPDATE.on(db, values)).await?.rows_affected() == 1)
}

/// The distinct (status, optional) pairs of a build's latest task runs: all the build's derived
/// status depends on, without reading whole rows.
pub async fn latest_task_states(
    db: &impl ConnectionTrait,
    org_id: i32,
    build_id: i32,
) -> Result<Vec<(String, bool)>> {
    static STATES: Text = Text::new(|| {
        "SELECT DISTINCT status, optional FROM task \
         WHERE org_id = $1 AND build_id = $2 AND superseded = FALSE"
            .into()
    });
    db.query_all(STATES.on(db, [org_id.into(), build_id.into()]))
        .await?
        .iter()
        .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
        .collect()
}

/// Moves task `task_id` of `org_id` as `mv` allows, in one statement where the database can
/// (PostgreSQL), with the build already locked by this transaction. `None` when it did not: no
/// such task, a superseded run, a move the rules refuse, or a database without the one-statement
/// form; the caller's general path then runs and reports the precise error.
pub async fn move_task(
    db: &impl ConnectionTrait,
    org_id: i32,
    task_id: i32,
    mv: &TaskMove,
    now: i64,
) -> Result<Option<Moved>> {
    match Dialect::of(db) {
        Dialect::Postgres => crate::postgres::task_move::run(db, org_id, task_id, mv, now).await,
        Dialect::Sqlite => Ok(None),
    }
}
