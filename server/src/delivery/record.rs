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
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

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

/// Records `outcome` for `delivery` claimed with `token`.
pub async fn record(
    store: &Store,
    delivery: &webhook_delivery::Model,
    token: &str,
    outcome: &Outcome,
    base_delay: Duration,
    allow_retry: bool,
) -> Result<Verdict> {
    let round = delivery.round_attempts + 1;
    let verdict = if outcome.is_success() {
        Verdict::Delivered
    } else if allow_retry && outcome.is_retryable() && round < ATTEMPTS_PER_ROUND {
        Verdict::Retry
    } else {
        Verdict::Failed
    };
    let now = now_ms();
    let (next_state, next_at) = match verdict {
        Verdict::Delivered => (state::DELIVERED, now),
        Verdict::Retry => (
            state::PENDING,
            now + retry_delay(base_delay).as_millis() as i64,
        ),
        _ => (state::FAILED, now),
    };
    let w = store.begin_write().await?;
    webhook_attempt::ActiveModel {
        delivery_id: Set(delivery.id),
        number: Set(delivery.attempt_count + 1),
        started_at: Set(outcome.started_at),
        duration_ms: Set(outcome.duration_ms),
        status: Set(outcome.status.map(i32::from)),
        error: Set(outcome.error.map(str::to_owned)),
        response_excerpt: Set(outcome.excerpt.clone()),
        ..Default::default()
    }
    .insert(w.txn())
    .await?;
    let updated = webhook_delivery::Entity::update_many()
        .col_expr(webhook_delivery::Column::State, Expr::value(next_state))
        .col_expr(
            webhook_delivery::Column::AttemptCount,
            Expr::value(delivery.attempt_count + 1),
        )
        .col_expr(webhook_delivery::Column::RoundAttempts, Expr::value(round))
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
        .filter(webhook_delivery::Column::Id.eq(delivery.id))
        .filter(webhook_delivery::Column::LeaseToken.eq(token))
        .exec(w.txn())
        .await?;
    w.commit().await?;
    if updated.rows_affected == 0 {
        tracing::warn!(delivery = %delivery.uuid, "lease lost to a newer claim; outcome not applied");
        return Ok(Verdict::Stale);
    }
    Ok(verdict)
}
