//! `createBuild`, `approve`, `retrigger` and `batchAbort` (a build's abort, as Cirrus names
//! it): each one write transaction that applies the change,
//! writes its events and their outbox rows, and commits.

use async_graphql::{Context, InputObject, Object, ResultExt, SimpleObject, ID};

use crate::attributes::{
    BuildAttributes, BuildUserInput, GivenTask, Notification, TaskAttributes, TaskTriggerType,
};
use crate::clock::now_ms;
use crate::ctx::{parse_id, store, viewer};
use crate::error::Error;
use crate::graph::{Build, Task};
use crate::transition::{self, NewBuild, NewTask};
use crate::webhook::new_build;
use crate::webhook::outbox::commit_with_events;

#[derive(InputObject)]
pub struct BuildTaskInput {
    pub name: String,
    /// The name the configuration gave the task before matrix expansion, if any.
    pub name_alias: Option<String>,
    #[graphql(default)]
    pub optional: bool,
    #[graphql(default)]
    pub labels: Vec<String>,
    /// The machine the task runs on (`container`, `macos_instance`, ...).
    pub instance_type: Option<String>,
    /// Whether the CI engine re-runs the task automatically when it fails.
    pub automatically_re_runnable: Option<bool>,
    /// Messages about the task for the people who look at it.
    pub notifications: Option<Vec<Notification>>,
    /// `MANUAL` for a task a person starts (`trigger` starts a PAUSED task); default
    /// `AUTOMATIC`. What the reporter says: statuses still follow the transition table.
    pub trigger_type: Option<TaskTriggerType>,
    /// The task's group in the build (tasks of a group run together).
    pub local_group_id: Option<i32>,
    /// The groups that must finish before this task's group starts.
    pub required_groups: Option<Vec<i32>>,
}

#[derive(InputObject)]
pub struct RepositoryCreateBuildInput {
    pub repository_id: ID,
    pub branch: String,
    pub sha: Option<String>,
    pub message: Option<String>,
    pub name: Option<String>,
    pub tag: Option<String>,
    pub pull_request: Option<i32>,
    #[graphql(default)]
    pub needs_approval: bool,
    pub tasks: Vec<BuildTaskInput>,
    /// The user the build is for (the commit's author or the pull request's sender).
    pub user: Option<BuildUserInput>,
    /// That user's permission on the repository: `admin`, `write`, `read` or `none`.
    pub sender_user_permissions: Option<String>,
    /// Messages about the build for the people who look at it.
    pub notifications: Option<Vec<Notification>>,
    pub client_mutation_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct RepositoryCreateBuildPayload {
    pub build: Build,
    pub client_mutation_id: Option<String>,
}

#[derive(InputObject)]
pub struct BuildApproveInput {
    pub build_id: ID,
    pub client_mutation_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct BuildApprovePayload {
    pub build: Build,
    pub client_mutation_id: Option<String>,
}

#[derive(InputObject)]
pub struct BuildReTriggerInput {
    pub build_id: ID,
    pub client_mutation_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct BuildReTriggerPayload {
    pub build: Build,
    pub client_mutation_id: Option<String>,
}

#[derive(InputObject)]
pub struct TaskBatchAbortInput {
    pub task_ids: Vec<ID>,
    pub client_mutation_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct TaskBatchAbortPayload {
    pub tasks: Vec<Task>,
    pub client_mutation_id: Option<String>,
}

/// Most tasks one `batchAbort` takes (a build has at most 100).
const MAX_BATCH: usize = 100;

#[derive(Default)]
pub struct BuildMutation;

#[Object]
impl BuildMutation {
    /// Creates a build with its tasks: CREATED, or NEEDS_APPROVAL when asked.
    async fn create_build(
        &self,
        ctx: &Context<'_>,
        input: RepositoryCreateBuildInput,
    ) -> async_graphql::Result<RepositoryCreateBuildPayload> {
        async {
            let org_id = viewer(ctx)?.org_id;
            let new = NewBuild {
                repository_id: parse_id(&input.repository_id, "repository")?,
                branch: input.branch,
                sha: input.sha,
                message: input.message,
                name: input.name,
                tag: input.tag,
                pull_request: input.pull_request,
                needs_approval: input.needs_approval,
                tasks: input
                    .tasks
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| {
                        Ok(NewTask {
                            attributes: TaskAttributes::given(
                                &format!("tasks[{i}]"),
                                GivenTask {
                                    instance_type: t.instance_type,
                                    automatically_re_runnable: t.automatically_re_runnable,
                                    notifications: t.notifications,
                                    trigger_type: t.trigger_type,
                                    local_group_id: t.local_group_id,
                                    required_groups: t.required_groups,
                                },
                            )?,
                            name: t.name,
                            name_alias: t.name_alias,
                            optional: t.optional,
                            labels: t.labels,
                        })
                    })
                    .collect::<crate::error::Result<_>>()?,
                attributes: BuildAttributes::given(
                    input.user,
                    input.sender_user_permissions,
                    input.notifications,
                )?,
            };
            let store = store(ctx)?;
            transition::check_new_build(store.conn(), store.rows(), org_id, &new).await?;
            let (build, tasks) = transition::new_rows(org_id, new, now_ms())?;
            let build = match new_build::create(ctx, org_id, &build, &tasks).await? {
                Some(written) => written,
                None => {
                    let w = store.begin_write().await?;
                    let (build, changes) = transition::insert_new(w.txn(), build, tasks).await?;
                    commit_with_events(ctx, w, org_id, changes).await?;
                    build
                }
            };
            Ok::<_, crate::error::Error>(RepositoryCreateBuildPayload {
                build: build.into(),
                client_mutation_id: input.client_mutation_id,
            })
        }
        .await
        .extend()
    }

    /// NEEDS_APPROVAL -> TRIGGERED; any other status is INVALID_TRANSITION.
    async fn approve(
        &self,
        ctx: &Context<'_>,
        input: BuildApproveInput,
    ) -> async_graphql::Result<BuildApprovePayload> {
        async {
            let org_id = viewer(ctx)?.org_id;
            let build_id = parse_id(&input.build_id, "build")?;
            let w = store(ctx)?.begin_write().await?;
            let (build, changes) = transition::approve(w.txn(), org_id, build_id).await?;
            commit_with_events(ctx, w, org_id, changes).await?;
            Ok::<_, crate::error::Error>(BuildApprovePayload {
                build: build.into(),
                client_mutation_id: input.client_mutation_id,
            })
        }
        .await
        .extend()
    }

    /// A new run of every task of a finished build.
    async fn retrigger(
        &self,
        ctx: &Context<'_>,
        input: BuildReTriggerInput,
    ) -> async_graphql::Result<BuildReTriggerPayload> {
        async {
            let org_id = viewer(ctx)?.org_id;
            let build_id = parse_id(&input.build_id, "build")?;
            let w = store(ctx)?.begin_write().await?;
            let (build, changes) = transition::retrigger(w.txn(), org_id, build_id).await?;
            commit_with_events(ctx, w, org_id, changes).await?;
            Ok::<_, crate::error::Error>(BuildReTriggerPayload {
                build: build.into(),
                client_mutation_id: input.client_mutation_id,
            })
        }
        .await
        .extend()
    }

    /// Aborts every listed task that has not finished, in one transaction (Cirrus's
    /// `batchAbort`, which its web app sends with a build's unfinished tasks to abort the build):
    /// each emits the events `abortTask` does, and each build follows its tasks once. Finished
    /// tasks are returned unchanged; any id that is not a task of the viewer's organization is
    /// NOT_FOUND and changes nothing.
    async fn batch_abort(
        &self,
        ctx: &Context<'_>,
        input: TaskBatchAbortInput,
    ) -> async_graphql::Result<TaskBatchAbortPayload> {
        async {
            let org_id = viewer(ctx)?.org_id;
            if input.task_ids.is_empty() || input.task_ids.len() > MAX_BATCH {
                return Err(Error::field("taskIds", "give 1 to 100 task ids"));
            }
            let mut ids = Vec::with_capacity(input.task_ids.len());
            for id in &input.task_ids {
                let id = parse_id(id, "task")?;
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            let w = store(ctx)?.begin_write().await?;
            let (tasks, changes) = transition::batch_abort(w.txn(), org_id, &ids).await?;
            commit_with_events(ctx, w, org_id, changes).await?;
            Ok(TaskBatchAbortPayload {
                tasks: tasks.into_iter().map(Task::from).collect(),
                client_mutation_id: input.client_mutation_id,
            })
        }
        .await
        .extend()
    }
}
