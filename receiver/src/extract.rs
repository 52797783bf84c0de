//! The axum extractor [`VerifiedWebhook`]: reads a delivery's body (at most
//! [`MAX_BODY_BYTES`]), checks its signature against the secret held by the router's state, and
//! hands the handler the event, the delivery id and the verified bytes.
//!
//! ```no_run
//! use axum::{routing::post, Router};
//! use buildhooks_receiver::VerifiedWebhook;
//!
//! async fn hook(webhook: VerifiedWebhook) -> &'static str {
//!     if let Ok(payload) = webhook.payload() {
//!         println!("{} {:?} {:?}", webhook.event, payload.action, payload.old_status);
//!     }
//!     "ok"
//! }
//!
//! let app: Router = Router::new()
//!     .route("/webhook", post(hook))
//!     .with_state("my secret".to_owned());
//! ```

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::headers;
use crate::payload::{parse_payload, Payload};
use crate::signature::{verify_message_any, VerifyError};

/// The largest body [`VerifiedWebhook`] accepts (1 MiB); larger ones are answered with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Router state that knows the secret configured for the webhook in buildhooks.
pub trait WebhookSecret {
    /// The secret token, exactly as entered in the webhook settings (a `whsec_...` secret
    /// enables the Standard Webhooks check).
    fn webhook_secret(&self) -> &str;

    /// Every secret a delivery may be signed with: while a rotation overlaps, the new one and
    /// the old one (a delivery verified by any is accepted). Defaults to `webhook_secret`.
    fn webhook_secrets(&self) -> Vec<&str> {
        vec![self.webhook_secret()]
    }
}

impl WebhookSecret for String {
    fn webhook_secret(&self) -> &str {
        self
    }
}

/// Several secrets, during a rotation: `vec![new, old]`.
impl WebhookSecret for Vec<String> {
    fn webhook_secret(&self) -> &str {
        self.first().map_or("", String::as_str)
    }

    fn webhook_secrets(&self) -> Vec<&str> {
        self.iter().map(String::as_str).collect()
    }
}

impl<T: WebhookSecret + ?Sized> WebhookSecret for Arc<T> {
    fn webhook_secret(&self) -> &str {
        (**self).webhook_secret()
    }

    fn webhook_secrets(&self) -> Vec<&str> {
        (**self).webhook_secrets()
    }
}

/// A delivery whose signature has been checked.
///
/// Verification: when the secret is a `whsec_` secret and the request carries all three
/// Standard Webhooks headers, they are checked (signature and a timestamp within five minutes);
/// otherwise `X-Cirrus-Signature` is. The Cirrus signature covers only the body, so a replayed
/// delivery still verifies: deduplicate on [`delivery_id`](Self::delivery_id).
///
/// Rejections: 401 for a missing or wrong signature, 400 without `X-Cirrus-Event`, 413 for a
/// body over [`MAX_BODY_BYTES`], 500 when the configured secret is empty.
#[derive(Debug, Clone)]
pub struct VerifiedWebhook {
    /// `X-Cirrus-Event`: `build`, `task`, `audit_event` or `ping`.
    pub event: String,
    /// `X-Cirrus-Delivery`, the same on every retry and redelivery.
    pub delivery_id: Option<String>,
    /// The raw, verified body.
    pub body: Bytes,
}

impl VerifiedWebhook {
    /// Parses the body as the default payload shape.
    pub fn payload(&self) -> Result<Payload, serde_json::Error> {
        parse_payload(&self.body)
    }
}

/// Why [`VerifiedWebhook`] refused a request; its response is a status and a short text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookRejection {
    /// The signature check failed (401), or the configured secret is unusable (500).
    #[error(transparent)]
    Unverified(#[from] VerifyError),
    /// No `X-Cirrus-Event` header (400).
    #[error("missing x-cirrus-event header")]
    MissingEvent,
    /// The body is larger than [`MAX_BODY_BYTES`] (413).
    #[error("payload too large")]
    PayloadTooLarge,
    /// The body could not be read, e.g. the client went away (400).
    #[error("could not read the request body")]
    BodyRead,
}

impl WebhookRejection {
    /// The HTTP status this rejection is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unverified(VerifyError::InvalidSecret) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unverified(_) => StatusCode::UNAUTHORIZED,
            Self::MissingEvent | Self::BodyRead => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            // A misconfigured receiver is its operator's problem, not the caller's.
            return (status, "internal error").into_response();
        }
        (status, self.to_string()).into_response()
    }
}

impl<S> FromRequest<S> for VerifiedWebhook
where
    S: WebhookSecret + Send + Sync,
{
    type Rejection = WebhookRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let secrets = state.webhook_secrets();
        if secrets.iter().all(|s| s.is_empty()) {
            return Err(VerifyError::InvalidSecret.into());
        }
        let (parts, body) = req.into_parts();
        let body = read_body(&parts.headers, body, MAX_BODY_BYTES).await?;
        verify(&secrets, &parts.headers, &body, now_secs())?;
        let event = header_str(&parts.headers, headers::EVENT)
            .filter(|event| !event.is_empty())
            .ok_or(WebhookRejection::MissingEvent)?;
        Ok(Self {
            event: event.to_owned(),
            delivery_id: header_str(&parts.headers, headers::DELIVERY).map(str::to_owned),
            body,
        })
    }
}

/// Checks the Standard Webhooks headers when they apply, else `X-Cirrus-Signature`, with each
/// of `secrets` until one verifies.
fn verify(
    secrets: &[&str],
    map: &HeaderMap,
    body: &[u8],
    now_secs: i64,
) -> Result<(), VerifyError> {
    verify_message_any(secrets, |name| header_str(map, name), body, now_secs)
}

/// Reads the whole body, refusing early on a `Content-Length` over `limit` and while streaming
/// once the bytes read pass it.
async fn read_body(
    map: &HeaderMap,
    mut body: Body,
    limit: usize,
) -> Result<Bytes, WebhookRejection> {
    let declared = header_str(map, header::CONTENT_LENGTH.as_str()).and_then(|v| v.parse().ok());
    if declared.is_some_and(|length: u64| length > limit as u64) {
        return Err(WebhookRejection::PayloadTooLarge);
    }
    let mut buf = Vec::new();
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|_| WebhookRejection::BodyRead)?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(WebhookRejection::PayloadTooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

fn header_str<'a>(map: &'a HeaderMap, name: &str) -> Option<&'a str> {
    map.get(name).and_then(|value| value.to_str().ok())
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::headers::sign;

    const SECRET: &str = "s3cret";
    const WHSEC: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const BODY: &[u8] = br#"{"action":"created","data":{}}"#;

    fn request(pairs: &[(&str, String)], body: impl Into<Body>) -> Request {
        let mut builder = Request::builder().method("POST").uri("/");
        for (name, value) in pairs {
            builder = builder.header(*name, value);
        }
        builder.body(body.into()).unwrap()
    }

    fn signed(secret: &str, timestamp_ms: i64) -> Vec<(&'static str, String)> {
        sign(Some(secret), "task", "d-1", timestamp_ms, BODY).pairs()
    }

    async fn extract(secret: &str, req: Request) -> Result<VerifiedWebhook, WebhookRejection> {
        VerifiedWebhook::from_request(req, &secret.to_owned()).await
    }

    fn now_ms() -> i64 {
        now_secs() * 1000
    }

    #[tokio::test]
    async fn accepts_a_cirrus_signed_delivery() {
        let webhook = extract(SECRET, request(&signed(SECRET, 1), BODY))
            .await
            .unwrap();
        assert_eq!(webhook.event, "task");
        assert_eq!(webhook.delivery_id.as_deref(), Some("d-1"));
        assert_eq!(&webhook.body[..], BODY);
        assert_eq!(webhook.payload().unwrap().old_status, None);
    }

    #[tokio::test]
    async fn accepts_a_standard_signed_delivery_without_the_cirrus_signature() {
        let mut pairs = signed(WHSEC, now_ms());
        pairs.retain(|(name, _)| *name != headers::SIGNATURE);
        let webhook = extract(WHSEC, request(&pairs, BODY)).await.unwrap();
        assert_eq!(webhook.event, "task");
    }

    #[tokio::test]
    async fn a_stale_standard_timestamp_is_rejected_even_with_a_valid_cirrus_signature() {
        let pairs = signed(WHSEC, now_ms() - 10 * 60 * 1000);
        let rejection = extract(WHSEC, request(&pairs, BODY)).await.unwrap_err();
        assert_eq!(rejection, VerifyError::TimestampOutOfTolerance.into());
        assert_eq!(rejection.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn a_whsec_secret_still_accepts_a_cirrus_only_delivery() {
        let mut pairs = signed(WHSEC, 1);
        pairs.retain(|(name, _)| !name.starts_with("webhook-"));
        assert!(extract(WHSEC, request(&pairs, BODY)).await.is_ok());
    }

    #[tokio::test]
    async fn missing_or_wrong_signatures_are_401() {
        let mut pairs = signed(SECRET, 1);
        pairs.retain(|(name, _)| *name != headers::SIGNATURE);
        let missing = extract(SECRET, request(&pairs, BODY)).await.unwrap_err();
        assert_eq!(
            missing,
            VerifyError::MissingHeader(headers::SIGNATURE).into()
        );
        assert_eq!(missing.into_response().status(), StatusCode::UNAUTHORIZED);

        let wrong = extract("other", request(&signed(SECRET, 1), BODY))
            .await
            .unwrap_err();
        assert_eq!(wrong, VerifyError::InvalidSignature.into());

        let tampered = extract(SECRET, request(&signed(SECRET, 1), "{}"))
            .await
            .unwrap_err();
        assert_eq!(tampered.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn a_missing_event_header_is_400() {
        let mut pairs = signed(SECRET, 1);
        pairs.retain(|(name, _)| *name != headers::EVENT);
        let rejection = extract(SECRET, request(&pairs, BODY)).await.unwrap_err();
        assert_eq!(rejection, WebhookRejection::MissingEvent);
        assert_eq!(rejection.into_response().status(), StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn bodies_over_one_mebibyte_are_413() {
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        let pairs = sign(Some(SECRET), "task", "d-1", 1, &big).pairs();
        let streamed = extract(SECRET, request(&pairs, big)).await.unwrap_err();
        assert_eq!(streamed, WebhookRejection::PayloadTooLarge);
        assert_eq!(streamed.status(), StatusCode::PAYLOAD_TOO_LARGE);

        let mut declared = signed(SECRET, 1);
        declared.push(("content-length", (MAX_BODY_BYTES + 1).to_string()));
        let early = extract(SECRET, request(&declared, BODY)).await.unwrap_err();
        assert_eq!(early, WebhookRejection::PayloadTooLarge);

        let exact = vec![b' '; MAX_BODY_BYTES];
        let pairs = sign(Some(SECRET), "task", "d-1", 1, &exact).pairs();
        assert!(extract(SECRET, request(&pairs, exact)).await.is_ok());
    }

    #[tokio::test]
    async fn an_empty_secret_fails_closed_with_a_bare_500() {
        let response = extract("", request(&signed(SECRET, 1), BODY))
            .await
            .unwrap_err()
            .into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(&body[..], b"internal error");
    }

    #[tokio::test]
    async fn a_receiver_holding_the_new_and_the_old_secret_accepts_either_signature() {
        const OLD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let state = vec![WHSEC.to_owned(), OLD.to_owned()];
        for signer in [WHSEC, OLD] {
            let req = request(&signed(signer, now_ms()), BODY);
            assert!(VerifiedWebhook::from_request(req, &state).await.is_ok());
        }
        let req = request(&signed("whsec_AAAAAAAAAAAAAAAAAAAAAA==", now_ms()), BODY);
        let refused = VerifiedWebhook::from_request(req, &state)
            .await
            .unwrap_err();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        let none: Vec<String> = vec![String::new()];
        let req = request(&signed(WHSEC, now_ms()), BODY);
        let refused = VerifiedWebhook::from_request(req, &none).await.unwrap_err();
        assert_eq!(refused.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn arc_state_forwards_the_secret() {
        let state = Arc::new(SECRET.to_owned());
        assert_eq!(state.webhook_secret(), SECRET);
    }
}
