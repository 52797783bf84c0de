//! The `webhook` kind: one signed HTTP POST of the rendered payload (`X-Cirrus-*` headers, and
//! Standard Webhooks headers for `whsec_` secrets), at most 64 KiB of the answer read, and the
//! outcome classified: any 2xx is delivered; a 5xx, a 429, a timeout or a connection error is
//! worth the retry; anything else failed.

use std::time::Instant;

use buildhooks_entity::{webhook_delivery, webhook_endpoint};
use buildhooks_schema::clock::now_ms;
use buildhooks_schema::memo::Memo;
use buildhooks_schema::webhook::target::{resolve_allowed, Mixed};

use super::{AttemptError, Class, Outcome, Sink};

/// Target URLs, parsed: a delivery's URL is one of its organization's few endpoint URLs, and
/// parsing it each time cost 3.5% of a signed POST's instructions (callgrind, `--mode raw`).
static URLS: Memo<reqwest::Url> = Memo::new(1_024, 2_048);

/// Most response bytes read.
pub const MAX_RESPONSE_READ: usize = 64 * 1024;
/// Most response bytes stored with the attempt.
pub const MAX_RESPONSE_STORED: usize = 4 * 1024;

/// Signed HTTP POSTs through the guarded client.
pub struct WebhookSink {
    pub client: reqwest::Client,
    pub allow_private: bool,
}

#[async_trait::async_trait]
impl Sink for WebhookSink {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    async fn attempt(
        &self,
        delivery: &webhook_delivery::Model,
        endpoint: &webhook_endpoint::Model,
    ) -> Outcome {
        send(
            &self.client,
            delivery,
            endpoint.secret.as_deref(),
            self.allow_private,
        )
        .await
    }
}

/// How the webhook kind classifies an answer (`status`) or its absence (`error`).
pub fn classify(status: Option<u16>, error: Option<AttemptError>) -> Class {
    match (status, error) {
        (Some(s), _) if (200..300).contains(&s) => Class::Delivered,
        (Some(s), _) if s >= 500 || s == 429 => Class::Retry,
        (None, Some(e)) if e.retryable() => Class::Retry,
        _ => Class::Failed,
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
        |status: Option<u16>, error: Option<AttemptError>, excerpt: Option<String>| Outcome {
            started_at,
            duration_ms: clock.elapsed().as_millis() as i64,
            status,
            error,
            excerpt,
            class: classify(status, error),
        };
    let Some(url) = URLS.get(&delivery.url, |u| reqwest::Url::parse(u).ok()) else {
        return finish(None, Some(AttemptError::InvalidUrl), None);
    };
    if !allow_private && blocked_literal(&url).await {
        return finish(None, Some(AttemptError::BlockedTarget), None);
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
        Err(e) => return finish(None, Some(AttemptError::of(&e)), None),
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::delivery::client;

    const ALL: [AttemptError; 9] = [
        AttemptError::Timeout,
        AttemptError::Connect,
        AttemptError::BlockedTarget,
        AttemptError::InvalidUrl,
        AttemptError::Body,
        AttemptError::Request,
        AttemptError::EndpointDisabled,
        AttemptError::EndpointRemoved,
        AttemptError::UnknownKind,
    ];

    #[test]
    fn codes_are_the_stored_names() {
        let codes: Vec<_> = ALL.iter().map(|e| e.code()).collect();
        assert_eq!(
            codes,
            [
                "timeout",
                "connect",
                "blocked_target",
                "invalid_url",
                "body",
                "request",
                "endpoint_disabled",
                "endpoint_removed",
                "unknown_kind"
            ]
        );
        let retried: Vec<_> = ALL.into_iter().filter(|e| e.retryable()).collect();
        assert_eq!(retried, [AttemptError::Timeout, AttemptError::Connect]);
    }

    fn failed(error: AttemptError) -> Outcome {
        Outcome {
            started_at: 0,
            duration_ms: 0,
            status: None,
            error: Some(error),
            excerpt: None,
            class: classify(None, Some(error)),
        }
    }

    #[test]
    fn only_a_timeout_or_a_connection_error_is_retried_without_a_status() {
        for error in ALL {
            assert_eq!(
                failed(error).class == Class::Retry,
                error.retryable(),
                "{error}"
            );
            assert_eq!(failed(error).error_code(), Some(error.code()));
        }
    }

    /// reqwest's own error for a POST to `url` with `client`.
    async fn error_of(client: &reqwest::Client, url: &str) -> AttemptError {
        let sent = client.post(url).body("{}").send().await;
        AttemptError::of(&sent.expect_err("the request fails"))
    }

    #[tokio::test]
    async fn reqwest_errors_are_classified_by_type() {
        let client = client::build(Duration::from_millis(200), true).expect("client");
        // A port nobody listens on any more: refused.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        let url = format!("http://127.0.0.1:{port}/");
        assert_eq!(error_of(&client, &url).await, AttemptError::Connect);
        // A receiver that accepts and never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/", silent.local_addr().expect("addr"));
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((stream, _)) = silent.accept().await {
                open.push(stream);
            }
        });
        assert_eq!(error_of(&client, &url).await, AttemptError::Timeout);
        held.abort();
        // The guarded resolver refuses a name that resolves only to loopback.
        let guarded = client::build(Duration::from_millis(200), false).expect("client");
        assert_eq!(
            error_of(&guarded, "http://localhost:9/").await,
            AttemptError::BlockedTarget
        );
    }
}
