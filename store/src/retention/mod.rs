//! Retention: deleting what is older than the operator keeps (finished deliveries with their
//! attempts, and events no delivery waits for), in short batches, and counting the tables' rows.
//! Each batch walks the next page of rows by id (the primary key: no index is added to the
//! outbox's hot path) and deletes, of that page, only rows that are finished and old; a row
//! PENDING or IN_FLIGHT is never touched, whatever its age. On PostgreSQL a batch is one
//! statement that locks the rows it deletes (`SKIP LOCKED`: another instance's pruner, or a
//! redelivery in progress, is passed over); on SQLite it is a short transaction behind every
//! other writer (`Db::begin_write_background`). Erasing payloads on demand is `erase`.

pub mod erase;

use sea_orm::{ConnectionTrait, QueryResult, Value};

use crate::dialect::Dialect;
use crate::text::Text;
use crate::{postgres, sqlite, Db, Result};

/// What one batch did, and where the next one starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// The id the next batch starts after; `None` when the pass is over (the end of the table,
    /// or a page of rows all younger than the cutoff).
    pub next: Option<i64>,
    /// Rows deleted, by table.
    pub deliveries: u64,
    pub attempts: u64,
    pub events: u64,
}

/// The next page of ids after the cursor: its last id and its oldest creation time.
static PAGE_DELIVERIES: Text = Text::new(|| {
    "SELECT CAST(MAX(id) AS BIGINT) AS hi, CAST(MIN(created_at) AS BIGINT) AS oldest FROM \
     (SELECT id, created_at FROM webhook_delivery WHERE id > $1 ORDER BY id LIMIT $2) AS p"
        .into()
});
static PAGE_EVENTS: Text = Text::new(|| {
    "SELECT CAST(MAX(id) AS BIGINT) AS hi, CAST(MIN(created_at) AS BIGINT) AS oldest FROM \
     (SELECT id, created_at FROM event WHERE id > $1 ORDER BY id LIMIT $2) AS p"
        .into()
});

/// Where the batch after a page of `limit` ids ending at `hi` starts: none when the page was
/// empty, or when every row of it was created after the cutoff (rows only get younger after it).
fn next_after(hi: Option<i64>, oldest: Option<i64>, cutoff: i64) -> Option<i64> {
    match (hi, oldest) {
        (Some(hi), Some(oldest)) if oldest < cutoff => Some(hi),
        _ => None,
    }
}

fn get(row: &QueryResult, column: &str) -> Result<Option<i64>> {
    row.try_get::<Option<i64>>("", column)
}

/// Deletes, among the next `limit` deliveries after id `after`, those DELIVERED or FAILED and
/// last changed before `cutoff` (ms since the epoch), with their attempts.
pub async fn prune_deliveries(db: &Db, after: i64, limit: u64, cutoff: i64) -> Result<Batch> {
    let values = || -> Vec<Value> { vec![after.into(), (limit as i64).into(), cutoff.into()] };
    match db.dialect() {
        Dialect::Postgres => {
            let row = db
                .conn()
                .query_one(postgres::retention::PRUNE_DELIVERIES.on(db.conn(), values()))
                .await?;
            let Some(row) = row else {
                return Ok(Batch::default());
            };
            Ok(Batch {
                next: next_after(get(&row, "hi")?, get(&row, "oldest")?, cutoff),
                deliveries: get(&row, "deliveries")?.unwrap_or(0) as u64,
                attempts: get(&row, "attempts")?.unwrap_or(0) as u64,
                events: 0,
            })
        }
        Dialect::Sqlite => {
            let Some((hi, oldest)) = page(db, &PAGE_DELIVERIES, after, limit).await? else {
                return Ok(Batch::default());
            };
            let range: Vec<Value> = vec![after.into(), hi.into(), cutoff.into()];
            let w = db.begin_write_background().await?;
            let attempts = w
                .txn()
                .execute(sqlite::retention::PRUNE_ATTEMPTS.on(w.txn(), range.clone()))
                .await?
                .rows_affected();
            let deliveries = w
                .txn()
                .execute(sqlite::retention::PRUNE_DELIVERIES.on(w.txn(), range))
                .await?
                .rows_affected();
            w.commit().await?;
            Ok(Batch {
                next: next_after(Some(hi), oldest, cutoff),
                deliveries,
                attempts,
                events: 0,
            })
        }
    }
}

/// Deletes, among the next `limit` events after id `after`, those created before `cutoff` that
/// no PENDING or IN_FLIGHT delivery belongs to.
pub async fn prune_events(db: &Db, after: i64, limit: u64, cutoff: i64) -> Result<Batch> {
    let values = || -> Vec<Value> { vec![after.into(), (limit as i64).into(), cutoff.into()] };
    match db.dialect() {
        Dialect::Postgres => {
            let row = db
                .conn()
                .query_one(postgres::retention::PRUNE_EVENTS.on(db.conn(), values()))
                .await?;
            let Some(row) = row else {
                return Ok(Batch::default());
            };
            Ok(Batch {
                next: next_after(get(&row, "hi")?, get(&row, "oldest")?, cutoff),
                events: get(&row, "events")?.unwrap_or(0) as u64,
                ..Batch::default()
            })
        }
        Dialect::Sqlite => {
            let Some((hi, oldest)) = page(db, &PAGE_EVENTS, after, limit).await? else {
                return Ok(Batch::default());
            };
            let w = db.begin_write_background().await?;
            let events = w
                .txn()
                .execute(
                    sqlite::retention::PRUNE_EVENTS
                        .on(w.txn(), [after.into(), hi.into(), cutoff.into()]),
                )
                .await?
                .rows_affected();
            w.commit().await?;
            Ok(Batch {
                next: next_after(Some(hi), oldest, cutoff),
                events,
                ..Batch::default()
            })
        }
    }
}

/// The next page of ids (read on the pool, outside the write transaction): its last id and
/// oldest creation time, or none at the end of the table.
async fn page(db: &Db, text: &Text, after: i64, limit: u64) -> Result<Option<(i64, Option<i64>)>> {
    let values: [Value; 2] = [after.into(), (limit as i64).into()];
    let row = db.conn().query_one(text.on(db.conn(), values)).await?;
    let Some(row) = row else { return Ok(None) };
    Ok(get(&row, "hi")?.map(|hi| (hi, get(&row, "oldest").ok().flatten())))
}

/// Rows of the tables retention prunes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableRows {
    pub webhook_delivery: i64,
    pub webhook_attempt: i64,
    pub event: i64,
}

impl TableRows {
    /// (table name, rows), for metrics and reports.
    pub fn by_table(&self) -> [(&'static str, i64); 3] {
        [
            ("webhook_delivery", self.webhook_delivery),
            ("webhook_attempt", self.webhook_attempt),
            ("event", self.event),
        ]
    }
}

/// How many rows the tables hold: counted on SQLite; on PostgreSQL counted too, unless the
/// planner's statistics (kept by autovacuum or `ANALYZE`) already say a table holds a million
/// rows or more, when that estimate is used instead of reading the whole table.
pub async fn table_rows(db: &Db) -> Result<TableRows> {
    let text = match db.dialect() {
        Dialect::Postgres => postgres::retention::TABLE_ROWS.as_str(),
        Dialect::Sqlite => sqlite::retention::TABLE_ROWS,
    };
    let row = db
        .conn()
        .query_one(sea_orm::Statement::from_string(
            db.dialect().backend(),
            text,
        ))
        .await?;
    let Some(row) = row else {
        return Ok(TableRows::default());
    };
    Ok(TableRows {
        webhook_delivery: get(&row, "webhook_delivery")?.unwrap_or(0),
        webhook_attempt: get(&row, "webhook_attempt")?.unwrap_or(0),
        event: get(&row, "event")?.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::next_after;

    #[test]
    fn a_pass_ends_at_the_end_of_the_table_or_at_a_page_of_young_rows() {
        assert_eq!(next_after(Some(1000), Some(5), 10), Some(1000));
        assert_eq!(next_after(Some(1000), Some(10), 10), None);
        assert_eq!(next_after(None, None, 10), None);
    }
}
