//! The `webhook` kind: one signed HTTP POST of the rendered payload (`X-Cirrus-*` headers, and
//! Standard Webhooks headers for `whsec_` secrets, and `X-Cirrus-Attempt`: 1 for the first
//! attempt, counting every attempt of the delivery), at most 64 KiB of the answer read, and the
//! outcome classified: any 2xx is delivered; a 5xx, a 429, a timeout or a connection error is
//! worth the retry (a 429 or 503 with `Retry-After`, in seconds or as an HTTP date, says when);
//! anything else failed (a `410 Gone` also disables the endpoint: `delivery::control`).

use std::time::{Duration, SystemTime};

use buildhooks_entity::{webhook_delivery, webhook_endpoint};
use buildhooks_schema::clock::now_ms;

use super::http::{post, Answered};
use super::outcome::{AttemptError, Class, Outcome};
use super::seam::Sink;
use super::secrets;
use buildhooks_store::secrets::Vault;

/// Signed HTTP POSTs through the guarded client.
pub struct WebhookSink {
    pub client: reqwest::Client,
    pub allow_private: bool,
    /// Opens the endpoints' sealed secrets.
    pub vault: Vault,
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
        let secrets = match secrets::signing(&self.vault, endpoint, now_ms()) {
            Ok(secrets) => secrets,
            Err(error) => return Outcome::refused(error),
        };
        send_signed(
            &self.client,
            delivery,
            &secrets::as_strs(&secrets),
            self.allow_private,
        )
        .await
    }
}

/// The attempt-number header: 1 for a delivery's first attempt, then 2, 3, ... (redeliveries
/// go on counting).
pub const ATTEMPT: &str = "x-cirrus-attempt";

/// The wait a 429 or 503 names in `Retry-After` (RFC 9110 10.2.3: delay-seconds or an
/// HTTP-date), if any; a date in the past is no wait.
pub fn retry_after(answer: &Answered) -> Option<Duration> {
    if answer.status != 429 && answer.status != 503 {
        return None;
    }
    let value = answer.header("retry-after")?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
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

/// Sends `delivery` once, signed with `secret`.
pub async fn send(
    client: &reqwest::Client,
    delivery: &webhook_delivery::Model,
    secret: Option<&str>,
    allow_private: bool,
) -> Outcome {
    send_signed(client, delivery, secret.as_slice(), allow_private).await
}

/// Sends `delivery` once, signed with each of `secrets` (the current one first: see
/// `buildhooks_receiver::sign_all`).
pub async fn send_signed(
    client: &reqwest::Client,
    delivery: &webhook_delivery::Model,
    secrets: &[&str],
    allow_private: bool,
) -> Outcome {
    // Signed with the time the attempt starts, which the attempt log shows.
    let started_at = now_ms();
    let signed = buildhooks_receiver::sign_all(
        secrets,
        &delivery.kind,
        &delivery.uuid,
        started_at,
        delivery.body.as_bytes(),
    );
    let mut headers = signed.pairs();
    headers.push((ATTEMPT, (delivery.attempt_count + 1).to_string()));
    let posted = post(
        client,
        &delivery.url,
        headers,
        delivery.body.clone(),
        allow_private,
    )
    .await;
    let (status, error, excerpt, wait) = match &posted.answer {
        Ok(answer) => (
            Some(answer.status),
            None,
            Some(answer.excerpt()),
            retry_after(answer),
        ),
        Err(error) => (None, Some(*error), None, None),
    };
    let response_headers = posted
        .answer
        .as_ref()
        .ok()
        .and_then(Answered::stored_headers);
    let class = match (classify(status, error), wait) {
        (Class::Retry, Some(wait)) => Class::RetryAfter(wait),
        (class, _) => class,
    };
    Outcome {
        started_at,
        duration_ms: posted.duration_ms,
        status,
        error,
        excerpt,
        response_headers,
        class,
        pause: None,
        sink: "webhook",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::delivery::client;

    const ALL: [AttemptError; 16] = [
        AttemptError::Timeout,
        AttemptError::Connect,
        AttemptError::BlockedTarget,
        AttemptError::InvalidUrl,
        AttemptError::Body,
        AttemptError::Request,
        AttemptError::EndpointDisabled,
        AttemptError::EndpointRemoved,
        AttemptError::UnknownKind,
        AttemptError::Vendor,
        AttemptError::RateLimited,
        AttemptError::Message,
        AttemptError::UnknownBroker,
        AttemptError::Unroutable,
        AttemptError::Nacked,
        AttemptError::Secret,
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
                "unknown_kind",
                "vendor_error",
                "rate_limited",
                "message",
                "unknown_broker",
                "unroutable",
                "nacked",
                "secret"
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
            response_headers: None,
            class: classify(None, Some(error)),
            pause: None,
            sink: "webhook",
        }
    }

    fn answer(status: u16, retry_after: Option<&str>) -> Answered {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(v) = retry_after {
            headers.insert(
                reqwest::header::RETRY_AFTER,
                reqwest::header::HeaderValue::from_str(v).expect("value"),
            );
        }
        Answered {
            status,
            headers,
            body: Vec::new(),
        }
    }

    #[test]
    fn retry_after_is_read_on_429_and_503_in_seconds_or_as_a_date() {
        assert_eq!(
            retry_after(&answer(503, Some("2"))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after(&answer(429, Some(" 120 "))),
            Some(Duration::from_secs(120))
        );
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let wait = retry_after(&answer(503, Some(&later))).expect("a date");
        assert!(
            wait <= Duration::from_secs(30) && wait >= Duration::from_secs(28),
            "{wait:?}"
        );
        let past = "Wed, 21 Oct 2015 07:28:00 GMT";
        assert_eq!(retry_after(&answer(503, Some(past))), Some(Duration::ZERO));
        assert_eq!(retry_after(&answer(500, Some("2"))), None);
        assert_eq!(retry_after(&answer(503, Some("soon"))), None);
        assert_eq!(retry_after(&answer(503, None)), None);
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
