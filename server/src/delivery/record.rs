//! Recording an attempt and the delivery's next state (DELIVERED, PENDING for the single retry,
//! or FAILED). The update is fenced by the lease token: a worker whose lease expired and was
//! claimed again cannot overwrite the newer claim's outcome (its attempt is still recorded).

use std::time::Duration;

use backoff::backoff::Backoff;
use buildhooks_entity::{webhook_attempt, webhook_delivery};
use buildhooks_schema::clock::now_ms;
use buildhooks_schema::webhook::outbox::state;
use buildhooks_schema::{Result, Store};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

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
    let mut verdicts = Vec::with_capacity(jobs.len());
    for job in jobs {
        let verdict = verdict_of(job);
        let (next_state, next_at) = match verdict {
            Verdict::Delivered => (state::DELIVERED, now),
            Verdict::Retry => (
                state::PENDING,
                now + retry_delay(base_delay).as_millis() as i64,
            ),
            _ => (state::FAILED, now),
        };
        let outcome = job.outcome;
        let updated = webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::State, Expr::value(next_state))
            .col_expr(
                webhook_delivery::Column::AttemptCount,
                Expr::value(job.delivery.attempt_count + 1),
            )
            .col_expr(
                webhook_delivery::Column::RoundAttempts,
                Expr::value(job.delivery.round_attempts + 1),
            )
            .col_expr(
                webhook_delivery::Column::NextAttemptAt,
                Expr::value(next_at),
            )
            .col_expr(
                webhook_delivery::Column::LeaseUntil,
                Expr::value(Option::<i64>::None),
            )
            .col_expr(
                webhook_delivery::Column::LeaseToken,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                webhook_delivery::Column::LastStatus,
                Expr::value(outcome.status.map(i32::from)),
            )
            .col_expr(
                webhook_delivery::Column::LastDurationMs,
                Expr::value(Some(outcome.duration_ms)),
            )
            .col_expr(
                webhook_delivery::Column::LastResponse,
                Expr::value(
                    outcome
                        .excerpt
                        .clone()
                        .or_else(|| outcome.error.map(str::to_owned)),
                ),
            )
            .col_expr(webhook_delivery::Column::UpdatedAt, Expr::value(now))
            .filter(webhook_delivery::Column::Id.eq(job.delivery.id))
            .filter(webhook_delivery::Column::LeaseToken.eq(job.token))
            .exec(w.txn())
            .await?;
        if updated.rows_affected == 0 {
            tracing::warn!(delivery = %job.delivery.uuid, "lease lost to a newer claim; outcome not applied");
            verdicts.push(Verdict::Stale);
        } else {
            verdicts.push(verdict);
        }
    }
    w.commit().await?;
    Ok(verdicts)
}
