//! `updateTaskStatus`, `abortTask`, `rerun` and `trigger`: each one write transaction that applies the
//! change (and the build's derived status), writes the events and their outbox rows, and commits.

use async_graphql::{Context, InputObject, Object, ResultExt, SimpleObject, ID};

use buildhooks_store::runs;

use crate::attributes::{self, check_notifications, Notification, TaskAttributes};
use crate::ctx::{parse_id, store, viewer};
use crate::error::Result;
use crate::graph::Task;
use crate::status::TaskStatus;
use crate::transition;
use crate::webhook::outbox::commit_with_events;

#[derive(InputObject)]
pub struct UpdateTaskStatusInput {
    pub task_id: ID,
    pub status: TaskStatus,
    /// Messages about the task for the people who look at it; given, they replace the
    /// task's (and its events carry them).
    pub notifications: Option<Vec<Notification>>,
    pub client_mutation_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct UpdateTaskStatusPayload {
    pub task: Task,
    pub client_mutation_id: Option<String>,
}

#[derive(InputObject)]
pub struct TaskAbortInput {
    pub task_id: ID,
    pub client_mutation_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct TaskAbortPayload {
    pub aborted_task: Task,
    pub client_mutation_id: Option<String>,
}

#[derive(InputObject)]
pub struct TaskReRunInput {
    pub task_id: ID,
    /// The CI engine re-runs the task on its own (`automaticReRun`; `manualRerunCount` stays).
    #[graphql(default)]
    pub automatic: bool,
    /// Cirrus's: a terminal to attach; buildhooks runs no tasks and ignores it.
    pub attach_terminal: Option<bool>,
    pub client_mutation_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct TaskReRunPayload {
    pub new_task: Task,
    pub client_mutation_id: Option<String>,
}

#[derive(InputObject)]
pub struct TaskTriggerInput {
    pub task_id: ID,
    pub client_mutation_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct TaskTriggerPayload {
    pub task: Task,
    pub client_mutation_id: Option<String>,
}

async fn move_task(
    ctx: &Context<'_>,
    task_id: &ID,
    to: TaskStatus,
    notifications: Option<Vec<Notification>>,
) -> Result<Task> {
    let org_id = viewer(ctx)?.org_id;
    let task_id = parse_id(task_id, "task")?;
    if let Some(n) = &notifications {
        check_notifications("notifications", n)?;
    }
    let w = store(ctx)?.begin_write().await?;
    let (mut task, mut changes) =
        transition::update_task_status(w.txn(), org_id, task_id, to).await?;
    if let Some(notifications) = notifications {
        let mut attributes: TaskAttributes = attributes::read("task", task.attributes.as_deref());
        attributes.notifications = notifications;
        task.attributes = attributes::store(&attributes);
        runs::set_task_attributes(w.txn(), org_id, task.id, task.attributes.clone()).await?;
        // The events render the row as it now is.
        changes.seed.put_task(task.clone());
    }
    commit_with_events(ctx, w, org_id, changes).await?;
    Ok(task.into())
}

#[derive(Default)]
pub struct TaskMutation;

#[Object]
impl TaskMutation {
    /// Reports a task's progress (CI agents call this); the build follows its tasks.
    async fn update_task_status(
        &self,
        ctx: &Context<'_>,
        input: UpdateTaskStatusInput,
    ) -> async_graphql::Result<UpdateTaskStatusPayload> {
        let task = Box::pin(move_task(
            ctx,
            &input.task_id,
            input.status,
            input.notifications,
        ))
        .await
        .extend()?;
        Ok(UpdateTaskStatusPayload {
            task,
            client_mutation_id: input.client_mutation_id,
        })
    }

    /// Aborts a task that has not finished.
    async fn abort_task(
        &self,
        ctx: &Context<'_>,
        input: TaskAbortInput,
    ) -> async_graphql::Result<TaskAbortPayload> {
        let task = Box::pin(move_task(ctx, &input.task_id, TaskStatus::Aborted, None))
            .await
            .extend()?;
        Ok(TaskAbortPayload {
            aborted_task: task,
            client_mutation_id: input.client_mutation_id,
        })
    }

    /// A new run of a finished task (`manualRerunCount` + 1).
    async fn rerun(
        &self,
        ctx: &Context<'_>,
        input: TaskReRunInput,
    ) -> async_graphql::Result<TaskReRunPayload> {
        async {
            let org_id = viewer(ctx)?.org_id;
            let task_id = parse_id(&input.task_id, "task")?;
            let w = store(ctx)?.begin_write().await?;
            let (task, changes) =
                transition::rerun(w.txn(), org_id, task_id, input.automatic).await?;
            commit_with_events(ctx, w, org_id, changes).await?;
            Ok::<_, crate::error::Error>(TaskReRunPayload {
                new_task: task.into(),
                client_mutation_id: input.client_mutation_id,
            })
        }
        .await
        .extend()
    }

    /// Starts a manual task: PAUSED -> TRIGGERED (Cirrus's `trigger`); any other status is
    /// INVALID_TRANSITION.
    async fn trigger(
        &self,
        ctx: &Context<'_>,
        input: TaskTriggerInput,
    ) -> async_graphql::Result<TaskTriggerPayload> {
        async {
            let org_id = viewer(ctx)?.org_id;
            let task_id = parse_id(&input.task_id, "task")?;
            let w = store(ctx)?.begin_write().await?;
            let (task, changes) = transition::trigger(w.txn(), org_id, task_id).await?;
            commit_with_events(ctx, w, org_id, changes).await?;
            Ok::<_, crate::error::Error>(TaskTriggerPayload {
                task: task.into(),
                client_mutation_id: input.client_mutation_id,
            })
        }
        .await
        .extend()
    }
}
