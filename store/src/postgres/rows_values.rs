//! PostgreSQL: a transition's events and their outbox rows (and a new build with its tasks, see
//! `new_build`) in one statement with plain parameters: `VALUES` lists, one statement text per
//! shape (how many rows of each table), kept and prepared once per connection. The JSON form
//! (`outbox_insert`, one text for every shape) spent about 130,000 instructions per `createBuild`
//! making and escaping its documents (callgrind; the payload is escaped again inside a JSON
//! string) where binding values copies them. The JSON form stays for statements past
//! [`MAX_PARAMS`] (PostgreSQL takes at most 65,535 parameters).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

use buildhooks_entity::{build, event, task, webhook_delivery};
use sea_orm::{ActiveModelTrait, ActiveValue, DbErr, EntityTrait, IdenStatic, Iterable, Value};

use crate::outbox::columns::{delivery_columns, RETURNED};
use crate::text::columns;
use crate::Result;

/// The most parameters a statement of this form takes; a larger write uses the JSON form.
pub(crate) const MAX_PARAMS: usize = 30_000;
/// The most shapes whose texts are kept; others are built for each call.
const MAX_SHAPES: usize = 256;

/// How many rows of each table a statement writes.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(crate) struct Shape {
    /// New builds (none for a transition; PostgreSQL writes several calls' builds at once) and
    /// their tasks in all, before the events.
    pub builds: usize,
    pub tasks: usize,
    pub events: usize,
    pub rows: usize,
}

fn width<E: EntityTrait>(with_id: bool) -> usize {
    E::Column::iter()
        .filter(|c| with_id || c.as_str() != "id")
        .count()
}

impl Shape {
    /// A new build with `tasks` tasks, `events` events and `rows` outbox rows.
    pub fn new_build(tasks: usize, events: usize, rows: usize) -> Self {
        Self::new_builds(1, tasks, events, rows)
    }

    /// `builds` new builds with `tasks` tasks, `events` events and `rows` outbox rows in all.
    pub fn new_builds(builds: usize, tasks: usize, events: usize, rows: usize) -> Self {
        Shape {
            builds,
            tasks,
            events,
            rows,
        }
    }

    /// Events and outbox rows only (a transition).
    pub fn events_only(events: usize, rows: usize) -> Self {
        Shape {
            builds: 0,
            tasks: 0,
            events,
            rows,
        }
    }

    /// The statement's parameters.
    pub fn params(&self) -> usize {
        self.builds * width::<build::Entity>(true)
            + self.tasks * width::<task::Entity>(true)
            + self.events * width::<event::Entity>(false)
            + self.rows * width::<webhook_delivery::Entity>(false)
    }

    /// Whether this form writes it: some events (the statement starts with them), and not too
    /// many parameters.
    pub fn fits(&self) -> bool {
        self.events > 0 && self.params() <= MAX_PARAMS
    }
}

/// Statement texts kept per shape, for the most common shapes (at most `MAX_SHAPES`).
pub(crate) struct Texts(OnceLock<Mutex<HashMap<Shape, Arc<str>>>>);

impl Texts {
    pub(crate) const fn new() -> Self {
        Texts(OnceLock::new())
    }

    /// The text for `shape`, made by `make` the first time.
    pub(crate) fn get(&self, shape: Shape, make: fn(Shape) -> String) -> Arc<str> {
        let texts = self.0.get_or_init(Mutex::default);
        if let Some(text) = texts.lock().ok().and_then(|t| t.get(&shape).cloned()) {
            return text;
        }
        let text: Arc<str> = make(shape).into();
        if let Ok(mut texts) = texts.lock() {
            if texts.len() < MAX_SHAPES {
                texts.insert(shape, text.clone());
            }
        }
        text
    }
}

/// The statement text for `shape`.
pub(crate) fn text(shape: Shape) -> Arc<str> {
    static TEXTS: Texts = Texts::new();
    TEXTS.get(shape, build_text)
}

/// Appends the values of a new build and its tasks, every column (ids drawn), in column order.
pub(crate) fn push_build(
    out: &mut Vec<Value>,
    build: &build::ActiveModel,
    tasks: &[task::ActiveModel],
) -> Result<()> {
    push_values(out, build, true, None)?;
    for task in tasks {
        push_values(out, task, true, None)?;
    }
    Ok(())
}

/// Every column of `E` but `id`, comma-separated, in the entity's order.
fn but_id<E: EntityTrait>() -> String {
    E::Column::iter()
        .map(|c| c.as_str().to_owned())
        .filter(|c| c != "id")
        .collect::<Vec<_>>()
        .join(", ")
}

/// Placeholders numbered on from `n` (`text::placeholders` with PostgreSQL's mark).
fn placeholders(sql: &mut String, n: &mut usize, rows: usize, width: usize) {
    crate::text::placeholders(sql, "$", n, rows, width);
}

fn build_text(shape: Shape) -> String {
    let mut sql = String::from("WITH ");
    let mut n = 0;
    if shape.builds > 0 {
        let _ = write!(
            sql,
            "b AS (INSERT INTO build ({}) VALUES ",
            columns::<build::Column>()
        );
        placeholders(&mut sql, &mut n, shape.builds, width::<build::Entity>(true));
        sql.push_str("), ");
        if shape.tasks > 0 {
            let _ = write!(
                sql,
                "t AS (INSERT INTO task ({}) VALUES ",
                columns::<task::Column>()
            );
            placeholders(&mut sql, &mut n, shape.tasks, width::<task::Entity>(true));
            sql.push_str("), ");
        }
    }
    // Ids of one INSERT are drawn in the order of its rows: numbering them by id gives each
    // event's position back.
    let _ = write!(
        sql,
        "ev AS (INSERT INTO event ({}) VALUES ",
        but_id::<event::Entity>()
    );
    placeholders(
        &mut sql,
        &mut n,
        shape.events,
        width::<event::Entity>(false),
    );
    sql.push_str(
        " RETURNING id), numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM ev) ",
    );
    if shape.rows == 0 {
        sql.push_str("SELECT count(*) FROM numbered");
        return sql;
    }
    let columns = delivery_columns();
    let _ = write!(
        sql,
        "INSERT INTO webhook_delivery ({}) SELECT {} FROM (VALUES ",
        columns.join(", "),
        selected_from_d()
    );
    placeholders(&mut sql, &mut n, shape.rows, columns.len());
    let _ = write!(
        sql,
        ") AS d ({}) JOIN numbered ON numbered.n = d.event_id RETURNING {RETURNED}",
        columns.join(", ")
    );
    sql
}

/// The outbox columns as the insert selects them: each from the new rows `d`, but `event_id`
/// from `numbered` (the id of the event at the row's position).
pub(crate) fn selected_from_d() -> String {
    delivery_columns()
        .iter()
        .map(|c| match c.as_str() {
            "event_id" => "numbered.id".to_owned(),
            c => format!("d.{c}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Appends the values `row` sets, in column order, leaving out `id` unless `with_id`; a column
/// named as `swap`'s first is given its second instead.
pub(crate) fn push_values<A: ActiveModelTrait>(
    out: &mut Vec<Value>,
    row: &A,
    with_id: bool,
    swap: Option<(&str, Value)>,
) -> Result<()> {
    let mut swap = swap;
    for column in <A::Entity as EntityTrait>::Column::iter() {
        let name = column.as_str();
        if !with_id && name == "id" {
            continue;
        }
        if swap.as_ref().is_some_and(|(swapped, _)| *swapped == name) {
            if let Some((_, value)) = swap.take() {
                out.push(value);
            }
            continue;
        }
        match row.get(column) {
            ActiveValue::Set(value) | ActiveValue::Unchanged(value) => out.push(value),
            ActiveValue::NotSet => {
                return Err(DbErr::Custom(format!("column {name} not set")));
            }
        }
    }
    Ok(())
}

/// The values of events and their rows (each row's `event_id` the 1-based position of its
/// event), after `out`'s.
pub(crate) fn push_events_and_rows(
    out: &mut Vec<Value>,
    events: &[event::ActiveModel],
    rows: &[(usize, webhook_delivery::ActiveModel)],
) -> Result<()> {
    for event in events {
        push_values(out, event, false, None)?;
    }
    for (position, row) in rows {
        let position = Value::from(*position as i64 + 1);
        push_values(out, row, false, Some(("event_id", position)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shape_numbers_every_parameter_once_in_order() {
        let shape = Shape::new_builds(2, 3, 4, 2);
        let sql = build_text(shape);
        let last = shape.params();
        assert!(sql.contains(&format!("${last})")));
        assert!(!sql.contains(&format!("${}", last + 1)));
        assert_eq!(sql.matches("INSERT INTO").count(), 4);
        assert!(sql.ends_with(&format!("RETURNING {RETURNED}")));
        let plain = build_text(Shape::events_only(1, 1));
        assert!(plain.starts_with("WITH ev AS (INSERT INTO event (org_id,"));
        assert!(!plain.contains("INSERT INTO build"));
    }

    #[test]
    fn the_values_follow_the_column_order_with_the_event_position_swapped_in() {
        let row = webhook_delivery::ActiveModel {
            id: ActiveValue::NotSet,
            uuid: ActiveValue::Set("u".into()),
            org_id: ActiveValue::Set(1),
            ..Default::default()
        };
        let mut out = Vec::new();
        let failed = push_values(&mut out, &row, false, Some(("event_id", Value::from(2i64))));
        assert!(failed.is_err(), "unset columns are refused");
        assert_eq!(out[0], Value::from("u".to_owned()));
        assert_eq!(out[2], Value::from(2i64), "org_id, then event_id swapped");
    }
}
