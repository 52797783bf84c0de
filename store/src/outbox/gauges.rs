//! The outbox's gauges: how many rows wait (PENDING or IN_FLIGHT) and since when.

use sea_orm::{ConnectionTrait, Statement};

use crate::{Db, Result};

/// Rows not yet delivered or failed, and the creation time of the oldest, in ms since the epoch.
pub async fn backlog(db: &Db) -> Result<(i64, Option<i64>)> {
    // One look per partial index (the states are literals, as in the indexes).
    let row = db
        .conn()
        .query_one(Statement::from_string(
            db.dialect().backend(),
            "SELECT CAST(SUM(n) AS BIGINT) AS n, MIN(oldest) AS oldest FROM ( \
             SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM webhook_delivery \
             WHERE state = 'PENDING' UNION ALL \
             SELECT COUNT(*), MIN(created_at) FROM webhook_delivery \
             WHERE state = 'IN_FLIGHT') AS t",
        ))
        .await?;
    Ok(match row {
        Some(r) => (
            r.try_get::<Option<i64>>("", "n")?.unwrap_or(0),
            r.try_get::<Option<i64>>("", "oldest")?,
        ),
        None => (0, None),
    })
}
