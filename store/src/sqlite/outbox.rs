//! SQLite's outbox statements: the claim, the next due time, giving rows back, and the record
//! cycle (attempts, outcomes and the next claim as one multi-statement text), the writes each
//! run by SQLite's writer thread in the next batch (`batch`).

use std::sync::{Arc, LazyLock};

use buildhooks_entity::webhook_endpoint;

use crate::outbox::turns::IN_TURN;
use crate::text::{aliased, renumber};

/// The claim (see `postgres::outbox` for what it takes), parameters `?1` to `?5`.
pub(crate) static CLAIM: LazyLock<Arc<str>> =
    LazyLock::new(|| CLAIM_TEXT.replace("{in_turn}", IN_TURN).into());
const CLAIM_TEXT: &str = "UPDATE webhook_delivery SET state = 'IN_FLIGHT', lease_until = ?1,
   lease_token = ?2, updated_at = ?3
 WHERE id IN (
   SELECT id FROM (SELECT id FROM webhook_delivery WHERE state = 'IN_FLIGHT' AND lease_until < ?3
       AND endpoint_id NOT IN (SELECT value FROM json_each(?5, '$.e'))
       AND org_id NOT IN (SELECT value FROM json_each(?5, '$.o'))
       AND {in_turn}
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
         AND {in_turn}
       ORDER BY next_attempt_at, id LIMIT ?4 * 2) AS w)
   WHERE turn <= room AND org_turn <= org_room ORDER BY turn, next_attempt_at LIMIT ?4)
   LIMIT ?4)
 RETURNING *";

/// The claim with its parameters numbered from `?{first}`: the record cycle appends it to its
/// own statements, so a record-and-claim cycle is one round trip to SQLite's thread.
fn claim_from(first: usize) -> String {
    renumber(&CLAIM, '?', first)
}

/// When the next claimable row becomes due, past the full endpoints and organizations of a
/// claim filter (`?1`).
pub(crate) static NEXT_DUE: LazyLock<String> =
    LazyLock::new(|| NEXT_DUE_TEXT.replace("{in_turn}", IN_TURN));
const NEXT_DUE_TEXT: &str = "SELECT MIN(due) AS due FROM (
   SELECT MIN(next_attempt_at) AS due FROM webhook_delivery WHERE state = 'PENDING'
     AND endpoint_id NOT IN (SELECT value FROM json_each(?1, '$.e'))
     AND org_id NOT IN (SELECT value FROM json_each(?1, '$.o'))
     AND {in_turn}
   UNION ALL
   SELECT MIN(lease_until) FROM webhook_delivery WHERE state = 'IN_FLIGHT'
     AND endpoint_id NOT IN (SELECT value FROM json_each(?1, '$.e'))
     AND org_id NOT IN (SELECT value FROM json_each(?1, '$.o'))) AS t";

/// Gives leased rows (`?2`, a JSON array of ids) of lease `?1` back to the outbox.
pub(crate) static RELEASE: LazyLock<Arc<str>> = LazyLock::new(|| {
    "UPDATE webhook_delivery SET state = 'PENDING', lease_until = NULL, lease_token = NULL \
     WHERE lease_token = ?1 AND id IN (SELECT value FROM json_each(?2))"
        .into()
});

/// SQLite: the attempts, then the outcomes, in the caller's transaction. Each batch element is
/// taken out of its JSON array once (`MATERIALIZED`): read field by field from `json_each`, it
/// was turned back into text for every field, a third of the dispatcher's instructions.
const INSERT_ATTEMPTS: &str = "WITH a(v) AS MATERIALIZED (SELECT value FROM json_each(?1)) \
 INSERT INTO webhook_attempt \
 (delivery_id, number, started_at, duration_ms, status, error, response_excerpt, \
 response_headers) \
 SELECT v ->> 'delivery_id', v ->> 'number', v ->> 'started_at', v ->> 'duration_ms', \
 v ->> 'status', v ->> 'error', v ->> 'response_excerpt', v ->> 'response_headers' FROM a";
const APPLY: &str = "WITH o(v) AS MATERIALIZED (SELECT value FROM json_each(?2)) \
 UPDATE webhook_delivery SET state = u.state, \
 attempt_count = u.attempt_count, round_attempts = u.round_attempts, \
 next_attempt_at = u.next_attempt_at, lease_until = NULL, lease_token = NULL, \
 last_status = u.last_status, last_duration_ms = u.last_duration_ms, \
 last_response = u.last_response, updated_at = u.updated_at \
 FROM (SELECT v ->> 'id' AS id, v ->> 'token' AS token, v ->> 'state' AS state, \
 v ->> 'attempt_count' AS attempt_count, v ->> 'round_attempts' AS round_attempts, \
 v ->> 'next_attempt_at' AS next_attempt_at, v ->> 'last_status' AS last_status, \
 v ->> 'last_duration_ms' AS last_duration_ms, \
 v ->> 'last_response' AS last_response, v ->> 'updated_at' AS updated_at FROM o) AS u \
 WHERE webhook_delivery.id = u.id AND webhook_delivery.lease_token = u.token \
 RETURNING webhook_delivery.id AS applied_id";

/// SQLite: attempts and outcomes (`?1`, `?2`) as one multi-statement text, one round trip to
/// SQLite's thread; with the claim appended (`?3` on), the whole cycle is one.
pub(crate) static RECORD: LazyLock<Arc<str>> =
    LazyLock::new(|| format!("{INSERT_ATTEMPTS};\n{APPLY}").into());
pub(crate) static RECORD_AND_CLAIM: LazyLock<Arc<str>> = LazyLock::new(|| {
    // The claimed rows' endpoints: found through the in-flight rows holding this lease token
    // (`?4`), a walk of the in-flight index.
    format!(
        "{};\n{};\nSELECT {} FROM webhook_endpoint AS e WHERE e.id IN (SELECT endpoint_id \
         FROM webhook_delivery WHERE state = 'IN_FLIGHT' AND lease_token = ?4)",
        *RECORD,
        claim_from(3),
        aliased::<webhook_endpoint::Column>("e", "e_").join(", ")
    )
    .into()
});
