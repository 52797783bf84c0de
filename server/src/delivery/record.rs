//! Recording an attempt and the delivery's next state (DELIVERED, PENDING for the single retry,
//! or FAILED). The update is fenced by the lease token: a worker whose lease expired and was
//! claimed again cannot overwrite the newer claim's outcome (its attempt is still recorded).

use std::collections::HashSet;
use std::time::Duration;

use backoff::backoff::Backoff;
use buildhooks_entity::webhook_delivery;
use buildhooks_schema::clock::now_ms;
use buildhooks_schema::webhook::outbox::state;
use buildhooks_schema::{Result, Store};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use serde_json::json;

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

/// PostgreSQL: attempts and outcomes in one statement, atomic on its own.
const RECORD_POSTGRES: &str = "WITH attempts AS (INSERT INTO webhook_attempt \
 (delivery_id, number, started_at, duration_ms, status, error, response_excerpt) \
 SELECT delivery_id, number, started_at, duration_ms, status, error, response_excerpt \
 FROM json_to_recordset($1::json) AS a(delivery_id int, number int, started_at bigint, \
 duration_ms bigint, status int, error text, response_excerpt text)) \
 UPDATE webhook_delivery AS d SET state = v.state, \
 attempt_count = v.attempt_count, round_attempts = v.round_attempts, \
 next_attempt_at = v.next_attempt_at, lease_until = NULL, lease_token = NULL, \
 last_status = v.last_status, last_duration_ms = v.last_duration_ms, \
 last_response = v.last_response, updated_at = v.updated_at \
 FROM json_to_recordset($2::json) AS v(id int, token text, state text, attempt_count int, \
 round_attempts int, next_attempt_at bigint, last_status int, last_duration_ms bigint, \
 last_response text, updated_at bigint) \
 WHERE d.id = v.id AND d.lease_token = v.token RETURNING d.id";

/// SQLite: the attempts, then the outcomes, in the caller's transaction.
const INSERT_ATTEMPTS_SQLITE: &str = "INSERT INTO webhook_attempt \
 (delivery_id, number, started_at, duration_ms, status, error, response_excerpt) \
 SELECT value ->> 'delivery_id', value ->> 'number', value ->> 'started_at', \
 value ->> 'duration_ms', value ->> 'status', value ->> 'error', value ->> 'response_excerpt' \
 FROM json_each(?1)";
const APPLY_SQLITE: &str = "UPDATE webhook_delivery SET state = v.state, \
 attempt_count = v.attempt_count, round_attempts = v.round_attempts, \
 next_attempt_at = v.next_attempt_at, lease_until = NULL, lease_token = NULL, \
 last_status = v.last_status, last_duration_ms = v.last_duration_ms, \
 last_response = v.last_response, updated_at = v.updated_at \
 FROM (SELECT value ->> 'id' AS id, value ->> 'token' AS token, value ->> 'state' AS state, \
 value ->> 'attempt_count' AS attempt_count, value ->> 'round_attempts' AS round_attempts, \
 value ->> 'next_attempt_at' AS next_attempt_at, value ->> 'last_status' AS last_status, \
 value ->> 'last_duration_ms' AS last_duration_ms, \
 value ->> 'last_response' AS last_response, value ->> 'updated_at' AS updated_at \
 FROM json_each(?1)) AS v \
 WHERE webhook_delivery.id = v.id AND webhook_delivery.lease_token = v.token \
 RETURNING webhook_delivery.id";

/// A statement whose parameters are JSON documents.
fn with_json(backend: DbBackend, sql: &str, params: &[&serde_json::Value]) -> Statement {
    Statement::from_sql_and_values(
        backend,
        sql,
        params.iter().map(|p| Value::from(p.to_string())),
    )
}

/// Records many attempts in one transaction (the dispatcher batches what finished together).
pub async fn record_batch(
    store: &Store,
    jobs: &[Job<'_>],
    base_delay: Duration,
) -> Result<Vec<Verdict>> {
    Ok(record_then_claim(store, jobs, base_delay, None).await?.0)
}

/// Rows claimed with their lease token.
pub type Claimed = (Vec<webhook_delivery::Model>, String);

/// Records `jobs` and, when `next` (limit, lease in ms) is given, claims up to `limit` due rows
/// in the same transaction: one commit per delivery cycle instead of two.
pub async fn record_then_claim(
    store: &Store,
    jobs: &[Job<'_>],
    base_delay: Duration,
    next: Option<(u64, i64)>,
) -> Result<(Vec<Verdict>, Option<Claimed>)> {
    let next = next.filter(|(limit, _)| *limit > 0);
    if jobs.is_empty() && next.is_none() {
        return Ok((Vec::new(), None));
    }
    if next.is_none() && store.backend() == DbBackend::Postgres {
        // One statement: its own transaction, no BEGIN and COMMIT round trips.
        return Ok((apply(store.conn(), jobs, base_delay).await?, None));
    }
    let w = store.begin_write_priority().await?;
    let verdicts = apply(w.txn(), jobs, base_delay).await?;
    let claimed = match next {
        Some((limit, lease_ms)) => Some(super::claim::claim_in(w.txn(), limit, lease_ms).await?),
        None => None,
    };
    w.commit().await?;
    Ok((verdicts, claimed))
}

/// Inserts the attempts and applies the outcomes (PostgreSQL: in one statement).
async fn apply(
    db: &impl ConnectionTrait,
    jobs: &[Job<'_>],
    base_delay: Duration,
) -> Result<Vec<Verdict>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let now = now_ms();
    let backend = db.get_database_backend();
    let attempts: Vec<serde_json::Value> = jobs
        .iter()
        .map(|job| {
            json!({
                "delivery_id": job.delivery.id,
                "number": job.delivery.attempt_count + 1,
                "started_at": job.outcome.started_at,
                "duration_ms": job.outcome.duration_ms,
                "status": job.outcome.status,
                "error": job.outcome.error,
                "response_excerpt": job.outcome.excerpt,
            })
        })
        .collect();
    let planned: Vec<(Verdict, &'static str, i64)> = jobs
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
            (verdict, next_state, next_at)
        })
        .collect();
    let outcomes: Vec<serde_json::Value> = jobs
        .iter()
        .zip(&planned)
        .map(|(job, (_, next_state, next_at))| {
            let outcome = job.outcome;
            json!({
                "id": job.delivery.id,
                "token": job.token,
                "state": next_state,
                "attempt_count": job.delivery.attempt_count + 1,
                "round_attempts": job.delivery.round_attempts + 1,
                "next_attempt_at": next_at,
                "last_status": outcome.status,
                "last_duration_ms": outcome.duration_ms,
                "last_response": outcome.excerpt.as_deref().or(outcome.error),
                "updated_at": now,
            })
        })
        .collect();
    let (attempts, outcomes) = (attempts.into(), outcomes.into());
    let rows = match backend {
        DbBackend::Postgres => {
            db.query_all(with_json(backend, RECORD_POSTGRES, &[&attempts, &outcomes]))
                .await?
        }
        _ => {
            db.execute(with_json(backend, INSERT_ATTEMPTS_SQLITE, &[&attempts]))
                .await?;
            db.query_all(with_json(backend, APPLY_SQLITE, &[&outcomes]))
                .await?
        }
    };
    let applied: HashSet<i32> = rows
        .iter()
        .map(|row| row.try_get_by_index::<i32>(0))
        .collect::<std::result::Result<_, _>>()?;
    let verdicts = jobs
        .iter()
        .zip(planned)
        .map(|(job, (verdict, _, _))| {
            if applied.contains(&job.delivery.id) {
                verdict
            } else {
                tracing::warn!(delivery = %job.delivery.uuid, "lease lost to a newer claim; outcome not applied");
                Verdict::Stale
            }
        })
        .collect();
    Ok(verdicts)
}
