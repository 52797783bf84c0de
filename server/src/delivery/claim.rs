//! Claiming due outbox rows with a fenced lease: one statement marks them IN_FLIGHT with a fresh
//! lease token and `lease_until`. PostgreSQL uses `FOR UPDATE SKIP LOCKED`, so several
//! instances share one database; on SQLite the write gate serialises claimers. Rows whose lease
//! expired (a worker died) are due again.

use std::sync::LazyLock;

use buildhooks_entity::webhook_delivery;
use buildhooks_schema::clock::now_ms;
use buildhooks_schema::{Result, Store};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, Statement};

// Expired leases first, then due rows. Each part walks its partial index (in-flight rows by
// lease expiry, pending rows by next attempt time) and stops at a limit: no sort of the whole
// backlog per claim. The states are literals, as in the indexes' predicates, or the planners
// could not use them. (On PostgreSQL an `id` tie-break would sort every row sharing the oldest
// timestamp; SQLite's index holds the rowid.)
//
// Fairness, from the fifth parameter (`fair::Shares::claim_filter`): rows of endpoints and
// organizations that hold their whole share of the dispatcher (`e`, `o`: ids) are skipped, so a
// hanging receiver's backlog never fills a claim. Due rows are taken from a window of the oldest
// (twice the limit): of each endpoint at most its free room (`re`: endpoint id -> room, else
// its `max_in_flight`), of each organization at most its free room (`ro`, else `d`), in turns:
// every endpoint's oldest row, then every endpoint's second, and so on. So a claim takes no row
// that its dispatcher could not start. (On PostgreSQL the filter is read through uncorrelated
// subqueries, evaluated once per statement rather than once per row.) On PostgreSQL
// only the rows picked are locked (a row another instance holds is skipped, and one it changed
// meanwhile is checked again against `state`), not the whole window.
//
// PostgreSQL: the claim as CTEs ending in `claimed`, with `{exclude}` for rows the recorder
// writes in the same statement (one statement must not update a row twice).
const POSTGRES_CTES: &str = "expired AS (
   SELECT id FROM webhook_delivery WHERE state = 'IN_FLIGHT' AND lease_until < $3{exclude}
     AND endpoint_id NOT IN (SELECT value::int FROM jsonb_array_elements_text($5::jsonb -> 'e'))
     AND org_id NOT IN (SELECT value::int FROM jsonb_array_elements_text($5::jsonb -> 'o'))
   ORDER BY lease_until LIMIT $4 FOR UPDATE SKIP LOCKED),
 window_rows AS (
   SELECT id, org_id, endpoint_id, next_attempt_at FROM webhook_delivery
   WHERE state = 'PENDING' AND next_attempt_at <= $3
     AND endpoint_id NOT IN (SELECT value::int FROM jsonb_array_elements_text($5::jsonb -> 'e'))
     AND org_id NOT IN (SELECT value::int FROM jsonb_array_elements_text($5::jsonb -> 'o'))
   ORDER BY next_attempt_at LIMIT $4 * 2),
 picked AS (
   SELECT id FROM (
     SELECT w.id, w.next_attempt_at,
       COALESCE(((SELECT $5::jsonb) -> 're' ->> w.endpoint_id::text)::int,
         (SELECT e.max_in_flight FROM webhook_endpoint AS e WHERE e.id = w.endpoint_id), 4)
         AS room,
       COALESCE(((SELECT $5::jsonb) -> 'ro' ->> w.org_id::text)::int, (SELECT ($5::jsonb ->> 'd')::int))
         AS org_room,
       ROW_NUMBER() OVER (PARTITION BY w.endpoint_id ORDER BY w.next_attempt_at, w.id) AS turn,
       ROW_NUMBER() OVER (PARTITION BY w.org_id ORDER BY w.next_attempt_at, w.id) AS org_turn
     FROM window_rows AS w) AS ranked
   WHERE turn <= room AND org_turn <= org_room ORDER BY turn, next_attempt_at LIMIT $4),
 due AS (
   SELECT id FROM webhook_delivery WHERE id IN (SELECT id FROM picked) AND state = 'PENDING'
   FOR UPDATE SKIP LOCKED),
 claimed AS (
   UPDATE webhook_delivery SET state = 'IN_FLIGHT', lease_until = $1, lease_token = $2,
     updated_at = $3
   WHERE id IN (SELECT id FROM (SELECT id FROM expired UNION ALL SELECT id FROM due) AS picked
     LIMIT $4)
   RETURNING *)";

static POSTGRES: LazyLock<String> =
    LazyLock::new(|| format!("WITH {} SELECT * FROM claimed", postgres_ctes(1, "")));

/// The PostgreSQL claim's CTEs with parameters numbered from `${first}`, and `exclude` added
/// to the expired-lease condition.
pub fn postgres_ctes(first: usize, exclude: &str) -> String {
    renumber(POSTGRES_CTES, '$', first).replace("{exclude}", exclude)
}

const SQLITE: &str = "UPDATE webhook_delivery SET state = 'IN_FLIGHT', lease_until = ?1,
   lease_token = ?2, updated_at = ?3
 WHERE id IN (
   SELECT id FROM (SELECT id FROM webhook_delivery WHERE state = 'IN_FLIGHT' AND lease_until < ?3
       AND endpoint_id NOT IN (SELECT value FROM json_each(?5, '$.e'))
       AND org_id NOT IN (SELECT value FROM json_each(?5, '$.o'))
     ORDER BY lease_until LIMIT ?4)
   UNION ALL
   SELECT id FROM (SELECT id FROM (
     SELECT w.id, w.next_attempt_at,
       COALESCE(json_extract(?5, '$.re.\"' || w.endpoint_id || '\"'),
         (SELECT e.max_in_flight FROM webhook_endpoint AS e WHERE e.id = w.endpoint_id), 4)
         AS room,
       COALESCE(json_extract(?5, '$.ro.\"' || w.org_id || '\"'), json_extract(?5, '$.d'))
         AS org_room,
       ROW_NUMBER() OVER (PARTITION BY w.endpoint_id ORDER BY w.next_attempt_at, w.id) AS turn,
       ROW_NUMBER() OVER (PARTITION BY w.org_id ORDER BY w.next_attempt_at, w.id) AS org_turn
     FROM (SELECT id, org_id, endpoint_id, next_attempt_at FROM webhook_delivery
       WHERE state = 'PENDING' AND next_attempt_at <= ?3
         AND endpoint_id NOT IN (SELECT value FROM json_each(?5, '$.e'))
         AND org_id NOT IN (SELECT value FROM json_each(?5, '$.o'))
       ORDER BY next_attempt_at, id LIMIT ?4 * 2) AS w)
   WHERE turn <= room AND org_turn <= org_room ORDER BY turn, next_attempt_at LIMIT ?4)
   LIMIT ?4)
 RETURNING *";

/// A claim filter that limits nothing (see `fair::Shares::claim_filter`).
pub const UNLIMITED: &str = r#"{"e":[],"o":[],"re":{},"ro":{},"d":2147483647}"#;

/// When the next claimable row becomes due (a retry, or an expired lease), in ms since the
/// epoch, leaving out the full endpoints and organizations of a claim filter (`$1` / `?1`): one look into
/// each partial index, past the excluded rows.
pub fn next_due_sql(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => {
            "SELECT MIN(due) AS due FROM (
   SELECT MIN(next_attempt_at) AS due FROM webhook_delivery WHERE state = 'PENDING'
     AND endpoint_id NOT IN (SELECT value::int FROM jsonb_array_elements_text($1::jsonb -> 'e'))
     AND org_id NOT IN (SELECT value::int FROM jsonb_array_elements_text($1::jsonb -> 'o'))
   UNION ALL
   SELECT MIN(lease_until) FROM webhook_delivery WHERE state = 'IN_FLIGHT'
     AND endpoint_id NOT IN (SELECT value::int FROM jsonb_array_elements_text($1::jsonb -> 'e'))
     AND org_id NOT IN (SELECT value::int FROM jsonb_array_elements_text($1::jsonb -> 'o'))) AS t"
        }
        _ => {
            "SELECT MIN(due) AS due FROM (
   SELECT MIN(next_attempt_at) AS due FROM webhook_delivery WHERE state = 'PENDING'
     AND endpoint_id NOT IN (SELECT value FROM json_each(?1, '$.e'))
     AND org_id NOT IN (SELECT value FROM json_each(?1, '$.o'))
   UNION ALL
   SELECT MIN(lease_until) FROM webhook_delivery WHERE state = 'IN_FLIGHT'
     AND endpoint_id NOT IN (SELECT value FROM json_each(?1, '$.e'))
     AND org_id NOT IN (SELECT value FROM json_each(?1, '$.o'))) AS t"
        }
    }
}

/// Gives leased rows back to the outbox (PENDING, their due time unchanged) when their
/// endpoint or organization has no free share: claimed again when a slot frees.
pub async fn release(store: &Store, ids: &[i32], token: &str) -> Result<()> {
    let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    let values: Vec<sea_orm::Value> = vec![token.into(), ids.into()];
    if store.backend() == DbBackend::Postgres {
        store
            .conn()
            .execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE webhook_delivery SET state = 'PENDING', lease_until = NULL, \
                 lease_token = NULL WHERE lease_token = $1 AND id = ANY (ARRAY(SELECT \
                 value::int FROM json_array_elements_text($2::json)))",
                values,
            ))
            .await?;
        return Ok(());
    }
    let w = store.begin_write_priority().await?;
    w.txn()
        .execute(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "UPDATE webhook_delivery SET state = 'PENDING', lease_until = NULL, \
             lease_token = NULL WHERE lease_token = ?1 AND id IN (SELECT value FROM json_each(?2))",
            values,
        ))
        .await?;
    w.commit().await
}

/// Claims up to `limit` due rows for `lease_ms`; returns them with their lease token.
pub async fn claim(
    store: &Store,
    limit: u64,
    lease_ms: i64,
) -> Result<(Vec<webhook_delivery::Model>, String)> {
    claim_fair(store, limit, lease_ms, UNLIMITED).await
}

/// As `claim`, within the shares `filter` leaves (`fair::Shares::claim_filter`).
pub async fn claim_fair(
    store: &Store,
    limit: u64,
    lease_ms: i64,
    filter: &str,
) -> Result<(Vec<webhook_delivery::Model>, String)> {
    if store.backend() == DbBackend::Postgres {
        // One statement: its own transaction, no BEGIN and COMMIT round trips.
        let (values, token) = params(limit, lease_ms, filter);
        let rows = store
            .conn()
            .query_all(Statement::from_sql_and_values(
                DbBackend::Postgres,
                POSTGRES.as_str(),
                values,
            ))
            .await?;
        let rows = rows
            .iter()
            .map(|row| webhook_delivery::Model::from_query_result(row, ""))
            .collect::<std::result::Result<_, _>>()?;
        return Ok((rows, token));
    }
    let w = store.begin_write_priority().await?;
    let claimed = claim_in(w.txn(), limit, lease_ms, filter).await?;
    w.commit().await?;
    Ok(claimed)
}

/// SQLite: as `claim`, in a write transaction the caller commits. (On PostgreSQL a claim is
/// one statement of its own, or part of the recorder's cycle statement.)
pub async fn claim_in(
    txn: &impl ConnectionTrait,
    limit: u64,
    lease_ms: i64,
    filter: &str,
) -> Result<(Vec<webhook_delivery::Model>, String)> {
    let (values, token) = params(limit, lease_ms, filter);
    let rows = webhook_delivery::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            SQLITE,
            values,
        ))
        .all(txn)
        .await?;
    Ok((rows, token))
}

/// The SQLite claim with its parameters numbered from `?{first}`: the recorder appends it to
/// its own statements, so a record-and-claim cycle is one round trip to SQLite's thread.
pub fn sqlite_from(first: usize) -> String {
    renumber(SQLITE, '?', first)
}

/// The claim's five parameters renumbered to start at `first`.
fn renumber(sql: &str, mark: char, first: usize) -> String {
    // Highest first, so a renumbered parameter is never renumbered again.
    (1..=5).rev().fold(sql.to_owned(), |sql, n| {
        sql.replace(&format!("{mark}{n}"), &format!("{mark}{}", n + first - 1))
    })
}

/// The claim's parameters (`?1` to `?5`) and the fresh lease token.
pub fn params(limit: u64, lease_ms: i64, filter: &str) -> (Vec<sea_orm::Value>, String) {
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
