//! Writing a transition's events and their outbox rows in its transaction: on PostgreSQL one
//! statement for both (`postgres::outbox_insert`), on SQLite the events and then the rows.

use std::sync::LazyLock;

use buildhooks_entity::webhook_delivery;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ConnectionTrait, DbErr, IdenStatic, Iterable, Set, Statement,
};

pub use super::columns::NewDelivery;
use super::columns::{as_written, delivery_columns, new_row, RETURNED};
use crate::dialect::Dialect;
use crate::events::NewEvent;
use crate::postgres::listen::NOTIFY_CHANNEL;
use crate::text::insert_rows;
use crate::Result;

/// Writes `events` and their outbox `rows` in the caller's transaction; returns the rows as
/// written. `notify`: tell other instances that rows are there to claim (on commit).
pub async fn write(
    db: &impl ConnectionTrait,
    org_id: i32,
    now: i64,
    events: &[NewEvent<'_>],
    rows: Vec<NewDelivery>,
    notify: bool,
) -> Result<Vec<webhook_delivery::Model>> {
    if rows.is_empty() {
        crate::events::insert_all(db, org_id, now, events).await?;
        return Ok(Vec::new());
    }
    let dialect = Dialect::of(db);
    let rows: Vec<(usize, webhook_delivery::ActiveModel)> = rows
        .into_iter()
        .map(|r| (r.event, new_row(r, now, dialect)))
        .collect();
    let written = match dialect {
        Dialect::Postgres => {
            let drafts = events.iter().map(|e| e.row(org_id, now)).collect();
            crate::postgres::outbox_insert::insert_events_and_rows(db, drafts, rows).await?
        }
        Dialect::Sqlite => {
            let event_ids = crate::events::insert_all(db, org_id, now, events).await?;
            let rows = rows.into_iter().map(|(position, mut row)| {
                row.event_id = Set(event_ids.get(position).copied());
                row
            });
            insert(db, rows.collect()).await?
        }
    };
    if notify && dialect == Dialect::Postgres {
        db.execute_unprepared(&format!("NOTIFY {NOTIFY_CHANNEL}"))
            .await?;
    }
    Ok(written)
}

/// Writes outbox rows whose every column but `id` is set (`new_row`); returns them as written.
async fn insert(
    txn: &impl ConnectionTrait,
    rows: Vec<webhook_delivery::ActiveModel>,
) -> Result<Vec<webhook_delivery::Model>> {
    static HEAD: LazyLock<(String, usize)> = LazyLock::new(|| {
        let columns = delivery_columns();
        (
            format!("INSERT INTO webhook_delivery ({})", columns.join(", ")),
            columns.len(),
        )
    });
    let backend = txn.get_database_backend();
    let mut values = Vec::with_capacity(rows.len() * HEAD.1);
    for row in &rows {
        for column in webhook_delivery::Column::iter().filter(|c| c.as_str() != "id") {
            match row.get(column) {
                ActiveValue::Set(v) | ActiveValue::Unchanged(v) => values.push(v),
                ActiveValue::NotSet => {
                    return Err(DbErr::Custom(format!(
                        "outbox column {} not set",
                        column.as_str()
                    )))
                }
            }
        }
    }
    let sql = insert_rows(backend, &HEAD.0, HEAD.1, rows.len(), RETURNED);
    let returned = txn
        .query_all(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    as_written(rows, &returned)
}

/// Writes one outbox row outside a transition (a test message); returns it as written.
pub async fn insert_one(
    db: &impl ConnectionTrait,
    new: NewDelivery,
    now: i64,
) -> Result<webhook_delivery::Model> {
    let mut written = insert(db, vec![new_row(new, now, Dialect::of(db))]).await?;
    written
        .pop()
        .ok_or_else(|| DbErr::Custom("the outbox row was not written".into()))
}
