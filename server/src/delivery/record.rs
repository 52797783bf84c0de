//! Deciding and recording an attempt's outcome: DELIVERED, PENDING for a retry, or FAILED
//! (`verdict_of`), written with the attempt by the store, fenced by the lease token (a worker
//! whose lease was lost to a newer claim changes nothing but the attempt log). Retries follow
//! Cirrus's rule (one, after the configured short delay) or the endpoint's `retrySchedule`
//! (`when_next`): each step jittered by +/-20%, or the receiver's `Retry-After` when it names a
//! shorter wait than the step (a longer one is capped at the step).

use std::collections::HashSet;
use std::time::Duration;

use buildhooks_entity::webhook_delivery;
use buildhooks_schema::clock::now_ms;
use buildhooks_store::outbox::{self, state, AttemptRow, OutcomeRow};
use buildhooks_store::Db;
use rand::Rng;

pub use buildhooks_store::outbox::{Claimed, Next};

use super::sink::{Class, Outcome};

/// Attempts per round (the first and the single retry).
pub const ATTEMPTS_PER_ROUND: i32 = 2;

/// Most rate-limit answers a delivery waits out without spending its retry (attempts that did
/// not count towards a round); the next one counts as a failed attempt like any other.
pub const MAX_RATE_LIMITED: i32 = 8;

/// How far a retry's delay is moved either way, as a fraction of it.
const JITTER: f64 = 0.2;

/// The delay before the retry: `base` jittered by +/-20%, uniformly, so receivers that failed
/// together are not all retried in the same instant.
pub fn retry_delay(base: Duration) -> Duration {
    jittered(base, rand::thread_rng().gen_range(-1.0..=1.0))
}

/// `base` moved by `unit` (in -1..=1) times `JITTER` of itself.
fn jittered(base: Duration, unit: f64) -> Duration {
    base.mul_f64(1.0 + JITTER * unit.clamp(-1.0, 1.0))
}

/// What happened to the delivery after this attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    Retry,
    Failed,
    /// The receiver asked to wait: sent again after the time it named, the round unspent.
    RateLimited,
    /// The lease was lost to a newer claim; nothing was changed but the attempt log.
    Stale,
}

/// One attempt to record.
pub struct Job<'a> {
    pub delivery: &'a webhook_delivery::Model,
    pub token: &'a str,
    pub outcome: &'a Outcome,
    pub allow_retry: bool,
    /// The endpoint's retry schedule (seconds per step), or `None` for Cirrus's rule.
    pub schedule: Option<&'a [u32]>,
}

fn verdict_of(job: &Job<'_>) -> Verdict {
    let round = job.delivery.round_attempts + 1;
    let waited = job.delivery.attempt_count - job.delivery.round_attempts;
    let attempts = match job.schedule {
        Some(steps) => steps.len() as i32 + 1,
        None => ATTEMPTS_PER_ROUND,
    };
    match job.outcome.class {
        Class::Delivered => Verdict::Delivered,
        Class::RateLimited(_) if job.allow_retry && waited < MAX_RATE_LIMITED => {
            Verdict::RateLimited
        }
        Class::Retry | Class::RetryAfter(_) | Class::RateLimited(_)
            if job.allow_retry && round < attempts =>
        {
            Verdict::Retry
        }
        _ => Verdict::Failed,
    }
}

/// How long until the retry of `job` (whose verdict is `Retry`): the step of the endpoint's
/// schedule after this attempt, jittered, or the receiver's `Retry-After` when shorter; under
/// Cirrus's rule, `base` jittered.
pub fn when_next(job: &Job<'_>, base: Duration) -> Duration {
    let Some(steps) = job.schedule else {
        return retry_delay(base);
    };
    let index = job.delivery.round_attempts.max(0) as usize;
    let step = Duration::from_secs(u64::from(steps.get(index).copied().unwrap_or(1)));
    match job.outcome.class {
        Class::RetryAfter(wait) => wait.min(step),
        _ => retry_delay(step),
    }
}

/// Records `outcome` for `delivery` claimed with `token`.
pub async fn record(
    db: &Db,
    delivery: &webhook_delivery::Model,
    token: &str,
    outcome: &Outcome,
    base_delay: Duration,
    allow_retry: bool,
) -> buildhooks_schema::Result<Verdict> {
    let job = Job {
        delivery,
        token,
        outcome,
        allow_retry,
        schedule: None,
    };
    let (verdicts, _) = record_then_claim(db, &[job], base_delay, None).await?;
    Ok(verdicts.first().copied().unwrap_or(Verdict::Stale))
}

/// Records `jobs` and, when `next` is given, claims due rows in the same statement or
/// transaction, with their endpoints: one commit per delivery cycle.
pub async fn record_then_claim(
    db: &Db,
    jobs: &[Job<'_>],
    base_delay: Duration,
    next: Option<Next<'_>>,
) -> buildhooks_schema::Result<(Vec<Verdict>, Option<Claimed>)> {
    let now = now_ms();
    let verdicts: Vec<Verdict> = jobs.iter().map(verdict_of).collect();
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
            response_headers: job.outcome.response_headers.as_deref(),
        })
        .collect();
    let outcomes: Vec<OutcomeRow<'_>> = jobs
        .iter()
        .zip(&verdicts)
        .map(|(job, verdict)| {
            let (next_state, next_at) = match verdict {
                Verdict::Delivered => (state::DELIVERED, now),
                Verdict::Retry => (
                    state::PENDING,
                    now + when_next(job, base_delay).as_millis() as i64,
                ),
                Verdict::RateLimited => (state::PENDING, now + wait_of(job.outcome)),
                _ => (state::FAILED, now),
            };
            // A rate-limit wait is not an attempt of the round.
            let round_attempts = match verdict {
                Verdict::RateLimited => job.delivery.round_attempts,
                _ => job.delivery.round_attempts + 1,
            };
            let outcome = job.outcome;
            OutcomeRow {
                id: job.delivery.id,
                token: job.token,
                state: next_state,
                attempt_count: job.delivery.attempt_count + 1,
                round_attempts,
                next_attempt_at: next_at,
                last_status: outcome.status,
                last_duration_ms: outcome.duration_ms,
                last_response: outcome.excerpt.as_deref().or(outcome.error_code()),
                updated_at: now,
            }
        })
        .collect();
    let (applied, claimed) = outbox::record(db, &attempts, &outcomes, next).await?;
    Ok((applied_verdicts(jobs, verdicts, &applied), claimed))
}

/// How long a rate-limited delivery waits, in ms (at least the retry's short delay).
fn wait_of(outcome: &Outcome) -> i64 {
    match outcome.class {
        Class::RateLimited(wait) => (wait.as_millis() as i64).max(50),
        _ => 0,
    }
}

/// Each job's verdict, `Stale` where the outcome was not applied (the lease was lost).
fn applied_verdicts(
    jobs: &[Job<'_>],
    verdicts: Vec<Verdict>,
    applied: &HashSet<i64>,
) -> Vec<Verdict> {
    jobs.iter()
        .zip(verdicts)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jitter_stays_within_twenty_percent_either_way() {
        let base = Duration::from_millis(1_000);
        let near =
            |d: Duration, ms: u64| d.abs_diff(Duration::from_millis(ms)) < Duration::from_micros(1);
        assert!(near(jittered(base, -1.0), 800));
        assert!(near(jittered(base, 0.0), 1_000));
        assert!(near(jittered(base, 1.0), 1_200));
        assert!(near(jittered(base, 7.0), 1_200), "clamped");
        let delays: Vec<f64> = (0..1_000)
            .map(|_| retry_delay(base).as_secs_f64())
            .collect();
        assert!(delays.iter().all(|d| (0.799_999..=1.200_001).contains(d)));
        let below = delays.iter().filter(|d| **d < 1.0).count();
        assert!(
            (300..700).contains(&below),
            "both ways, evenly: {below} of 1000 below"
        );
        assert_eq!(retry_delay(Duration::ZERO), Duration::ZERO);
    }
}
