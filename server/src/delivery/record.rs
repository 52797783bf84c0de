//! Recording an attempt and the delivery's next state (DELIVERED, PENDING for the single retry,
//! or FAILED). The update is fenced by the lease token: a worker whose lease expired and was
//! claimed again cannot overwrite the newer claim's outcome (its attempt is still recorded).

use std::collections::HashSet;
use std::time::Duration;

use backoff::backoff::Backoff;
use buildhooks_entity::{webhook_attempt, webhook_delivery};
use buildhooks_schema::clock::now_ms;
use buildhooks_schema::webhook::outbox::state;
use buildhooks_schema::{Result, Store};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, Set, Statement, Value};

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

/// Deliveries updated per statement (10 parameters each).
const UPDATE_CHUNK: usize = 500;

/// One `UPDATE … FROM (VALUES …)` that applies each job's outcome to its delivery, fenced by the
/// lease token, returning the ids it changed (a row whose lease was lost is left alone).
fn apply_statement(
    backend: DbBackend,
    chunk: &[(&Job<'_>, &(Verdict, &'static str, i64))],
    now: i64,
) -> Statement {
    let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 10);
    let mut rows = Vec::with_capacity(chunk.len());
    for (job, (_, next_state, next_at)) in chunk {
        let outcome = job.outcome;
        let first = values.len();
        values.extend([
            Value::from(job.delivery.id),
            Value::from(job.token.to_owned()),
            Value::from(next_state.to_string()),
            Value::from(job.delivery.attempt_count + 1),
            Value::from(job.delivery.round_attempts + 1),
            Value::from(*next_at),
            Value::from(outcome.status.map(i32::from)),
            Value::from(Some(outcome.duration_ms)),
            Value::from(
                outcome
                    .excerpt
                    .clone()
                    .or_else(|| outcome.error.map(str::to_owned)),
            ),
            Value::from(now),
        ]);
        let marks: Vec<String> = (first..values.len())
            .map(|i| match backend {
                DbBackend::Postgres => format!("${}", i + 1),
                _ => "?".to_owned(),
            })
            .collect();
        rows.push(format!("({})", marks.join(", ")));
    }
    // VALUES columns are named column1, column2, … on both SQLite and PostgreSQL.
    let sql = format!(
        "UPDATE webhook_delivery SET state = v.column3, attempt_count = v.column4, \
         round_attempts = v.column5, next_attempt_at = v.column6, lease_until = NULL, \
         lease_token = NULL, last_status = v.column7, last_duration_ms = v.column8, \
         last_response = v.column9, updated_at = v.column10 \
         FROM (VALUES {}) AS v \
         WHERE webhook_delivery.id = v.column1 AND webhook_delivery.lease_token = v.column2 \
         RETURNING webhook_delivery.id",
        rows.join(", ")
    );
    Statement::from_sql_and_values(backend, sql, values)
}

/// Records many attempts in one transaction (the dispatcher batches what finished together).
pub async fn record_batch(
    store: &Store,
    jobs: &[Job<'_>],
    base_delay: Duration,
) -> Result<Vec<Verdict>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let now = now_ms();
    let w = store.begin_write_priority().await?;
    webhook_attempt::Entity::insert_many(jobs.iter().map(|job| webhook_attempt::ActiveModel {
        delivery_id: Set(job.delivery.id),
        number: Set(job.delivery.attempt_count + 1),
        started_at: Set(job.outcome.started_at),
        duration_ms: Set(job.outcome.duration_ms),
        status: Set(job.outcome.status.map(i32::from)),
        error: Set(job.outcome.error.map(str::to_owned)),
        response_excerpt: Set(job.outcome.excerpt.clone()),
        ..Default::default()
    }))
    .exec(w.txn())
    .await?;
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
    let mut applied = HashSet::new();
    for chunk in jobs
        .iter()
        .zip(&planned)
        .collect::<Vec<_>>()
        .chunks(UPDATE_CHUNK)
    {
        let stmt = apply_statement(w.txn().get_database_backend(), chunk, now);
        for row in w.txn().query_all(stmt).await? {
            applied.insert(row.try_get_by_index::<i32>(0)?);
        }
    }
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
    w.commit().await?;
    Ok(verdicts)
}
