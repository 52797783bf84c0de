//! Where a run's deliveries arrive, by `--kind`: the benchmark's HTTP receiver for `webhook`, a
//! JetStream consumer for `nats`, a RabbitMQ queue for `amqp`. Each notes the delivery id of
//! every message in the same [`Arrivals`], so every mode counts lost and duplicated deliveries
//! and measures rates the same way whatever the sink. A broker sink also says what the server
//! under test must be told (`Config.brokers`) and what endpoint to save (`kind`, `broker`,
//! `subject`, `exchange`), and removes what it made on the broker when the run ends.

use buildhooks_server::config::Config;
use serde_json::{json, Value};

use crate::receiver::{self, Arrivals};
use crate::{amqp, nats, Kind};

/// The name the benchmark gives its broker in `Config.brokers`.
const BROKER: &str = "bench";

/// The consumer a run's deliveries arrive at.
pub(crate) struct Sink {
    /// What it is.
    pub kind: Kind,
    /// Every delivery that arrived, by delivery id.
    pub arrivals: Arrivals,
    /// The `deliveryEndpoints` entry that points at it (without events, repository, secret and
    /// limits, which every kind shares).
    pub endpoint: Value,
    /// `Config.brokers` for the server under test (`bench=<url>`); `None` for webhooks.
    brokers: Option<String>,
    consumer: Consumer,
}

enum Consumer {
    Webhook,
    Nats(nats::Consumer),
    Amqp(amqp::Consumer),
}

/// The part of the subject (NATS) or routing key (AMQP) that is this run's alone: consumers,
/// streams and bindings of other runs never see its messages.
fn run_prefix() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("bhbench.{}", &id[..12])
}

impl Sink {
    /// Starts the consumer of `kind`; a broker's at `broker_url` (or its local default).
    pub async fn start(kind: Kind, broker_url: Option<&str>) -> anyhow::Result<Self> {
        let arrivals = Arrivals::default();
        let url = broker_url.unwrap_or(kind.default_broker_url()).to_owned();
        let (endpoint, consumer) = match kind {
            Kind::Webhook => {
                let url = receiver::start(arrivals.clone()).await?;
                (json!({ "webhookURL": url }), Consumer::Webhook)
            }
            Kind::Nats => {
                let prefix = run_prefix();
                let consumer = nats::Consumer::start(&url, &prefix, arrivals.clone()).await?;
                let endpoint = json!({
                    "kind": "NATS",
                    "broker": BROKER,
                    "subject": format!("{prefix}.{{event}}.{{status}}"),
                });
                (endpoint, Consumer::Nats(consumer))
            }
            Kind::Amqp => {
                let prefix = run_prefix();
                let consumer = amqp::Consumer::start(&url, &prefix, arrivals.clone()).await?;
                let endpoint = json!({
                    "kind": "AMQP",
                    "broker": BROKER,
                    "exchange": amqp::EXCHANGE,
                    "subject": format!("{prefix}.{{event}}.{{status}}"),
                });
                (endpoint, Consumer::Amqp(consumer))
            }
        };
        let brokers = (kind != Kind::Webhook).then(|| format!("{BROKER}={url}"));
        Ok(Sink {
            kind,
            arrivals,
            endpoint,
            brokers,
            consumer,
        })
    }

    /// Names the sink's broker in the configuration of the server under test.
    pub fn configure(&self, config: &mut Config) {
        if let Some(brokers) = &self.brokers {
            config.brokers = Some(brokers.clone());
        }
    }

    /// Stops consuming and deletes the run's stream or queue (the webhook receiver just stays
    /// idle until the process ends, as it always has).
    pub async fn stop(self) -> anyhow::Result<()> {
        match self.consumer {
            Consumer::Webhook => Ok(()),
            Consumer::Nats(consumer) => consumer.stop().await,
            Consumer::Amqp(consumer) => consumer.stop().await,
        }
    }
}
