//! The benchmark's RabbitMQ consumer for `--kind amqp`: a durable queue of the run's own, bound
//! to `<prefix>.#` on the exchange buildhooks publishes to (declared here first with the
//! arguments the sink declares it with: topic, durable), consumed with automatic acks, noting
//! each message's `x-cirrus-delivery` header. The queue is deleted when the run ends.

use anyhow::Context;
use futures::StreamExt;
use lapin::options::{
    BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::task::JoinHandle;

use crate::receiver::Arrivals;

/// The exchange the benchmark's endpoint publishes to (the sink's default).
pub(crate) const EXCHANGE: &str = "buildhooks";
/// A queue left behind by a run that was killed is removed after an hour unused (`x-expires`,
/// ms: https://www.rabbitmq.com/docs/ttl#queue-ttl).
const QUEUE_EXPIRES_MS: i32 = 3_600_000;

/// A running consumer and the queue it reads.
pub(crate) struct Consumer {
    connection: Connection,
    channel: Channel,
    queue: String,
    task: JoinHandle<()>,
}

impl Consumer {
    /// Connects to `url`, declares the exchange and the run's queue bound to `<prefix>.#`, and
    /// starts consuming it.
    pub async fn start(url: &str, prefix: &str, arrivals: Arrivals) -> anyhow::Result<Self> {
        let connection = Connection::connect(url, ConnectionProperties::default())
            .await
            .with_context(|| {
                format!("connect to RabbitMQ at {url} (start it with: rabbitmq-server -detached)")
            })?;
        let channel = connection.create_channel().await?;
        channel
            .exchange_declare(
                EXCHANGE.into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("declare the exchange {EXCHANGE} (durable topic)"))?;
        let queue = prefix.to_owned();
        let mut arguments = FieldTable::default();
        arguments.insert("x-expires".into(), AMQPValue::LongInt(QUEUE_EXPIRES_MS));
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                arguments,
            )
            .await
            .with_context(|| format!("declare the queue {queue}"))?;
        channel
            .queue_bind(
                queue.as_str().into(),
                EXCHANGE.into(),
                format!("{prefix}.#").into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("bind the queue {queue} to {EXCHANGE}"))?;
        let mut consumer = channel
            .basic_consume(
                queue.as_str().into(),
                "buildhooks-bench".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("consume the queue {queue}"))?;
        let task = tokio::spawn(async move {
            while let Some(delivery) = consumer.next().await {
                if let Ok(delivery) = delivery {
                    arrivals.note(delivery_id(&delivery.properties));
                }
            }
        });
        Ok(Consumer {
            connection,
            channel,
            queue,
            task,
        })
    }

    /// Stops consuming, deletes the queue and closes the connection.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.task.abort();
        let deleted = self
            .channel
            .queue_delete(self.queue.as_str().into(), QueueDeleteOptions::default())
            .await
            .with_context(|| format!("delete the queue {}", self.queue));
        // The queue's fate is what matters; a failed close only leaves a connection to time out.
        let _ = self.connection.close(200, "bench done".into()).await;
        deleted.map(|_| ())
    }
}

/// The message's `x-cirrus-delivery` header (names compared without case), else its
/// `message_id`, else "".
fn delivery_id(properties: &lapin::BasicProperties) -> String {
    let header = properties.headers().as_ref().and_then(|headers| {
        headers
            .inner()
            .iter()
            .find(|(name, _)| name.as_str().eq_ignore_ascii_case("x-cirrus-delivery"))
            .and_then(|(_, value)| match value {
                AMQPValue::LongString(s) => {
                    Some(String::from_utf8_lossy(s.as_bytes()).into_owned())
                }
                AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
                _ => None,
            })
    });
    header
        .or_else(|| {
            properties
                .message_id()
                .as_ref()
                .map(|id| id.as_str().to_owned())
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
    use lapin::BasicProperties;

    use super::*;

    /// Needs RabbitMQ: `BUILDHOOKS_TEST_AMQP_URL` (as the broker tests), else skipped.
    #[tokio::test]
    async fn counts_a_routed_message_by_its_delivery_id() -> anyhow::Result<()> {
        let Ok(url) = std::env::var("BUILDHOOKS_TEST_AMQP_URL") else {
            eprintln!("BUILDHOOKS_TEST_AMQP_URL unset: skipped");
            return Ok(());
        };
        let prefix = format!(
            "bhbench.test{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let arrivals = Arrivals::default();
        let consumer = Consumer::start(&url, &prefix, arrivals.clone()).await?;
        let connection = Connection::connect(&url, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let mut headers = FieldTable::default();
        headers.insert(
            "x-cirrus-delivery".into(),
            AMQPValue::LongString("d-1".into()),
        );
        for (key, props) in [
            (
                format!("{prefix}.task.failed"),
                BasicProperties::default().with_headers(headers),
            ),
            // No header: the message id counts.
            (
                format!("{prefix}.build.fixed"),
                BasicProperties::default().with_message_id("d-2".into()),
            ),
        ] {
            channel
                .basic_publish(
                    EXCHANGE.into(),
                    key.into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    b"{}",
                    props,
                )
                .await?
                .await?;
        }
        crate::wait_for(&arrivals, 2, Duration::from_secs(2)).await;
        consumer.stop().await?;
        let _ = connection.close(200, "done".into()).await;
        assert_eq!(arrivals.counts(), (2, 2));
        let ids = arrivals.first_arrivals();
        assert!(ids.contains_key("d-1") && ids.contains_key("d-2"));
        Ok(())
    }
}
