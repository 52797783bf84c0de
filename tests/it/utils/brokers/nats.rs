//! JetStream for the broker tests: a stream over a test's subjects (duplicate window: the
//! default two minutes) read through a pull consumer, deleted at the end or on drop; streams a
//! crashed earlier run left on the same subjects are dropped.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt;

use super::{cleanup_blocking, now_secs, Received, CONNECT_TIMEOUT};

/// Streams this suite makes are named `BH_TEST_<unix secs>_<random>`, so a run can recognise
/// (and drop) one an earlier, crashed run left behind.
const STREAM_PREFIX: &str = "BH_TEST_";
/// A leftover stream older than this is an earlier run's.
const STALE_AFTER_SECS: u64 = 600;

/// Connects to NATS at `url`, or panics saying which server did not answer.
pub async fn connect_nats(url: &str) -> async_nats::Client {
    tokio::time::timeout(CONNECT_TIMEOUT, async_nats::connect(url))
        .await
        .unwrap_or_else(|_| panic!("NATS at {url} did not answer within {CONNECT_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("connect to NATS at {url}: {e}"))
}

fn received_nats(m: &async_nats::Message, sequence: Option<u64>) -> Received {
    let headers: HashMap<String, String> = m
        .headers
        .as_ref()
        .map(|h| {
            h.iter()
                .filter_map(|(name, values)| {
                    let name: &str = name.as_ref();
                    Some((
                        name.to_ascii_lowercase(),
                        values.first()?.as_str().to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    Received {
        subject: m.subject.to_string(),
        exchange: None,
        message_id: headers.get("nats-msg-id").cloned(),
        headers,
        body: m.payload.to_vec(),
        sequence,
        delivery_mode: None,
        content_type: None,
        app_id: None,
    }
}

/// A JetStream stream this test made over `subjects` (duplicate window: the default two
/// minutes), read through a pull consumer (made at the first read, so that it can start after
/// a server restart), deleted by [`JetStream::delete`] or, failing that, on drop.
pub struct JetStream {
    url: String,
    pub js: jetstream::Context,
    pub name: String,
    consumer: Option<consumer::PullConsumer>,
    deleted: bool,
}

impl JetStream {
    /// Creates the stream. Subjects held by another stream of this suite wait for it to go
    /// (a concurrent run), or drop it when it is an earlier run's leftover.
    pub async fn create(url: &str, subjects: &[String]) -> Self {
        let js = jetstream::new(connect_nats(url).await);
        let name = format!(
            "{STREAM_PREFIX}{}_{}",
            now_secs(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let config = stream::Config {
                name: name.clone(),
                subjects: subjects.to_vec(),
                duplicate_window: Duration::from_secs(120),
                storage: stream::StorageType::File,
                ..Default::default()
            };
            match js.create_stream(config).await {
                Ok(_) => break,
                Err(e) => {
                    let holders = drop_stale_streams(&js, subjects).await;
                    assert!(
                        Instant::now() < deadline,
                        "could not create stream {name} over {subjects:?} at {url}: {e} \
                         (streams holding them: {holders:?})"
                    );
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        JetStream {
            url: url.to_owned(),
            js,
            name,
            consumer: None,
            deleted: false,
        }
    }

    async fn consumer(&mut self) -> consumer::PullConsumer {
        if let Some(c) = &self.consumer {
            return c.clone();
        }
        let stream = self
            .js
            .get_stream(&self.name)
            .await
            .unwrap_or_else(|e| panic!("stream {}: {e}", self.name));
        let c: consumer::PullConsumer = stream
            .create_consumer(consumer::pull::Config {
                deliver_policy: consumer::DeliverPolicy::All,
                ack_policy: consumer::AckPolicy::Explicit,
                inactive_threshold: Duration::from_secs(600),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("a pull consumer on {}: {e}", self.name));
        self.consumer = Some(c.clone());
        c
    }

    /// What the consumer gets within `wait` (each message acknowledged), in stream order, up to
    /// `most` messages.
    async fn pull(&mut self, most: usize, wait: Duration) -> Vec<Received> {
        let consumer = self.consumer().await;
        let mut out = Vec::new();
        let mut batch = consumer
            .fetch()
            .max_messages(most.max(1))
            .expires(wait.max(Duration::from_millis(50)))
            .messages()
            .await
            .unwrap_or_else(|e| panic!("fetch from {}: {e}", self.name));
        while let Some(m) = batch.next().await {
            let m = m.unwrap_or_else(|e| panic!("a message from {}: {e}", self.name));
            let sequence = m.info().ok().map(|i| i.stream_sequence);
            out.push(received_nats(&m.message, sequence));
            m.ack()
                .await
                .unwrap_or_else(|e| panic!("ack on {}: {e}", self.name));
        }
        out
    }

    /// The next `n` messages, waiting at most `within`; panics naming what did arrive.
    pub async fn fetch(&mut self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        let mut out = Vec::new();
        while out.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "stream {}: {} of {n} messages within {within:?}; got subjects {:?}",
                self.name,
                out.len(),
                out.iter()
                    .map(|m: &Received| &m.subject)
                    .collect::<Vec<_>>()
            );
            let more = self
                .pull(n - out.len(), left.min(Duration::from_secs(1)))
                .await;
            out.extend(more);
        }
        out
    }

    /// Every message still to come, until none arrives for `quiet`.
    pub async fn rest(&mut self, quiet: Duration) -> Vec<Received> {
        let mut out = Vec::new();
        loop {
            let more = self.pull(500, quiet).await;
            if more.is_empty() {
                return out;
            }
            out.extend(more);
        }
    }

    /// How many messages the stream holds.
    pub async fn messages(&self) -> u64 {
        let mut stream = self
            .js
            .get_stream(&self.name)
            .await
            .unwrap_or_else(|e| panic!("stream {}: {e}", self.name));
        stream
            .info()
            .await
            .unwrap_or_else(|e| panic!("info of stream {}: {e}", self.name))
            .state
            .messages
    }

    /// Publishes `m` again as it came (subject, body, headers, `Nats-Msg-Id` included), as a
    /// sender repeating a publish whose acknowledgement it lost; returns whether the stream
    /// acknowledged it as a duplicate (and so dropped it).
    pub async fn republish(&self, m: &Received) -> bool {
        let mut headers = async_nats::HeaderMap::new();
        for (name, value) in m.headers.iter().filter(|(n, _)| *n != "nats-msg-id") {
            headers.insert(name.as_str(), value.as_str());
        }
        if let Some(id) = &m.message_id {
            headers.insert("Nats-Msg-Id", id.as_str());
        }
        let ack = self
            .js
            .publish_with_headers(m.subject.clone(), headers, m.body.clone().into())
            .await
            .unwrap_or_else(|e| panic!("publish to {}: {e}", m.subject))
            .await
            .unwrap_or_else(|e| panic!("no PubAck from {} for {}: {e}", self.name, m.subject));
        ack.duplicate
    }

    /// Deletes the stream.
    pub async fn delete(mut self) {
        self.deleted = true;
        self.consumer = None;
        if let Err(e) = self.js.delete_stream(&self.name).await {
            eprintln!("could not delete stream {}: {e}", self.name);
        }
    }
}

impl Drop for JetStream {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        let (url, name) = (self.url.clone(), self.name.clone());
        cleanup_blocking(move || async move {
            if let Ok(client) = async_nats::connect(url.as_str()).await {
                let _ = jetstream::new(client).delete_stream(&name).await;
            }
        });
    }
}

/// Deletes the streams of this suite holding `subjects` that an earlier run left behind;
/// returns the names of those holding them.
async fn drop_stale_streams(js: &jetstream::Context, subjects: &[String]) -> Vec<String> {
    let mut holders = Vec::new();
    for subject in subjects {
        let Ok(name) = js.stream_by_subject(subject.as_str()).await else {
            continue;
        };
        holders.push(name.clone());
        let born = name
            .strip_prefix(STREAM_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if born.is_some_and(|b| now_secs().saturating_sub(b) > STALE_AFTER_SECS) {
            eprintln!("dropping stream {name}, left over by an earlier run");
            let _ = js.delete_stream(&name).await;
        }
    }
    holders
}
