//! What an attempt came to: its answer or the typed reason there was none ([`AttemptError`],
//! whose codes are stored), and what the sink made of it ([`Class`]).

use std::time::Duration;

use crate::delivery::client::BlockedTarget;

/// What an attempt came to, as the sink classifies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// The receiver took it.
    Delivered,
    /// Worth the retry (a server error, a timeout, a connection that failed).
    Retry,
    /// Worth the retry, and the receiver named when (a 429 or 503 with `Retry-After`): an
    /// endpoint with a retry schedule waits that long, at most its step; Cirrus's rule takes it
    /// as any retry.
    RetryAfter(Duration),
    /// Not worth a retry (a client error, a refused target).
    Failed,
    /// The receiver asked to wait this long (a rate limit): sent again then, without spending
    /// the retry (up to `record::MAX_RATE_LIMITED` such answers).
    RateLimited(Duration),
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
    /// The row names a broker the operator no longer configures.
    UnknownBroker,
    /// The broker took the message but had nowhere to put it: no JetStream stream covers the
    /// subject, or no queue is bound to the routing key (AMQP's `NO_ROUTE` return).
    Unroutable,
    /// The broker refused the message (an AMQP publisher confirm's nack, a JetStream error).
    Nacked,
    /// The endpoint's sealed secret or URL does not open under the operator's keys
    /// (`BUILDHOOKS_SECRET_KEY` lost or changed): nothing was sent.
    Secret,
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
            AttemptError::UnknownBroker => "unknown_broker",
            AttemptError::Unroutable => "unroutable",
            AttemptError::Nacked => "nacked",
            AttemptError::Secret => "secret",
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
    /// The answer's headers as stored (`http::Answered::stored_headers`): HTTP sinks only.
    pub response_headers: Option<String>,
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
            response_headers: None,
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
