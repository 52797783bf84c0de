//! The names of the delivery headers, which the signer and the verifiers share.

/// `X-Cirrus-Event`: `build`, `task`, `audit_event` or `ping`.
pub const EVENT: &str = "x-cirrus-event";
/// `X-Cirrus-Signature`: lower-case hex HMAC-SHA256 of the body; only when a secret is set.
pub const SIGNATURE: &str = "x-cirrus-signature";
/// `X-Cirrus-Timestamp`: milliseconds since the epoch, at this attempt.
pub const TIMESTAMP: &str = "x-cirrus-timestamp";
/// `X-Cirrus-Delivery`: the delivery's id, the same on every retry and redelivery.
pub const DELIVERY: &str = "x-cirrus-delivery";
/// Standard Webhooks message id (the delivery id).
pub const WEBHOOK_ID: &str = "webhook-id";
/// Standard Webhooks timestamp, in Unix seconds.
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
/// Standard Webhooks signatures: space-separated `v1,<base64>` entries.
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";
