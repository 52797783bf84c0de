//! The `amqp` kind: a persistent, mandatory publish to the durable topic exchange the row names
//! (declared on first use per connection), with the routing key rendered when the row was
//! written, delivered when the broker confirms it (publisher confirms). A message no queue takes
//! comes back (`NO_ROUTE`) and is a failure (`unroutable`), a nack is `nacked`; both are retried
//! once. `message_id` is the delivery's id. One connection and channel per broker, made on first
//! use and made again when the broker closed them (a restart): no restart of buildhooks needed.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use buildhooks_entity::{webhook_delivery, webhook_endpoint};
use buildhooks_schema::webhook::kinds::EndpointKind;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use tokio::sync::Mutex;

use super::broker::{self, within, Published, Reach};
use super::outcome::{AttemptError, Outcome};
use super::seam::Sink;
use super::secrets;
use crate::brokers::{redacted, BrokerSpec};
use buildhooks_schema::clock::now_ms;
use buildhooks_store::secrets::Vault;

/// AMQP's persistent delivery mode.
const PERSISTENT: u8 = 2;

/// An open connection, its confirming channel and the exchanges declared on it.
struct Open {
    connection: Connection,
    channel: Channel,
    declared: HashSet<String>,
}

/// One configured AMQP broker and its connection, once open.
struct Server {
    spec: BrokerSpec,
    open: Mutex<Option<Open>>,
    /// Whether it answered its latest attempt.
    reach: Reach,
}

/// Confirmed publishes to the operator's AMQP brokers.
pub struct AmqpSink {
    servers: HashMap<String, Server>,
    /// Longest wait for a connection, and for a confirm.
    timeout: Duration,
    /// Opens the endpoints' sealed secrets.
    vault: Vault,
}

type Failure = (AttemptError, Option<String>);

fn failed(error: AttemptError, said: impl Into<String>) -> Failure {
    (error, Some(said.into()))
}

impl AmqpSink {
    /// A sink for the AMQP brokers among `specs`.
    pub fn new(specs: &[BrokerSpec], timeout: Duration, vault: Vault) -> Self {
        let servers = specs
            .iter()
            .filter(|s| s.kind == EndpointKind::Amqp)
            .map(|s| {
                let server = Server {
                    spec: s.clone(),
                    open: Mutex::new(None),
                    reach: Reach::default(),
                };
                (s.name.clone(), server)
            })
            .collect();
        AmqpSink {
            servers,
            timeout,
            vault,
        }
    }

    /// A confirming channel to `server` on which `exchange` is declared: the open one, or a new
    /// connection when there is none or the broker closed it.
    async fn channel(&self, server: &Server, exchange: &str) -> Result<Channel, Failure> {
        let mut held = server.open.lock().await;
        let usable = held
            .as_ref()
            .is_some_and(|o| o.connection.status().connected() && o.channel.status().connected());
        if !usable {
            if let Some(old) = held.take() {
                // Closing a connection the broker dropped fails; there is nothing to do then.
                let _ = old.connection.close(0, "reconnecting".into()).await;
            }
            *held = Some(within(self.timeout, self.connect(&server.spec)).await?);
        }
        let Some(open) = held.as_mut() else {
            return Err((AttemptError::Connect, None));
        };
        if !open.declared.contains(exchange) {
            let options = ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            };
            let declared = open.channel.exchange_declare(
                exchange.into(),
                ExchangeKind::Topic,
                options,
                FieldTable::default(),
            );
            within(self.timeout, async {
                declared.await.map_err(|e| {
                    // An exchange of another type by that name: the broker closes the channel.
                    failed(
                        AttemptError::Nacked,
                        format!("cannot declare exchange '{exchange}': {e}"),
                    )
                })
            })
            .await?;
            open.declared.insert(exchange.to_owned());
        }
        Ok(open.channel.clone())
    }

    async fn connect(&self, spec: &BrokerSpec) -> Result<Open, Failure> {
        let cannot = |e: lapin::Error| {
            tracing::warn!(broker = %spec.name, url = %redacted(&spec.url), error = %e, "cannot connect to the AMQP broker");
            failed(
                AttemptError::Connect,
                format!("cannot connect to broker {}", spec.name),
            )
        };
        let properties = ConnectionProperties::default().with_connection_name("buildhooks".into());
        let connection = Connection::connect(&spec.url, properties)
            .await
            .map_err(cannot)?;
        let channel = connection.create_channel().await.map_err(cannot)?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(cannot)?;
        Ok(Open {
            connection,
            channel,
            declared: HashSet::new(),
        })
    }

    async fn publish(
        &self,
        delivery: &webhook_delivery::Model,
        endpoint: &webhook_endpoint::Model,
    ) -> (i64, Published) {
        let now = buildhooks_schema::clock::now_ms;
        let target = match broker::target(delivery, EndpointKind::Amqp) {
            Ok(target) => target,
            Err(error) => return (now(), Err((error, None))),
        };
        let Some(server) = self.servers.get(target.broker) else {
            let said = format!("no AMQP broker named '{}' is configured", target.broker);
            return (now(), Err(failed(AttemptError::UnknownBroker, said)));
        };
        let exchange = target.exchange.unwrap_or_default();
        let secrets = match secrets::signing(&self.vault, endpoint, now_ms()) {
            Ok(secrets) => secrets,
            Err(error) => return (now_ms(), Err((error, None))),
        };
        let (started_at, pairs) = broker::headers(delivery, &secrets::as_strs(&secrets));
        let channel = match self.channel(server, exchange).await {
            Ok(channel) => channel,
            Err(error) => {
                let failed = Err(error);
                server.reach.note(&failed);
                return (started_at, failed);
            }
        };
        let mut headers = FieldTable::default();
        for (name, value) in pairs {
            headers.insert(
                ShortString::from(name),
                AMQPValue::LongString(LongString::from(value)),
            );
        }
        let properties = BasicProperties::default()
            .with_delivery_mode(PERSISTENT)
            .with_content_type("application/json".into())
            .with_message_id(broker::message_id(delivery).into())
            .with_app_id("buildhooks".into())
            .with_timestamp((started_at / 1000).max(0) as u64)
            .with_headers(headers);
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let published = within(self.timeout, async {
            let confirm = channel
                .basic_publish(
                    exchange.into(),
                    target.subject.into(),
                    options,
                    delivery.body.as_bytes(),
                    properties,
                )
                .await
                .map_err(|e| failed(AttemptError::Connect, e.to_string()))?;
            let confirmation = confirm
                .await
                .map_err(|e| failed(AttemptError::Connect, e.to_string()))?;
            match confirmation {
                Confirmation::Ack(None) => Ok(format!("confirmed by {exchange}")),
                Confirmation::Ack(Some(returned)) => Err(failed(
                    AttemptError::Unroutable,
                    format!("returned: {} {}", returned.reply_code, returned.reply_text),
                )),
                Confirmation::Nack(_) => Err(failed(AttemptError::Nacked, "nacked by the broker")),
                Confirmation::NotRequested => Err(failed(AttemptError::Nacked, "no confirm")),
            }
        })
        .await;
        server.reach.note(&published);
        (started_at, published)
    }
}

#[async_trait::async_trait]
impl Sink for AmqpSink {
    fn kind(&self) -> &'static str {
        "amqp"
    }

    fn brokers(&self) -> Vec<(String, Option<bool>)> {
        broker::reaches(self.servers.iter().map(|(name, s)| (name, &s.reach)))
    }

    async fn attempt(
        &self,
        delivery: &webhook_delivery::Model,
        endpoint: &webhook_endpoint::Model,
    ) -> Outcome {
        broker::attempt("amqp", self.timeout, self.publish(delivery, endpoint)).await
    }
}
