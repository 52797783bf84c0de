//! The domain's state changes: each function checks the transition tables, writes the new rows
//! and returns the events it caused, in order. Callers run them inside one write transaction and
//! hand the events to the outbox before committing.

mod build;
mod task;
mod task_postgres;

pub use build::{approve, create_build, retrigger, NewBuild, NewTask};
pub use task::{rerun, update_task_status};

/// What a transition did: its events, in order, and the build and task rows as it left them,
/// which the payload renders of those events take instead of reading them again.
#[derive(Default, Debug)]
pub struct Changes {
    pub events: Vec<EventDraft>,
    pub seed: Seed,
}

use buildhooks_entity::{build as build_row, task as task_row};
use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::error::{Error, Result};
use crate::event::{EventDraft, EventKind};
use crate::seed::Seed;
use crate::sql::Text;
use crate::status::{derive_build_status, BuildStatus, TaskState, TaskStatus};

/// Loads a build of `org_id` and locks its row (PostgreSQL `FOR UPDATE`; SQLite writers are
/// already serialised), so concurrent changes to its tasks derive its status one at a time.
pub(crate) async fn lock_build(
    db: &impl ConnectionTrait,
    org_id: i32,
    build_id: i32,
) -> Result<build_row::Model> {
    build_row::Entity::find_in_org(org_id)
        .filter(build_row::Column::Id.eq(build_id))
        .lock_exclusive()
        .one(db)
        .await?
        .ok_or(Error::NotFound("build"))
}

/// The latest run of every task of a build, in creation order.
pub(crate) async fn latest_tasks(
    db: &impl ConnectionTrait,
    org_id: i32,
    build_id: i32,
) -> Result<Vec<task_row::Model>> {
    Ok(task_row::Entity::find_in_org(org_id)
        .filter(task_row::Column::BuildId.eq(build_id))
        .filter(task_row::Column::Superseded.eq(false))
        .order_by_asc(task_row::Column::Id)
        .all(db)
        .await?)
}

pub(crate) fn build_status(m: &build_row::Model) -> Result<BuildStatus> {
    m.status.parse()
}

pub(crate) fn task_status(m: &task_row::Model) -> Result<TaskStatus> {
    m.status.parse()
}

/// Runs an UPDATE that must change exactly one row (`what`, locked by this transaction).
async fn update_one(
    db: &impl ConnectionTrait,
    text: &Text,
    values: impl IntoIterator<Item = sea_orm::Value>,
    what: &'static str,
) -> Result<()> {
    let done = db
        .execute(text.with(db.get_database_backend(), values))
        .await?;
    if done.rows_affected() != 1 {
        return Err(Error::NotFound(what));
    }
    Ok(())
}

/// Moves a build to `to`, setting its timestamps, and records the event.
pub(crate) async fn set_build_status(
    db: &impl ConnectionTrait,
    build: build_row::Model,
    to: BuildStatus,
    now: i64,
    out: &mut Changes,
) -> Result<build_row::Model> {
    let from = build_status(&build)?;
    if !from.can_become(to) {
        return Err(Error::InvalidTransition(format!(
            "build {} cannot go from {} to {}",
            build.id,
            from.as_str(),
            to.as_str()
        )));
    }
    let ids = (build.repository_id, build.id, None);
    let mut updated = build;
    updated.status = to.as_str().to_owned();
    updated.status_timestamp = now;
    match to {
        BuildStatus::Executing if updated.executing_timestamp.is_none() => {
            updated.executing_timestamp = Some(now)
        }
        // Reopened: a new round of execution.
        BuildStatus::Triggered => {
            updated.executing_timestamp = None;
            updated.final_status_timestamp = None;
        }
        s if s.is_final() => updated.final_status_timestamp = Some(now),
        _ => {}
    }
    static UPDATE: Text = Text::new(|| {
        "UPDATE build SET status = $1, status_timestamp = $2, executing_timestamp = $3, \
         final_status_timestamp = $4 WHERE id = $5"
            .into()
    });
    let values = [
        updated.status.clone().into(),
        now.into(),
        updated.executing_timestamp.into(),
        updated.final_status_timestamp.into(),
        updated.id.into(),
    ];
    update_one(db, &UPDATE, values, "build").await?;
    out.seed.put_build(updated.clone());
    out.events.push(EventDraft::updated(
        EventKind::Build,
        from.as_str(),
        to.as_str(),
        ids,
    ));
    Ok(updated)
}

/// Moves a task to `to`, setting its timestamps, and records the event.
pub(crate) async fn set_task_status(
    db: &impl ConnectionTrait,
    task: task_row::Model,
    to: TaskStatus,
    now: i64,
    out: &mut Changes,
) -> Result<task_row::Model> {
    let from = task_status(&task)?;
    let ids = (task.repository_id, task.build_id, Some(task.id));
    let mut updated = task;
    updated.status = to.as_str().to_owned();
    updated.status_timestamp = now;
    match to {
        TaskStatus::Scheduled => updated.scheduled_timestamp = Some(now),
        TaskStatus::Executing if updated.executing_timestamp.is_none() => {
            updated.executing_timestamp = Some(now)
        }
        s if s.is_final() => updated.final_status_timestamp = Some(now),
        _ => {}
    }
    static UPDATE: Text = Text::new(|| {
        "UPDATE task SET status = $1, status_timestamp = $2, scheduled_timestamp = $3, \
         executing_timestamp = $4, final_status_timestamp = $5 WHERE id = $6"
            .into()
    });
    let values = [
        updated.status.clone().into(),
        now.into(),
        updated.scheduled_timestamp.into(),
        updated.executing_timestamp.into(),
        updated.final_status_timestamp.into(),
        updated.id.into(),
    ];
    update_one(db, &UPDATE, values, "task").await?;
    out.seed.put_task(updated.clone());
    out.events.push(EventDraft::updated(
        EventKind::Task,
        from.as_str(),
        to.as_str(),
        ids,
    ));
    Ok(updated)
}

/// Re-derives a build's status from its latest task runs and applies a change, if any.
pub(crate) async fn sync_build_status(
    db: &impl ConnectionTrait,
    build: build_row::Model,
    now: i64,
    out: &mut Changes,
) -> Result<build_row::Model> {
    let states = latest_task_states(db, build.org_id, build.id).await?;
    apply_task_states(db, build, &states, now, out).await
}

/// Applies the status a build's latest task `states` give it, if that is a change.
pub(crate) async fn apply_task_states(
    db: &impl ConnectionTrait,
    build: build_row::Model,
    states: &[TaskState],
    now: i64,
    out: &mut Changes,
) -> Result<build_row::Model> {
    match derive_build_status(build_status(&build)?, states) {
        Some(next) => set_build_status(db, build, next, now, out).await,
        None => {
            // Read under this transaction's lock: current.
            out.seed.put_build(build.clone());
            Ok(build)
        }
    }
}

/// The distinct (status, optional) pairs of a build's latest task runs: all the build's derived
/// status depends on, without reading whole rows.
async fn latest_task_states(
    db: &impl ConnectionTrait,
    org_id: i32,
    build_id: i32,
) -> Result<Vec<TaskState>> {
    static STATES: Text = Text::new(|| {
        "SELECT DISTINCT status, optional FROM task \
         WHERE org_id = $1 AND build_id = $2 AND superseded = FALSE"
            .into()
    });
    let backend = db.get_database_backend();
    let pairs = db
        .query_all(STATES.with(backend, [org_id.into(), build_id.into()]))
        .await?
        .iter()
        .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
        .collect::<std::result::Result<Vec<(String, bool)>, sea_orm::DbErr>>()?;
    pairs
        .into_iter()
        .map(|(status, optional)| {
            Ok(TaskState {
                status: status.parse()?,
                optional,
            })
        })
        .collect()
}
