//! SQLite: a new build drawn and written as on PostgreSQL (see `crate::new_build`), so the
//! single-writer gate is not held while its payloads are rendered. The build's and tasks' ids
//! are drawn (`ids`) and the endpoints read on the reader thread (`own_reader`) meanwhile; then
//! the build, its tasks, its events and their outbox rows are statements alone, sent with other
//! writes in one round trip through the gate (`batch`).
//!
//! The endpoints are read before the gate instead of inside the transaction: the reader sees
//! every commit made before it started, and a write transaction returns only once its group's
//! commit is durable, so a settings save that answered before this call began is seen, as it
//! was inside the transaction; one racing this call may land on either side of it, as before.

use std::fmt::Write as _;
use std::sync::Arc;

use buildhooks_entity::{build, event, task, webhook_delivery};
use sea_orm::{IdenStatic, Iterable, Value};

use crate::new_build::Drawn;
use crate::outbox::columns::{delivery_columns, with_ids, ReturnedIds, RETURNED};
use crate::postgres::rows_values::{push_build, push_values, Shape, Texts};
use crate::sqlite::own_writer::{self, Row};
use crate::text::columns;
use crate::{Db, Result};

/// Draws the ids of a build with `tasks` tasks (`ids`) and reads `org_id`'s enabled endpoints
/// (in position order), both at once: the read runs on the reader thread (`own_reader`; the
/// pool when there is none) while the draw waits for its batch.
pub(crate) async fn draw(db: &Db, org_id: i32, tasks: usize) -> Result<Drawn> {
    let (ids, endpoints) = tokio::join!(crate::sqlite::ids::draw(db, tasks), async {
        match db.own_reader() {
            Some(reader) => reader.endpoints(org_id, true).await,
            None => crate::endpoints::of_org(db.conn(), org_id, true).await,
        }
    });
    let ((build_id, task_ids), endpoints) = (ids?, endpoints?);
    Ok(Drawn {
        build_id,
        task_ids,
        endpoints,
    })
}

/// Writes a new build and its tasks (every column set, ids from [`draw`]) with its `events`
/// and outbox `rows` (each with the 0-based position of its event), sent with other writes in
/// one round trip through the write gate (`batch`); returns the rows written once durable.
pub(crate) async fn write(
    db: &Db,
    build: &build::ActiveModel,
    tasks: &[task::ActiveModel],
    events: Vec<event::ActiveModel>,
    rows: Vec<(usize, webhook_delivery::ActiveModel)>,
) -> Result<Vec<webhook_delivery::Model>> {
    let shape = Shape::new_build(tasks.len(), events.len(), rows.len());
    let mut values = Vec::with_capacity(shape.params());
    push_build(&mut values, build, tasks)?;
    for event in &events {
        push_values(&mut values, event, false, None)?;
    }
    // Each row's event as its distance from the last event written (see `build_text`).
    for (position, row) in &rows {
        let back = Value::from((events.len() - 1 - position) as i64);
        push_values(&mut values, row, false, Some(("event_id", back)))?;
    }
    let returned = db
        .batches()?
        .write(db, text(shape), values, Some(rows.len()))
        .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    with_ids(
        rows.into_iter().map(|(_, row)| row).collect(),
        &ids(&returned)?,
    )
}

/// The ids the outbox rows came back with (`RETURNED`: id, uuid, event id), by uuid.
fn ids(returned: &[Row]) -> Result<ReturnedIds> {
    returned
        .iter()
        .map(|r| {
            Ok((
                own_writer::text(r, 1)?.to_owned(),
                (own_writer::id(r, 0)?, own_writer::int(r, 2)?),
            ))
        })
        .collect()
}

/// The statements' text for `shape`.
fn text(shape: Shape) -> Arc<str> {
    static TEXTS: Texts = Texts::new();
    TEXTS.get(shape, build_text)
}

/// `INSERT`s of the build, its tasks, the events and the outbox rows (returning `RETURNED`),
/// with plain `?` parameters taken in order across the statements. (sqlx binds a numbered `?N`
/// of a later statement only after walking every lower number as an unnamed parameter, and
/// stops once those pass the values given: the rows' columns went unbound.) The events get
/// their ids as they are inserted, so events keep the order they were written in; the ids of
/// one INSERT are consecutive (`AUTOINCREMENT`, one writer), so a row names its event as the
/// largest event id less its distance from the last event.
fn build_text(shape: Shape) -> String {
    let mut sql = String::new();
    let row = |width: usize| format!("({})", vec!["?"; width].join(", "));
    let insert = |sql: &mut String, table: &str, cols: String, rows: usize, width: usize| {
        if rows == 0 {
            return;
        }
        let _ = write!(sql, "INSERT INTO {table} ({cols}) VALUES ");
        sql.push_str(&vec![row(width); rows].join(", "));
    };
    if shape.builds > 0 {
        insert(
            &mut sql,
            "build",
            columns::<build::Column>(),
            1,
            build::Column::iter().count(),
        );
        sql.push_str("; ");
        if shape.tasks > 0 {
            insert(
                &mut sql,
                "task",
                columns::<task::Column>(),
                shape.tasks,
                task::Column::iter().count(),
            );
            sql.push_str("; ");
        }
    }
    let event_columns: Vec<String> = event::Column::iter()
        .map(|c| c.as_str().to_owned())
        .filter(|c| c != "id")
        .collect();
    insert(
        &mut sql,
        "event",
        event_columns.join(", "),
        shape.events,
        event_columns.len(),
    );
    if shape.rows > 0 {
        let delivery = delivery_columns();
        let selected: Vec<String> = delivery
            .iter()
            .enumerate()
            .map(|(i, c)| match c.as_str() {
                "event_id" => format!("(SELECT MAX(id) FROM event) - column{}", i + 1),
                _ => format!("column{}", i + 1),
            })
            .collect();
        let _ = write!(
            sql,
            "; INSERT INTO webhook_delivery ({}) SELECT {} FROM (VALUES {}) RETURNING {RETURNED}",
            delivery.join(", "),
            selected.join(", "),
            vec![row(delivery.len()); shape.rows].join(", ")
        );
    }
    sql
}

/// Every column name of `C`, for the tests.
#[cfg(test)]
fn names<C: IdenStatic + Iterable>() -> usize {
    C::iter().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statements_take_one_parameter_per_value() {
        let shape = Shape::new_build(2, 3, 2);
        let sql = build_text(shape);
        let last = shape.params();
        assert_eq!(sql.matches('?').count(), last);
        assert_eq!(sql.matches("INSERT INTO").count(), 4);
        assert!(sql.starts_with("INSERT INTO build (id,"));
        assert!(sql.contains("INSERT INTO event (org_id,"));
        assert!(sql.contains("(SELECT MAX(id) FROM event) - column"));
        assert!(sql.ends_with(&format!("RETURNING {RETURNED}")));
        assert_eq!(
            last,
            names::<build::Column>()
                + 2 * names::<task::Column>()
                + 3 * (names::<event::Column>() - 1)
                + 2 * (names::<webhook_delivery::Column>() - 1)
        );
    }
}
