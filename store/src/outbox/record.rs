//! Recording attempts and their deliveries' next state, fenced by the lease token: a worker whose
//! lease expired and was claimed again cannot overwrite the newer claim's outcome (its attempt is
//! still recorded). On PostgreSQL a batch goes in as two JSON parameters, so the statement text
//! is the same for any batch size and is prepared once per connection; on SQLite as values, one
//! text per size (`sqlite::outbox::record`). A record may claim the next rows in the same
//! statement (PostgreSQL) or round trip (SQLite): one commit per delivery cycle.

use std::collections::HashSet;
use std::ops::Range;

use buildhooks_entity::{webhook_delivery, webhook_endpoint};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, QueryResult, Statement, Value};
use serde::Serialize;

use super::claim::{claim_sqlite, params};
use crate::dialect::Dialect;
use crate::{postgres, sqlite, Db, Result};

/// One attempt to write to `webhook_attempt`.
#[derive(Serialize)]
pub struct AttemptRow<'a> {
    pub delivery_id: i64,
    pub number: i32,
    pub started_at: i64,
    pub duration_ms: i64,
    pub status: Option<u16>,
    pub error: Option<&'a str>,
    pub response_excerpt: Option<&'a str>,
    /// The answer's headers as a JSON object (see the migration `attempt_headers`).
    pub response_headers: Option<&'a str>,
}

/// A delivery's state after an attempt, applied if it still holds lease `token`.
#[derive(Serialize)]
pub struct OutcomeRow<'a> {
    pub id: i64,
    pub token: &'a str,
    pub state: &'a str,
    pub attempt_count: i32,
    pub round_attempts: i32,
    pub next_attempt_at: i64,
    pub last_status: Option<u16>,
    pub last_duration_ms: i64,
    pub last_response: Option<&'a str>,
    pub updated_at: i64,
}

/// A claim made in a record cycle: up to `limit` due rows for `lease_ms`, leaving out the
/// endpoints and organizations without a free share (`filter`, see `claim::UNLIMITED`).
#[derive(Clone, Copy, Debug)]
pub struct Next<'a> {
    pub limit: u64,
    pub lease_ms: i64,
    pub filter: &'a str,
}

/// Rows claimed in a cycle, with their lease token and, when the cycle read them, their
/// endpoints.
pub struct Claimed {
    pub rows: Vec<webhook_delivery::Model>,
    pub token: String,
    pub endpoints: Option<Vec<webhook_endpoint::Model>>,
}

impl Claimed {
    fn new(token: String) -> Self {
        Claimed {
            rows: Vec::new(),
            token,
            endpoints: Some(Vec::new()),
        }
    }

    /// Keeps the endpoint in a row's `e_` columns, once.
    fn endpoint(&mut self, row: &QueryResult) -> Result<()> {
        let Some(id) = row.try_get::<Option<i32>>("e_", "id")? else {
            return Ok(());
        };
        let known = self.endpoints.get_or_insert_with(Vec::new);
        if known.iter().all(|e| e.id != id) {
            known.push(webhook_endpoint::Model::from_query_result(row, "e_")?);
        }
        Ok(())
    }
}

/// Writes `attempts` and applies `outcomes` and, when `next` is given, claims due rows in the
/// same statement or transaction, with their endpoints. Returns the ids whose outcome was
/// applied (the others lost their lease) and the claim.
pub async fn record(
    db: &Db,
    attempts: &[AttemptRow<'_>],
    outcomes: &[OutcomeRow<'_>],
    next: Option<Next<'_>>,
) -> Result<(HashSet<i64>, Option<Claimed>)> {
    let next = next.filter(|n| n.limit > 0);
    if outcomes.is_empty() && next.is_none() {
        return Ok((HashSet::new(), None));
    }
    if db.dialect() == Dialect::Sqlite {
        return cycle_sqlite(db, attempts, outcomes, next).await;
    }
    // Plain structs and strings: serializing them cannot fail.
    let batch = [
        Value::from(serde_json::to_string(attempts).unwrap_or_default()),
        Value::from(serde_json::to_string(outcomes).unwrap_or_default()),
    ];
    // One statement: its own transaction, no BEGIN and COMMIT round trips.
    match next {
        None => Ok((apply_postgres(db, batch).await?, None)),
        Some(next) => cycle_postgres(db, batch, next).await,
    }
}

/// PostgreSQL: the attempts, the outcomes and the claim as one statement, atomic on its own.
async fn cycle_postgres(
    db: &Db,
    batch: [Value; 2],
    next: Next<'_>,
) -> Result<(HashSet<i64>, Option<Claimed>)> {
    let (claim, token) = params(next.limit, next.lease_ms, next.filter);
    let mut values = Vec::from(batch);
    values.extend(claim);
    // Prepared once per connection, unlike the record-only statement: planning this one each
    // time cost a third of the dispatch throughput. It runs under a backlog, when the outbox
    // is large and its statistics current.
    let rows = db
        .conn()
        .query_all(Statement::from_sql_and_values(
            db.dialect().backend(),
            postgres::outbox::CYCLE.as_str(),
            values,
        ))
        .await?;
    let mut applied = HashSet::new();
    let mut claimed = Claimed::new(token);
    for (i, row) in rows.iter().enumerate() {
        if i == 0 {
            let ids: Option<serde_json::Value> = row.try_get("", "applied_ids")?;
            if let Some(ids) = ids {
                applied = serde_json::from_value(ids)
                    .map_err(|e| DbErr::Custom(format!("applied ids: {e}")))?;
            }
        }
        if row.try_get::<Option<i64>>("", "id")?.is_some() {
            claimed
                .rows
                .push(webhook_delivery::Model::from_query_result(row, "")?);
            claimed.endpoint(row)?;
        }
    }
    Ok((applied, Some(claimed)))
}

/// SQLite: the attempts, the outcomes, the claim and the claimed rows' endpoints as one write
/// of the next batch (`sqlite::batch`), their values bound as they are (`sqlite::outbox::record`);
/// past `MOST_RECORDED` of them, in several writes, the last with the claim. The outcomes come
/// back as `applied_id` rows, the endpoints with their `e_` columns, between them the claimed
/// rows.
async fn cycle_sqlite(
    db: &Db,
    attempts: &[AttemptRow<'_>],
    outcomes: &[OutcomeRow<'_>],
    next: Option<Next<'_>>,
) -> Result<(HashSet<i64>, Option<Claimed>)> {
    use sqlite::outbox::MOST_RECORDED;
    if outcomes.is_empty() {
        let claimed = match next {
            Some(n) => {
                let (values, token) = params(n.limit, n.lease_ms, n.filter);
                Some(Claimed {
                    rows: claim_sqlite(db, values).await?,
                    token,
                    endpoints: None,
                })
            }
            None => None,
        };
        return Ok((HashSet::new(), claimed));
    }
    let writes = parts(attempts.len(), outcomes.len(), MOST_RECORDED);
    let last = writes.len() - 1;
    let mut applied = HashSet::new();
    let mut claimed = None;
    for (i, (a, o)) in writes.into_iter().enumerate() {
        let (attempts, outcomes) = (&attempts[a], &outcomes[o]);
        let rows = attempts.len().max(outcomes.len());
        let next = next.filter(|_| i == last);
        let mut values = recorded(attempts, outcomes);
        if let Some(n) = next {
            let (claim, token) = params(n.limit, n.lease_ms, n.filter);
            values.extend(claim);
            claimed = Some(Claimed::new(token));
        }
        let sql = sqlite::outbox::record(rows, next.is_some());
        let rows = db.batches()?.query(db, &sql, values).await?;
        // sea-orm reads a column a row does not have as NULL: each kind has its own non-null
        // column.
        for row in &rows {
            if let Some(id) = row.try_get::<Option<i64>>("", "applied_id")? {
                applied.insert(id);
            } else if let Some(claimed) = claimed.as_mut() {
                if row.try_get::<Option<i32>>("e_", "id")?.is_some() {
                    claimed.endpoint(row)?;
                } else {
                    claimed
                        .rows
                        .push(webhook_delivery::Model::from_query_result(row, "")?);
                }
            }
        }
    }
    Ok((applied, claimed))
}

/// The attempts and outcomes of each record write, `most` of each at most (at least one write).
fn parts(attempts: usize, outcomes: usize, most: usize) -> Vec<(Range<usize>, Range<usize>)> {
    let part = |rows: usize, i: usize| {
        let start = rows.min(i * most);
        start..rows.min(start + most)
    };
    let writes = attempts.max(outcomes).div_ceil(most).max(1);
    (0..writes)
        .map(|i| (part(attempts, i), part(outcomes, i)))
        .collect()
}

/// The values of a record write's text (`sqlite::outbox::record`): each attempt's, then each
/// outcome's, in its columns' order, each list filled with NULLs to the text's rows.
fn recorded(attempts: &[AttemptRow<'_>], outcomes: &[OutcomeRow<'_>]) -> Vec<Value> {
    use sqlite::outbox::{padded, ATTEMPT_WIDTH, OUTCOME_WIDTH};
    let rows = padded(attempts.len().max(outcomes.len()));
    let text = |s: Option<&str>| Value::String(s.map(|s| Box::new(s.to_owned())));
    let status = |s: Option<u16>| Value::Int(s.map(i32::from));
    let mut values = Vec::with_capacity(rows * (ATTEMPT_WIDTH + OUTCOME_WIDTH) + 5);
    for a in attempts {
        values.extend([
            Value::from(a.delivery_id),
            Value::from(a.number),
            Value::from(a.started_at),
            Value::from(a.duration_ms),
            status(a.status),
            text(a.error),
            text(a.response_excerpt),
            text(a.response_headers),
        ]);
    }
    values.resize(rows * ATTEMPT_WIDTH, Value::BigInt(None));
    for o in outcomes {
        values.extend([
            Value::from(o.id),
            Value::from(o.token),
            Value::from(o.state),
            Value::from(o.attempt_count),
            Value::from(o.round_attempts),
            Value::from(o.next_attempt_at),
            status(o.last_status),
            Value::from(o.last_duration_ms),
            text(o.last_response),
            Value::from(o.updated_at),
        ]);
    }
    values.resize(rows * (ATTEMPT_WIDTH + OUTCOME_WIDTH), Value::BigInt(None));
    values
}

/// PostgreSQL: inserts the attempts and applies the outcomes in one statement.
async fn apply_postgres(db: &Db, batch: [Value; 2]) -> Result<HashSet<i64>> {
    let rows = db
        .conn()
        .query_all(Statement::from_sql_and_values(
            db.dialect().backend(),
            postgres::outbox::RECORD.as_str(),
            batch,
        ))
        .await?;
    rows.iter()
        .map(|row: &QueryResult| row.try_get_by_index::<i64>(0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parts;

    #[test]
    fn records_past_the_most_go_in_several_writes_each_row_once() {
        assert_eq!(parts(3, 3, 256), [(0..3, 0..3)]);
        assert_eq!(parts(0, 0, 256), [(0..0, 0..0)]);
        assert_eq!(
            parts(600, 520, 256),
            [(0..256, 0..256), (256..512, 256..512), (512..600, 512..520)]
        );
        assert_eq!(parts(10, 300, 256), [(0..10, 0..256), (10..10, 256..300)]);
    }
}
