//! `task(id)`; a null id returns null, so the default payload query serves build events too.

use async_graphql::{Context, Object, ResultExt, ID};
use buildhooks_store::tasks;

use crate::ctx::{db, parse_id, viewer};
use crate::error::Error;
use crate::graph::Task;

#[derive(Default)]
pub struct TaskQuery;

#[Object]
impl TaskQuery {
    /// A task by id; null for a null id.
    async fn task(&self, ctx: &Context<'_>, id: Option<ID>) -> async_graphql::Result<Option<Task>> {
        let Some(id) = id else { return Ok(None) };
        async {
            let id = parse_id(&id, "task")?;
            let org_id = viewer(ctx)?.org_id;
            if let Some(row) = crate::seed::task(ctx, org_id, id) {
                return Ok(Some(row.into()));
            }
            tasks::task(db(ctx)?, org_id, id)
                .await?
                .map(|m| Some(Task::from(m)))
                .ok_or(Error::NotFound("task"))
        }
        .await
        .extend()
    }
}
