//! Real brokers for the broker-sink tests (issue 17): where the shared NATS and RabbitMQ are
//! (`BUILDHOOKS_TEST_NATS_URL`, `BUILDHOOKS_TEST_AMQP_URL`; missing is fatal under `CI=true`),
//! one shape for a message either broker carried ([`Received`]), and the signature check: by
//! the receiver crate and, independently, by hand with `hmac`/`sha2`. A JetStream stream with a
//! pull consumer (`nats`) and a RabbitMQ queue (`amqp`) are made and dropped by each test (their
//! `Drop` deletes them on a fresh connection when a test panics first).

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;

mod amqp;
mod nats;

pub use amqp::{connect_amqp, declare_exchange, delete_exchange, AmqpQueue};
pub use nats::JetStream;

/// The shared NATS server (with JetStream), e.g. `nats://127.0.0.1:4222`.
pub const NATS_ENV: &str = "BUILDHOOKS_TEST_NATS_URL";
/// The shared RabbitMQ, e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`.
pub const AMQP_ENV: &str = "BUILDHOOKS_TEST_AMQP_URL";
/// The exchange AMQP endpoints publish to unless they name one.
pub const DEFAULT_EXCHANGE: &str = "buildhooks";
/// How long a broker has to answer a test's connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn from_env(var: &str, what: &str, example: &str) -> Option<String> {
    match std::env::var(var).ok().filter(|v| !v.trim().is_empty()) {
        Some(url) => Some(url),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but {var} is not set: .ci/run starts {what} and sets it (e.g. {var}={example})")
        }
        None => {
            eprintln!("skipped: this test needs {what}; set {var}={example} (.ci/run does)");
            None
        }
    }
}

/// The shared NATS server's URL, or `None` (with the reason printed) outside CI.
pub fn nats_url() -> Option<String> {
    from_env(NATS_ENV, "NATS with JetStream", "nats://127.0.0.1:4222")
}

/// The shared RabbitMQ's URL, or `None` (with the reason printed) outside CI.
pub fn amqp_url() -> Option<String> {
    from_env(
        AMQP_ENV,
        "RabbitMQ",
        "amqp://guest:guest@127.0.0.1:5672/%2f",
    )
}

/// A lower-case token unique to this call: `<prefix><12 hex>`, valid in subjects, routing
/// keys, queue and exchange names.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Runs `cleanup` to completion on a thread of its own with its own runtime: for `Drop`, where
/// the test's runtime may be unwinding (and a current-thread runtime could not drive it).
pub(crate) fn cleanup_blocking<F, Fut>(cleanup: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let worker = std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(async {
                let _ = tokio::time::timeout(Duration::from_secs(5), cleanup()).await;
            });
        }
    });
    let _ = worker.join();
}

/// One message as a consumer got it, whichever broker carried it.
#[derive(Clone, Debug)]
pub struct Received {
    /// The NATS subject or the AMQP routing key.
    pub subject: String,
    /// The AMQP exchange it came through (`None` for NATS).
    pub exchange: Option<String>,
    /// Header names lower-cased; the first value of each.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// `Nats-Msg-Id`, or the AMQP `message_id` property.
    pub message_id: Option<String>,
    /// JetStream's stream sequence.
    pub sequence: Option<u64>,
    /// AMQP properties.
    pub delivery_mode: Option<u8>,
    pub content_type: Option<String>,
    pub app_id: Option<String>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The `x-cirrus-delivery` header ("" when missing).
    pub fn delivery(&self) -> &str {
        self.header("x-cirrus-delivery").unwrap_or_default()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("a message body that is not JSON ({e}): {self:?}"))
    }
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Asserts that `m` is signed with `secret`: `buildhooks_receiver::verify_message` accepts it
/// (and refuses another secret and a changed body), and the signatures match ones computed
/// here with `hmac`/`sha2` alone: `x-cirrus-signature` is the hex HMAC-SHA256 of the body keyed
/// with the secret's bytes; with a `whsec_` secret, `webhook-signature` holds `v1,<base64>` of
/// the HMAC of `<webhook-id>.<webhook-timestamp>.<body>` keyed with the decoded secret.
pub fn assert_signed(secret: &str, m: &Received) {
    let now = now_secs() as i64;
    let header = |name: &str| m.headers.get(name).map(String::as_str);
    assert_eq!(
        buildhooks_receiver::verify_message(secret, header, &m.body, now),
        Ok(()),
        "the receiver crate verifies the message: {m:?}"
    );
    assert!(
        buildhooks_receiver::verify_message("another-secret", header, &m.body, now).is_err(),
        "another secret is refused"
    );
    let mut changed = m.body.clone();
    changed.push(b' ');
    assert!(
        buildhooks_receiver::verify_message(secret, header, &changed, now).is_err(),
        "a changed body is refused"
    );
    let expected = hex::encode(hmac_sha256(secret.as_bytes(), &[&m.body]));
    assert_eq!(
        m.header("x-cirrus-signature"),
        Some(expected.as_str()),
        "x-cirrus-signature is the hex HMAC-SHA256 of the body"
    );
    if let Some(encoded) = secret.strip_prefix("whsec_") {
        let key = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("a whsec_ secret is base64");
        let id = m
            .header("webhook-id")
            .expect("webhook-id with a whsec_ secret");
        let ts = m
            .header("webhook-timestamp")
            .expect("webhook-timestamp with a whsec_ secret");
        assert_eq!(id, m.delivery(), "webhook-id is the delivery id");
        let mac = hmac_sha256(&key, &[id.as_bytes(), b".", ts.as_bytes(), b".", &m.body]);
        let want = format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac)
        );
        let got = m
            .header("webhook-signature")
            .expect("webhook-signature with a whsec_ secret");
        assert!(
            got.split(' ').any(|s| s == want),
            "webhook-signature {got:?} holds {want:?}"
        );
    }
}
