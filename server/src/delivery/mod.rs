//! Delivery: the [`Sender`] that makes one attempt of a claimed outbox row through the sink of
//! its endpoint's kind and records it (used by the dispatcher loop and, through `DeliverNow`, by
//! `webhookPing`), and its parts.

pub mod claimer;
pub mod client;
pub mod control;
pub mod dispatcher;
pub mod fair;
pub mod handoff;
pub mod path;
pub mod record;
pub mod recorder;
pub mod replay;
pub mod sink;
pub mod turn;

/// Claiming outbox rows: the store's statements, named here for the dispatcher's tests.
pub use buildhooks_store::outbox::claim;

use std::sync::Arc;
use std::time::Duration;

use buildhooks_entity::{webhook_delivery, webhook_endpoint};
use buildhooks_schema::{DeliverNow, Result};
use buildhooks_store::Db;
use tokio::sync::Notify;

use crate::metrics::Metrics;
use record::Verdict;
use sink::{AttemptError, Outcome, Sinks};

/// Sends claimed deliveries and records their attempts.
#[derive(Clone)]
pub struct Sender {
    /// The dispatcher's database (its own pool where the database has one per process).
    pub db: Db,
    /// Wakes the dispatcher: rows may be due.
    pub wake: Arc<Notify>,
    /// The sink of each endpoint kind.
    pub sinks: Sinks,
    pub metrics: Arc<Metrics>,
    pub retry_delay: Duration,
    /// When an endpoint whose deliveries all fail is disabled.
    pub disable: control::DisablePolicy,
    /// The endpoints this process saw failing.
    pub failing: Arc<control::Failing>,
}

impl Sender {
    /// One attempt of a claimed delivery, recorded; `allow_retry` false for pings.
    #[tracing::instrument(skip_all, fields(delivery = %delivery.uuid))]
    pub async fn process(
        &self,
        delivery: &webhook_delivery::Model,
        token: &str,
        allow_retry: bool,
    ) -> Result<Verdict> {
        let endpoint =
            buildhooks_store::endpoints::by_id(self.db.conn(), delivery.endpoint_id).await?;
        let outcome = self.attempt(delivery, endpoint.as_ref()).await;
        let verdict = record::record(
            &self.db,
            delivery,
            token,
            &outcome,
            self.retry_delay,
            allow_retry,
        )
        .await?;
        self.observe(delivery, verdict, &outcome);
        Ok(verdict)
    }

    /// The test message re-enabling an endpoint asks for: one attempt of the claimed `ping`
    /// `delivery`, made even though the endpoint is disabled, recorded without a retry.
    pub async fn test(&self, delivery: &webhook_delivery::Model, token: &str) -> Result<Verdict> {
        let endpoint =
            buildhooks_store::endpoints::by_id(self.db.conn(), delivery.endpoint_id).await?;
        let endpoint = endpoint.map(|mut e| {
            e.enabled = true;
            e
        });
        let outcome = self.attempt(delivery, endpoint.as_ref()).await;
        let verdict =
            record::record(&self.db, delivery, token, &outcome, self.retry_delay, false).await?;
        self.observe(delivery, verdict, &outcome);
        Ok(verdict)
    }

    /// One attempt to `endpoint` by the sink of its kind (none is made when it was removed or
    /// disabled, or no sink serves its kind).
    pub async fn attempt(
        &self,
        delivery: &webhook_delivery::Model,
        endpoint: Option<&webhook_endpoint::Model>,
    ) -> Outcome {
        match endpoint {
            Some(e) if !e.deleted && e.enabled => match self.sinks.of(&e.kind) {
                Some(sink) => sink.attempt(delivery, e).await,
                None => Outcome::refused(AttemptError::UnknownKind),
            },
            Some(e) if !e.deleted => Outcome::refused(AttemptError::EndpointDisabled),
            _ => Outcome::refused(AttemptError::EndpointRemoved),
        }
    }

    /// Counts and logs a recorded attempt of `delivery`: a failed one at `warn` with what an
    /// operator searches by (delivery, endpoint, organization, kind, attempt, answer, duration,
    /// verdict), a delivered one at `debug` (the hot path formats nothing at `info`).
    pub fn observe(&self, delivery: &webhook_delivery::Model, verdict: Verdict, outcome: &Outcome) {
        self.metrics.deliveries.observe(delivery, verdict, outcome);
        macro_rules! attempt {
            ($level:expr, $message:literal) => {
                tracing::event!(
                    $level,
                    delivery_id = %delivery.uuid,
                    endpoint_id = delivery.endpoint_id,
                    org_id = delivery.org_id,
                    kind = outcome.sink,
                    event = %format_args!("{}.{}", delivery.kind, delivery.action),
                    attempt = delivery.attempt_count + 1,
                    status = outcome.status,
                    error = outcome.error_code(),
                    duration_ms = outcome.duration_ms,
                    verdict = crate::metrics::delivery::verdict_name(verdict),
                    $message
                )
            };
        }
        match verdict {
            Verdict::Delivered => attempt!(tracing::Level::DEBUG, "delivered"),
            _ => attempt!(tracing::Level::WARN, "delivery attempt failed"),
        }
    }
}

#[async_trait::async_trait]
impl DeliverNow for Sender {
    async fn deliver_now(&self, delivery_id: i64, lease_token: &str) {
        let found = buildhooks_store::outbox::log::by_id(self.db.conn(), delivery_id).await;
        match found {
            Ok(Some(delivery)) => {
                if let Err(error) = self.process(&delivery, lease_token, false).await {
                    tracing::error!(%error, "immediate delivery failed");
                }
            }
            Ok(None) => tracing::error!(delivery_id, "immediate delivery: row vanished"),
            Err(error) => tracing::error!(%error, "immediate delivery: cannot load row"),
        }
    }

    async fn test_now(&self, delivery_id: i64, lease_token: &str) {
        let found = buildhooks_store::outbox::log::by_id(self.db.conn(), delivery_id).await;
        match found {
            Ok(Some(delivery)) => {
                if let Err(error) = self.test(&delivery, lease_token).await {
                    tracing::error!(%error, "test message failed");
                }
            }
            Ok(None) => tracing::error!(delivery_id, "test message: row vanished"),
            Err(error) => tracing::error!(%error, "test message: cannot load row"),
        }
    }
}
