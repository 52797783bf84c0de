//! What the broker kinds share: the row's target (broker and subject, from its `url`), the
//! message's headers (those a webhook carries, signed by the receiver crate, so one library
//! verifies both), its id (the delivery's, so the broker's deduplication drops our own
//! at-least-once repeats, and a new one after a manual redeliver, which must go out again), and
//! the outcome of a publish, timed.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use buildhooks_entity::webhook_delivery;
use buildhooks_schema::clock::now_ms;
use buildhooks_schema::webhook::broker::{parse_target, Target};

use super::outcome::{AttemptError, Class, Outcome};

/// Whether a broker answered its latest attempt: unknown until the first, then up when the
/// broker answered (took it, or refused it), down when it could not be reached or did not
/// answer in time. `/metrics` shows it (`buildhooks_broker_up`).
#[derive(Default)]
pub struct Reach(AtomicU8);

impl Reach {
    const UP: u8 = 1;
    const DOWN: u8 = 2;

    /// Notes what an attempt to the broker came to.
    pub fn note(&self, published: &Published) {
        let state = match published {
            Err((AttemptError::Connect | AttemptError::Timeout, _)) => Self::DOWN,
            _ => Self::UP,
        };
        self.0.store(state, Ordering::Relaxed);
    }

    /// Up, down, or not tried yet.
    pub fn get(&self) -> Option<bool> {
        match self.0.load(Ordering::Relaxed) {
            Self::UP => Some(true),
            Self::DOWN => Some(false),
            _ => None,
        }
    }
}

/// Each broker of a sink by name, with whether it answered its latest attempt, sorted.
pub fn reaches<'a>(
    servers: impl Iterator<Item = (&'a String, &'a Reach)>,
) -> Vec<(String, Option<bool>)> {
    let mut all: Vec<_> = servers
        .map(|(name, reach)| (name.clone(), reach.get()))
        .collect();
    all.sort();
    all
}

/// The headers of one attempt (lower-case names, as a webhook's) and the time they were signed.
pub fn headers(
    delivery: &webhook_delivery::Model,
    secrets: &[&str],
) -> (i64, Vec<(&'static str, String)>) {
    let started_at = now_ms();
    let mut pairs = buildhooks_receiver::sign_all(
        secrets,
        &delivery.kind,
        &delivery.uuid,
        started_at,
        delivery.body.as_bytes(),
    )
    .pairs();
    pairs.push(("content-type", "application/json".into()));
    pairs.push((
        "user-agent",
        buildhooks_schema::webhook::USER_AGENT.to_owned(),
    ));
    (started_at, pairs)
}

/// The message id: the delivery's id, the same on each automatic retry (the broker drops a
/// repeat of a message it stored); after the row was sent again by hand, the id with the number
/// of attempts of earlier rounds (`<uuid>.r3`), so the broker takes it as new.
pub fn message_id(delivery: &webhook_delivery::Model) -> String {
    let earlier = delivery.attempt_count - delivery.round_attempts;
    match earlier {
        n if n > 0 => format!("{}.r{n}", delivery.uuid),
        _ => delivery.uuid.clone(),
    }
}

/// The row's target, if its URL names one of `kind`'s.
pub fn target<'a>(
    delivery: &'a webhook_delivery::Model,
    kind: buildhooks_schema::webhook::kinds::EndpointKind,
) -> Result<Target<'a>, AttemptError> {
    parse_target(&delivery.url)
        .filter(|t| t.kind == kind)
        .ok_or(AttemptError::InvalidUrl)
}

/// How a broker attempt ended: taken (with what the broker said), or not (why, and whether
/// the retry may help).
pub type Published = Result<String, (AttemptError, Option<String>)>;

/// The outcome of a publish that started at `started_at` (`clock` since), by `sink`.
fn outcome(sink: &'static str, started_at: i64, clock: Instant, published: Published) -> Outcome {
    let (error, excerpt, class) = match published {
        Ok(said) => (None, Some(said), Class::Delivered),
        Err((error, said)) => (Some(error), said, class_of(error)),
    };
    Outcome {
        started_at,
        duration_ms: clock.elapsed().as_millis() as i64,
        status: None,
        error,
        excerpt,
        response_headers: None,
        class,
        pause: None,
        sink,
    }
}

/// A broker that is down, slow or refusing gets the retry; a row it cannot be sent for does not.
fn class_of(error: AttemptError) -> Class {
    match error {
        AttemptError::Timeout
        | AttemptError::Connect
        | AttemptError::Unroutable
        | AttemptError::Nacked => Class::Retry,
        _ => Class::Failed,
    }
}

/// One attempt by the broker kind `sink`: the whole of `publish` (waiting for the broker's
/// connection, connecting, publishing, the acknowledgement; the connect and the publish each
/// have `timeout`) bounded by twice `timeout`, so an attempt never waits behind another's
/// connect for longer than that, and its outcome.
pub async fn attempt(
    sink: &'static str,
    timeout: Duration,
    publish: impl std::future::Future<Output = (i64, Published)>,
) -> Outcome {
    let clock = Instant::now();
    let started_at = now_ms();
    let (started_at, published) = match tokio::time::timeout(timeout * 2, publish).await {
        Ok(done) => done,
        Err(_) => (started_at, Err((AttemptError::Timeout, None))),
    };
    outcome(sink, started_at, clock, published)
}

/// Runs `step` for at most `limit`; a step that outlives it is a timeout.
pub async fn within<T>(
    limit: Duration,
    step: impl std::future::Future<Output = Result<T, (AttemptError, Option<String>)>>,
) -> Result<T, (AttemptError, Option<String>)> {
    match tokio::time::timeout(limit, step).await {
        Ok(done) => done,
        Err(_) => Err((AttemptError::Timeout, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(attempts: i32, round: i32) -> webhook_delivery::Model {
        webhook_delivery::Model {
            id: 1,
            uuid: "d-1".into(),
            org_id: 1,
            event_id: None,
            endpoint_id: 1,
            repository_id: None,
            url: "nats://bus/buildhooks.1.task.failed".into(),
            kind: "task".into(),
            action: "updated".into(),
            body: "{}".into(),
            state: "PENDING".into(),
            attempt_count: attempts,
            round_attempts: round,
            next_attempt_at: 0,
            lease_until: None,
            lease_token: None,
            last_status: None,
            last_duration_ms: None,
            last_response: None,
            created_at: 0,
            updated_at: 0,
            build_id: None,
            order_key: None,
            replay_id: None,
            erased_at: None,
        }
    }

    #[test]
    fn a_broker_is_down_only_when_it_could_not_be_reached() {
        let reach = Reach::default();
        assert_eq!(reach.get(), None);
        reach.note(&Err((AttemptError::Connect, None)));
        assert_eq!(reach.get(), Some(false));
        reach.note(&Err((AttemptError::Unroutable, None)));
        assert_eq!(reach.get(), Some(true));
        reach.note(&Err((AttemptError::Timeout, None)));
        assert_eq!(reach.get(), Some(false));
        reach.note(&Ok("stream S seq 1".into()));
        assert_eq!(reach.get(), Some(true));
    }

    #[test]
    fn retries_keep_the_id_and_a_redelivery_gets_a_new_one() {
        assert_eq!(message_id(&row(0, 0)), "d-1");
        assert_eq!(message_id(&row(1, 1)), "d-1");
        assert_eq!(message_id(&row(2, 0)), "d-1.r2");
        assert_eq!(message_id(&row(3, 1)), "d-1.r2");
    }

    #[test]
    fn a_broker_down_or_refusing_is_retried_and_a_bad_row_is_not() {
        for (error, class) in [
            (AttemptError::Connect, Class::Retry),
            (AttemptError::Timeout, Class::Retry),
            (AttemptError::Unroutable, Class::Retry),
            (AttemptError::Nacked, Class::Retry),
            (AttemptError::UnknownBroker, Class::Failed),
            (AttemptError::InvalidUrl, Class::Failed),
            (AttemptError::Body, Class::Failed),
        ] {
            assert_eq!(class_of(error), class, "{error}");
        }
    }
}
