//! One HTTP attempt of a delivery: sign, POST, read at most 64 KiB of the answer, and classify
//! the outcome (status, or an error kind: `timeout`, `connect`, `blocked_target`, ...).

use std::time::Instant;

use buildhooks_entity::webhook_delivery;
use buildhooks_schema::clock::now_ms;
use buildhooks_schema::memo::Memo;
use buildhooks_schema::webhook::target::{resolve_allowed, Mixed};

use super::client::BlockedTarget;

/// Target URLs, parsed: a delivery's URL is one of its organization's few endpoint URLs, and
/// parsing it each time cost 3.5% of a signed POST's instructions (callgrind, `--mode raw`).
static URLS: Memo<reqwest::Url> = Memo::new(1_024, 2_048);

/// Most response bytes read.
pub const MAX_RESPONSE_READ: usize = 64 * 1024;
/// Most response bytes stored with the attempt.
pub const MAX_RESPONSE_STORED: usize = 4 * 1024;

/// What one attempt came to.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub started_at: i64,
    pub duration_ms: i64,
    pub status: Option<u16>,
    pub error: Option<&'static str>,
    pub excerpt: Option<String>,
}

impl Outcome {
    /// Any 2xx.
    pub fn is_success(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// 5xx, 429, a timeout or a connection error: worth the single retry.
    pub fn is_retryable(&self) -> bool {
        match (self.status, self.error) {
            (Some(s), _) => s >= 500 || s == 429,
            (None, Some(e)) => matches!(e, "timeout" | "connect"),
            (None, None) => false,
        }
    }
}

fn classify(error: &reqwest::Error) -> &'static str {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<BlockedTarget>() {
            return "blocked_target";
        }
        source = e.source();
    }
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_body() || error.is_decode() {
        "body"
    } else {
        "request"
    }
}

/// reqwest connects to an IP-literal host without asking the resolver, so the literal is judged
/// here, by the function that judges names (and the save-time check).
async fn blocked_literal(url: &reqwest::Url) -> bool {
    match (url.host(), url.host_str()) {
        (Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)), Some(host)) => {
            resolve_allowed(host, 0, false, Mixed::Drop).await.is_err()
        }
        _ => false,
    }
}

/// Sends `delivery` once, signed with `secret`.
pub async fn send(
    client: &reqwest::Client,
    delivery: &webhook_delivery::Model,
    secret: Option<&str>,
    allow_private: bool,
) -> Outcome {
    let started_at = now_ms();
    let clock = Instant::now();
    let finish =
        |status: Option<u16>, error: Option<&'static str>, excerpt: Option<String>| Outcome {
            started_at,
            duration_ms: clock.elapsed().as_millis() as i64,
            status,
            error,
            excerpt,
        };
    let Some(url) = URLS.get(&delivery.url, |u| reqwest::Url::parse(u).ok()) else {
        return finish(None, Some("invalid_url"), None);
    };
    if !allow_private && blocked_literal(&url).await {
        return finish(None, Some("blocked_target"), None);
    }
    let signed = buildhooks_receiver::sign(
        secret,
        &delivery.kind,
        &delivery.uuid,
        started_at,
        delivery.body.as_bytes(),
    );
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(delivery.body.clone());
    for (name, value) in signed.pairs() {
        request = request.header(name, value);
    }
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(e) => return finish(None, Some(classify(&e)), None),
    };
    let status = response.status().as_u16();
    let mut read = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_RESPONSE_READ - read.len();
                read.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if read.len() >= MAX_RESPONSE_READ {
                    break;
                }
            }
            Ok(None) => break,
            // The status arrived; a broken or slow body does not change the verdict.
            Err(_) => break,
        }
    }
    read.truncate(MAX_RESPONSE_STORED);
    let excerpt = String::from_utf8_lossy(&read).into_owned();
    finish(Some(status), None, Some(excerpt))
}
