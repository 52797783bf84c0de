//! The GraphQL object graph of a CI run: `Repository`, `Build` and `Task` (Cirrus's types), which
//! refer to each other, and the loaders of a build or repository of the viewer's organization
//! (from the rows a transition holds, else the database).

use async_graphql::{connection::Connection, ComplexObject, Context, ResultExt, SimpleObject, ID};
use buildhooks_entity::{build, organization, repository, task};
use buildhooks_store::{orgs, runs};

use crate::attributes::{self, BuildAttributes, BuildUser, Notification, TaskAttributes};
use crate::clock::now_ms;
use crate::ctx::{db, viewer};
use crate::error::{Error, Result};
use crate::page::PageArgs;
use crate::status::{BuildStatus, TaskStatus};

/// Loads a build of the viewer's organization.
pub(crate) async fn load_build(ctx: &Context<'_>, id: i32) -> Result<Build> {
    let org_id = viewer(ctx)?.org_id;
    if let Some(row) = crate::seed::build(ctx, org_id, id) {
        return Ok(row.into());
    }
    runs::build(db(ctx)?, org_id, id)
        .await?
        .map(Build::from)
        .ok_or(Error::NotFound("build"))
}

/// Loads a repository of the viewer's organization.
pub(crate) async fn load_repository(ctx: &Context<'_>, id: i32) -> Result<Repository> {
    let org_id = viewer(ctx)?.org_id;
    if let Some(row) = crate::seed::repository(ctx, org_id, id) {
        return Ok(row.into());
    }
    orgs::repo(db(ctx)?, org_id, id)
        .await?
        .map(Repository::from)
        .ok_or(Error::NotFound("repository"))
}

/// A page of the viewer's organization's builds that pass `filter`, oldest first (`last: 20`,
/// the default, is the newest 20).
pub(crate) async fn builds_page(
    ctx: &Context<'_>,
    filter: runs::BuildFilter<'_>,
    args: &PageArgs,
) -> Result<BuildConnection> {
    let page = args.page(20)?;
    let rows = runs::builds(db(ctx)?, viewer(ctx)?.org_id, filter, &page.window).await?;
    Ok(page.connection(rows, |m| m.id, Build::from))
}

/// What a viewer may do with a repository (Cirrus's `PermissionType`).
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PermissionType {
    None,
    Read,
    Write,
    Admin,
}

/// A page of builds.
pub type BuildConnection = Connection<String, Build>;

/// A build of a repository (Cirrus's `Build`).
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Build {
    pub id: ID,
    pub repository_id: ID,
    pub name: Option<String>,
    pub branch: String,
    pub tag: Option<String>,
    pub change_id_in_repo: String,
    pub change_message: String,
    pub pull_request: Option<i32>,
    pub change_timestamp: i64,
    pub build_created_timestamp: i64,
    pub status_timestamp: i64,
    pub executing_timestamp: Option<i64>,
    pub final_status_timestamp: Option<i64>,
    #[graphql(skip)]
    pub row: build::Model,
}

impl From<build::Model> for Build {
    fn from(m: build::Model) -> Self {
        Build {
            id: ID(m.id.to_string()),
            repository_id: ID(m.repository_id.to_string()),
            name: m.name.clone(),
            branch: m.branch.clone(),
            tag: m.tag.clone(),
            change_id_in_repo: m.change_id_in_repo.clone(),
            change_message: m.change_message.clone(),
            pull_request: m.pull_request,
            change_timestamp: m.change_timestamp,
            build_created_timestamp: m.build_created_timestamp,
            status_timestamp: m.status_timestamp,
            executing_timestamp: m.executing_timestamp,
            final_status_timestamp: m.final_status_timestamp,
            row: m,
        }
    }
}

#[ComplexObject]
impl Build {
    /// The build's status.
    // A stored value that names no status fails this field (logged and counted by
    // `status::stored`) rather than showing, or signing into a payload, an invented status.
    async fn status(&self) -> async_graphql::Result<BuildStatus> {
        crate::status::stored("build", self.row.id, &self.row.status).extend()
    }

    /// First line of the change message.
    async fn change_message_title(&self) -> String {
        self.change_message.lines().next().unwrap_or("").to_owned()
    }

    /// From the first task executing to the final status; null until then.
    async fn duration_in_seconds(&self) -> Option<i64> {
        match (self.executing_timestamp, self.final_status_timestamp) {
            (Some(start), Some(end)) => Some((end - start).max(0) / 1000),
            _ => None,
        }
    }

    /// The latest run of each task, in creation order.
    async fn tasks(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Task>> {
        async {
            let rows = runs::latest_tasks(db(ctx)?, viewer(ctx)?.org_id, self.row.id).await?;
            Ok::<_, crate::error::Error>(rows.into_iter().map(Task::from).collect())
        }
        .await
        .extend()
    }

    /// The repository this build belongs to.
    async fn repository(&self, ctx: &Context<'_>) -> async_graphql::Result<Repository> {
        load_repository(ctx, self.row.repository_id).await.extend()
    }

    /// The user the build is for (the author the reporter or an inbound source named), or null.
    async fn user(&self) -> Option<BuildUser> {
        self.attributes().user()
    }

    /// Cirrus's documented name for `user`: who the build was started for.
    async fn initializer(&self) -> Option<BuildUser> {
        self.attributes().user()
    }

    /// Messages about the build the reporter attached.
    async fn notifications(&self) -> Vec<Notification> {
        self.attributes().notifications
    }

    /// Wall-clock seconds from the build's creation to its final status; null until then.
    async fn clock_duration_in_seconds(&self) -> Option<i64> {
        self.final_status_timestamp
            .map(|end| (end - self.build_created_timestamp).max(0) / 1000)
    }

    /// The latest run of each task (Cirrus's tasks of the latest group runs): as `tasks`.
    async fn latest_group_tasks(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Task>> {
        // Boxed, as the other reading resolvers added for Cirrus's clients: every field of the
        // type is resolved through one future the size of the largest, moved per field.
        Box::pin(self.tasks(ctx)).await
    }

    /// The permission of the build's user on the repository (`admin`, `write`, `read`, `none`;
    /// `none` when the reporter did not say).
    async fn sender_user_permissions(&self) -> String {
        self.attributes()
            .sender_user_permissions
            .unwrap_or_else(|| "none".to_owned())
    }
}

impl Build {
    fn attributes(&self) -> BuildAttributes {
        attributes::read("build", self.row.attributes.as_deref())
    }
}
/// A repository of an organization (Cirrus's `Repository`).
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Repository {
    pub id: ID,
    pub name: String,
    pub is_private: bool,
    pub default_branch: String,
    #[graphql(skip)]
    pub org_id: i32,
    #[graphql(skip)]
    pub row_id: i32,
}

impl From<repository::Model> for Repository {
    fn from(m: repository::Model) -> Self {
        Repository {
            id: ID(m.id.to_string()),
            name: m.name,
            is_private: m.is_private,
            default_branch: m.default_branch,
            org_id: m.org_id,
            row_id: m.id,
        }
    }
}

#[ComplexObject]
impl Repository {
    /// The organization's name.
    async fn owner(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(self.organization(ctx).await?.name)
    }

    /// The organization's platform.
    async fn platform(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(self.organization(ctx).await?.platform)
    }

    /// What the viewer may do here: an organization's API token administers its repositories.
    async fn viewer_permission(&self) -> PermissionType {
        PermissionType::Admin
    }

    /// Where the repository is cloned from, for the platforms whose address follows from the
    /// owner and name (`github`, `gitlab`); "" for others.
    async fn clone_url(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        let org = self.organization(ctx).await?;
        let host = match org.platform.as_str() {
            "github" => "github.com",
            "gitlab" => "gitlab.com",
            _ => return Ok(String::new()),
        };
        Ok(format!("https://{host}/{}/{}.git", org.name, self.name))
    }

    /// Same as `defaultBranch` (Cirrus's older name).
    async fn master_branch(&self) -> &str {
        &self.default_branch
    }

    /// Builds, oldest first as in Cirrus (a Relay connection: `last: 1` is the newest).
    #[allow(clippy::too_many_arguments)]
    async fn builds(
        &self,
        ctx: &Context<'_>,
        before: Option<String>,
        after: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
        branch: Option<String>,
        status: Option<BuildStatus>,
    ) -> async_graphql::Result<BuildConnection> {
        let filter = runs::BuildFilter {
            repository_id: Some(self.row_id),
            branch: branch.as_deref(),
            status: status.map(|s| s.as_str()),
        };
        let args = PageArgs::new(first, after, last, before);
        builds_page(ctx, filter, &args).await.extend()
    }

    /// The newest build on the default branch, if any.
    async fn last_default_branch_build(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Build>> {
        async {
            let org_id = viewer(ctx)?.org_id;
            let row =
                runs::latest_on_branch(db(ctx)?, org_id, self.row_id, &self.default_branch).await?;
            Ok::<_, Error>(row.map(Build::from))
        }
        .await
        .extend()
    }
}

impl Repository {
    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<organization::Model> {
        async {
            if let Some(row) = crate::seed::organization(ctx, self.org_id) {
                return Ok(row);
            }
            orgs::org(db(ctx)?, self.org_id)
                .await?
                .ok_or(Error::NotFound("organization"))
        }
        .await
        .extend()
    }
}
/// One run of a task (Cirrus's `Task`).
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Task {
    pub id: ID,
    pub build_id: ID,
    pub repository_id: ID,
    pub name: String,
    pub name_alias: Option<String>,
    pub status_timestamp: i64,
    pub creation_timestamp: i64,
    pub scheduled_timestamp: Option<i64>,
    pub executing_timestamp: Option<i64>,
    pub final_status_timestamp: Option<i64>,
    pub labels: Vec<String>,
    pub optional: bool,
    pub manual_rerun_count: i32,
    /// `instanceType`, `automaticReRun`, `automaticallyReRunnable`, `notifications`,
    /// `triggerType`, `localGroupId`, `requiredGroups`.
    #[graphql(flatten)]
    pub attributes: TaskAttributes,
    #[graphql(skip)]
    pub row: task::Model,
}

impl From<task::Model> for Task {
    fn from(m: task::Model) -> Self {
        Task {
            id: ID(m.id.to_string()),
            build_id: ID(m.build_id.to_string()),
            repository_id: ID(m.repository_id.to_string()),
            name: m.name.clone(),
            name_alias: m.name_alias.clone(),
            status_timestamp: m.status_timestamp,
            creation_timestamp: m.creation_timestamp,
            scheduled_timestamp: m.scheduled_timestamp,
            executing_timestamp: m.executing_timestamp,
            final_status_timestamp: m.final_status_timestamp,
            labels: serde_json::from_str(&m.labels).unwrap_or_default(),
            optional: m.optional,
            manual_rerun_count: m.manual_rerun_count,
            attributes: attributes::read("task", m.attributes.as_deref()),
            row: m,
        }
    }
}

#[ComplexObject]
impl Task {
    /// The task's status.
    // A stored value that names no status fails this field (logged and counted by
    // `status::stored`) rather than showing, or signing into a payload, an invented status.
    async fn status(&self) -> async_graphql::Result<TaskStatus> {
        crate::status::stored("task", self.row.id, &self.row.status).extend()
    }

    /// Seconds spent executing: until the final status, or until now while running.
    async fn duration_in_seconds(&self) -> i64 {
        match self.executing_timestamp {
            Some(start) => {
                (self.final_status_timestamp.unwrap_or_else(now_ms) - start).max(0) / 1000
            }
            None => 0,
        }
    }

    /// The id of the run this one replaced, if it is a rerun.
    async fn previous_run_id(&self) -> Option<ID> {
        self.row.previous_run_id.map(|id| ID(id.to_string()))
    }

    /// The build this task belongs to.
    async fn build(&self, ctx: &Context<'_>) -> async_graphql::Result<Build> {
        load_build(ctx, self.row.build_id).await.extend()
    }

    /// The repository this task belongs to.
    async fn repository(&self, ctx: &Context<'_>) -> async_graphql::Result<Repository> {
        load_repository(ctx, self.row.repository_id).await.extend()
    }

    /// The labels of this task that no other task of its build has: what tells it apart.
    async fn unique_labels(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<String>> {
        Box::pin(async {
            if self.labels.is_empty() {
                return Ok(Vec::new());
            }
            let org_id = viewer(ctx)?.org_id;
            let siblings = runs::latest_tasks(db(ctx)?, org_id, self.row.build_id).await?;
            let others: Vec<Vec<String>> = siblings
                .iter()
                .filter(|t| t.id != self.row.id)
                .map(|t| serde_json::from_str(&t.labels).unwrap_or_default())
                .collect();
            Ok::<_, Error>(
                self.labels
                    .iter()
                    .filter(|l| !others.iter().any(|o| o.contains(l)))
                    .cloned()
                    .collect(),
            )
        })
        .await
        .extend()
    }

    /// The earlier runs of this task, newest first (the runs it replaced, by `rerun` or
    /// `retrigger`).
    async fn previous_runs(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Task>> {
        Box::pin(async {
            let org_id = viewer(ctx)?.org_id;
            let mut runs = Vec::new();
            let mut previous = self.row.previous_run_id;
            // A run's predecessor has a smaller id: the walk ends.
            while let Some(id) = previous.filter(|_| runs.len() < 100) {
                let Some(run) = buildhooks_store::tasks::task(db(ctx)?, org_id, id).await? else {
                    break;
                };
                previous = run.previous_run_id.filter(|p| *p < run.id);
                runs.push(Task::from(run));
            }
            Ok::<_, Error>(runs)
        })
        .await
        .extend()
    }
}
