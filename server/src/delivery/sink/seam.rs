//! The seam itself: the [`Sink`] each endpoint kind implements and the [`Sinks`] a dispatcher
//! delivers through, found by the kind's stored name.

use std::sync::Arc;
use std::time::Duration;

use buildhooks_entity::{webhook_delivery, webhook_endpoint};

use super::outcome::{AttemptError, Outcome};

/// One kind of endpoint.
#[async_trait::async_trait]
pub trait Sink: Send + Sync {
    /// The endpoint kind it serves, as stored.
    fn kind(&self) -> &'static str;

    /// One attempt of `delivery` to `endpoint`, classified.
    async fn attempt(
        &self,
        delivery: &webhook_delivery::Model,
        endpoint: &webhook_endpoint::Model,
    ) -> Outcome;

    /// The least time between two sends to `endpoint` (its robot's pace); `None`: unpaced.
    fn pace(&self, _endpoint: &webhook_endpoint::Model) -> Option<Duration> {
        None
    }

    /// The brokers this kind publishes to and whether each answered its latest attempt
    /// (`None`: not tried yet); kinds without brokers have none.
    fn brokers(&self) -> Vec<(String, Option<bool>)> {
        Vec::new()
    }

    /// One attempt carrying `deliveries` (waiting deliveries of one build, oldest first; the
    /// first is the one claimed) to `endpoint` in one message. Kinds without digests send the
    /// first.
    async fn attempt_all(
        &self,
        deliveries: &[&webhook_delivery::Model],
        endpoint: &webhook_endpoint::Model,
    ) -> Outcome {
        match deliveries.first() {
            Some(first) => self.attempt(first, endpoint).await,
            None => Outcome::refused(AttemptError::Body),
        }
    }
}

/// Every kind this process delivers to.
#[derive(Clone)]
pub struct Sinks {
    kinds: Vec<Arc<dyn Sink>>,
}

impl Sinks {
    /// The kinds, each once.
    pub fn new(kinds: Vec<Arc<dyn Sink>>) -> Self {
        Sinks { kinds }
    }

    /// Every broker by (kind, name) and whether it answered its latest attempt.
    pub fn brokers(&self) -> Vec<(&'static str, String, Option<bool>)> {
        self.kinds
            .iter()
            .flat_map(|s| {
                let kind = s.kind();
                s.brokers()
                    .into_iter()
                    .map(move |(name, up)| (kind, name, up))
            })
            .collect()
    }

    /// The sink of endpoints of `kind`.
    pub fn of(&self, kind: &str) -> Option<&dyn Sink> {
        self.kinds
            .iter()
            .find(|s| s.kind() == kind)
            .map(|s| s.as_ref())
    }
}
