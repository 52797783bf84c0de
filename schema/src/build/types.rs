//! The GraphQL `Build` type.

use async_graphql::{connection::Connection, ComplexObject, Context, ResultExt, SimpleObject, ID};
use buildhooks_entity::{build, task};
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};

use crate::ctx::{db, viewer};
use crate::repository::types::Repository;
use crate::status::BuildStatus;
use crate::task::types::Task;

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
            let rows = task::Entity::find_in_org(viewer(ctx)?.org_id)
                .filter(task::Column::BuildId.eq(self.row.id))
                .filter(task::Column::Superseded.eq(false))
                .order_by_asc(task::Column::Id)
                .all(db(ctx)?)
                .await?;
            Ok::<_, crate::error::Error>(rows.into_iter().map(Task::from).collect())
        }
        .await
        .extend()
    }

    /// The repository this build belongs to.
    async fn repository(&self, ctx: &Context<'_>) -> async_graphql::Result<Repository> {
        crate::repository::query::load(ctx, self.row.repository_id)
            .await
            .extend()
    }
}
