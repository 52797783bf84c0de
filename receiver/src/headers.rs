//! The delivery headers: their names (from `names`), and [`sign`], which computes every signed header of one
//! delivery attempt. The server's dispatcher calls [`sign`]; receivers read the same names.

pub use crate::names::*;
use crate::signature::{cirrus_signature, standard_signature, StandardSecret};

/// The webhook headers of one delivery attempt, computed by [`sign`].
///
/// `Content-Type` and `User-Agent` are not included: they belong to the sender's HTTP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// Value of `X-Cirrus-Event`.
    pub event: String,
    /// Value of `X-Cirrus-Delivery`.
    pub delivery_id: String,
    /// Value of `X-Cirrus-Timestamp` (milliseconds since the epoch).
    pub timestamp_ms: i64,
    /// Value of `X-Cirrus-Signature`, when a non-empty secret is set.
    pub cirrus_signature: Option<String>,
    /// Values of `webhook-id`, `webhook-timestamp` (seconds) and `webhook-signature`, when the
    /// secret is a Standard Webhooks `whsec_` secret.
    pub standard: Option<(String, String, String)>,
}

impl SignedHeaders {
    /// Every header name (lower case) and value to send with the body.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            (EVENT, self.event.clone()),
            (DELIVERY, self.delivery_id.clone()),
            (TIMESTAMP, self.timestamp_ms.to_string()),
        ];
        if let Some(signature) = &self.cirrus_signature {
            pairs.push((SIGNATURE, signature.clone()));
        }
        if let Some((id, timestamp, signature)) = &self.standard {
            pairs.push((WEBHOOK_ID, id.clone()));
            pairs.push((WEBHOOK_TIMESTAMP, timestamp.clone()));
            pairs.push((WEBHOOK_SIGNATURE, signature.clone()));
        }
        pairs
    }
}

/// Computes the headers of one delivery attempt of `body`.
///
/// - `X-Cirrus-Signature` when `secret` is set and non-empty, keyed with the secret's UTF-8
///   bytes (the whole string, `whsec_` prefix included, as Cirrus does).
/// - Standard Webhooks headers as well when the secret is a `whsec_<base64>` secret, with
///   `webhook-id` = `delivery_id` and `webhook-timestamp` = `timestamp_ms` in whole seconds.
pub fn sign(
    secret: Option<&str>,
    event: &str,
    delivery_id: &str,
    timestamp_ms: i64,
    body: &[u8],
) -> SignedHeaders {
    sign_all(secret.as_slice(), event, delivery_id, timestamp_ms, body)
}

/// As [`sign`], with every secret the endpoint signs with: its current one first, then, during
/// a rotation's overlap, the one it is rotating away from.
///
/// - `X-Cirrus-Signature` uses the first (current) secret only.
/// - `webhook-signature` carries one `v1,<base64>` entry per `whsec_` secret, space-separated
///   in the given order (`v1,<new> v1,<old>`), as Standard Webhooks defines for rotations: a
///   receiver that knows either secret verifies.
pub fn sign_all(
    secrets: &[&str],
    event: &str,
    delivery_id: &str,
    timestamp_ms: i64,
    body: &[u8],
) -> SignedHeaders {
    let secrets: Vec<&str> = secrets.iter().copied().filter(|s| !s.is_empty()).collect();
    let cirrus_signature = secrets
        .first()
        .map(|secret| cirrus_signature(secret.as_bytes(), body));
    let timestamp_secs = timestamp_ms.div_euclid(1000);
    let mut signatures = String::new();
    for standard_secret in secrets.iter().filter_map(|s| StandardSecret::parse(s).ok()) {
        if !signatures.is_empty() {
            signatures.push(' ');
        }
        signatures.push_str(&standard_signature(
            &standard_secret,
            delivery_id,
            timestamp_secs,
            body,
        ));
    }
    let standard = (!signatures.is_empty()).then(|| {
        (
            delivery_id.to_owned(),
            timestamp_secs.to_string(),
            signatures,
        )
    });
    SignedHeaders {
        event: event.to_owned(),
        delivery_id: delivery_id.to_owned(),
        timestamp_ms,
        cirrus_signature,
        standard,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::signature::{verify_cirrus, verify_standard};

    const BODY: &[u8] = br#"{"action":"created","data":{}}"#;
    const WHSEC: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

    #[test]
    fn without_a_secret_only_the_plain_headers_are_sent() {
        for secret in [None, Some("")] {
            let signed = sign(secret, "task", "d-1", 1_700_000_000_123, BODY);
            assert_eq!(
                signed.pairs(),
                vec![
                    (EVENT, "task".to_owned()),
                    (DELIVERY, "d-1".to_owned()),
                    (TIMESTAMP, "1700000000123".to_owned()),
                ]
            );
        }
    }

    #[test]
    fn a_plain_secret_adds_only_the_cirrus_signature() {
        let signed = sign(Some("s3cret"), "build", "d-2", 1_700_000_000_000, BODY);
        assert!(signed.standard.is_none());
        let signature = signed.cirrus_signature.clone().unwrap();
        assert_eq!(verify_cirrus(b"s3cret", BODY, &signature), Ok(()));
        assert!(signed.pairs().contains(&(SIGNATURE, signature)));
        assert_eq!(signed.pairs().len(), 4);
    }

    #[test]
    fn a_whsec_secret_adds_both_signatures() {
        let signed = sign(Some(WHSEC), "task", "d-3", 1_700_000_000_999, BODY);
        let cirrus = signed.cirrus_signature.clone().unwrap();
        assert_eq!(verify_cirrus(WHSEC.as_bytes(), BODY, &cirrus), Ok(()));

        let (id, timestamp, signature) = signed.standard.clone().unwrap();
        assert_eq!(id, "d-3");
        assert_eq!(timestamp, "1700000000");
        let secret = StandardSecret::parse(WHSEC).unwrap();
        let verified = verify_standard(&secret, &id, &timestamp, &signature, BODY, 1_700_000_000);
        assert_eq!(verified, Ok(()));

        let names: Vec<&str> = signed.pairs().iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                EVENT,
                DELIVERY,
                TIMESTAMP,
                SIGNATURE,
                WEBHOOK_ID,
                WEBHOOK_TIMESTAMP,
                WEBHOOK_SIGNATURE
            ]
        );
    }

    #[test]
    fn during_a_rotation_both_secrets_sign_and_the_cirrus_signature_uses_the_new_one() {
        const OLD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let signed = sign_all(&[WHSEC, OLD], "task", "d-4", 1_700_000_000_000, BODY);
        let (id, timestamp, signature) = signed.standard.clone().unwrap();
        let entries: Vec<&str> = signature.split(' ').collect();
        assert_eq!(entries.len(), 2);
        for (secret, entry) in [(WHSEC, entries[0]), (OLD, entries[1])] {
            let secret = StandardSecret::parse(secret).unwrap();
            assert_eq!(
                verify_standard(&secret, &id, &timestamp, entry, BODY, 1_700_000_000),
                Ok(())
            );
            assert_eq!(
                verify_standard(&secret, &id, &timestamp, &signature, BODY, 1_700_000_000),
                Ok(())
            );
        }
        let cirrus = signed.cirrus_signature.unwrap();
        assert_eq!(verify_cirrus(WHSEC.as_bytes(), BODY, &cirrus), Ok(()));
        assert!(verify_cirrus(OLD.as_bytes(), BODY, &cirrus).is_err());
        // A plain old secret adds no Standard entry; one secret signs as `sign` does.
        let plain = sign_all(&[WHSEC, "plain"], "task", "d-4", 1_700_000_000_000, BODY);
        assert_eq!(plain.standard.unwrap().2.split(' ').count(), 1);
        assert_eq!(
            sign_all(&[WHSEC], "task", "d-4", 1, BODY),
            sign(Some(WHSEC), "task", "d-4", 1, BODY)
        );
    }

    #[test]
    fn header_names_are_lower_case() {
        for name in [
            EVENT,
            SIGNATURE,
            TIMESTAMP,
            DELIVERY,
            WEBHOOK_ID,
            WEBHOOK_TIMESTAMP,
            WEBHOOK_SIGNATURE,
        ] {
            assert_eq!(name, name.to_ascii_lowercase());
        }
    }
}
