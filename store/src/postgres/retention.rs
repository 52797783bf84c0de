//! PostgreSQL's retention statements: each batch one statement (its own short transaction) that
//! reads the next page of ids, locks the finished and old rows of it (`SKIP LOCKED`: rows another
//! instance's pruner or a redelivery holds are passed over) and deletes them; the table row
//! counts (or the planner's estimate for large tables); erasing a page of an organization's
//! payloads.

use std::sync::LazyLock;

use crate::text::Text;

/// Deliveries: `$1` the cursor, `$2` the page size, `$3` the cutoff. Attempts are deleted by
/// the statement itself (not left to the foreign key's cascade) so they can be counted.
pub(crate) static PRUNE_DELIVERIES: Text = Text::new(|| {
    "WITH page AS (
   SELECT id, created_at FROM webhook_delivery WHERE id > $1 ORDER BY id LIMIT $2),
 picked AS (
   SELECT id FROM webhook_delivery
   WHERE id > $1 AND id <= (SELECT MAX(id) FROM page)
     AND state IN ('DELIVERED', 'FAILED') AND updated_at < $3
   FOR UPDATE SKIP LOCKED),
 attempts AS (
   DELETE FROM webhook_attempt WHERE delivery_id IN (SELECT id FROM picked) RETURNING 1),
 deliveries AS (
   DELETE FROM webhook_delivery WHERE id IN (SELECT id FROM picked) RETURNING 1)
 SELECT CAST((SELECT MAX(id) FROM page) AS BIGINT) AS hi,
   CAST((SELECT MIN(created_at) FROM page) AS BIGINT) AS oldest,
   (SELECT COUNT(*) FROM deliveries) AS deliveries,
   (SELECT COUNT(*) FROM attempts) AS attempts"
        .into()
});

/// Events: `$1` the cursor, `$2` the page size, `$3` the cutoff. The waiting deliveries are
/// read through the outbox's partial indexes (the states are literals).
pub(crate) static PRUNE_EVENTS: Text = Text::new(|| {
    "WITH page AS (
   SELECT id, created_at FROM event WHERE id > $1 ORDER BY id LIMIT $2),
 gone AS (
   DELETE FROM event
   WHERE id > $1 AND id <= (SELECT MAX(id) FROM page) AND created_at < $3
     AND id NOT IN (
       SELECT event_id FROM webhook_delivery
       WHERE state = 'PENDING' AND event_id > $1 AND event_id <= (SELECT MAX(id) FROM page)
       UNION ALL
       SELECT event_id FROM webhook_delivery
       WHERE state = 'IN_FLIGHT' AND event_id > $1 AND event_id <= (SELECT MAX(id) FROM page))
   RETURNING 1)
 SELECT CAST((SELECT MAX(id) FROM page) AS BIGINT) AS hi,
   CAST((SELECT MIN(created_at) FROM page) AS BIGINT) AS oldest,
   (SELECT COUNT(*) FROM gone) AS events"
        .into()
});

/// Tables at or above this many rows by the planner's statistics are not counted.
const ESTIMATE_FROM: i64 = 1_000_000;

/// Each table's rows: `count(*)`, or `pg_class.reltuples` for a large table.
pub(crate) static TABLE_ROWS: LazyLock<String> = LazyLock::new(|| {
    let column = |table: &str| {
        let estimate = format!("(SELECT reltuples FROM pg_class WHERE oid = '{table}'::regclass)");
        format!(
            "CAST(CASE WHEN {estimate} >= {ESTIMATE_FROM} THEN {estimate} \
             ELSE (SELECT COUNT(*) FROM {table}) END AS BIGINT) AS {table}"
        )
    };
    format!(
        "SELECT {}, {}, {}",
        column("webhook_delivery"),
        column("webhook_attempt"),
        column("event")
    )
});

/// Erases a page of an organization's payloads: `$1` the organization, `$2` the cursor, `$3`
/// the page size, `$4` created before, `$5` the repository or NULL, `$6` now. Locks the rows it
/// erases, so a row whose state changes meanwhile is checked again.
pub(crate) static ERASE: Text = Text::new(|| {
    "WITH page AS (
   SELECT id FROM webhook_delivery WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3),
 picked AS (
   SELECT id FROM webhook_delivery
   WHERE org_id = $1 AND id > $2 AND id <= (SELECT MAX(id) FROM page) AND created_at < $4
     AND state IN ('DELIVERED', 'FAILED') AND erased_at IS NULL
     AND ($5 IS NULL OR repository_id = $5)
   FOR UPDATE),
 excerpts AS (
   UPDATE webhook_attempt SET response_excerpt = NULL, response_headers = NULL
   WHERE delivery_id IN (SELECT id FROM picked)
     AND (response_excerpt IS NOT NULL OR response_headers IS NOT NULL) RETURNING 1),
 erased AS (
   UPDATE webhook_delivery SET body = '', last_response = NULL, erased_at = $6
   WHERE id IN (SELECT id FROM picked) RETURNING 1)
 SELECT CAST((SELECT MAX(id) FROM page) AS BIGINT) AS hi,
   (SELECT COUNT(*) FROM erased) AS erased, (SELECT COUNT(*) FROM excerpts) AS excerpts"
        .into()
});
