//! Webhook signatures: computing and verifying `X-Cirrus-Signature` (hex HMAC-SHA256 of the body)
//! and Standard Webhooks `webhook-signature` (`v1,<base64>` over `id.timestamp.body`).
//!
//! The server's dispatcher signs with these functions and receivers verify with them, so both
//! sides can never disagree about what is signed. Every comparison goes through hmac's
//! constant-time `verify_slice`.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::digest::Key;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The prefix of a Standard Webhooks secret: `whsec_<base64 key>`.
pub const STANDARD_SECRET_PREFIX: &str = "whsec_";

/// How far (in seconds, either direction) a `webhook-timestamp` may be from the receiver's clock.
pub const TIMESTAMP_TOLERANCE_SECS: u64 = 300;

/// Why a webhook was not accepted. The messages are short and safe to send back to the caller.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// A header the check needs is absent or empty; holds the header name.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// No signature matched the body.
    #[error("invalid signature")]
    InvalidSignature,
    /// The configured secret is not usable (e.g. a malformed `whsec_` secret).
    #[error("invalid webhook secret")]
    InvalidSecret,
    /// The `webhook-timestamp` header is not a whole number of seconds.
    #[error("invalid timestamp")]
    InvalidTimestamp,
    /// The `webhook-timestamp` is more than [`TIMESTAMP_TOLERANCE_SECS`] away from now.
    #[error("timestamp out of tolerance")]
    TimestampOutOfTolerance,
}

/// A parsed Standard Webhooks secret (`whsec_<base64>`); holds the decoded HMAC key.
#[derive(Clone, PartialEq, Eq)]
pub struct StandardSecret {
    key: Vec<u8>,
}

impl StandardSecret {
    /// Parses `whsec_<base64>`; the key is the base64-decoded part after the prefix.
    pub fn parse(secret: &str) -> Result<Self, VerifyError> {
        let encoded = secret
            .strip_prefix(STANDARD_SECRET_PREFIX)
            .ok_or(VerifyError::InvalidSecret)?;
        let key = BASE64
            .decode(encoded)
            .map_err(|_| VerifyError::InvalidSecret)?;
        if key.is_empty() {
            return Err(VerifyError::InvalidSecret);
        }
        Ok(Self { key })
    }
}

impl std::fmt::Debug for StandardSecret {
    // Never print key material, not even in logs of a failed test.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StandardSecret(..)")
    }
}

/// True when `secret` is a Standard Webhooks secret: `whsec_` followed by valid base64.
pub fn is_standard_secret(secret: &str) -> bool {
    StandardSecret::parse(secret).is_ok()
}

/// The `X-Cirrus-Signature` value: lower-case hex HMAC-SHA256 of `body`, keyed with `secret`.
pub fn cirrus_signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = keyed_mac(secret);
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks an `X-Cirrus-Signature` header (hex, either case, surrounding whitespace ignored)
/// against `body`, in constant time.
pub fn verify_cirrus(
    secret: &[u8],
    body: &[u8],
    signature_header: &str,
) -> Result<(), VerifyError> {
    let signature_header = signature_header.trim();
    if signature_header.is_empty() {
        return Err(VerifyError::MissingHeader(crate::names::SIGNATURE));
    }
    let expected = hex::decode(signature_header).map_err(|_| VerifyError::InvalidSignature)?;
    let mut mac = keyed_mac(secret);
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| VerifyError::InvalidSignature)
}

/// The `webhook-signature` value for one message: `v1,<base64 HMAC-SHA256>` over
/// `{msg_id}.{timestamp_secs}.{body}`.
pub fn standard_signature(
    secret: &StandardSecret,
    msg_id: &str,
    timestamp_secs: i64,
    body: &[u8],
) -> String {
    let mac = standard_mac(secret, msg_id, timestamp_secs, body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// Checks Standard Webhooks headers against `body`.
///
/// The timestamp (Unix seconds) must be within [`TIMESTAMP_TOLERANCE_SECS`] of `now_secs`; the
/// signature header may hold several space-separated `v1,<base64>` entries (key rotation) and is
/// accepted when any of them matches. Entries of other versions are ignored.
pub fn verify_standard(
    secret: &StandardSecret,
    msg_id: &str,
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now_secs: i64,
) -> Result<(), VerifyError> {
    let msg_id = msg_id.trim();
    let timestamp_header = timestamp_header.trim();
    if msg_id.is_empty() {
        return Err(VerifyError::MissingHeader(crate::names::WEBHOOK_ID));
    }
    if timestamp_header.is_empty() {
        return Err(VerifyError::MissingHeader(crate::names::WEBHOOK_TIMESTAMP));
    }
    if signature_header.trim().is_empty() {
        return Err(VerifyError::MissingHeader(crate::names::WEBHOOK_SIGNATURE));
    }
    let timestamp: i64 = timestamp_header
        .parse()
        .map_err(|_| VerifyError::InvalidTimestamp)?;
    if now_secs.abs_diff(timestamp) > TIMESTAMP_TOLERANCE_SECS {
        return Err(VerifyError::TimestampOutOfTolerance);
    }
    // Like the reference verifier, sign the parsed number, not the header text.
    let mac = standard_mac(secret, msg_id, timestamp, body);
    let matched = signature_header
        .split_whitespace()
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, signature)| BASE64.decode(signature).ok())
        .any(|signature| mac.clone().verify_slice(&signature).is_ok());
    if matched {
        Ok(())
    } else {
        Err(VerifyError::InvalidSignature)
    }
}

fn standard_mac(secret: &StandardSecret, msg_id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = keyed_mac(&secret.key);
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// An HMAC-SHA256 keyed with `key`, of any length, without a fallible constructor.
///
/// RFC 2104 pads a key shorter than the hash block with zeros and hashes a longer one first;
/// doing that here yields the block-sized key that `Mac::new` takes, so there is no
/// `Result` to unwrap (hmac's `new_from_slice` cannot fail either, but its type says it can).
fn keyed_mac(key: &[u8]) -> HmacSha256 {
    let mut block = Key::<HmacSha256>::default();
    if key.len() > block.len() {
        let digest = Sha256::digest(key);
        block[..digest.len()].copy_from_slice(&digest);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    <HmacSha256 as Mac>::new(&block)
}

/// Verifies one delivery from its headers, whatever carried it (an HTTP request, a NATS
/// message's headers, an AMQP message's header table): the Standard Webhooks headers when the
/// secret is a `whsec_` secret and all three are present, else `x-cirrus-signature`. `header`
/// looks a header up by its lower-case name (see [`crate::headers`]).
///
/// ```
/// use buildhooks_receiver::{sign, verify_message};
///
/// let body = br#"{"action":"created","data":{}}"#;
/// let pairs = sign(Some("s3cret"), "task", "d-1", 1_700_000_000_000, body).pairs();
/// let header = |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
/// assert!(verify_message("s3cret", header, body, 1_700_000_000).is_ok());
/// assert!(verify_message("other", header, body, 1_700_000_000).is_err());
/// ```
pub fn verify_message<'a>(
    secret: &str,
    header: impl Fn(&str) -> Option<&'a str>,
    body: &[u8],
    now_secs: i64,
) -> Result<(), VerifyError> {
    use crate::names::{SIGNATURE, WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP};
    if secret.is_empty() {
        return Err(VerifyError::InvalidSecret);
    }
    let standard = (
        StandardSecret::parse(secret),
        header(WEBHOOK_ID),
        header(WEBHOOK_TIMESTAMP),
        header(WEBHOOK_SIGNATURE),
    );
    if let (Ok(standard_secret), Some(id), Some(timestamp), Some(signature)) = standard {
        return verify_standard(&standard_secret, id, timestamp, signature, body, now_secs);
    }
    let signature = header(SIGNATURE)
        .filter(|s| !s.is_empty())
        .ok_or(VerifyError::MissingHeader(SIGNATURE))?;
    verify_cirrus(secret.as_bytes(), body, signature)
}

/// As [`verify_message`], accepting a delivery that any of `secrets` verifies: a receiver
/// rotating its secret lists the new one and the old one until the overlap ends. Empty secrets
/// are skipped; with none left the configuration is refused ([`VerifyError::InvalidSecret`]).
/// When none verifies, the first secret's reason is returned.
///
/// ```
/// use buildhooks_receiver::{sign_all, verify_message_any};
///
/// let (new, old) = ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
/// let body = br#"{"action":"created","data":{}}"#;
/// // During the overlap buildhooks signs with both; afterwards with the new one only.
/// let pairs = sign_all(&[new], "task", "d-1", 1_700_000_000_000, body).pairs();
/// let header = |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
/// assert!(verify_message_any(&[old, new], header, body, 1_700_000_000).is_ok());
/// assert!(verify_message_any(&[old], header, body, 1_700_000_000).is_err());
/// ```
pub fn verify_message_any<'a>(
    secrets: &[&str],
    header: impl Fn(&str) -> Option<&'a str>,
    body: &[u8],
    now_secs: i64,
) -> Result<(), VerifyError> {
    let mut first = None;
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        match verify_message(secret, &header, body, now_secs) {
            Ok(()) => return Ok(()),
            Err(error) => {
                first.get_or_insert(error);
            }
        }
    }
    Err(first.unwrap_or(VerifyError::InvalidSecret))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const GITHUB_SECRET: &[u8] = b"It's a Secret to Everybody";
    const GITHUB_BODY: &[u8] = b"Hello, World!";
    const GITHUB_HEX: &str = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    const SW_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const SW_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const SW_TS: i64 = 1_649_367_553;
    const SW_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SW_SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn sw_secret() -> StandardSecret {
        StandardSecret::parse(SW_SECRET).unwrap()
    }

    fn verify_sw(signature: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        verify_standard(
            &sw_secret(),
            SW_ID,
            &SW_TS.to_string(),
            signature,
            body,
            now,
        )
    }

    #[test]
    fn cirrus_signature_matches_githubs_published_vector() {
        assert_eq!(cirrus_signature(GITHUB_SECRET, GITHUB_BODY), GITHUB_HEX);
    }

    #[test]
    fn verify_cirrus_accepts_either_case_and_surrounding_whitespace() {
        assert_eq!(
            verify_cirrus(GITHUB_SECRET, GITHUB_BODY, GITHUB_HEX),
            Ok(())
        );
        let upper = format!("  {}\n", GITHUB_HEX.to_uppercase());
        assert_eq!(verify_cirrus(GITHUB_SECRET, GITHUB_BODY, &upper), Ok(()));
    }

    #[test]
    fn verify_cirrus_rejects_a_tampered_body() {
        let result = verify_cirrus(GITHUB_SECRET, b"Hello, World?", GITHUB_HEX);
        assert_eq!(result, Err(VerifyError::InvalidSignature));
    }

    #[test]
    fn verify_cirrus_rejects_a_wrong_secret() {
        let result = verify_cirrus(b"another secret", GITHUB_BODY, GITHUB_HEX);
        assert_eq!(result, Err(VerifyError::InvalidSignature));
    }

    #[test]
    fn verify_cirrus_rejects_garbage_truncated_and_empty_headers() {
        let bad = |header: &str| verify_cirrus(GITHUB_SECRET, GITHUB_BODY, header);
        assert_eq!(bad("not hex"), Err(VerifyError::InvalidSignature));
        assert_eq!(bad(&GITHUB_HEX[..32]), Err(VerifyError::InvalidSignature));
        assert_eq!(
            bad(&format!("sha256={GITHUB_HEX}")),
            Err(VerifyError::InvalidSignature)
        );
        assert_eq!(
            bad("  "),
            Err(VerifyError::MissingHeader(crate::names::SIGNATURE))
        );
    }

    #[test]
    fn keyed_mac_equals_hmac_for_short_block_sized_and_long_keys() {
        for len in [0, 1, 26, 63, 64, 65, 200] {
            let key: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let mut ours = keyed_mac(&key);
            let mut reference = HmacSha256::new_from_slice(&key).unwrap();
            ours.update(b"body");
            reference.update(b"body");
            assert_eq!(
                ours.finalize().into_bytes(),
                reference.finalize().into_bytes(),
                "key length {len}"
            );
        }
    }

    #[test]
    fn standard_signature_matches_the_standard_webhooks_vector() {
        let signature = standard_signature(&sw_secret(), SW_ID, SW_TS, SW_BODY);
        assert_eq!(signature, SW_SIG);
    }

    #[test]
    fn verify_standard_accepts_the_vector_within_tolerance() {
        assert_eq!(verify_sw(SW_SIG, SW_BODY, SW_TS), Ok(()));
        assert_eq!(verify_sw(SW_SIG, SW_BODY, SW_TS + 300), Ok(()));
        assert_eq!(verify_sw(SW_SIG, SW_BODY, SW_TS - 300), Ok(()));
    }

    #[test]
    fn verify_standard_rejects_old_and_future_timestamps() {
        let out = Err(VerifyError::TimestampOutOfTolerance);
        assert_eq!(verify_sw(SW_SIG, SW_BODY, SW_TS + 301), out);
        assert_eq!(verify_sw(SW_SIG, SW_BODY, SW_TS - 301), out);
        assert_eq!(verify_sw(SW_SIG, SW_BODY, i64::MAX), out);
    }

    #[test]
    fn verify_standard_rejects_a_tampered_body_and_a_wrong_secret() {
        let tampered = br#"{"email":"test@example.com","username":"test_user2"}"#;
        assert_eq!(
            verify_sw(SW_SIG, tampered, SW_TS),
            Err(VerifyError::InvalidSignature)
        );
        let other = StandardSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let result = verify_standard(&other, SW_ID, &SW_TS.to_string(), SW_SIG, SW_BODY, SW_TS);
        assert_eq!(result, Err(VerifyError::InvalidSignature));
    }

    #[test]
    fn verify_standard_accepts_any_matching_entry_and_ignores_other_versions() {
        let rotated = format!("v1,Zm9vYmFy v2,abc v1a,{} {SW_SIG}", &SW_SIG[3..]);
        assert_eq!(verify_sw(&rotated, SW_BODY, SW_TS), Ok(()));
        // The right bytes under another version label do not count.
        let wrong_version = format!("v2,{}", &SW_SIG[3..]);
        assert_eq!(
            verify_sw(&wrong_version, SW_BODY, SW_TS),
            Err(VerifyError::InvalidSignature)
        );
        assert_eq!(
            verify_sw("v1,not-base64!! v1,Zm9vYmFy", SW_BODY, SW_TS),
            Err(VerifyError::InvalidSignature)
        );
    }

    #[test]
    fn verify_standard_reports_missing_and_malformed_headers() {
        let secret = sw_secret();
        let ts = SW_TS.to_string();
        let check =
            |id: &str, ts: &str, sig: &str| verify_standard(&secret, id, ts, sig, SW_BODY, SW_TS);
        assert_eq!(
            check("", &ts, SW_SIG),
            Err(VerifyError::MissingHeader(crate::names::WEBHOOK_ID))
        );
        assert_eq!(
            check(SW_ID, " ", SW_SIG),
            Err(VerifyError::MissingHeader(crate::names::WEBHOOK_TIMESTAMP))
        );
        assert_eq!(
            check(SW_ID, &ts, ""),
            Err(VerifyError::MissingHeader(crate::names::WEBHOOK_SIGNATURE))
        );
        assert_eq!(
            check(SW_ID, "1649367553.5", SW_SIG),
            Err(VerifyError::InvalidTimestamp)
        );
    }

    #[test]
    fn standard_secrets_need_the_prefix_and_valid_base64() {
        assert!(is_standard_secret(SW_SECRET));
        assert!(!is_standard_secret("C2FVsBQIhrscChlQIMV+b5sSYspob7oD"));
        assert!(!is_standard_secret("whsec_not base64!"));
        assert!(!is_standard_secret("whsec_"));
        assert!(!is_standard_secret("change-me"));
        assert_eq!(
            StandardSecret::parse("whsec_%%%"),
            Err(VerifyError::InvalidSecret)
        );
    }

    #[test]
    fn any_of_several_secrets_verifies_a_multi_signature_header() {
        const OTHER: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let pairs =
            crate::headers::sign_all(&[OTHER, SW_SECRET], "task", SW_ID, SW_TS * 1000, SW_BODY)
                .pairs();
        let header = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        for secrets in [
            &[SW_SECRET][..],
            &[OTHER],
            &["whsec_AAAAAAAAAAAAAAAAAAAAAA==", SW_SECRET],
        ] {
            assert_eq!(verify_message_any(secrets, header, SW_BODY, SW_TS), Ok(()));
        }
        assert_eq!(
            verify_message_any(&["whsec_AAAAAAAAAAAAAAAAAAAAAA=="], header, SW_BODY, SW_TS),
            Err(VerifyError::InvalidSignature)
        );
        assert_eq!(
            verify_message_any(&["", ""], header, SW_BODY, SW_TS),
            Err(VerifyError::InvalidSecret)
        );
    }

    #[test]
    fn standard_secret_debug_hides_the_key() {
        assert_eq!(format!("{:?}", sw_secret()), "StandardSecret(..)");
    }
}
