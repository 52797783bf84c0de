//! SQLite's retention statements, run in a background writer's transaction after the page's
//! last id was read (`retention`): a batch's attempts, then its deliveries (attempts first, so
//! they are counted rather than left to the foreign key's cascade), and events no waiting
//! delivery belongs to; the table row counts; erasing a page of an organization's payloads.

use crate::text::Text;

/// `$1` the cursor, `$2` the page's last id, `$3` the cutoff.
pub(crate) static PRUNE_ATTEMPTS: Text = Text::new(|| {
    "DELETE FROM webhook_attempt WHERE delivery_id IN (
   SELECT id FROM webhook_delivery WHERE id > $1 AND id <= $2
     AND state IN ('DELIVERED', 'FAILED') AND updated_at < $3)"
        .into()
});

/// `$1` the cursor, `$2` the page's last id, `$3` the cutoff.
pub(crate) static PRUNE_DELIVERIES: Text = Text::new(|| {
    "DELETE FROM webhook_delivery WHERE id > $1 AND id <= $2
   AND state IN ('DELIVERED', 'FAILED') AND updated_at < $3"
        .into()
});

/// `$1` the cursor, `$2` the page's last id, `$3` the cutoff. The waiting deliveries are read
/// through the outbox's partial indexes (the states are literals).
pub(crate) static PRUNE_EVENTS: Text = Text::new(|| {
    "DELETE FROM event WHERE id > $1 AND id <= $2 AND created_at < $3
   AND id NOT IN (
     SELECT event_id FROM webhook_delivery
     WHERE state = 'PENDING' AND event_id > $1 AND event_id <= $2
     UNION ALL
     SELECT event_id FROM webhook_delivery
     WHERE state = 'IN_FLIGHT' AND event_id > $1 AND event_id <= $2)"
        .into()
});

/// Each table's rows, counted.
pub(crate) const TABLE_ROWS: &str =
    "SELECT (SELECT COUNT(*) FROM webhook_delivery) AS webhook_delivery, \
     (SELECT COUNT(*) FROM webhook_attempt) AS webhook_attempt, \
     (SELECT COUNT(*) FROM event) AS event";

/// The last id of an organization's next page: `$1` the organization, `$2` the cursor, `$3` the
/// page size.
pub(crate) static ERASE_PAGE: Text = Text::new(|| {
    "SELECT CAST(MAX(id) AS BIGINT) AS hi FROM (SELECT id FROM webhook_delivery
   WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3) AS p"
        .into()
});

/// What a page's erasure touches: `$1` the organization, `$2` the cursor, `$3` the page's last
/// id, `$4` created before, `$5` the repository or NULL.
const ERASABLE: &str = "org_id = $1 AND id > $2 AND id <= $3 AND created_at < $4
   AND state IN ('DELIVERED', 'FAILED') AND erased_at IS NULL
   AND ($5 IS NULL OR repository_id = $5)";

/// The attempts' response excerpts and headers of a page's erasable deliveries (before those
/// are erased).
pub(crate) static ERASE_EXCERPTS: Text = Text::new(|| {
    format!(
        "UPDATE webhook_attempt SET response_excerpt = NULL, response_headers = NULL
   WHERE (response_excerpt IS NOT NULL OR response_headers IS NOT NULL)
   AND delivery_id IN (SELECT id FROM webhook_delivery WHERE {ERASABLE})"
    )
});

/// A page's erasable deliveries; `$6` now.
pub(crate) static ERASE: Text = Text::new(|| {
    format!(
        "UPDATE webhook_delivery SET body = '', last_response = NULL, erased_at = $6
   WHERE {ERASABLE}"
    )
});
