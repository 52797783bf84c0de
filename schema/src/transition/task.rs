//! Task transitions: `updateTaskStatus` (and `abortTask`, which is the same move to ABORTED),
//! `rerun`, `trigger` and `batchAbort`, each followed by the build's derived status.

use buildhooks_entity::{build as build_row, task as task_row};
use buildhooks_store::{runs, tasks};
use sea_orm::{ConnectionTrait, Set};

use super::{
    apply_task_states, build_status, lock_build as lock_build_by_id, set_build_status,
    set_task_status, sync_build_status, task_status, Changes,
};
use crate::attributes::{self, TaskAttributes};
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::event::{EventDraft, EventKind};
use crate::seed::Seed;
use crate::status::{BuildStatus, TaskState, TaskStatus};

/// Locks the build of a task (reading the organization's enabled endpoints with it, which go
/// into `seed` for the outbox), so that task rows read afterwards are the ones this transaction
/// will change.
async fn lock_build(
    db: &impl ConnectionTrait,
    org_id: i32,
    task_id: i32,
    seed: &mut Seed,
) -> Result<build_row::Model> {
    let (build, endpoints) = tasks::lock_build_with_endpoints(db, org_id, task_id)
        .await?
        .ok_or(Error::NotFound("task"))?;
    seed.put_endpoints(endpoints);
    Ok(build)
}

/// Loads a task of `org_id` and its build, locking the build first, with the organization's
/// enabled endpoints, which go into `seed` for the outbox.
async fn lock_task(
    db: &impl ConnectionTrait,
    org_id: i32,
    task_id: i32,
    seed: &mut Seed,
) -> Result<(task_row::Model, build_row::Model)> {
    let build = lock_build(db, org_id, task_id, seed).await?;
    let task = tasks::task(db, org_id, task_id)
        .await?
        .ok_or(Error::NotFound("task"))?;
    Ok((task, build))
}

/// Moves a task to `to` (as reported by a CI agent), then its build as its tasks say.
pub async fn update_task_status(
    db: &impl ConnectionTrait,
    org_id: i32,
    task_id: i32,
    to: TaskStatus,
) -> Result<(task_row::Model, Changes)> {
    let mut out = Changes::default();
    let build = lock_build(db, org_id, task_id, &mut out.seed).await?;
    let now = now_ms();
    if build_status(&build)? != BuildStatus::NeedsApproval || to == TaskStatus::Aborted {
        // The move in one statement where the store can; else, or when it refused, the steps
        // below, which report the precise error.
        if let Some(moved) = tasks::move_task(db, org_id, task_id, to.task_move(), now).await? {
            return moved_in_one(db, build, moved, to, now, out).await;
        }
    }
    let task = tasks::task(db, org_id, task_id)
        .await?
        .ok_or(Error::NotFound("task"))?;
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
        return Err(Error::NotAllowed {
            message: format!(
                "task {task_id} cannot go from {} to {}",
                from.as_str(),
                to.as_str()
            ),
            allowed_next: from.allowed_next(),
        });
    }
    let task = set_task_status(db, task, to, now, &mut out).await?;
    sync_build_status(db, build, now, &mut out).await?;
    Ok((task, out))
}

/// The changes of a task moved in one statement: its event, then its build's derived status.
async fn moved_in_one(
    db: &impl ConnectionTrait,
    build: build_row::Model,
    moved: tasks::Moved,
    to: TaskStatus,
    now: i64,
    mut out: Changes,
) -> Result<(task_row::Model, Changes)> {
    let tasks::Moved {
        task,
        old_status,
        others,
    } = moved;
    let from: TaskStatus = old_status.parse()?;
    let mut states = others
        .into_iter()
        .map(TaskState::parse)
        .collect::<Result<Vec<_>>>()?;
    states.push(TaskState {
        status: to,
        optional: task.optional,
    });
    out.seed.put_task(task.clone());
    out.events.push(EventDraft::updated(
        EventKind::Task,
        from.as_str(),
        to.as_str(),
        (task.repository_id, task.build_id, Some(task.id)),
    ));
    apply_task_states(db, build, &states, now, &mut out).await?;
    Ok((task, out))
}

/// Starts a new run of a final task; the old run is kept, superseded. A final build reopens.
pub async fn rerun(
    db: &impl ConnectionTrait,
    org_id: i32,
    task_id: i32,
    automatic: bool,
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
    // A re-run the CI engine started on its own is not a manual one.
    let manual_reruns = task.manual_rerun_count + i32::from(!automatic);
    let new_run = new_run_of(
        db,
        &task,
        initial,
        (manual_reruns, automatic),
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

/// Cirrus's `trigger`: a PAUSED task (a manual one waiting for a person) to TRIGGERED, then its
/// build as its tasks say. An explicit move like `approve`, outside the table `updateTaskStatus`
/// follows.
pub async fn trigger(
    db: &impl ConnectionTrait,
    org_id: i32,
    task_id: i32,
) -> Result<(task_row::Model, Changes)> {
    let mut out = Changes::default();
    let (task, build) = lock_task(db, org_id, task_id, &mut out.seed).await?;
    let status = task_status(&task)?;
    if task.superseded || status != TaskStatus::Paused {
        return Err(Error::InvalidTransition(format!(
            "task {task_id} is {}{}: only the latest run of a PAUSED task can be triggered",
            status.as_str(),
            if task.superseded {
                " and was rerun"
            } else {
                ""
            }
        )));
    }
    if build_status(&build)? == BuildStatus::NeedsApproval {
        return Err(Error::InvalidTransition(format!(
            "build {} needs approval before its tasks can run",
            build.id
        )));
    }
    let now = now_ms();
    let task = set_task_status(db, task, TaskStatus::Triggered, now, &mut out).await?;
    sync_build_status(db, build, now, &mut out).await?;
    Ok((task, out))
}

/// Cirrus's `batchAbort`: every task of `task_ids` that has not finished to ABORTED (the move
/// `abortTask` makes, with the same events), then each of their builds once, as its tasks say.
/// Finished tasks and earlier runs are returned as they are. Any id that is not a task of
/// `org_id` is NOT_FOUND and, the caller dropping the transaction, nothing changes.
pub async fn batch_abort(
    db: &impl ConnectionTrait,
    org_id: i32,
    task_ids: &[i32],
) -> Result<(Vec<task_row::Model>, Changes)> {
    let mut build_ids = Vec::with_capacity(task_ids.len());
    for &id in task_ids {
        let task = tasks::task(db, org_id, id)
            .await?
            .ok_or(Error::NotFound("task"))?;
        build_ids.push(task.build_id);
    }
    // Builds locked in id order, so two batches over the same builds cannot deadlock.
    build_ids.sort_unstable();
    build_ids.dedup();
    let mut builds = Vec::with_capacity(build_ids.len());
    for id in build_ids {
        builds.push(lock_build_by_id(db, org_id, id).await?);
    }
    let now = now_ms();
    let mut out = Changes::default();
    let mut result = Vec::with_capacity(task_ids.len());
    for &id in task_ids {
        // Read again under the builds' locks: current.
        let task = tasks::task(db, org_id, id)
            .await?
            .ok_or(Error::NotFound("task"))?;
        if task.superseded || task_status(&task)?.is_final() {
            result.push(task);
            continue;
        }
        result.push(set_task_status(db, task, TaskStatus::Aborted, now, &mut out).await?);
    }
    for build in builds {
        sync_build_status(db, build, now, &mut out).await?;
    }
    Ok((result, out))
}

/// Inserts a new run of `old` with `status` and marks `old` superseded.
pub(super) async fn new_run_of(
    db: &impl ConnectionTrait,
    old: &task_row::Model,
    status: TaskStatus,
    (manual_rerun_count, automatic): (i32, bool),
    now: i64,
    out: &mut Changes,
) -> Result<task_row::Model> {
    // The new run keeps what the task is (its instance, whether it may be re-run); its
    // notifications were about the old run.
    let old_attributes: TaskAttributes = attributes::read("task", old.attributes.as_deref());
    let attributes = TaskAttributes {
        automatic_re_run: automatic,
        notifications: Vec::new(),
        ..old_attributes
    };
    out.seed.put_task(runs::supersede(db, old.clone()).await?);
    let row = task_row::ActiveModel {
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
        attributes: Set(attributes::store(&attributes)),
        ..Default::default()
    };
    let run = runs::insert_task(db, row).await?;
    out.seed.put_task(run.clone());
    Ok(run)
}
