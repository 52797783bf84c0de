//! One HTTP attempt of a delivery: sign, POST, read at most 64 KiB of the answer, and classify
//! the outcome: a status, or an [`AttemptError`] told from reqwest's typed error (its predicates
//! and source chain), whose stable code (`timeout`, `connect`, `blocked_target`, ...) is what the
//! attempt row stores.

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

/// Why an attempt received no HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptError {
    /// The connect or total timeout elapsed.
    Timeout,
    /// No connection: refused, reset, a name that does not resolve, a failed TLS handshake.
    Connect,
    /// The target is an address a webhook must never reach: an IP literal, or a name whose every
    /// address is blocked (the client's resolver refuses it with [`BlockedTarget`]).
    BlockedTarget,
    /// The stored URL does not parse.
    InvalidUrl,
    /// The request body could not be sent, or the answer could not be read.
    Body,
    /// Any other failure of the request.
    Request,
    /// The endpoint was disabled after the delivery was queued: nothing was sent.
    EndpointDisabled,
    /// The endpoint was removed after the delivery was queued: nothing was sent.
    EndpointRemoved,
}

impl AttemptError {
    /// The stable name stored in the attempt row (`webhook_attempt.error`, and the delivery's
    /// `last_response` when there is no answer) and shown to clients: never change one.
    pub fn code(self) -> &'static str {
        match self {
            AttemptError::Timeout => "timeout",
            AttemptError::Connect => "connect",
            AttemptError::BlockedTarget => "blocked_target",
            AttemptError::InvalidUrl => "invalid_url",
            AttemptError::Body => "body",
            AttemptError::Request => "request",
            AttemptError::EndpointDisabled => "endpoint_disabled",
            AttemptError::EndpointRemoved => "endpoint_removed",
        }
    }

    /// Worth the single retry: the receiver may answer next time. A blocked or invalid target,
    /// or an endpoint gone, stays so; a body or request failure is ours.
    pub fn retryable(self) -> bool {
        matches!(self, AttemptError::Timeout | AttemptError::Connect)
    }

    /// Classifies a failed request by reqwest's typed predicates and the error's source chain.
    pub fn of(error: &reqwest::Error) -> Self {
        // The resolver's refusal sits deep in the chain, under hyper's connect error, and must
        // win over `is_connect`, which that wrapper also makes true.
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = source {
            if e.downcast_ref::<BlockedTarget>().is_some() {
                return AttemptError::BlockedTarget;
            }
            source = e.source();
        }
        if error.is_timeout() {
            AttemptError::Timeout
        } else if error.is_connect() {
            AttemptError::Connect
        } else if error.is_body() || error.is_decode() {
            AttemptError::Body
        } else {
            AttemptError::Request
        }
    }
}

impl std::fmt::Display for AttemptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// What one attempt came to.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub started_at: i64,
    pub duration_ms: i64,
    pub status: Option<u16>,
    pub error: Option<AttemptError>,
    pub excerpt: Option<String>,
}

impl Outcome {
    /// Any 2xx.
    pub fn is_success(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// The stored code of the error, if the attempt failed without a status.
    pub fn error_code(&self) -> Option<&'static str> {
        self.error.map(AttemptError::code)
    }

    /// 5xx, 429, a timeout or a connection error: worth the single retry.
    pub fn is_retryable(&self) -> bool {
        match (self.status, self.error) {
            (Some(s), _) => s >= 500 || s == 429,
            (None, Some(e)) => e.retryable(),
            (None, None) => false,
        }
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

    const ALL: [AttemptError; 8] = [
        AttemptError::Timeout,
        AttemptError::Connect,
        AttemptError::BlockedTarget,
        AttemptError::InvalidUrl,
        AttemptError::Body,
        AttemptError::Request,
        AttemptError::EndpointDisabled,
        AttemptError::EndpointRemoved,
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
                "endpoint_removed"
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
        }
    }

    #[test]
    fn only_a_timeout_or_a_connection_error_is_retried_without_a_status() {
        for error in ALL {
            assert_eq!(failed(error).is_retryable(), error.retryable(), "{error}");
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
        let client = super::super::client::build(Duration::from_millis(200), true).expect("client");
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
        let guarded =
            super::super::client::build(Duration::from_millis(200), false).expect("client");
        assert_eq!(
            error_of(&guarded, "http://localhost:9/").await,
            AttemptError::BlockedTarget
        );
    }
}
