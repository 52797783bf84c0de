//! The domain's state changes: each function checks the transition tables, writes the new rows
//! and returns the events it caused, in order. Callers run them inside one write transaction and
//! hand the events to the outbox before committing.

mod build;
mod task;

pub use build::{
    approve, check_new_build, create_build, created, insert_new, new_rows, retrigger, NewBuild,
    NewTask,
};
pub use task::{batch_abort, rerun, trigger, update_task_status};

/// What a transition did: its events, in order, and the build and task rows as it left them,
/// which the payload renders of those events take instead of reading them again.
#[derive(Default, Debug)]
pub struct Changes {
    pub events: Vec<EventDraft>,
    pub seed: Seed,
    /// The mutation's audit event, delivered where an endpoint selects `audit_event.*`.
    pub audit: Option<crate::webhook::audit::Audit>,
}

use buildhooks_entity::{build as build_row, task as task_row};
use buildhooks_store::{runs, tasks};
use sea_orm::ConnectionTrait;

use crate::error::{Error, Result};
use crate::event::{EventDraft, EventKind};
use crate::seed::Seed;
use crate::status::{derive_build_status, BuildStatus, TaskState, TaskStatus};

/// Loads a build of `org_id` and locks its row (`FOR UPDATE` where the database locks rows;
/// where writers are serialised already, nothing), so concurrent changes to its tasks derive its
/// status one at a time.
pub(crate) async fn lock_build(
    db: &impl ConnectionTrait,
    org_id: i32,
    build_id: i32,
) -> Result<build_row::Model> {
    runs::lock_build(db, org_id, build_id)
        .await?
        .ok_or(Error::NotFound("build"))
}

/// The latest run of every task of a build, in creation order.
pub(crate) async fn latest_tasks(
    db: &impl ConnectionTrait,
    org_id: i32,
    build_id: i32,
) -> Result<Vec<task_row::Model>> {
    Ok(runs::latest_tasks(db, org_id, build_id).await?)
}

pub(crate) fn build_status(m: &build_row::Model) -> Result<BuildStatus> {
    m.status.parse()
}

pub(crate) fn task_status(m: &task_row::Model) -> Result<TaskStatus> {
    m.status.parse()
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
        return Err(Error::NotAllowed {
            message: format!(
                "build {} cannot go from {} to {}",
                build.id,
                from.as_str(),
                to.as_str()
            ),
            allowed_next: from.allowed_next(),
        });
    }
    write_build_status(db, build, from, to, now, out).await
}

/// Moves a build from `from` to `to` without consulting the transition table: the caller has
/// decided the move (`set_build_status` by the table; an inbound source by the vendor's report,
/// which says what already happened). Sets its timestamps and records the event and any derived
/// one.
pub(crate) async fn write_build_status(
    db: &impl ConnectionTrait,
    build: build_row::Model,
    from: BuildStatus,
    to: BuildStatus,
    now: i64,
    out: &mut Changes,
) -> Result<build_row::Model> {
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
    if !tasks::write_build_status(db, &updated).await? {
        return Err(Error::NotFound("build"));
    }
    out.seed.put_build(updated.clone());
    out.events.push(EventDraft::updated(
        EventKind::Build,
        from.as_str(),
        to.as_str(),
        ids,
    ));
    if let Some(derived) = derived_event(db, &updated, from, to).await? {
        out.events.push(derived);
    }
    Ok(updated)
}

/// `build.fixed` (COMPLETED after FAILED) or `build.still_failing` (FAILED after FAILED): the
/// outcome against the latest build of the same repository and branch created before it that
/// finished COMPLETED or FAILED (aborted and errored builds are passed over; a first build has
/// nothing to compare with).
async fn derived_event(
    db: &impl ConnectionTrait,
    build: &build_row::Model,
    from: BuildStatus,
    to: BuildStatus,
) -> Result<Option<EventDraft>> {
    let action = match to {
        BuildStatus::Completed => "fixed",
        BuildStatus::Failed => "still_failing",
        _ => return Ok(None),
    };
    let previous = runs::previous_finished(
        db,
        build.org_id,
        build.repository_id,
        &build.branch,
        build.id,
    )
    .await?;
    if previous.as_deref() != Some(BuildStatus::Failed.as_str()) {
        return Ok(None);
    }
    let mut event = EventDraft::updated(
        EventKind::Build,
        from.as_str(),
        to.as_str(),
        (build.repository_id, build.id, None),
    );
    event.action = action;
    Ok(Some(event))
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
    // The same rules as the one-statement move (`TaskStatus::moves`).
    let stamps = to.task_move().stamps;
    if stamps.scheduled {
        updated.scheduled_timestamp = Some(now);
    }
    if stamps.executing && updated.executing_timestamp.is_none() {
        updated.executing_timestamp = Some(now);
    }
    if stamps.final_status {
        updated.final_status_timestamp = Some(now);
    }
    if !tasks::write_task_status(db, &updated).await? {
        return Err(Error::NotFound("task"));
    }
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

/// The (status, optional) pairs of a build's latest task runs: all its derived status depends on.
async fn latest_task_states(
    db: &impl ConnectionTrait,
    org_id: i32,
    build_id: i32,
) -> Result<Vec<TaskState>> {
    tasks::latest_task_states(db, org_id, build_id)
        .await?
        .into_iter()
        .map(TaskState::parse)
        .collect()
}
