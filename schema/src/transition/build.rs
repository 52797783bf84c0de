//! Build transitions: `createBuild`, `approve` (NEEDS_APPROVAL -> TRIGGERED with its tasks) and
//! `retrigger` (a new run of every task of a finished build).

use buildhooks_entity::{build as build_row, task as task_row};
use buildhooks_store::runs;
use sea_orm::{ConnectionTrait, Set};

use super::task::new_run_of;
use super::{
    build_status, latest_tasks, lock_build, set_build_status, set_task_status, task_status, Changes,
};
use crate::attributes::{self, BuildAttributes, TaskAttributes};
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::event::{EventDraft, EventKind};
use crate::status::{BuildStatus, TaskStatus};

/// A build to create, already validated for shape by the caller.
pub struct NewBuild {
    pub repository_id: i32,
    pub branch: String,
    pub sha: Option<String>,
    pub message: Option<String>,
    pub name: Option<String>,
    pub tag: Option<String>,
    pub pull_request: Option<i32>,
    pub needs_approval: bool,
    pub tasks: Vec<NewTask>,
    /// The build's user and permission, already checked.
    pub attributes: BuildAttributes,
}

/// A task of a build to create.
pub struct NewTask {
    pub name: String,
    pub name_alias: Option<String>,
    pub optional: bool,
    pub labels: Vec<String>,
    /// Instance type, re-runnability, notifications, already checked.
    pub attributes: TaskAttributes,
}

fn check(new: &NewBuild) -> Result<()> {
    if new.branch.trim().is_empty() || new.branch.len() > 255 {
        return Err(Error::field("branch", "must be 1 to 255 characters"));
    }
    if new.tasks.is_empty() || new.tasks.len() > 100 {
        return Err(Error::field("tasks", "a build has 1 to 100 tasks"));
    }
    let mut names = std::collections::HashSet::new();
    for (i, t) in new.tasks.iter().enumerate() {
        if t.name.trim().is_empty() || t.name.len() > 255 {
            return Err(Error::field(
                format!("tasks[{i}].name"),
                "must be 1 to 255 characters",
            ));
        }
        if !names.insert(t.name.as_str()) {
            return Err(Error::field(
                format!("tasks[{i}].name"),
                "task names must be unique in a build",
            ));
        }
        if t.name_alias.as_ref().is_some_and(|a| a.len() > 255) {
            return Err(Error::field(
                format!("tasks[{i}].nameAlias"),
                "at most 255 characters",
            ));
        }
        if t.labels.len() > 50 || t.labels.iter().any(|l| l.len() > 255) {
            return Err(Error::field(
                format!("tasks[{i}].labels"),
                "at most 50 labels of 255 characters",
            ));
        }
    }
    Ok(())
}

/// Checks a new build's input and that its repository belongs to `org_id`: read from `rows`
/// (repositories are insert-only) or through the pool, before the write transaction: one
/// statement less inside it, where writers may wait for each other.
pub async fn check_new_build(
    db: &impl ConnectionTrait,
    rows: &crate::seed::RowCache,
    org_id: i32,
    new: &NewBuild,
) -> Result<()> {
    check(new)?;
    rows.repository(db, org_id, new.repository_id)
        .await?
        .ok_or(Error::NotFound("repository"))?;
    Ok(())
}

/// The rows of a new build in CREATED (or NEEDS_APPROVAL) and its tasks in CREATED, every
/// column but the ids set (a task's `build_id` is set when the build's id is known); `new`
/// passed [`check_new_build`].
pub fn new_rows(
    org_id: i32,
    new: NewBuild,
    now: i64,
) -> Result<(build_row::ActiveModel, Vec<task_row::ActiveModel>)> {
    let status = if new.needs_approval {
        BuildStatus::NeedsApproval
    } else {
        BuildStatus::Created
    };
    let build = build_row::ActiveModel {
        org_id: Set(org_id),
        repository_id: Set(new.repository_id),
        name: Set(new.name),
        branch: Set(new.branch),
        tag: Set(new.tag),
        change_id_in_repo: Set(new.sha.unwrap_or_default()),
        change_message: Set(new.message.unwrap_or_default()),
        pull_request: Set(new.pull_request),
        status: Set(status.as_str().to_owned()),
        change_timestamp: Set(now),
        build_created_timestamp: Set(now),
        status_timestamp: Set(now),
        executing_timestamp: Set(None),
        final_status_timestamp: Set(None),
        attributes: Set(attributes::store(&new.attributes)),
        ..Default::default()
    };
    let mut tasks = Vec::with_capacity(new.tasks.len());
    for t in new.tasks {
        let labels =
            serde_json::to_string(&t.labels).map_err(|e| Error::Internal(e.to_string()))?;
        tasks.push(task_row::ActiveModel {
            org_id: Set(org_id),
            build_id: Set(0),
            repository_id: Set(new.repository_id),
            name: Set(t.name),
            name_alias: Set(t.name_alias),
            status: Set(TaskStatus::Created.as_str().to_owned()),
            labels: Set(labels),
            optional: Set(t.optional),
            manual_rerun_count: Set(0),
            previous_run_id: Set(None),
            superseded: Set(false),
            status_timestamp: Set(now),
            creation_timestamp: Set(now),
            scheduled_timestamp: Set(None),
            executing_timestamp: Set(None),
            final_status_timestamp: Set(None),
            attributes: Set(attributes::store(&t.attributes)),
            ..Default::default()
        });
    }
    Ok((build, tasks))
}

/// Creates a build in CREATED (or NEEDS_APPROVAL) with its tasks in CREATED in `db`; `new`
/// passed [`check_new_build`] (the build's foreign key holds the repository to existing).
pub async fn create_build(
    db: &impl ConnectionTrait,
    org_id: i32,
    new: NewBuild,
) -> Result<(build_row::Model, Changes)> {
    let (build, tasks) = new_rows(org_id, new, now_ms())?;
    insert_new(db, build, tasks).await
}

/// Writes the rows of [`new_rows`]: the build, then its tasks with its id.
pub async fn insert_new(
    db: &impl ConnectionTrait,
    build: build_row::ActiveModel,
    tasks: Vec<task_row::ActiveModel>,
) -> Result<(build_row::Model, Changes)> {
    let build = runs::insert_build(db, build).await?;
    let mut written = Vec::with_capacity(tasks.len());
    for mut task in tasks {
        task.build_id = Set(build.id);
        written.push(runs::insert_task(db, task).await?);
    }
    Ok((build.clone(), created(build, written)))
}

/// What creating `build` with `tasks` changed: its event, then each task's, and the rows for
/// the payloads.
pub fn created(build: build_row::Model, tasks: Vec<task_row::Model>) -> Changes {
    let status = match build.status == BuildStatus::NeedsApproval.as_str() {
        true => BuildStatus::NeedsApproval,
        false => BuildStatus::Created,
    };
    let mut out = Changes::default();
    out.events.push(EventDraft::created(
        EventKind::Build,
        status.as_str(),
        (build.repository_id, build.id, None),
    ));
    for task in tasks {
        out.events.push(EventDraft::created(
            EventKind::Task,
            TaskStatus::Created.as_str(),
            (task.repository_id, task.build_id, Some(task.id)),
        ));
        out.seed.put_task(task);
    }
    out.seed.put_build(build);
    out
}

/// NEEDS_APPROVAL -> TRIGGERED, and every waiting task of the build to TRIGGERED.
pub async fn approve(
    db: &impl ConnectionTrait,
    org_id: i32,
    build_id: i32,
) -> Result<(build_row::Model, Changes)> {
    let build = lock_build(db, org_id, build_id).await?;
    let status = build_status(&build)?;
    if status != BuildStatus::NeedsApproval {
        return Err(Error::InvalidTransition(format!(
            "build {build_id} is {}: only a build in NEEDS_APPROVAL can be approved",
            status.as_str()
        )));
    }
    let now = now_ms();
    let mut out = Changes::default();
    let build = set_build_status(db, build, BuildStatus::Triggered, now, &mut out).await?;
    for task in latest_tasks(db, org_id, build_id).await? {
        if task_status(&task)? == TaskStatus::Created {
            set_task_status(db, task, TaskStatus::Triggered, now, &mut out).await?;
        }
    }
    Ok((build, out))
}

/// A new run of every task of a finished build; the build goes back to TRIGGERED.
pub async fn retrigger(
    db: &impl ConnectionTrait,
    org_id: i32,
    build_id: i32,
) -> Result<(build_row::Model, Changes)> {
    let build = lock_build(db, org_id, build_id).await?;
    let status = build_status(&build)?;
    if !status.is_final() {
        return Err(Error::InvalidTransition(format!(
            "build {build_id} is {}: only a finished build can be retriggered",
            status.as_str()
        )));
    }
    let now = now_ms();
    let mut out = Changes::default();
    let build = set_build_status(db, build, BuildStatus::Triggered, now, &mut out).await?;
    for task in latest_tasks(db, org_id, build_id).await? {
        let run = new_run_of(
            db,
            &task,
            TaskStatus::Triggered,
            (task.manual_rerun_count, false),
            now,
            &mut out,
        )
        .await?;
        out.events.push(EventDraft::created(
            EventKind::Task,
            TaskStatus::Triggered.as_str(),
            (run.repository_id, run.build_id, Some(run.id)),
        ));
    }
    Ok((build, out))
}
