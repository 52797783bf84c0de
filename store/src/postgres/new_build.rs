//! PostgreSQL: a new build in two statements instead of six round trips (BEGIN, the build, each
//! task, the endpoints, the events with their outbox rows, COMMIT). The first draws the build's
//! and tasks' ids from their sequences beside the organization's endpoints, before anything is
//! written; the payloads are rendered with those ids; the second writes the build, its tasks,
//! its events and their outbox rows, atomic on its own, with plain parameters (`rows_values`,
//! a text per shape) or, past their limit, JSON documents (one text). Each text is prepared once
//! per connection.

use std::sync::LazyLock;

use buildhooks_entity::{build, event, task, webhook_delivery, webhook_endpoint};
use sea_orm::{
    ConnectionTrait, DbErr, EntityTrait, FromQueryResult, IdenStatic, Iterable, Statement, Value,
};

use super::outbox_insert::{events_and_rows_ctes, events_and_rows_params, to_json};
use super::rows_values::{push_events_and_rows, push_values, text, Shape};
use crate::outbox::columns::as_written;
use crate::Result;

/// The ids drawn for a new build and its tasks, and the organization's enabled endpoints as
/// read then.
pub struct Drawn {
    pub build_id: i32,
    pub task_ids: Vec<i32>,
    pub endpoints: Vec<webhook_endpoint::Model>,
}

/// The sequences are the ones the tables' `serial` ids were made with (named once, when the
/// statement is prepared, not looked up per call as `pg_get_serial_sequence` would: that read
/// the catalog on every call and cost more than the round trips saved).
/// `$2` how many task ids, `$3` to `$5` the endpoints' select (organization, not deleted,
/// enabled); `$1` is the organization too, kept so that the parameters stay in one order. One row when the organization has no endpoint (its
/// endpoint columns NULL), else one per endpoint, in position order.
static DRAW: LazyLock<String> = LazyLock::new(|| {
    let endpoints = crate::built::endpoints(sea_orm::DbBackend::Postgres, 0, true).sql;
    // The endpoints' select with its parameters after the first two.
    let endpoints = crate::text::renumber(&endpoints, '$', 3);
    format!(
        "SELECT ids.drawn_build_id, ids.drawn_task_ids, e.* FROM \
         (SELECT nextval('build_id_seq'::regclass)::int AS drawn_build_id, \
           (SELECT json_agg(nextval('task_id_seq'::regclass)::int) \
             FROM generate_series(1, $2::int)) AS drawn_task_ids) AS ids \
         LEFT JOIN ({endpoints}) AS e ON true ORDER BY e.\"position\""
    )
});

/// Draws the ids of a build with `tasks` tasks and reads `org_id`'s enabled endpoints, in one
/// statement.
pub(crate) async fn draw(db: &impl ConnectionTrait, org_id: i32, tasks: usize) -> Result<Drawn> {
    let values: Vec<Value> = vec![
        org_id.into(),
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

/// Every column of `E`, in table order.
fn columns<E: EntityTrait>() -> String {
    E::Column::iter()
        .map(|c| c.as_str().to_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The build (`$3`, one row) and its tasks (`$4`) before the events (`$1`) and outbox rows
/// (`$2`). Sub-statements of one statement see the same snapshot; the tasks' foreign key to the
/// build is checked at its end, when the build is there.
static WRITE: LazyLock<String> = LazyLock::new(|| {
    let (build, task) = (columns::<build::Entity>(), columns::<task::Entity>());
    format!(
        "WITH b AS (INSERT INTO build ({build}) SELECT {build} \
           FROM jsonb_populate_recordset(NULL::build, $3::jsonb) RETURNING id), \
         t AS (INSERT INTO task ({task}) SELECT {task} \
           FROM jsonb_populate_recordset(NULL::task, $4::jsonb) RETURNING id), {}",
        events_and_rows_ctes()
    )
});

/// Writes a new build and its tasks (every column set, ids drawn by [`draw`]) with its `events`
/// and outbox `rows` (each with the 0-based position of its event), in one statement; returns
/// the rows written.
pub(crate) async fn write(
    db: &impl ConnectionTrait,
    build: &build::ActiveModel,
    tasks: &[task::ActiveModel],
    events: Vec<event::ActiveModel>,
    rows: Vec<(usize, webhook_delivery::ActiveModel)>,
) -> Result<Vec<webhook_delivery::Model>> {
    let shape = Shape {
        build: Some(tasks.len()),
        events: events.len(),
        rows: rows.len(),
    };
    let statement = if shape.fits() {
        let mut values = Vec::with_capacity(shape.params());
        push_values(&mut values, build, true, None)?;
        for task in tasks {
            push_values(&mut values, task, true, None)?;
        }
        push_events_and_rows(&mut values, &events, &rows)?;
        Statement::from_sql_and_values(db.get_database_backend(), &*text(shape), values)
    } else {
        let [events, rows_json] = events_and_rows_params(&events, &rows);
        let builds = serde_json::Value::from(vec![to_json(build, None)]).to_string();
        let tasks: Vec<serde_json::Value> = tasks.iter().map(|t| to_json(t, None)).collect();
        let tasks = serde_json::Value::from(tasks).to_string();
        let values: Vec<Value> = vec![events, rows_json, builds.into(), tasks.into()];
        Statement::from_sql_and_values(db.get_database_backend(), WRITE.as_str(), values)
    };
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
    fn the_write_names_every_build_and_task_column_and_keeps_the_outbox_statement() {
        let sql = WRITE.as_str();
        assert!(sql.contains(&format!(
            "INSERT INTO build ({})",
            columns::<build::Entity>()
        )));
        assert!(sql.contains(&format!("INSERT INTO task ({})", columns::<task::Entity>())));
        assert!(columns::<build::Entity>().starts_with("id, "));
        assert!(sql.contains("INSERT INTO webhook_delivery"));
        assert_eq!(sql.matches("WITH ").count(), 1);
    }

    #[test]
    fn the_draw_numbers_the_endpoints_parameters_after_its_own() {
        let sql = DRAW.as_str();
        assert!(sql.contains("$3") && sql.contains("$4") && sql.contains("$5"));
        assert!(!sql.contains("$6"));
    }
}
