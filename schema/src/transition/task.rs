//! Task transitions: `updateTaskStatus` (and `abortTask`, which is the same move to ABORTED) and
//! `rerun`, each followed by the build's derived status.

use buildhooks_entity::{build as build_row, task as task_row, webhook_endpoint};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbBackend, FromQueryResult, Set};

use super::{
    build_status, set_build_status, set_task_status, sync_build_status, task_status, Changes,
};
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::event::{EventDraft, EventKind};
use crate::seed::Seed;
use crate::sql::Text;
use crate::status::{BuildStatus, TaskStatus};

/// The build of a task joined with its organization's enabled, undeleted endpoints in position
/// order: one row per endpoint, or one row with no endpoint. (PostgreSQL locks the build row.)
fn lock_text(for_update: &str) -> String {
    let mut columns = crate::store::aliased::<build_row::Column>("b", "b_");
    columns.extend(crate::store::aliased::<webhook_endpoint::Column>("e", "e_"));
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
pub(super) async fn lock_build_with_endpoints(
    db: &impl ConnectionTrait,
    org_id: i32,
    task_id: i32,
) -> Result<(build_row::Model, Vec<webhook_endpoint::Model>)> {
    let backend = db.get_database_backend();
    let text = match backend {
        DbBackend::Postgres => &LOCK_FOR_UPDATE,
        _ => &LOCK,
    };
    let rows = db
        .query_all(text.with(backend, [task_id.into(), org_id.into()]))
        .await?;
    let first = rows.first().ok_or(Error::NotFound("task"))?;
    let build = build_row::Model::from_query_result(first, "b_")?;
    let mut endpoints = Vec::new();
    for row in &rows {
        if row.try_get::<Option<i32>>("e_", "id")?.is_some() {
            endpoints.push(webhook_endpoint::Model::from_query_result(row, "e_")?);
        }
    }
    Ok((build, endpoints))
}

/// Task `id` of `org_id`.
static TASK: Text = Text::new(|| {
    format!(
        "SELECT {} FROM task WHERE id = $1 AND org_id = $2",
        crate::sql::columns::<task_row::Column>()
    )
});

/// Loads a task of `org_id` and its build, locking the build first, with the organization's
/// enabled endpoints, which go into `seed` for the outbox.
async fn lock_task(
    db: &impl ConnectionTrait,
    org_id: i32,
    task_id: i32,
    seed: &mut Seed,
) -> Result<(task_row::Model, build_row::Model)> {
    let (build, endpoints) = lock_build_with_endpoints(db, org_id, task_id).await?;
    seed.put_endpoints(endpoints);
    let backend = db.get_database_backend();
    let task = db
        .query_one(TASK.with(backend, [task_id.into(), org_id.into()]))
        .await?
        .ok_or(Error::NotFound("task"))?;
    Ok((task_row::Model::from_query_result(&task, "")?, build))
}

/// Moves a task to `to` (as reported by a CI agent), then its build as its tasks say.
pub async fn update_task_status(
    db: &impl ConnectionTrait,
    org_id: i32,
    task_id: i32,
    to: TaskStatus,
) -> Result<(task_row::Model, Changes)> {
    if db.get_database_backend() == DbBackend::Postgres {
        if let Some(done) =
            super::task_postgres::update_task_status(db, org_id, task_id, to).await?
        {
            return Ok(done);
        }
    }
    let mut out = Changes::default();
    let (task, build) = lock_task(db, org_id, task_id, &mut out.seed).await?;
    let from = task_status(&task)?;
    if task.superseded {
        return Err(Error::InvalidTransition(format!(
            "task {task_id} was rerun: only its latest run can change"
        )));
    }
    if build_status(&build)? == BuildStatus::NeedsApproval && to != TaskStatus::Aborted {
        return Err(Error::InvalidTransition(format!(
            "build {} needs approval before its tasks can run",
            build.id
        )));
    }
    if !from.can_become(to) {
        return Err(Error::InvalidTransition(format!(
            "task {task_id} cannot go from {} to {}",
            from.as_str(),
            to.as_str()
        )));
    }
    let now = now_ms();
    let task = set_task_status(db, task, to, now, &mut out).await?;
    sync_build_status(db, build, now, &mut out).await?;
    Ok((task, out))
}

/// Starts a new run of a final task; the old run is kept, superseded. A final build reopens.
pub async fn rerun(
    db: &impl ConnectionTrait,
    org_id: i32,
    task_id: i32,
) -> Result<(task_row::Model, Changes)> {
    let mut out = Changes::default();
    let (task, build) = lock_task(db, org_id, task_id, &mut out.seed).await?;
    let status = task_status(&task)?;
    if task.superseded || !status.is_final() {
        return Err(Error::InvalidTransition(format!(
            "task {task_id} is {}{}: only the latest run of a finished task can be rerun",
            status.as_str(),
            if task.superseded {
                " and was rerun"
            } else {
                ""
            }
        )));
    }
    let now = now_ms();
    let build_now = build_status(&build)?;
    let initial = if build_now == BuildStatus::NeedsApproval {
        TaskStatus::Created
    } else {
        TaskStatus::Triggered
    };
    let new_run = new_run_of(
        db,
        &task,
        initial,
        task.manual_rerun_count + 1,
        now,
        &mut out,
    )
    .await?;
    out.events.push(EventDraft::created(
        EventKind::Task,
        initial.as_str(),
        (new_run.repository_id, new_run.build_id, Some(new_run.id)),
    ));
    if build_now.is_final() {
        set_build_status(db, build, BuildStatus::Triggered, now, &mut out).await?;
    } else {
        // Read under this transaction's lock and unchanged: current.
        out.seed.put_build(build);
    }
    Ok((new_run, out))
}

/// Inserts a new run of `old` with `status` and marks `old` superseded.
pub(super) async fn new_run_of(
    db: &impl ConnectionTrait,
    old: &task_row::Model,
    status: TaskStatus,
    manual_rerun_count: i32,
    now: i64,
    out: &mut Changes,
) -> Result<task_row::Model> {
    let mut superseded: task_row::ActiveModel = old.clone().into();
    superseded.superseded = Set(true);
    out.seed.put_task(superseded.update(db).await?);
    let run = task_row::ActiveModel {
        org_id: Set(old.org_id),
        build_id: Set(old.build_id),
        repository_id: Set(old.repository_id),
        name: Set(old.name.clone()),
        name_alias: Set(old.name_alias.clone()),
        status: Set(status.as_str().to_owned()),
        labels: Set(old.labels.clone()),
        optional: Set(old.optional),
        manual_rerun_count: Set(manual_rerun_count),
        previous_run_id: Set(Some(old.id)),
        superseded: Set(false),
        status_timestamp: Set(now),
        creation_timestamp: Set(now),
        scheduled_timestamp: Set(None),
        executing_timestamp: Set(None),
        final_status_timestamp: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    out.seed.put_task(run.clone());
    Ok(run)
}
