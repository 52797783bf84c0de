//! PostgreSQL statements of the delivery path that are planned for each execution (unnamed
//! statements) instead of prepared once per connection: the record-only statement and the
//! dispatcher's own claim. A prepared statement soon runs a generic plan that is
//! kept until the table's statistics change, and one made while the outbox was young (a fresh
//! database, its first minute) scanned the whole outbox on every later record: in the e2e
//! benchmark each record read every row written so far. Planning each time costs tens of
//! microseconds per batch; the plans then follow the table's real size. (The recorder's
//! record-and-claim statement stays prepared: it is large enough that planning it each time cost
//! a third of the dispatch throughput.)

use buildhooks_schema::{Error, Result};
use sea_orm::{DatabaseConnection, DbErr, QueryResult, RuntimeErr, Value};

/// Runs `sql` with `values` (text and 64-bit integers) on the pool, planned for these values.
pub async fn query(
    db: &DatabaseConnection,
    sql: &str,
    values: Vec<Value>,
) -> Result<Vec<QueryResult>> {
    let mut query = sqlx::query(sql).persistent(false);
    for value in values {
        query = match value {
            Value::String(text) => query.bind(text.map(|t| *t)),
            Value::BigInt(number) => query.bind(number),
            other => {
                return Err(Error::Internal(format!(
                    "unsupported statement parameter {other:?}"
                )))
            }
        };
    }
    let rows = query
        .fetch_all(db.get_postgres_connection_pool())
        .await
        .map_err(|e| DbErr::Query(RuntimeErr::SqlxError(e)))?;
    Ok(rows.into_iter().map(QueryResult::from).collect())
}
