//! Receive buildhooks (and Cirrus CI) webhooks: signature verification, typed payloads and an
//! axum extractor. The buildhooks dispatcher signs with this same crate, so sender and receiver
//! share one definition of every header and signature.
//!
//! - [`signature`]: `X-Cirrus-Signature` (hex HMAC-SHA256 of the body) and Standard Webhooks
//!   (`webhook-signature: v1,<base64>` over `id.timestamp.body`, secrets `whsec_<base64>`).
//! - [`headers`]: the header names and [`sign`], which computes the headers of a delivery
//!   ([`sign_all`] during a secret rotation: `webhook-signature: v1,<new> v1,<old>`).
//!   [`verify_message_any`] accepts a delivery that any of several secrets verifies, so a
//!   receiver can hold the new and the old secret while a rotation overlaps.
//! - [`payload`]: [`Payload`], the typed body of the default payload query (format `DOCUMENTED`).
//! - [`cirrus`]: [`CirrusPayload`] and [`AuditEvent`], the flat bodies of format `CIRRUS` (what
//!   Cirrus CI sends today), with numeric ids.
//! - `extract` (feature `axum`, on by default): [`VerifiedWebhook`], an extractor that rejects
//!   unsigned or tampered requests before the handler runs.
//!
//! Signing a body and verifying it, as the dispatcher and a receiver do:
//!
//! ```
//! use buildhooks_receiver::{headers, parse_payload, sign, verify_cirrus, verify_standard};
//! use buildhooks_receiver::{Action, StandardSecret};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let body = br#"{"action":"updated","old_status":"EXECUTING","data":{}}"#;
//! let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
//! let signed = sign(Some(secret), "task", "delivery-1", 1_700_000_000_000, body);
//!
//! // Cirrus-style: the hex signature of the body, keyed with the secret's bytes.
//! let cirrus = signed.cirrus_signature.as_deref().ok_or("no signature")?;
//! verify_cirrus(secret.as_bytes(), body, cirrus)?;
//!
//! // Standard Webhooks: also binds the delivery id and a timestamp checked against the clock.
//! let (id, timestamp, signature) = signed.standard.as_ref().ok_or("no standard headers")?;
//! let now_secs = 1_700_000_010;
//! verify_standard(&StandardSecret::parse(secret)?, id, timestamp, signature, body, now_secs)?;
//!
//! // A tampered body fails.
//! assert!(verify_cirrus(secret.as_bytes(), b"{}", cirrus).is_err());
//!
//! let payload = parse_payload(body)?;
//! assert_eq!(payload.action, Action::Updated);
//! assert_eq!(payload.old_status.as_deref(), Some("EXECUTING"));
//! assert!(signed.pairs().iter().any(|(name, _)| *name == headers::DELIVERY));
//! # Ok(())
//! # }
//! ```
//!
//! The README (what each check does, the extractor's answers) is on the crate's page.

// The README's examples are compiled and run as doctests.
#[cfg(all(doctest, feature = "axum"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod cirrus;
#[cfg(feature = "axum")]
pub mod extract;
pub mod headers;
mod names;
pub mod payload;
pub mod signature;

pub use cirrus::{
    parse_audit_event, parse_cirrus_payload, AuditEvent, CirrusBuild, CirrusPayload,
    CirrusRepository, CirrusTask, CirrusUser,
};
#[cfg(feature = "axum")]
pub use extract::{VerifiedWebhook, WebhookRejection, WebhookSecret, MAX_BODY_BYTES};
pub use headers::{sign, sign_all, SignedHeaders};
pub use payload::{parse_payload, Action, Build, Payload, PayloadData, Repository, Task};
pub use signature::{
    cirrus_signature, is_standard_secret, standard_signature, verify_cirrus, verify_message,
    verify_message_any, verify_standard, StandardSecret, VerifyError,
};
