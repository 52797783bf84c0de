//! PostgreSQL: a transition's events and their outbox rows in one statement instead of two, with
//! plain parameters (`rows_values`) or, past that form's parameter limit, as JSON documents read
//! with the tables' own row types (`jsonb_populate_recordset`, one text for every size); each
//! outbox row names its event by position, and the statement swaps in the id the event got.

use std::sync::LazyLock;

use buildhooks_entity::{event, webhook_delivery};
use sea_orm::sea_query::sea_value_to_json_value;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ConnectionTrait, EntityTrait, IdenStatic, Iterable, Statement,
};

use super::rows_values::{push_events_and_rows, selected_from_d, text, Shape};
use crate::outbox::columns::{as_written, delivery_columns, RETURNED};
use crate::Result;

/// The values an active model sets, by column name, with `key` set to the 1-based `position`
/// of the event the row is or belongs to.
fn to_json<A: ActiveModelTrait>(row: &A, key: &str, position: usize) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for column in <A::Entity as EntityTrait>::Column::iter() {
        if let ActiveValue::Set(value) | ActiveValue::Unchanged(value) = row.get(column) {
            map.insert(column.as_str().to_owned(), sea_value_to_json_value(&value));
        }
    }
    map.insert(key.to_owned(), (position + 1).into());
    map.into()
}

/// The statement, built once.
static STATEMENT: LazyLock<String> = LazyLock::new(statement_text);

fn statement_text() -> String {
    let columns = delivery_columns();
    // Ids of one INSERT are drawn in the order of its rows: numbering them by id gives each
    // event's position back.
    format!(
        "WITH ev AS (INSERT INTO event (org_id, repository_id, build_id, task_id, kind, action, \
           old_status, new_status, created_at) \
         SELECT org_id, repository_id, build_id, task_id, kind, action, old_status, new_status, \
           created_at FROM jsonb_populate_recordset(NULL::event, $1::jsonb) ORDER BY id \
         RETURNING id), \
         numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM ev) \
         INSERT INTO webhook_delivery ({columns}) \
         SELECT {values} FROM jsonb_populate_recordset(NULL::webhook_delivery, $2::jsonb) AS d \
         JOIN numbered ON numbered.n = d.event_id \
         RETURNING {returned}",
        returned = RETURNED,
        columns = columns.join(", "),
        values = selected_from_d(),
    )
}

/// The statement's two parameters: `events` and `rows` as JSON documents. An event's `id` only
/// orders the insert; a row's `event_id` (its event's position) is swapped for the real id.
fn events_and_rows_params(
    events: &[event::ActiveModel],
    rows: &[(usize, webhook_delivery::ActiveModel)],
) -> [sea_orm::Value; 2] {
    let events: Vec<serde_json::Value> = events
        .iter()
        .enumerate()
        .map(|(position, e)| to_json(e, "id", position))
        .collect();
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|(position, row)| to_json(row, "event_id", *position))
        .collect();
    [
        serde_json::Value::from(events).to_string().into(),
        serde_json::Value::from(rows).to_string().into(),
    ]
}

/// Writes `events` and `rows`, each row with the 0-based position of its event in `events`;
/// returns the rows written.
pub(crate) async fn insert_events_and_rows(
    txn: &impl ConnectionTrait,
    events: Vec<event::ActiveModel>,
    rows: Vec<(usize, webhook_delivery::ActiveModel)>,
) -> Result<Vec<webhook_delivery::Model>> {
    let shape = Shape::events_only(events.len(), rows.len());
    let stmt = if shape.fits() && !rows.is_empty() {
        let mut values = Vec::with_capacity(shape.params());
        push_events_and_rows(&mut values, &events, &rows)?;
        Statement::from_sql_and_values(txn.get_database_backend(), &*text(shape), values)
    } else {
        Statement::from_sql_and_values(
            txn.get_database_backend(),
            STATEMENT.as_str(),
            events_and_rows_params(&events, &rows),
        )
    };
    let returned = txn.query_all(stmt).await?;
    as_written(rows.into_iter().map(|(_, row)| row).collect(), &returned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statement_names_every_outbox_column_once_and_maps_the_event() {
        let sql = statement_text();
        let columns = delivery_columns();
        let has = |name: &str| columns.iter().any(|c| c == name);
        assert!(!has("id") && has("event_id") && has("body"));
        assert_eq!(sql.matches("numbered.id").count(), 1);
        for c in columns.iter().filter(|c| *c != "event_id") {
            assert!(sql.contains(&format!("d.{c}")), "{c}");
        }
    }
}
