//! The sink seam: the dispatcher claims rows and hands each to the [`Sink`] its endpoint's kind
//! names (`webhook_endpoint.kind`). A kind owns turning a delivery (its event and rendered
//! payload) into what it sends, sending it, and classifying the outcome ([`Class`]: delivered,
//! worth a retry, or failed, with a typed [`AttemptError`] when nothing answered). The signed
//! HTTP webhook (`webhook`) is one kind, each chat robot another (`chat`); a kind with a pace
//! (a robot that takes so many messages a minute) says so (`Sink::pace`), and may carry several
//! waiting deliveries of one build in one message (`Sink::attempt_all`).

pub mod chat;
pub mod http;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use buildhooks_entity::{webhook_delivery, webhook_endpoint};

use super::client::BlockedTarget;

pub use chat::ChatSink;
pub use webhook::WebhookSink;

/// What an attempt came to, as the sink classifies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// The receiver took it.
    Delivered,
    /// Worth the retry (a server error, a timeout, a connection that failed).
    Retry,
    /// Not worth a retry (a client error, a refused target).
    Failed,
    /// The receiver asked to wait this long (a rate limit): sent again then, without spending
    /// the retry (up to `record::MAX_RATE_LIMITED` such answers).
    RateLimited(Duration),
}

/// One kind of endpoint.
#[async_trait::async_trait]
pub trait Sink: Send + Sync {
    /// The endpoint kind it serves, as stored.
    fn kind(&self) -> &'static str;

    /// One attempt of `delivery` to `endpoint`, classified.
    async fn attempt(
        &self,
        delivery: &webhook_delivery::Model,
        endpoint: &webhook_endpoint::Model,
    ) -> Outcome;

    /// The least time between two sends to `endpoint` (its robot's pace); `None`: unpaced.
    fn pace(&self, _endpoint: &webhook_endpoint::Model) -> Option<Duration> {
        None
    }

    /// One attempt carrying `deliveries` (waiting deliveries of one build, oldest first; the
    /// first is the one claimed) to `endpoint` in one message. Kinds without digests send the
    /// first.
    async fn attempt_all(
        &self,
        deliveries: &[&webhook_delivery::Model],
        endpoint: &webhook_endpoint::Model,
    ) -> Outcome {
        match deliveries.first() {
            Some(first) => self.attempt(first, endpoint).await,
            None => Outcome::refused(AttemptError::Body),
        }
    }
}

/// Every kind this process delivers to.
#[derive(Clone)]
pub struct Sinks {
    kinds: Vec<Arc<dyn Sink>>,
}

impl Sinks {
    /// The kinds, each once.
    pub fn new(kinds: Vec<Arc<dyn Sink>>) -> Self {
        Sinks { kinds }
    }

    /// The sink of endpoints of `kind`.
    pub fn of(&self, kind: &str) -> Option<&dyn Sink> {
        self.kinds
            .iter()
            .find(|s| s.kind() == kind)
            .map(|s| s.as_ref())
    }
}

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
    /// The endpoint names a kind no sink delivers to.
    UnknownKind,
    /// The receiver answered success on the wire with an error in its body (a chat robot's
    /// `errcode`, `code` or `StatusCode` other than 0); the vendor's answer is in the excerpt.
    Vendor,
    /// The receiver asked to wait (HTTP 429 or its vendor's rate-limit answer).
    RateLimited,
    /// The message could not be made from the stored event (an unreadable row, a template that
    /// fails on this event).
    Message,
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
            AttemptError::UnknownKind => "unknown_kind",
            AttemptError::Vendor => "vendor_error",
            AttemptError::RateLimited => "rate_limited",
            AttemptError::Message => "message",
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
    /// What the sink made of it.
    pub class: Class,
    /// The receiver announced how long to wait before the next send to it (a rate-limit
    /// bucket's reset), whatever this attempt came to.
    pub pause: Option<Duration>,
    /// The kind of the sink that made it (`none` when no attempt was made): the metrics' label.
    pub sink: &'static str,
}

impl Outcome {
    /// An attempt not made: nothing was sent.
    pub fn refused(error: AttemptError) -> Outcome {
        Outcome {
            started_at: buildhooks_schema::clock::now_ms(),
            duration_ms: 0,
            status: None,
            error: Some(error),
            excerpt: None,
            class: Class::Failed,
            pause: None,
            sink: "none",
        }
    }

    /// The stored code of the error, if the attempt failed without an answer.
    pub fn error_code(&self) -> Option<&'static str> {
        self.error.map(AttemptError::code)
    }
}
