//! The sender's side of inbound sources (issue 16): each vendor's signing recipe computed here
//! with `hmac`, `sha2`, `hex` and `base64` (never with buildhooks code), posting to
//! `/hooks/in/{id}` with exactly the given headers, the answers the contract promises
//! (`applied`, `duplicate`, `ignored`, refusals), and the vendors' example payloads kept in
//! `tests/fixtures/inbound/`.

use std::path::Path;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::TestApp;

/// The JSON content type every accepted request carries.
pub const JSON: (&str, &str) = ("content-type", "application/json");

/// A created source and the secrets its creation showed once.
#[derive(Clone, Debug)]
pub struct Source {
    pub id: String,
    /// The secret (GitHub webhook secret, GitLab token, generic token).
    pub secret: String,
    /// GitLab's Standard Webhooks key (`whsec_...`), when asked for.
    pub signing_secret: Option<String>,
    /// The source as the create payload showed it.
    pub fields: Value,
}

impl Source {
    /// The path senders post to.
    pub fn path(&self) -> String {
        format!("/hooks/in/{}", self.id)
    }
}

// GitHub: "Validating webhook deliveries",
// https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
// `X-Hub-Signature-256` is "sha256=" and the lower-case hex HMAC-SHA256 of the raw body, keyed
// with the webhook secret.
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

// Standard Webhooks, "Signature scheme",
// https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
// (GitLab: https://docs.gitlab.com/user/project/integrations/webhooks/#signing-tokens): the key
// is the base64 text after `whsec_`; the signed content is "{webhook-id}.{webhook-timestamp}.{body}"
// with the timestamp in seconds; the header is "v1," and the base64 HMAC-SHA256.
pub fn standard_signature(whsec: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = base64::engine::general_purpose::STANDARD
        .decode(whsec.strip_prefix("whsec_").expect("a whsec_ key"))
        .expect("the key after whsec_ is base64");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// Seconds since the epoch.
pub fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// A fresh delivery id or idempotency key.
pub fn unique() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// POSTs `body` to `path` (with its query) with exactly `headers`; returns the status and the
/// JSON answer (`{"raw": text}` when it is not JSON).
pub async fn post(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    let mut req = app.client.post(app.url(path)).body(body.to_vec());
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
    (status, json)
}

/// HEAD on `/hooks/in/{id}`; returns the status.
pub async fn head(app: &TestApp, id: &str) -> u16 {
    app.client
        .head(app.url(&format!("/hooks/in/{id}")))
        .send()
        .await
        .expect("HEAD")
        .status()
        .as_u16()
}

/// A GitHub delivery of `event` with the id `delivery`, signed with `secret`.
pub async fn github_as(
    app: &TestApp,
    source_id: &str,
    secret: &str,
    event: &str,
    delivery: &str,
    body: &[u8],
) -> (u16, Value) {
    let signature = github_signature(secret, body);
    post(
        app,
        &format!("/hooks/in/{source_id}"),
        &[
            JSON,
            ("x-github-event", event),
            ("x-github-delivery", delivery),
            ("x-hub-signature-256", &signature),
            ("user-agent", "GitHub-Hookshot/test"),
        ],
        body,
    )
    .await
}

/// A GitHub delivery of `event` to `source`, signed with its secret, with a fresh delivery id.
pub async fn github(app: &TestApp, source: &Source, event: &str, body: &[u8]) -> (u16, Value) {
    github_as(app, &source.id, &source.secret, event, &unique(), body).await
}

/// A GitLab hook of `event` (`Pipeline Hook`, `Job Hook`) with `source`'s token and a fresh
/// `Idempotency-Key`.
pub async fn gitlab(app: &TestApp, source: &Source, event: &str, body: &Value) -> (u16, Value) {
    let key = unique();
    post(
        app,
        &source.path(),
        &[
            JSON,
            ("x-gitlab-event", event),
            ("x-gitlab-token", &source.secret),
            ("idempotency-key", &key),
        ],
        &serde_json::to_vec(body).expect("JSON"),
    )
    .await
}

/// An answer that must be `applied`; returns (build id, task id).
pub fn applied(answer: &(u16, Value)) -> (String, Option<String>) {
    let (status, body) = answer;
    assert_eq!(*status, 200, "not applied: {body}");
    assert_eq!(body["result"], "applied", "{body}");
    let build = body["buildId"].as_str().expect("buildId").to_owned();
    (build, body["taskId"].as_str().map(str::to_owned))
}

/// The `events` count of an applied answer.
pub fn events_of(answer: &(u16, Value)) -> u64 {
    answer.1["events"].as_u64().expect("events")
}

/// An answer that must be a refusal with this status and `{"error": {"code"}}`.
pub fn refused(answer: &(u16, Value), status: u16, code: &str, what: &str) {
    assert_eq!(answer.0, status, "{what}: {}", answer.1);
    assert_eq!(answer.1["error"]["code"], code, "{what}: {}", answer.1);
    assert!(
        answer.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: a refusal says why: {}",
        answer.1
    );
}

/// An answer that must be 202 ignored, with its reason.
pub fn ignored(answer: &(u16, Value), what: &str) {
    assert_eq!(answer.0, 202, "{what}: {}", answer.1);
    assert_eq!(answer.1["result"], "ignored", "{what}: {}", answer.1);
    assert!(
        answer.1["ignored"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: an ignored request says why: {}",
        answer.1
    );
}

/// A fixture's raw bytes, from `tests/fixtures/inbound/`.
pub fn fixture(path: &str) -> Vec<u8> {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/inbound")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("fixture {}: {e}", full.display()))
}

/// A fixture, parsed.
pub fn fixture_json(path: &str) -> Value {
    serde_json::from_slice(&fixture(path)).expect("fixture is JSON")
}

/// The recipes above reproduce the examples the vendors publish, so a refusal in a test is the
/// server's, never the test's own signing.
#[test]
fn the_signing_recipes_match_the_vendors_published_examples() {
    // GitHub's "Testing the webhook payload validation" example, same page as the recipe.
    assert_eq!(
        github_signature("It's a Secret to Everybody", b"Hello, World!"),
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
    // The Standard Webhooks reference libraries' test vector
    // (https://github.com/standard-webhooks/standard-webhooks, libraries' `webhooks` tests).
    assert_eq!(
        standard_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        ),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
}
