//! The outbox's gauges, read at scrape time: how many rows wait (PENDING or IN_FLIGHT) and since
//! when, in all and by state and endpoint kind, and the endpoints in a failing spell (the worst N).

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

/// Rows waiting in one state for endpoints of one kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    /// `PENDING` or `IN_FLIGHT`.
    pub state: String,
    /// The endpoint's kind as stored (`WEBHOOK`, `SLACK`, `NATS`...); `unknown` for a row whose
    /// endpoint row is gone.
    pub kind: String,
    pub rows: i64,
    /// The creation time of the oldest, in ms since the epoch.
    pub oldest: i64,
}

/// The outbox's waiting rows by state and endpoint kind (a few dozen groups at most: two states
/// times the sink kinds).
pub async fn waiting(db: &Db) -> Result<Vec<Waiting>> {
    let rows = db
        .conn()
        .query_all(Statement::from_string(
            db.dialect().backend(),
            "SELECT d.state AS state, COALESCE(e.kind, 'unknown') AS kind, \
             CAST(COUNT(*) AS BIGINT) AS n, MIN(d.created_at) AS oldest \
             FROM webhook_delivery d LEFT JOIN webhook_endpoint e ON e.id = d.endpoint_id \
             WHERE d.state IN ('PENDING', 'IN_FLIGHT') \
             GROUP BY d.state, COALESCE(e.kind, 'unknown')",
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Waiting {
                state: r.try_get("", "state")?,
                kind: r.try_get("", "kind")?,
                rows: r.try_get("", "n")?,
                oldest: r.try_get::<Option<i64>>("", "oldest")?.unwrap_or(0),
            })
        })
        .collect()
}

/// Endpoints in a failing spell: the `limit` with the most deliveries failed in a row
/// (`(id, failed in a row)`, most first), and how many are failing in all with their failures'
/// sum, so the rest can be shown as one aggregate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Failing {
    pub top: Vec<(i32, i64)>,
    pub endpoints: i64,
    pub failures: i64,
}

/// The failing endpoints (not deleted), the worst `limit` by name.
pub async fn failing(db: &Db, limit: u64) -> Result<Failing> {
    let backend = db.dialect().backend();
    let top = db
        .conn()
        .query_all(Statement::from_string(
            backend,
            // A number, not text from outside: no placeholder needed.
            format!(
                "SELECT id, CAST(failed_deliveries AS BIGINT) AS n FROM webhook_endpoint \
                 WHERE failing_since IS NOT NULL AND deleted = FALSE \
                 ORDER BY failed_deliveries DESC, id LIMIT {limit}"
            ),
        ))
        .await?;
    let top = top
        .iter()
        .map(|r| Ok((r.try_get::<i32>("", "id")?, r.try_get::<i64>("", "n")?)))
        .collect::<Result<Vec<_>>>()?;
    let all = db
        .conn()
        .query_one(Statement::from_string(
            backend,
            "SELECT CAST(COUNT(*) AS BIGINT) AS n, \
             CAST(COALESCE(SUM(failed_deliveries), 0) AS BIGINT) AS failures \
             FROM webhook_endpoint WHERE failing_since IS NOT NULL AND deleted = FALSE",
        ))
        .await?;
    let (endpoints, failures) = match all {
        Some(r) => (r.try_get("", "n")?, r.try_get("", "failures")?),
        None => (0, 0),
    };
    Ok(Failing {
        top,
        endpoints,
        failures,
    })
}
