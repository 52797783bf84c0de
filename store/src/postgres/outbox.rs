//! PostgreSQL's outbox statements: the claim (locking only the rows it picks, `SKIP LOCKED`), the
//! next due time, giving rows back, and the record cycle (attempts, outcomes and the next claim
//! in one statement, atomic on its own).

use std::sync::LazyLock;

use buildhooks_entity::webhook_endpoint;

use crate::outbox::turns::IN_TURN;
use crate::text::{aliased, renumber};

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
// The claim as CTEs ending in `claimed`, with `{exclude}` for rows the recorder
// writes in the same statement (one statement must not update a row twice).
const CLAIM_CTES: &str = "expired AS (
   SELECT id FROM webhook_delivery WHERE state = 'IN_FLIGHT' AND lease_until < $3{exclude}
     AND endpoint_id NOT IN (SELECT value::int FROM jsonb_array_elements_text($5::jsonb -> 'e'))
     AND org_id NOT IN (SELECT value::int FROM jsonb_array_elements_text($5::jsonb -> 'o'))
     AND {in_turn}
   ORDER BY lease_until LIMIT $4 FOR UPDATE SKIP LOCKED),
 window_rows AS (
   SELECT id, org_id, endpoint_id, next_attempt_at FROM webhook_delivery
   WHERE state = 'PENDING' AND next_attempt_at <= $3
     AND endpoint_id NOT IN (SELECT value::int FROM jsonb_array_elements_text($5::jsonb -> 'e'))
     AND org_id NOT IN (SELECT value::int FROM jsonb_array_elements_text($5::jsonb -> 'o'))
     AND {in_turn}
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

/// The claim: one statement, its own transaction.
pub(crate) static CLAIM: LazyLock<String> =
    LazyLock::new(|| format!("WITH {} SELECT * FROM claimed", claim_ctes(1, "")));

/// The claim's CTEs with parameters numbered from `${first}`, and `exclude` added to the
/// expired-lease condition.
fn claim_ctes(first: usize, exclude: &str) -> String {
    renumber(CLAIM_CTES, '$', first)
        .replace("{exclude}", exclude)
        .replace("{in_turn}", IN_TURN)
}

/// When the next claimable row becomes due, past the full endpoints and organizations of a
/// claim filter (`$1`).
pub(crate) static NEXT_DUE: LazyLock<String> =
    LazyLock::new(|| NEXT_DUE_TEXT.replace("{in_turn}", IN_TURN));
const NEXT_DUE_TEXT: &str = "SELECT MIN(due) AS due FROM (
   SELECT MIN(next_attempt_at) AS due FROM webhook_delivery WHERE state = 'PENDING'
     AND endpoint_id NOT IN (SELECT value::int FROM jsonb_array_elements_text($1::jsonb -> 'e'))
     AND org_id NOT IN (SELECT value::int FROM jsonb_array_elements_text($1::jsonb -> 'o'))
     AND {in_turn}
   UNION ALL
   SELECT MIN(lease_until) FROM webhook_delivery WHERE state = 'IN_FLIGHT'
     AND endpoint_id NOT IN (SELECT value::int FROM jsonb_array_elements_text($1::jsonb -> 'e'))
     AND org_id NOT IN (SELECT value::int FROM jsonb_array_elements_text($1::jsonb -> 'o'))) AS t";

/// Gives leased rows (`$2`, a JSON array of ids) of lease `$1` back to the outbox.
pub(crate) const RELEASE: &str =
    "UPDATE webhook_delivery SET state = 'PENDING', lease_until = NULL, \
                 lease_token = NULL WHERE lease_token = $1 AND id = ANY (ARRAY(SELECT \
                 value::bigint FROM json_array_elements_text($2::json)))";

// A batch is two JSON parameters (its attempts, its outcomes), so the statement text is the
// same for any batch size and the database prepares it once per connection. Each outcome is
// applied to its delivery fenced by the lease token; the ids changed come back (a row whose lease
// was lost is left alone, its attempt still recorded).

/// PostgreSQL: the attempts (`$1`) as a CTE.
const ATTEMPTS: &str = "INSERT INTO webhook_attempt \
 (delivery_id, number, started_at, duration_ms, status, error, response_excerpt, \
 response_headers) \
 SELECT delivery_id, number, started_at, duration_ms, status, error, response_excerpt, \
 response_headers \
 FROM json_to_recordset($1::json) AS a(delivery_id bigint, number int, started_at bigint, \
 duration_ms bigint, status int, error text, response_excerpt text, response_headers text)";
/// PostgreSQL: the outcomes (`$2`), returning the ids they changed. The rows are looked up by
/// `id = ANY(...)`: PostgreSQL guesses that a JSON function returns 100 rows and, with the
/// statistics of a young or fast-growing table, joined them to a scan of the whole outbox (seen
/// in the e2e benchmark: every record read every row, and its cost grew with the table).
const APPLY: &str = "UPDATE webhook_delivery AS d SET state = v.state, \
 attempt_count = v.attempt_count, round_attempts = v.round_attempts, \
 next_attempt_at = v.next_attempt_at, lease_until = NULL, lease_token = NULL, \
 last_status = v.last_status, last_duration_ms = v.last_duration_ms, \
 last_response = v.last_response, updated_at = v.updated_at \
 FROM json_to_recordset($2::json) AS v(id bigint, token text, state text, attempt_count int, \
 round_attempts int, next_attempt_at bigint, last_status int, last_duration_ms bigint, \
 last_response text, updated_at bigint) \
 WHERE d.id = ANY (ARRAY(SELECT (o ->> 'id')::bigint FROM json_array_elements($2::json) AS o)) \
 AND d.id = v.id AND d.lease_token = v.token RETURNING d.id";

/// PostgreSQL: attempts and outcomes in one statement, atomic on its own.
pub(crate) static RECORD: LazyLock<String> =
    LazyLock::new(|| format!("WITH attempts AS ({ATTEMPTS}) {APPLY}"));

/// PostgreSQL: a whole cycle in one statement (attempts, outcomes, then the claim from `$3`).
/// All parts see the snapshot from before the statement: a row being recorded is IN_FLIGHT
/// there, so only the expired-lease part could pick it, and it is excluded from that. One row
/// comes back even when nothing is claimed: the applied ids as JSON, beside each claimed row.
pub(crate) static CYCLE: LazyLock<String> = LazyLock::new(|| {
    let exclude = " AND NOT EXISTS (SELECT 1 FROM json_to_recordset($2::json) AS x(id bigint) \
                   WHERE x.id = webhook_delivery.id)";
    format!(
        "WITH attempts AS ({ATTEMPTS}), recorded AS ({APPLY}), {} \
         SELECT c.*, r.applied_ids, {} \
         FROM (SELECT json_agg(id) AS applied_ids FROM recorded) AS r \
         LEFT JOIN claimed AS c ON true LEFT JOIN webhook_endpoint AS e ON e.id = c.endpoint_id",
        claim_ctes(3, exclude),
        aliased::<webhook_endpoint::Column>("e", "e_").join(", ")
    )
});
