//! The benchmark's JetStream consumer for `--kind nats`: a stream over the run's subjects
//! (`<prefix>.>`; buildhooks publishes to JetStream but leaves streams to the operator) and an
//! ordered consumer on it that notes each message's `x-cirrus-delivery`. Counting at a JetStream
//! consumer, not a core subscription, means a publish that JetStream's duplicate window dropped
//! (same `Nats-Msg-Id`) is not counted twice: only what a consumer would really see twice is a
//! duplicate. The stream is deleted when the run ends.

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, consumer::pull, stream};
use futures::StreamExt;
use tokio::task::JoinHandle;

use crate::receiver::Arrivals;

/// A stream left behind by a run that was killed expires after this.
const STREAM_MAX_AGE: Duration = Duration::from_secs(3600);

/// A running consumer and the stream it reads.
pub(crate) struct Consumer {
    js: jetstream::Context,
    stream: String,
    task: JoinHandle<()>,
}

impl Consumer {
    /// Connects to `url`, creates the stream for `<prefix>.>` and starts consuming it.
    pub async fn start(url: &str, prefix: &str, arrivals: Arrivals) -> anyhow::Result<Self> {
        let client = async_nats::connect(url).await.with_context(|| {
            format!("connect to NATS at {url} (start it with: nats-server -js)")
        })?;
        let js = jetstream::new(client);
        // Stream names may not hold `.`: the prefix's dots become underscores.
        let name = prefix.replace('.', "_").to_uppercase();
        let stream = js
            .create_stream(stream::Config {
                name: name.clone(),
                subjects: vec![format!("{prefix}.>")],
                max_age: STREAM_MAX_AGE,
                ..Default::default()
            })
            .await
            .with_context(|| {
                format!(
                    "create the JetStream stream {name} (is JetStream enabled: nats-server -js?)"
                )
            })?;
        let mut messages = stream
            .create_consumer(pull::OrderedConfig::default())
            .await
            .context("create the ordered consumer")?
            .messages()
            .await
            .context("consume the stream")?;
        let task = tokio::spawn(async move {
            while let Some(message) = messages.next().await {
                // An ordered consumer recreates itself after a gap; errors are not messages.
                if let Ok(message) = message {
                    arrivals.note(delivery_id(&message.message));
                }
            }
        });
        Ok(Consumer {
            js,
            stream: name,
            task,
        })
    }

    /// Stops consuming and deletes the stream.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.task.abort();
        self.js
            .delete_stream(&self.stream)
            .await
            .with_context(|| format!("delete the JetStream stream {}", self.stream))?;
        Ok(())
    }
}

/// The message's `x-cirrus-delivery` header (names compared without case), else its
/// `Nats-Msg-Id`, else "".
fn delivery_id(message: &async_nats::Message) -> String {
    let Some(headers) = &message.headers else {
        return String::new();
    };
    let find = |wanted: &str| {
        headers
            .iter()
            .find(|(name, _)| AsRef::<str>::as_ref(name).eq_ignore_ascii_case(wanted))
            .and_then(|(_, values)| values.first())
            .map(|value| value.as_str().to_owned())
    };
    find("x-cirrus-delivery")
        .or_else(|| find("nats-msg-id"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs a JetStream server: `BUILDHOOKS_TEST_NATS_URL` (as the broker tests), else skipped.
    #[tokio::test]
    async fn counts_a_published_message_once_by_its_delivery_id() -> anyhow::Result<()> {
        let Ok(url) = std::env::var("BUILDHOOKS_TEST_NATS_URL") else {
            eprintln!("BUILDHOOKS_TEST_NATS_URL unset: skipped");
            return Ok(());
        };
        let prefix = format!(
            "bhbench.test{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let arrivals = Arrivals::default();
        let consumer = Consumer::start(&url, &prefix, arrivals.clone()).await?;
        let js = jetstream::new(async_nats::connect(&url).await?);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("x-cirrus-delivery", "d-1");
        headers.insert("Nats-Msg-Id", "d-1");
        // The same id twice: JetStream's duplicate window keeps one.
        for _ in 0..2 {
            js.publish_with_headers(
                format!("{prefix}.task.failed"),
                headers.clone(),
                "{}".into(),
            )
            .await?
            .await?;
        }
        crate::wait_for(&arrivals, 1, Duration::from_secs(2)).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        consumer.stop().await?;
        assert_eq!(arrivals.counts(), (1, 1));
        assert!(arrivals.first_arrivals().contains_key("d-1"));
        Ok(())
    }
}
