//! `createBuild` written at once where the store can (see `buildhooks_store::new_build`): the
//! build's and tasks' ids are drawn beside the organization's endpoints, the payloads rendered
//! with them, and the build, its tasks, events and outbox rows written in one atomic statement,
//! with no write transaction held open while the payloads are made. Where the store cannot, a
//! payload needs the schema (a stored query reads the rows, which are not written yet), or the
//! rows are too many for one statement, the caller writes the build in a write transaction as
//! every other transition does.

use async_graphql::Context;
use buildhooks_entity::{build, task};
use sea_orm::{Set, TryIntoModel};
use tokio::sync::oneshot;

use super::audit::Audit;
use super::outbox::{committed, prepare, wants_audit, Reader};
use crate::clock::now_ms;
use crate::ctx::store;
use crate::error::{Error, Result};
use crate::transition;
use crate::PayloadSchema;

/// Writes the new build `build` with `tasks` (rows of `transition::new_rows`) at once; `None`
/// (nothing written) when it has to go through a write transaction instead.
pub(crate) async fn create(
    ctx: &Context<'_>,
    org_id: i32,
    build: &build::ActiveModel,
    tasks: &[task::ActiveModel],
) -> Result<Option<build::Model>> {
    let store = store(ctx)?;
    let schema = ctx
        .data_opt::<PayloadSchema>()
        .ok_or_else(|| Error::Internal("no payload schema in context".into()))?;
    let drawn = buildhooks_store::new_build::draw(store.db(), org_id, tasks.len()).await?;
    let mut build = build.clone();
    build.id = Set(drawn.build_id);
    let tasks: Vec<task::ActiveModel> = tasks
        .iter()
        .zip(&drawn.task_ids)
        .map(|(task, &id)| {
            let mut task = task.clone();
            task.id = Set(id);
            task.build_id = Set(drawn.build_id);
            task
        })
        .collect();
    let model = build.clone().try_into_model()?;
    let task_models = tasks
        .iter()
        .map(|t| t.clone().try_into_model())
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut changes = transition::created(model.clone(), task_models);
    if wants_audit(&drawn.endpoints) {
        changes.audit = Some(Audit::of(ctx, Some(model.repository_id)));
    }
    changes.seed.put_endpoints(drawn.endpoints);
    let lease = store.lease(now_ms());
    let prepared = prepare(store, Reader::Pool, schema, org_id, changes, lease.as_ref()).await?;
    let Some(mut prepared) = prepared else {
        return Ok(None);
    };
    if !buildhooks_store::new_build::fits(tasks.len(), prepared.events.len(), prepared.rows.len()) {
        return Ok(None);
    }
    store.hooks().before_commit()?;
    // The write and the hand-off run in a task of their own: a request dropped meanwhile (its
    // client went away) still gets its deliveries sent at once, not after their lease expires.
    let (told, answer) = oneshot::channel();
    let store = store.clone();
    tokio::spawn(async move {
        let rows = std::mem::take(&mut prepared.rows);
        let written = buildhooks_store::new_build::write(
            store.db(),
            org_id,
            prepared.now,
            build,
            tasks,
            &prepared.events,
            rows,
            prepared.notify,
        )
        .await;
        let result = written.map(|written| {
            if !written.is_empty() {
                let endpoints = prepared.used(&written);
                committed(&store, written, endpoints, lease);
            }
        });
        let _ = told.send(result);
    });
    match answer.await {
        Ok(result) => result.map_err(Error::from).map(|()| Some(model)),
        Err(_) => Err(Error::Internal("the new build's write stopped".into())),
    }
}
