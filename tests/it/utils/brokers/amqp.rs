//! RabbitMQ for the broker tests: the exchange declared as the sink declares it (durable
//! topic), an exclusive queue consumed as messages come or a durable one that keeps them through
//! a broker restart, both deleted at the end or on drop.

use std::time::{Duration, Instant};

use futures::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicGetOptions, ExchangeDeclareOptions, ExchangeDeleteOptions,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties, Consumer, ExchangeKind};

use super::{cleanup_blocking, unique, Received, CONNECT_TIMEOUT};

/// Connects to RabbitMQ at `url` and opens a channel, or panics saying which broker did not
/// answer.
pub async fn connect_amqp(url: &str) -> (Connection, Channel) {
    let conn = tokio::time::timeout(
        CONNECT_TIMEOUT,
        Connection::connect(url, ConnectionProperties::default()),
    )
    .await
    .unwrap_or_else(|_| panic!("RabbitMQ at {url} did not answer within {CONNECT_TIMEOUT:?}"))
    .unwrap_or_else(|e| panic!("connect to RabbitMQ at {url}: {e}"));
    let channel = conn
        .create_channel()
        .await
        .unwrap_or_else(|e| panic!("a channel on {url}: {e}"));
    (conn, channel)
}

/// Declares `name` as the sink does: a durable topic exchange.
pub async fn declare_exchange(channel: &Channel, name: &str) {
    channel
        .exchange_declare(
            name.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("declare exchange {name} (durable topic): {e}"));
}

/// Deletes exchange `name` (one a test made).
pub async fn delete_exchange(url: &str, name: &str) {
    let (conn, channel) = connect_amqp(url).await;
    if let Err(e) = channel
        .exchange_delete(name.into(), ExchangeDeleteOptions::default())
        .await
    {
        eprintln!("could not delete exchange {name}: {e}");
    }
    let _ = conn.close(200, "done".into()).await;
}

fn amqp_text(v: &AMQPValue) -> String {
    match v {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.as_str().to_owned(),
        other => format!("{other:?}"),
    }
}

fn received_amqp(d: &lapin::message::Delivery) -> Received {
    let p = &d.properties;
    let headers = p
        .headers()
        .as_ref()
        .map(|t| {
            t.inner()
                .iter()
                .map(|(k, v)| (k.as_str().to_ascii_lowercase(), amqp_text(v)))
                .collect()
        })
        .unwrap_or_default();
    Received {
        subject: d.routing_key.as_str().to_owned(),
        exchange: Some(d.exchange.as_str().to_owned()),
        headers,
        body: d.data.clone(),
        message_id: p.message_id().as_ref().map(|s| s.as_str().to_owned()),
        sequence: None,
        delivery_mode: *p.delivery_mode(),
        content_type: p.content_type().as_ref().map(|s| s.as_str().to_owned()),
        app_id: p.app_id().as_ref().map(|s| s.as_str().to_owned()),
    }
}

/// A queue this test made, bound to a topic exchange with a routing-key pattern; deleted by
/// [`AmqpQueue::delete`] or, failing that, on drop.
pub struct AmqpQueue {
    url: String,
    conn: Connection,
    channel: Channel,
    pub name: String,
    consumer: Option<Consumer>,
    deleted: bool,
}

impl AmqpQueue {
    async fn declare(url: &str, exchange: &str, pattern: &str, durable: bool) -> Self {
        let (conn, channel) = connect_amqp(url).await;
        declare_exchange(&channel, exchange).await;
        let name = unique("bh-test-");
        let options = match durable {
            true => QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            false => QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
        };
        channel
            .queue_declare(name.as_str().into(), options, FieldTable::default())
            .await
            .unwrap_or_else(|e| panic!("declare queue {name}: {e}"));
        channel
            .queue_bind(
                name.as_str().into(),
                exchange.into(),
                pattern.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("bind {name} to {exchange} with {pattern}: {e}"));
        AmqpQueue {
            url: url.to_owned(),
            conn,
            channel,
            name,
            consumer: None,
            deleted: false,
        }
    }

    /// An exclusive, auto-delete queue bound to `exchange` (declared as the sink does) with
    /// `pattern`, consumed from now on.
    pub async fn bind(url: &str, exchange: &str, pattern: &str) -> Self {
        let mut q = Self::declare(url, exchange, pattern, false).await;
        let consumer = q
            .channel
            .basic_consume(
                q.name.as_str().into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("consume {}: {e}", q.name));
        q.consumer = Some(consumer);
        q
    }

    /// A durable queue bound to `exchange` with `pattern`, which keeps its messages through a
    /// broker restart; read it with [`AmqpQueue::drain`].
    pub async fn durable(url: &str, exchange: &str, pattern: &str) -> Self {
        Self::declare(url, exchange, pattern, true).await
    }

    /// Messages whose `x-cirrus-delivery` is one of `ids` (others, a concurrent run's, are
    /// skipped) until each id arrived once, waiting at most `within`.
    pub async fn wait_for(&mut self, ids: &[&str], within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        let mut out: Vec<Received> = Vec::new();
        let name = self.name.clone();
        let consumer = self.consumer.as_mut().expect("a consuming queue (bind)");
        while !ids.iter().all(|id| out.iter().any(|m| m.delivery() == *id)) {
            let left = deadline.saturating_duration_since(Instant::now());
            let got: Vec<&str> = out.iter().map(Received::delivery).collect();
            let next = tokio::time::timeout(left, consumer.next())
                .await
                .unwrap_or_else(|_| {
                    panic!("queue {name}: wanted {ids:?} within {within:?}, got {got:?}")
                })
                .unwrap_or_else(|| panic!("queue {name}: the consumer was cancelled"))
                .unwrap_or_else(|e| panic!("queue {name}: {e}"));
            let m = received_amqp(&next);
            if ids.contains(&m.delivery()) {
                out.push(m);
            }
        }
        out
    }

    /// Every message that arrives until none does for `quiet`.
    pub async fn rest(&mut self, quiet: Duration) -> Vec<Received> {
        let consumer = self.consumer.as_mut().expect("a consuming queue (bind)");
        let mut out = Vec::new();
        while let Ok(Some(Ok(d))) = tokio::time::timeout(quiet, consumer.next()).await {
            out.push(received_amqp(&d));
        }
        out
    }

    /// Every message queue `name` holds, taken off it on a connection of its own.
    pub async fn drain(url: &str, name: &str) -> Vec<Received> {
        let (conn, channel) = connect_amqp(url).await;
        let mut out = Vec::new();
        while let Some(got) = channel
            .basic_get(name.into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap_or_else(|e| panic!("basic.get from {name}: {e}"))
        {
            out.push(received_amqp(&got.delivery));
        }
        let _ = conn.close(200, "done".into()).await;
        out
    }

    /// How many messages queue `name` holds (a passive declare on a connection of its own), or
    /// `None` while the broker does not answer.
    pub async fn count(url: &str, name: &str) -> Option<u32> {
        let conn = tokio::time::timeout(
            Duration::from_secs(2),
            Connection::connect(url, ConnectionProperties::default()),
        )
        .await
        .ok()?
        .ok()?;
        let channel = conn.create_channel().await.ok()?;
        let queue = channel
            .queue_declare(
                name.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .ok();
        let _ = conn.close(200, "done".into()).await;
        queue.map(|q| q.message_count())
    }

    /// Deletes the queue (on a fresh connection: a restart may have closed this one).
    pub async fn delete(mut self) {
        self.deleted = true;
        let _ = self.conn.close(200, "done".into()).await;
        let (conn, channel) = connect_amqp(&self.url).await;
        if let Err(e) = channel
            .queue_delete(self.name.as_str().into(), QueueDeleteOptions::default())
            .await
        {
            eprintln!("could not delete queue {}: {e}", self.name);
        }
        let _ = conn.close(200, "done".into()).await;
    }
}

impl Drop for AmqpQueue {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        let (url, name) = (self.url.clone(), self.name.clone());
        cleanup_blocking(move || async move {
            if let Ok(conn) = Connection::connect(&url, ConnectionProperties::default()).await {
                if let Ok(channel) = conn.create_channel().await {
                    let _ = channel
                        .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
                        .await;
                }
                let _ = conn.close(200, "done".into()).await;
            }
        });
    }
}
