//! Claiming due outbox rows with a fenced lease: one short transaction marks them IN_FLIGHT with
//! a fresh lease token and `lease_until`. PostgreSQL uses `FOR UPDATE SKIP LOCKED`, so several
//! instances share one database; on SQLite the write gate serialises claimers. Rows whose lease
//! expired (a worker died) are due again.

use buildhooks_entity::webhook_delivery;
use buildhooks_schema::clock::now_ms;
use buildhooks_schema::webhook::outbox::state;
use buildhooks_schema::{Result, Store};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, Statement};

// Expired leases first, then due rows in order. Each part walks the `(state, next_attempt_at)`
// index and stops at the limit: no sort of the whole backlog per claim. (On PostgreSQL an `id`
// tie-break would sort every row sharing the oldest timestamp; SQLite's index holds the rowid.)
const POSTGRES: &str = "WITH expired AS (
   SELECT id FROM webhook_delivery WHERE state = $1 AND lease_until < $4
   LIMIT $6 FOR UPDATE SKIP LOCKED),
 due AS (
   SELECT id FROM webhook_delivery WHERE state = $5 AND next_attempt_at <= $4
   ORDER BY next_attempt_at LIMIT $6 FOR UPDATE SKIP LOCKED)
 UPDATE webhook_delivery SET state = $1, lease_until = $2, lease_token = $3, updated_at = $4
 WHERE id IN (SELECT id FROM (SELECT id FROM expired UNION ALL SELECT id FROM due) AS picked
   LIMIT $6)
 RETURNING *";

const SQLITE: &str =
    "UPDATE webhook_delivery SET state = ?1, lease_until = ?2, lease_token = ?3, updated_at = ?4
 WHERE id IN (
   SELECT id FROM (SELECT id FROM webhook_delivery WHERE state = ?1 AND lease_until < ?4 LIMIT ?6)
   UNION ALL
   SELECT id FROM (SELECT id FROM webhook_delivery WHERE state = ?5 AND next_attempt_at <= ?4
     ORDER BY next_attempt_at, id LIMIT ?6)
   LIMIT ?6)
 RETURNING *";

/// Claims up to `limit` due rows for `lease_ms`; returns them with their lease token.
pub async fn claim(
    store: &Store,
    limit: u64,
    lease_ms: i64,
) -> Result<(Vec<webhook_delivery::Model>, String)> {
    let w = store.begin_write_priority().await?;
    let claimed = claim_in(w.txn(), limit, lease_ms).await?;
    w.commit().await?;
    Ok(claimed)
}

/// As `claim`, in a transaction the caller commits (the recorder claims the next rows in the
/// transaction that records the last ones).
pub async fn claim_in(
    txn: &impl ConnectionTrait,
    limit: u64,
    lease_ms: i64,
) -> Result<(Vec<webhook_delivery::Model>, String)> {
    let now = now_ms();
    let token = uuid::Uuid::new_v4().to_string();
    let backend = txn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => POSTGRES,
        _ => SQLITE,
    };
    let values: Vec<sea_orm::Value> = vec![
        state::IN_FLIGHT.into(),
        (now + lease_ms).into(),
        token.clone().into(),
        now.into(),
        state::PENDING.into(),
        (limit as i64).into(),
    ];
    let rows = webhook_delivery::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(backend, sql, values))
        .all(txn)
        .await?;
    Ok((rows, token))
}
