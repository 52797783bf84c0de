//! The `nats` kind: a JetStream publish to the operator's broker the row names, on the subject
//! rendered when the row was written, delivered when the stream acknowledges it (`PubAck`).
//! The message id (`Nats-Msg-Id`) is the delivery's, so the stream's duplicate window drops
//! the repeat of a publish whose acknowledgement was lost. One client per broker, made on first
//! use and kept: it reconnects by itself after the server restarts; while it is disconnected an
//! attempt fails at once (`connect`) rather than queueing in the client.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, Context as JetStream};
use async_nats::{ConnectOptions, HeaderMap};
use buildhooks_entity::{webhook_delivery, webhook_endpoint};
use buildhooks_schema::webhook::kinds::EndpointKind;
use tokio::sync::Mutex;

use super::broker::{self, within, Published, Reach};
use super::outcome::{AttemptError, Outcome};
use super::seam::Sink;
use super::secrets;
use crate::brokers::{redacted, BrokerSpec};
use buildhooks_schema::clock::now_ms;
use buildhooks_store::secrets::Vault;

/// One configured NATS server and its client, once connected.
struct Server {
    spec: BrokerSpec,
    client: Mutex<Option<(async_nats::Client, JetStream)>>,
    /// Whether it answered its latest attempt.
    reach: Reach,
}

/// JetStream publishes to the operator's NATS brokers.
pub struct NatsSink {
    servers: HashMap<String, Server>,
    /// Longest wait for a connection, and for an acknowledgement.
    timeout: Duration,
    /// Opens the endpoints' sealed secrets.
    vault: Vault,
}

impl NatsSink {
    /// A sink for the NATS brokers among `specs`.
    pub fn new(specs: &[BrokerSpec], timeout: Duration, vault: Vault) -> Self {
        let servers = specs
            .iter()
            .filter(|s| s.kind == EndpointKind::Nats)
            .map(|s| {
                let server = Server {
                    spec: s.clone(),
                    client: Mutex::new(None),
                    reach: Reach::default(),
                };
                (s.name.clone(), server)
            })
            .collect();
        NatsSink {
            servers,
            timeout,
            vault,
        }
    }

    /// The broker's JetStream context, connecting the first time; an error while it is down.
    async fn jetstream(
        &self,
        server: &Server,
    ) -> Result<JetStream, (AttemptError, Option<String>)> {
        let mut held = server.client.lock().await;
        if let Some((client, jetstream)) = held.as_ref() {
            return match client.connection_state() {
                async_nats::connection::State::Connected => Ok(jetstream.clone()),
                state => Err((
                    AttemptError::Connect,
                    Some(format!("broker {} is {state:?}", server.spec.name)),
                )),
            };
        }
        let options = ConnectOptions::new()
            .connection_timeout(self.timeout)
            .request_timeout(Some(self.timeout))
            // Reconnect for ever: the broker's restart is the operator's business, not a
            // reason to restart buildhooks.
            .max_reconnects(None)
            .name("buildhooks");
        let client = within(self.timeout, async {
            options.connect(server.spec.url.as_str()).await.map_err(|e| {
                tracing::warn!(broker = %server.spec.name, url = %redacted(&server.spec.url), error = %e, "cannot connect to the NATS broker");
                (AttemptError::Connect, Some(format!("cannot connect to broker {}", server.spec.name)))
            })
        })
        .await?;
        let mut context = jetstream::new(client.clone());
        context.set_timeout(self.timeout);
        *held = Some((client, context.clone()));
        Ok(context)
    }

    async fn publish(
        &self,
        delivery: &webhook_delivery::Model,
        endpoint: &webhook_endpoint::Model,
    ) -> (i64, Published) {
        let target = match broker::target(delivery, EndpointKind::Nats) {
            Ok(target) => target,
            Err(error) => return (buildhooks_schema::clock::now_ms(), Err((error, None))),
        };
        let Some(server) = self.servers.get(target.broker) else {
            let said = format!("no NATS broker named '{}' is configured", target.broker);
            return (
                buildhooks_schema::clock::now_ms(),
                Err((AttemptError::UnknownBroker, Some(said))),
            );
        };
        let secrets = match secrets::signing(&self.vault, endpoint, now_ms()) {
            Ok(secrets) => secrets,
            Err(error) => return (now_ms(), Err((error, None))),
        };
        let (started_at, pairs) = broker::headers(delivery, &secrets::as_strs(&secrets));
        let jetstream = match self.jetstream(server).await {
            Ok(jetstream) => jetstream,
            Err(error) => {
                let failed = Err(error);
                server.reach.note(&failed);
                return (started_at, failed);
            }
        };
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(name, value.as_str());
        }
        let message = PublishMessage::build()
            .payload(delivery.body.clone().into())
            .headers(headers)
            .message_id(broker::message_id(delivery));
        let subject = target.subject.to_owned();
        let published = within(self.timeout, async {
            let ack = jetstream
                .send_publish(subject, message)
                .await
                .map_err(|e| publish_error(e.kind(), &e.to_string()))?;
            let ack = ack
                .await
                .map_err(|e| publish_error(e.kind(), &e.to_string()))?;
            Ok(match ack.duplicate {
                true => format!("duplicate of stream {} seq {}", ack.stream, ack.sequence),
                false => format!("stream {} seq {}", ack.stream, ack.sequence),
            })
        })
        .await;
        server.reach.note(&published);
        (started_at, published)
    }
}

/// A failed publish, typed.
fn publish_error(kind: PublishErrorKind, text: &str) -> (AttemptError, Option<String>) {
    let error = match kind {
        PublishErrorKind::StreamNotFound => AttemptError::Unroutable,
        PublishErrorKind::TimedOut => AttemptError::Timeout,
        PublishErrorKind::BrokenPipe => AttemptError::Connect,
        PublishErrorKind::MaxPayloadExceeded => AttemptError::Body,
        _ => AttemptError::Nacked,
    };
    (error, Some(text.chars().take(200).collect()))
}

#[async_trait::async_trait]
impl Sink for NatsSink {
    fn kind(&self) -> &'static str {
        "nats"
    }

    fn brokers(&self) -> Vec<(String, Option<bool>)> {
        broker::reaches(self.servers.iter().map(|(name, s)| (name, &s.reach)))
    }

    async fn attempt(
        &self,
        delivery: &webhook_delivery::Model,
        endpoint: &webhook_endpoint::Model,
    ) -> Outcome {
        broker::attempt("nats", self.timeout, self.publish(delivery, endpoint)).await
    }
}
