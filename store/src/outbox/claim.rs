//! Claiming due outbox rows with a fenced lease: one statement marks them IN_FLIGHT with a fresh
//! lease token and `lease_until`. PostgreSQL locks only the rows it picks (`SKIP LOCKED`), so
//! several instances share one database; on SQLite the write gate serialises claimers. Rows
//! whose lease expired (a worker died) are due again. The statements and how they share out a
//! dispatcher's free room are described in `postgres::outbox`.

use buildhooks_entity::webhook_delivery;
use sea_orm::{ConnectionTrait, FromQueryResult, Statement, Value};

use crate::clock::now_ms;
use crate::dialect::Dialect;
use crate::{postgres, sqlite, Db, Result};

/// A claim filter that limits nothing: `{"e": full endpoint ids, "o": full organization ids,
/// "re": endpoint id -> free room, "ro": organization id -> free room, "d": an organization's
/// room when not in "ro"}`.
pub const UNLIMITED: &str = r#"{"e":[],"o":[],"re":{},"ro":{},"d":2147483647}"#;

/// When the next claimable row becomes due (a retry, or an expired lease), in ms since the
/// epoch, leaving out the full endpoints and organizations of `filter`: one look into each
/// partial index, past the excluded rows.
pub async fn next_due(db: &Db, filter: &str) -> Result<Option<i64>> {
    let sql = match db.dialect() {
        Dialect::Postgres => postgres::outbox::NEXT_DUE.as_str(),
        Dialect::Sqlite => sqlite::outbox::NEXT_DUE.as_str(),
    };
    let row = db
        .conn()
        .query_one(Statement::from_sql_and_values(
            db.dialect().backend(),
            sql,
            [filter.into()],
        ))
        .await?;
    match row {
        Some(row) => row.try_get::<Option<i64>>("", "due"),
        None => Ok(None),
    }
}

/// Gives leased rows back to the outbox (PENDING, their due time unchanged) when their
/// endpoint or organization has no free share: claimed again when a slot frees.
pub async fn release(db: &Db, ids: &[i64], token: &str) -> Result<()> {
    let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    let values: Vec<Value> = vec![token.into(), ids.into()];
    match db.dialect() {
        Dialect::Postgres => {
            db.conn()
                .execute(Statement::from_sql_and_values(
                    db.dialect().backend(),
                    postgres::outbox::RELEASE,
                    values,
                ))
                .await?;
            Ok(())
        }
        Dialect::Sqlite => {
            let batches = db.batches()?;
            batches.query(db, &sqlite::outbox::RELEASE, values).await?;
            Ok(())
        }
    }
}

/// Claims up to `limit` due rows for `lease_ms`; returns them with their lease token.
pub async fn claim(
    db: &Db,
    limit: u64,
    lease_ms: i64,
) -> Result<(Vec<webhook_delivery::Model>, String)> {
    claim_fair(db, limit, lease_ms, UNLIMITED).await
}

/// As `claim`, within the shares `filter` leaves (see `UNLIMITED`).
pub async fn claim_fair(
    db: &Db,
    limit: u64,
    lease_ms: i64,
    filter: &str,
) -> Result<(Vec<webhook_delivery::Model>, String)> {
    let (values, token) = params(limit, lease_ms, filter);
    if db.dialect() == Dialect::Postgres {
        // One statement: its own transaction, no BEGIN and COMMIT round trips.
        let rows = db
            .conn()
            .query_all(Statement::from_sql_and_values(
                db.dialect().backend(),
                postgres::outbox::CLAIM.as_str(),
                values,
            ))
            .await?;
        let rows = rows
            .iter()
            .map(|row| webhook_delivery::Model::from_query_result(row, ""))
            .collect::<Result<_>>()?;
        return Ok((rows, token));
    }
    Ok((claim_sqlite(db, values).await?, token))
}

/// SQLite: the claim, a write of the next batch (`sqlite::batch`).
pub(crate) async fn claim_sqlite(
    db: &Db,
    values: Vec<Value>,
) -> Result<Vec<webhook_delivery::Model>> {
    let rows = db
        .batches()?
        .query(db, &sqlite::outbox::CLAIM, values)
        .await?;
    rows.iter()
        .map(|row| webhook_delivery::Model::from_query_result(row, ""))
        .collect()
}

/// The claim's parameters (`?1` to `?5`) and the fresh lease token.
pub(crate) fn params(limit: u64, lease_ms: i64, filter: &str) -> (Vec<Value>, String) {
    let now = now_ms();
    let token = uuid::Uuid::new_v4().to_string();
    let values = vec![
        (now + lease_ms).into(),
        token.clone().into(),
        now.into(),
        (limit as i64).into(),
        filter.into(),
    ];
    (values, token)
}
