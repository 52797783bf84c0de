//! PostgreSQL: a new build in two statements instead of six round trips (BEGIN, the build, each
//! task, the endpoints, the events with their outbox rows, COMMIT). The first draws the build's
//! and tasks' ids from their sequences beside the organization's endpoints, before anything is
//! written; the payloads are rendered with those ids; the second writes the build, its tasks,
//! its events and their outbox rows, atomic on its own, with plain parameters (`rows_values`,
//! a text per shape, prepared once per connection). A build too large for one statement's
//! parameters goes through a write transaction.

use std::sync::LazyLock;

use buildhooks_entity::{build, event, task, webhook_delivery, webhook_endpoint};

pub(crate) use crate::new_build::Drawn;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Statement, Value};

use super::rows_values::{push_build, push_events_and_rows, text, Shape};
use crate::outbox::columns::as_written;
use crate::Result;

/// `$1` how many task ids, `$2` to `$4` the endpoints' select (organization, not deleted,
/// enabled). One row when the organization has no endpoint (its endpoint columns NULL), else
/// one per endpoint, in position order. The sequences are the ones the tables' `serial` ids were
/// made with, named once when the statement is prepared (`pg_get_serial_sequence` read the
/// catalog on every call and made the database slower than the round trips it saved).
static DRAW: LazyLock<String> = LazyLock::new(|| {
    let endpoints = crate::built::endpoints(sea_orm::DbBackend::Postgres, 0, true).sql;
    // The endpoints' select with its parameters after the first.
    let endpoints = crate::text::renumber(&endpoints, '$', 2);
    format!(
        "SELECT ids.drawn_build_id, ids.drawn_task_ids, e.* FROM \
         (SELECT nextval('build_id_seq'::regclass)::int AS drawn_build_id, \
           (SELECT json_agg(nextval('task_id_seq'::regclass)::int) \
             FROM generate_series(1, $1::int)) AS drawn_task_ids) AS ids \
         LEFT JOIN ({endpoints}) AS e ON true ORDER BY e.\"position\""
    )
});

/// Whether a new build with `tasks` tasks, `events` events and `rows` outbox rows is written in
/// one statement (its parameters within PostgreSQL's limit); a larger one goes through a write
/// transaction.
pub(crate) fn fit(tasks: usize, events: usize, rows: usize) -> bool {
    Shape::new_build(tasks, events, rows).fits()
}

/// Draws the ids of a build with `tasks` tasks and reads `org_id`'s enabled endpoints, in one
/// statement.
pub(crate) async fn draw(db: &impl ConnectionTrait, org_id: i32, tasks: usize) -> Result<Drawn> {
    let values: Vec<Value> = vec![
        (tasks as i32).into(),
        org_id.into(),
        false.into(),
        true.into(),
    ];
    let rows = db
        .query_all(Statement::from_sql_and_values(
            db.get_database_backend(),
            DRAW.as_str(),
            values,
        ))
        .await?;
    let first = rows
        .first()
        .ok_or_else(|| DbErr::Custom("no ids were drawn".into()))?;
    let build_id: i32 = first.try_get("", "drawn_build_id")?;
    let task_ids: serde_json::Value = first.try_get("", "drawn_task_ids")?;
    let task_ids: Vec<i32> = serde_json::from_value(task_ids)
        .map_err(|e| DbErr::Custom(format!("drawn task ids: {e}")))?;
    if task_ids.len() != tasks {
        return Err(DbErr::Custom("drawn task ids: too few".into()));
    }
    let mut endpoints = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<Option<i32>>("", "id")?.is_some() {
            endpoints.push(webhook_endpoint::Model::from_query_result(row, "")?);
        }
    }
    Ok(Drawn {
        build_id,
        task_ids,
        endpoints,
    })
}

/// Writes a new build and its tasks (every column set, ids drawn by [`draw`]) with its `events`
/// and outbox `rows` (each with the 0-based position of its event), in one statement; returns
/// the rows written. The caller checked that they [`fit`].
pub(crate) async fn write(
    db: &impl ConnectionTrait,
    build: &build::ActiveModel,
    tasks: &[task::ActiveModel],
    events: Vec<event::ActiveModel>,
    rows: Vec<(usize, webhook_delivery::ActiveModel)>,
) -> Result<Vec<webhook_delivery::Model>> {
    let shape = Shape::new_build(tasks.len(), events.len(), rows.len());
    if !shape.fits() {
        return Err(DbErr::Custom(format!(
            "a new build too large to write at once: {shape:?}"
        )));
    }
    let mut values = Vec::with_capacity(shape.params());
    push_build(&mut values, build, tasks)?;
    push_events_and_rows(&mut values, &events, &rows)?;
    let statement =
        Statement::from_sql_and_values(db.get_database_backend(), &*text(shape), values);
    if rows.is_empty() {
        db.execute(statement).await?;
        return Ok(Vec::new());
    }
    let returned = db.query_all(statement).await?;
    as_written(rows.into_iter().map(|(_, row)| row).collect(), &returned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_draw_numbers_the_endpoints_parameters_after_its_own() {
        let sql = DRAW.as_str();
        assert!(sql.contains("$2") && sql.contains("$3") && sql.contains("$4"));
        assert!(!sql.contains("$5"));
    }
}
