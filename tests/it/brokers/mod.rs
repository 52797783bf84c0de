//! Broker sinks (issue 17), end to end against the real NATS JetStream and RabbitMQ named by
//! `BUILDHOOKS_TEST_NATS_URL` / `BUILDHOOKS_TEST_AMQP_URL` (see `utils::brokers`): a transition
//! reaches a JetStream consumer (`nats`) and a bound queue (`amqp`) signed as webhooks are; a
//! broker restarted mid-load loses nothing (`restart`); bad broker names and subject templates
//! are refused at save (`settings`, which needs only configuration). The GraphQL shapes follow
//! the lead's contract (`/work/notes/issue17-contract.md`).
//! Shared here: a server configured with the brokers `bus` (NATS) and `rabbit` (AMQP), saving
//! broker endpoints, redelivering, and the lock that keeps RabbitMQ's restart away from the
//! other AMQP tests.

mod amqp;
mod nats;
mod restart;
mod settings;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::RwLock;

use crate::utils::{Org, TestApp};

/// RabbitMQ's restart test holds this for write; every other AMQP test holds it for read for
/// its whole run, so none of them sees the broker go away.
pub static RESTART: RwLock<()> = RwLock::const_new(());

/// The broker the NATS endpoints name.
pub const NATS_BROKER: &str = "bus";
/// The broker the AMQP endpoints name.
pub const AMQP_BROKER: &str = "rabbit";

/// Every field of an endpoint a broker test reads back.
pub const ENDPOINT_FIELDS: &str = "id kind webhookURL broker subject exchange maskedSecretToken
    generatedSecretToken events ordering enabled";

/// The operator's broker list for `nats` and `amqp` (either may be absent).
pub fn broker_list(nats: Option<&str>, amqp: Option<&str>) -> String {
    let mut entries = Vec::new();
    if let Some(url) = nats {
        entries.push(format!("{NATS_BROKER}={url}"));
    }
    if let Some(url) = amqp {
        entries.push(format!("{AMQP_BROKER}={url}"));
    }
    entries.join(",")
}

/// A server whose operator configured `bus` at `nats` and `rabbit` at `amqp`, after `adjust`.
pub async fn spawn(
    nats: Option<&str>,
    amqp: Option<&str>,
    adjust: impl FnOnce(&mut buildhooks_server::Config),
) -> TestApp {
    let brokers = broker_list(nats, amqp);
    TestApp::spawn_with(|config| {
        config.brokers = Some(brokers);
        adjust(config);
    })
    .await
}

/// Saves `endpoints` for `org`; returns the whole response (errors included).
pub async fn save(app: &TestApp, org: &Org, endpoints: Value) -> Value {
    app.gql_as(
        &org.token,
        &format!(
            "mutation($i: SaveWebHookSettingsInput!) {{ saveWebHookSettings(input: $i) {{
                settings {{ endpoints {{ {ENDPOINT_FIELDS} }} }} }} }}"
        ),
        json!({ "i": { "ownerUid": org.uid, "deliveryEndpoints": endpoints } }),
    )
    .await
}

/// Saves `endpoints` for the app's organization, which must succeed; returns them as saved.
pub async fn save_ok(app: &TestApp, endpoints: Value) -> Vec<Value> {
    let resp = save(app, &app.org, endpoints).await;
    assert!(resp.get("errors").is_none(), "save refused: {resp}");
    resp["data"]["saveWebHookSettings"]["settings"]["endpoints"]
        .as_array()
        .expect("endpoints")
        .clone()
}

/// The organization's endpoints as `webhookSettings` shows them.
pub async fn settings(app: &TestApp, org: &Org) -> Value {
    let resp = app
        .gql_as(
            &org.token,
            &format!(
                "{{ ownerInfo {{ webhookSettings {{ endpoints {{ {ENDPOINT_FIELDS} }} }} }} }}"
            ),
            json!({}),
        )
        .await;
    assert!(resp.get("errors").is_none(), "{resp}");
    resp["data"]["ownerInfo"]["webhookSettings"]["endpoints"].clone()
}

/// `webhookRedeliver` of delivery `id`, which must be accepted.
pub async fn redeliver(app: &TestApp, id: &str) {
    let resp = app
        .gql(
            "mutation($i: WebhookRedeliverInput!) { webhookRedeliver(input: $i) { delivery { id state } } }",
            json!({ "i": { "deliveryId": id } }),
        )
        .await;
    assert!(resp.get("errors").is_none(), "redeliver refused: {resp}");
}

/// Delivery `id` once it is final with at least `attempts` attempts on record (a message can
/// reach its consumer before the outcome is recorded), or as it is after 15 s.
pub async fn settled(app: &TestApp, id: &str, attempts: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let d = crate::chat::delivery(app, &app.org, id).await;
        let recorded = d["attempts"].as_array().map_or(0, Vec::len);
        let done = crate::chat::is_final(&d) && d["attemptCount"] == recorded;
        if (done && recorded >= attempts) || Instant::now() > deadline {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The attempts of a delivery as (status, error) pairs.
pub fn attempts(delivery: &Value) -> Vec<(Value, Value)> {
    delivery["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| (a["status"].clone(), a["error"].clone()))
        .collect()
}

/// The id of a delivery.
pub fn id_of(delivery: &Value) -> &str {
    delivery["id"].as_str().expect("delivery id")
}

/// Asserts a delivery reached its broker at the first try: DELIVERED, one attempt, no HTTP
/// status, no error.
pub fn assert_delivered_once(d: &Value) {
    assert_eq!(d["state"], "DELIVERED", "{d}");
    assert_eq!(
        attempts(d),
        [(Value::Null, Value::Null)],
        "one attempt, no HTTP status, no error: {d}"
    );
}
