//! Recording an attempt and the delivery's next state (DELIVERED, PENDING for the single retry,
//! or FAILED). The update is fenced by the lease token: a worker whose lease expired and was
//! claimed again cannot overwrite the newer claim's outcome (its attempt is still recorded).

use std::collections::HashSet;
use std::sync::LazyLock;
use std::time::Duration;

use backoff::backoff::Backoff;
use buildhooks_entity::{webhook_delivery, webhook_endpoint};
use buildhooks_schema::clock::now_ms;
use buildhooks_schema::webhook::outbox::state;
use buildhooks_schema::{Result, Store};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, FromQueryResult, QueryResult, Statement, Value,
};
use serde::Serialize;

use super::attempt::Outcome;

/// Attempts per round (the first and the single retry).
pub const ATTEMPTS_PER_ROUND: i32 = 2;

/// The delay before the retry: `base` jittered by +/-20% (the `backoff` crate's randomisation).
pub fn retry_delay(base: Duration) -> Duration {
    let mut policy = backoff::ExponentialBackoffBuilder::new()
        .with_initial_interval(base)
        .with_randomization_factor(0.2)
        .with_multiplier(1.0)
        .with_max_elapsed_time(None)
        .build();
    policy.next_backoff().unwrap_or(base)
}

/// What happened to the delivery after this attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    Retry,
    Failed,
    /// The lease was lost to a newer claim; nothing was changed but the attempt log.
    Stale,
}

/// One attempt to record.
pub struct Job<'a> {
    pub delivery: &'a webhook_delivery::Model,
    pub token: &'a str,
    pub outcome: &'a Outcome,
    pub allow_retry: bool,
}

fn verdict_of(job: &Job<'_>) -> Verdict {
    let round = job.delivery.round_attempts + 1;
    if job.outcome.is_success() {
        Verdict::Delivered
    } else if job.allow_retry && job.outcome.is_retryable() && round < ATTEMPTS_PER_ROUND {
        Verdict::Retry
    } else {
        Verdict::Failed
    }
}

/// Records `outcome` for `delivery` claimed with `token`.
pub async fn record(
    store: &Store,
    delivery: &webhook_delivery::Model,
    token: &str,
    outcome: &Outcome,
    base_delay: Duration,
    allow_retry: bool,
) -> Result<Verdict> {
    let job = Job {
        delivery,
        token,
        outcome,
        allow_retry,
    };
    let verdicts = record_batch(store, &[job], base_delay).await?;
    Ok(verdicts.first().copied().unwrap_or(Verdict::Stale))
}

// A batch is two JSON parameters (its attempts, its outcomes), so the statement text is the
// same for any batch size and the database prepares it once per connection. Each outcome is
// applied to its delivery fenced by the lease token; the ids changed come back (a row whose lease
// was lost is left alone, its attempt still recorded).

/// PostgreSQL: the attempts (`$1`) as a CTE.
const ATTEMPTS_POSTGRES: &str = "INSERT INTO webhook_attempt \
 (delivery_id, number, started_at, duration_ms, status, error, response_excerpt) \
 SELECT delivery_id, number, started_at, duration_ms, status, error, response_excerpt \
 FROM json_to_recordset($1::json) AS a(delivery_id int, number int, started_at bigint, \
 duration_ms bigint, status int, error text, response_excerpt text)";
/// PostgreSQL: the outcomes (`$2`), returning the ids they changed. The rows are looked up by
/// `id = ANY(...)`: PostgreSQL guesses that a JSON function returns 100 rows and, with the
/// statistics of a young or fast-growing table, joined them to a scan of the whole outbox (seen
/// in the e2e benchmark: every record read every row, and its cost grew with the table).
const APPLY_POSTGRES: &str = "UPDATE webhook_delivery AS d SET state = v.state, \
 attempt_count = v.attempt_count, round_attempts = v.round_attempts, \
 next_attempt_at = v.next_attempt_at, lease_until = NULL, lease_token = NULL, \
 last_status = v.last_status, last_duration_ms = v.last_duration_ms, \
 last_response = v.last_response, updated_at = v.updated_at \
 FROM json_to_recordset($2::json) AS v(id int, token text, state text, attempt_count int, \
 round_attempts int, next_attempt_at bigint, last_status int, last_duration_ms bigint, \
 last_response text, updated_at bigint) \
 WHERE d.id = ANY (ARRAY(SELECT (o ->> 'id')::int FROM json_array_elements($2::json) AS o)) \
 AND d.id = v.id AND d.lease_token = v.token RETURNING d.id";

/// PostgreSQL: attempts and outcomes in one statement, atomic on its own.
static RECORD_POSTGRES: LazyLock<String> =
    LazyLock::new(|| format!("WITH attempts AS ({ATTEMPTS_POSTGRES}) {APPLY_POSTGRES}"));

/// PostgreSQL: a whole cycle in one statement (attempts, outcomes, then the claim from `$3`).
/// All parts see the snapshot from before the statement: a row being recorded is IN_FLIGHT
/// there, so only the expired-lease part could pick it, and it is excluded from that. One row
/// comes back even when nothing is claimed: the applied ids as JSON, beside each claimed row.
static CYCLE_POSTGRES: LazyLock<String> = LazyLock::new(|| {
    let exclude = " AND NOT EXISTS (SELECT 1 FROM json_to_recordset($2::json) AS x(id int) \
                   WHERE x.id = webhook_delivery.id)";
    format!(
        "WITH attempts AS ({ATTEMPTS_POSTGRES}), recorded AS ({APPLY_POSTGRES}), {} \
         SELECT c.*, r.applied_ids, {} \
         FROM (SELECT json_agg(id) AS applied_ids FROM recorded) AS r \
         LEFT JOIN claimed AS c ON true LEFT JOIN webhook_endpoint AS e ON e.id = c.endpoint_id",
        super::claim::postgres_ctes(3, exclude),
        endpoint_columns()
    )
});

/// SQLite: the attempts, then the outcomes, in the caller's transaction. Each batch element is
/// taken out of its JSON array once (`MATERIALIZED`): read field by field from `json_each`, it
/// was turned back into text for every field, a third of the dispatcher's instructions.
const INSERT_ATTEMPTS_SQLITE: &str = "WITH a(v) AS MATERIALIZED (SELECT value FROM json_each(?1)) \
 INSERT INTO webhook_attempt \
 (delivery_id, number, started_at, duration_ms, status, error, response_excerpt) \
 SELECT v ->> 'delivery_id', v ->> 'number', v ->> 'started_at', v ->> 'duration_ms', \
 v ->> 'status', v ->> 'error', v ->> 'response_excerpt' FROM a";
const APPLY_SQLITE: &str = "WITH o(v) AS MATERIALIZED (SELECT value FROM json_each(?2)) \
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
static RECORD_SQLITE: LazyLock<String> =
    LazyLock::new(|| format!("{INSERT_ATTEMPTS_SQLITE};\n{APPLY_SQLITE}"));
static RECORD_AND_CLAIM_SQLITE: LazyLock<String> = LazyLock::new(|| {
    // The claimed rows' endpoints: found through the in-flight rows holding this lease token
    // (`?4`), a walk of the in-flight index.
    format!(
        "{};\n{};\nSELECT {} FROM webhook_endpoint AS e WHERE e.id IN (SELECT endpoint_id \
         FROM webhook_delivery WHERE state = 'IN_FLIGHT' AND lease_token = ?4)",
        *RECORD_SQLITE,
        super::claim::sqlite_from(3),
        endpoint_columns()
    )
});

/// Records many attempts in one transaction (the dispatcher batches what finished together).
pub async fn record_batch(
    store: &Store,
    jobs: &[Job<'_>],
    base_delay: Duration,
) -> Result<Vec<Verdict>> {
    Ok(record_then_claim(store, jobs, base_delay, None).await?.0)
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

/// The endpoint columns under `e_`.
fn endpoint_columns() -> String {
    buildhooks_schema::store::aliased::<webhook_endpoint::Column>("e", "e_").join(", ")
}

/// A claim made in a record cycle: up to `limit` due rows for `lease_ms`, leaving out the
/// endpoints and organizations without a free share (`filter`, see `claim`).
#[derive(Clone, Copy, Debug)]
pub struct Next<'a> {
    pub limit: u64,
    pub lease_ms: i64,
    pub filter: &'a str,
}

/// Records `jobs` and, when `next` is given, claims due rows in the same transaction, with their
/// endpoints: one commit per delivery cycle.
pub async fn record_then_claim(
    store: &Store,
    jobs: &[Job<'_>],
    base_delay: Duration,
    next: Option<Next<'_>>,
) -> Result<(Vec<Verdict>, Option<Claimed>)> {
    let next = next.filter(|n| n.limit > 0);
    if jobs.is_empty() && next.is_none() {
        return Ok((Vec::new(), None));
    }
    if store.backend() == DbBackend::Postgres {
        // One statement: its own transaction, no BEGIN and COMMIT round trips.
        return match next {
            None => Ok((apply(store.conn(), jobs, base_delay).await?, None)),
            Some(next) => cycle_postgres(store.conn(), jobs, base_delay, next).await,
        };
    }
    let w = store.begin_write_priority().await?;
    let written = cycle_sqlite(w.txn(), jobs, base_delay, next).await?;
    w.commit().await?;
    Ok(written)
}

/// PostgreSQL: the attempts, the outcomes and the claim as one statement, atomic on its own.
async fn cycle_postgres(
    db: &DatabaseConnection,
    jobs: &[Job<'_>],
    base_delay: Duration,
    next: Next<'_>,
) -> Result<(Vec<Verdict>, Option<Claimed>)> {
    let plan = Plan::new(jobs, base_delay);
    let (claim, token) = super::claim::params(next.limit, next.lease_ms, next.filter);
    let mut values = plan.params();
    values.extend(claim);
    // Prepared once per connection, unlike the record-only statement: planning this one each
    // time cost a third of the dispatch throughput. It runs under a backlog, when the outbox
    // is large and its statistics current.
    let rows = db
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            CYCLE_POSTGRES.as_str(),
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
                    .map_err(|e| buildhooks_schema::Error::Internal(format!("applied ids: {e}")))?;
            }
        }
        if row.try_get::<Option<i32>>("", "id")?.is_some() {
            claimed
                .rows
                .push(webhook_delivery::Model::from_query_result(row, "")?);
            claimed.endpoint(row)?;
        }
    }
    Ok((plan.verdicts(jobs, &applied), Some(claimed)))
}

/// SQLite: the attempts, the outcomes, the claim and the claimed rows' endpoints as one
/// multi-statement round trip. The outcomes come back as `applied_id` rows, the endpoints with
/// their `e_` columns, between them the claimed rows.
async fn cycle_sqlite(
    db: &impl ConnectionTrait,
    jobs: &[Job<'_>],
    base_delay: Duration,
    next: Option<Next<'_>>,
) -> Result<(Vec<Verdict>, Option<Claimed>)> {
    if jobs.is_empty() {
        let claimed = match next {
            Some(n) => {
                let (rows, token) =
                    super::claim::claim_in(db, n.limit, n.lease_ms, n.filter).await?;
                Some(Claimed {
                    rows,
                    token,
                    endpoints: None,
                })
            }
            None => None,
        };
        return Ok((Vec::new(), claimed));
    }
    let plan = Plan::new(jobs, base_delay);
    let mut values = plan.params();
    let (sql, mut claimed) = match next {
        Some(n) => {
            let (claim, token) = super::claim::params(n.limit, n.lease_ms, n.filter);
            values.extend(claim);
            (RECORD_AND_CLAIM_SQLITE.as_str(), Some(Claimed::new(token)))
        }
        None => (RECORD_SQLITE.as_str(), None),
    };
    let backend = db.get_database_backend();
    let rows = db
        .query_all(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    let mut applied = HashSet::new();
    // sea-orm reads a column a row does not have as NULL: each kind has its own non-null column.
    for row in &rows {
        if let Some(id) = row.try_get::<Option<i32>>("", "applied_id")? {
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
    Ok((plan.verdicts(jobs, &applied), claimed))
}

/// PostgreSQL: inserts the attempts and applies the outcomes in one statement.
async fn apply(
    db: &DatabaseConnection,
    jobs: &[Job<'_>],
    base_delay: Duration,
) -> Result<Vec<Verdict>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let plan = Plan::new(jobs, base_delay);
    let rows = db
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            RECORD_POSTGRES.as_str(),
            plan.params(),
        ))
        .await?;
    let applied: HashSet<i32> = rows
        .iter()
        .map(|row: &QueryResult| row.try_get_by_index::<i32>(0))
        .collect::<std::result::Result<_, _>>()?;
    Ok(plan.verdicts(jobs, &applied))
}

/// A batch's attempts and outcomes as the JSON parameters of the record statements.
struct Plan {
    /// The attempts, as a JSON array (`?1` / `$1`).
    attempts: String,
    /// The outcomes, as a JSON array (`?2` / `$2`).
    outcomes: String,
    verdicts: Vec<Verdict>,
}

/// One attempt row, as the record statements read it from their first parameter.
#[derive(Serialize)]
struct AttemptRow<'a> {
    delivery_id: i32,
    number: i32,
    started_at: i64,
    duration_ms: i64,
    status: Option<u16>,
    error: Option<&'a str>,
    response_excerpt: Option<&'a str>,
}

/// One outcome, as the record statements read it from their second parameter.
#[derive(Serialize)]
struct OutcomeRow<'a> {
    id: i32,
    token: &'a str,
    state: &'a str,
    attempt_count: i32,
    round_attempts: i32,
    next_attempt_at: i64,
    last_status: Option<u16>,
    last_duration_ms: i64,
    last_response: Option<&'a str>,
    updated_at: i64,
}

impl Plan {
    fn new(jobs: &[Job<'_>], base_delay: Duration) -> Self {
        let now = now_ms();
        let attempts: Vec<AttemptRow<'_>> = jobs
            .iter()
            .map(|job| AttemptRow {
                delivery_id: job.delivery.id,
                number: job.delivery.attempt_count + 1,
                started_at: job.outcome.started_at,
                duration_ms: job.outcome.duration_ms,
                status: job.outcome.status,
                error: job.outcome.error_code(),
                response_excerpt: job.outcome.excerpt.as_deref(),
            })
            .collect();
        let mut verdicts = Vec::with_capacity(jobs.len());
        let outcomes: Vec<OutcomeRow<'_>> = jobs
            .iter()
            .map(|job| {
                let verdict = verdict_of(job);
                let (next_state, next_at) = match verdict {
                    Verdict::Delivered => (state::DELIVERED, now),
                    Verdict::Retry => (
                        state::PENDING,
                        now + retry_delay(base_delay).as_millis() as i64,
                    ),
                    _ => (state::FAILED, now),
                };
                verdicts.push(verdict);
                let outcome = job.outcome;
                OutcomeRow {
                    id: job.delivery.id,
                    token: job.token,
                    state: next_state,
                    attempt_count: job.delivery.attempt_count + 1,
                    round_attempts: job.delivery.round_attempts + 1,
                    next_attempt_at: next_at,
                    last_status: outcome.status,
                    last_duration_ms: outcome.duration_ms,
                    last_response: outcome.excerpt.as_deref().or(outcome.error_code()),
                    updated_at: now,
                }
            })
            .collect();
        // Plain structs and strings: serializing them cannot fail.
        Plan {
            attempts: serde_json::to_string(&attempts).unwrap_or_default(),
            outcomes: serde_json::to_string(&outcomes).unwrap_or_default(),
            verdicts,
        }
    }

    /// The attempts and the outcomes as the statements' first two parameters.
    fn params(&self) -> Vec<Value> {
        vec![
            Value::from(self.attempts.clone()),
            Value::from(self.outcomes.clone()),
        ]
    }

    /// Each job's verdict, `Stale` where the outcome was not applied (the lease was lost).
    fn verdicts(self, jobs: &[Job<'_>], applied: &HashSet<i32>) -> Vec<Verdict> {
        jobs.iter()
            .zip(self.verdicts)
            .map(|(job, verdict)| {
                if applied.contains(&job.delivery.id) {
                    verdict
                } else {
                    tracing::warn!(delivery = %job.delivery.uuid, "lease lost to a newer claim; outcome not applied");
                    Verdict::Stale
                }
            })
            .collect()
    }
}
