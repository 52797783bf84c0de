//! SQLite's outbox statements: the claim, the next due time, giving rows back, and the record
//! cycle (attempts, outcomes and the next claim as one multi-statement text per size), the
//! writes each run by SQLite's writer thread in the next batch (`batch`).

use std::sync::{Arc, LazyLock, OnceLock};

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

/// Most attempts and outcomes one record write takes; more are written in several
/// (`outbox::record`). At 18 values a row, 256 rows stay far below SQLite's 32,766 parameters.
pub(crate) const MOST_RECORDED: usize = 256;

/// The attempts' columns, in the order their values are bound (`outbox::record`).
const ATTEMPT_COLUMNS: [&str; 8] = [
    "delivery_id",
    "number",
    "started_at",
    "duration_ms",
    "status",
    "error",
    "response_excerpt",
    "response_headers",
];

/// The outcomes' values after the delivery's id and lease token, in the order bound.
const OUTCOME_COLUMNS: [&str; 8] = [
    "state",
    "attempt_count",
    "round_attempts",
    "next_attempt_at",
    "last_status",
    "last_duration_ms",
    "last_response",
    "updated_at",
];

/// Values bound per attempt and per outcome (its id and lease token first).
pub(crate) const ATTEMPT_WIDTH: usize = ATTEMPT_COLUMNS.len();
pub(crate) const OUTCOME_WIDTH: usize = OUTCOME_COLUMNS.len() + 2;

/// SQLite: `rows` attempts, then `rows` outcomes, as plain `?` values (`rows` a power of two,
/// the unused rows all NULL and matching nothing), and with `claim` the claim after them
/// (numbered) and the claimed rows' endpoints: one write of the next batch. The values were
/// JSON arrays taken apart by SQLite's JSON functions, about a tenth of the writer thread
/// (README, "SQLite: the records bound as values"); each size's text is made once.
pub(crate) fn record(rows: usize, claim: bool) -> Arc<str> {
    const SIZES: usize = MOST_RECORDED.trailing_zeros() as usize + 1;
    static TEXTS: [[OnceLock<Arc<str>>; 2]; SIZES] =
        [const { [const { OnceLock::new() }, const { OnceLock::new() }] }; SIZES];
    let rows = padded(rows).min(MOST_RECORDED);
    TEXTS[rows.trailing_zeros() as usize][usize::from(claim)]
        .get_or_init(|| record_text(rows, claim).into())
        .clone()
}

/// The rows of the record text for `rows` attempts or outcomes (the values padded to it).
pub(crate) fn padded(rows: usize) -> usize {
    rows.max(1).next_power_of_two()
}

fn record_text(rows: usize, claim: bool) -> String {
    let values = |width: usize| {
        let row = format!("({})", vec!["?"; width].join(", "));
        vec![row; rows].join(", ")
    };
    let columns = |n: usize| (1..=n).map(|i| format!("column{i}")).collect::<Vec<_>>();
    let mut sql = format!(
        "INSERT INTO webhook_attempt ({}) SELECT {} FROM (VALUES {}) WHERE column1 IS NOT NULL;\n",
        ATTEMPT_COLUMNS.join(", "),
        columns(ATTEMPT_WIDTH).join(", "),
        values(ATTEMPT_WIDTH)
    );
    let set: Vec<String> = OUTCOME_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = u.column{}", i + 3))
        .collect();
    sql.push_str(&format!(
        "UPDATE webhook_delivery SET {}, lease_until = NULL, lease_token = NULL \
         FROM (VALUES {}) AS u \
         WHERE webhook_delivery.id = u.column1 AND webhook_delivery.lease_token = u.column2 \
         RETURNING webhook_delivery.id AS applied_id",
        set.join(", "),
        values(OUTCOME_WIDTH)
    ));
    if claim {
        // The claim's `?1` to `?5` after the records' values; the claimed rows' endpoints
        // found through the in-flight rows holding its lease token (its `?2`), a walk of the
        // in-flight index.
        let before = rows * (ATTEMPT_WIDTH + OUTCOME_WIDTH);
        sql.push_str(&format!(
            ";\n{};\nSELECT {} FROM webhook_endpoint AS e WHERE e.id IN (SELECT endpoint_id \
             FROM webhook_delivery WHERE state = 'IN_FLIGHT' AND lease_token = ?{})",
            renumber(&CLAIM, '?', before + 1),
            aliased::<webhook_endpoint::Column>("e", "e_").join(", "),
            before + 2
        ));
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_text_binds_its_rows_then_numbers_the_claim_after_them() {
        let sql = record_text(2, true);
        let plain = sql.matches("?,").count() + sql.matches("?)").count();
        assert_eq!(plain, 2 * (ATTEMPT_WIDTH + OUTCOME_WIDTH));
        let before = 2 * (ATTEMPT_WIDTH + OUTCOME_WIDTH);
        for n in 1..=5 {
            assert!(
                sql.contains(&format!("?{}", before + n)),
                "?{n} of the claim"
            );
        }
        assert!(!sql.contains(&format!("?{}", before + 6)));
        assert!(sql.ends_with(&format!("lease_token = ?{})", before + 2)));
        assert!(!record_text(2, false).contains("webhook_endpoint"));
    }

    #[test]
    fn record_texts_are_made_once_per_power_of_two() {
        assert!(Arc::ptr_eq(&record(3, false), &record(4, false)));
        assert!(Arc::ptr_eq(&record(0, true), &record(1, true)));
        assert!(!Arc::ptr_eq(&record(4, false), &record(5, false)));
        assert!(Arc::ptr_eq(
            &record(MOST_RECORDED, false),
            &record(MOST_RECORDED * 4, false)
        ));
    }
}
