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

/// `INSERT`s of the build, its tasks, the events and the outbox rows, one statement per row,
/// then the rows' `RETURNED` columns, with plain `?` parameters taken in order across the
/// statements. (sqlx binds a numbered `?N` of a later statement only after walking every lower
/// number as an unnamed parameter, and stops once those pass the values given: the rows'
/// columns went unbound.)
///
/// One row per statement and no `RETURNING`: SQLite gives a statement that may write more than
/// one row (several `VALUES`, a `SELECT`, a `RETURNING`) and may fail midway (a foreign key,
/// `NOT NULL`) a statement journal, a copy of every page it changes, so that it can be undone
/// alone; here nothing is undone alone (a failed write is undone whole, `own_writer`), and the
/// copies were about 6% of the writer thread (README, "SQLite: one row per statement").
///
/// The events get their ids as they are inserted, so events keep the order they were written
/// in; the ids are consecutive (`AUTOINCREMENT`, one writer, one transaction), so a row names its
/// event as the largest event id less its distance from the last event, and the outbox rows
/// just written are the last `rows` ids (`last_insert_rowid()`).
fn build_text(shape: Shape) -> String {
    let mut sql = String::new();
    let mut insert = |table: &str, cols: &str, values: &[String], rows: usize| {
        for _ in 0..rows {
            let _ = write!(
                sql,
                "INSERT INTO {table} ({cols}) VALUES ({}); ",
                values.join(", ")
            );
        }
    };
    let plain = |width: usize| vec!["?".to_owned(); width];
    if shape.builds > 0 {
        let width = build::Column::iter().count();
        insert("build", &columns::<build::Column>(), &plain(width), 1);
        let width = task::Column::iter().count();
        insert(
            "task",
            &columns::<task::Column>(),
            &plain(width),
            shape.tasks,
        );
    }
    let event_columns: Vec<String> = event::Column::iter()
        .map(|c| c.as_str().to_owned())
        .filter(|c| c != "id")
        .collect();
    let width = event_columns.len();
    insert(
        "event",
        &event_columns.join(", "),
        &plain(width),
        shape.events,
    );
    let delivery = delivery_columns();
    let values: Vec<String> = delivery
        .iter()
        .map(|c| match c.as_str() {
            "event_id" => "(SELECT MAX(id) FROM event) - ?".to_owned(),
            _ => "?".to_owned(),
        })
        .collect();
    insert(
        "webhook_delivery",
        &delivery.join(", "),
        &values,
        shape.rows,
    );
    if shape.rows > 0 {
        let _ = write!(
            sql,
            "SELECT {RETURNED} FROM webhook_delivery WHERE id > last_insert_rowid() - {} \
             ORDER BY id",
            shape.rows
        );
    }
    sql.trim_end().trim_end_matches(';').to_owned()
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
        assert_eq!(sql.matches("INSERT INTO").count(), 1 + 2 + 3 + 2);
        assert_eq!(sql.matches("INSERT INTO task (").count(), 2);
        assert_eq!(sql.matches("INSERT INTO event (org_id,").count(), 3);
        assert_eq!(sql.matches("(SELECT MAX(id) FROM event) - ?").count(), 2);
        assert!(sql.starts_with("INSERT INTO build (id,"));
        assert!(!sql.contains("RETURNING"));
        assert!(sql.ends_with("WHERE id > last_insert_rowid() - 2 ORDER BY id"));
        assert_eq!(
            last,
            names::<build::Column>()
                + 2 * names::<task::Column>()
                + 3 * (names::<event::Column>() - 1)
                + 2 * (names::<webhook_delivery::Column>() - 1)
        );
    }
}
