//! The GraphQL `Task` type.

use async_graphql::{ComplexObject, Context, ResultExt, SimpleObject, ID};
use buildhooks_entity::task;

use crate::build::types::Build;
use crate::clock::now_ms;
use crate::repository::types::Repository;
use crate::status::TaskStatus;

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
        crate::build::query::load(ctx, self.row.build_id)
            .await
            .extend()
    }

    /// The repository this task belongs to.
    async fn repository(&self, ctx: &Context<'_>) -> async_graphql::Result<Repository> {
        crate::repository::query::load(ctx, self.row.repository_id)
            .await
            .extend()
    }
}
