//! Who sent an inbound request: GitHub's `X-Hub-Signature-256`, GitLab's `X-Gitlab-Token` or its
//! Standard Webhooks signature, a generic sender's token. Every comparison is constant-time, and
//! every check runs on the raw body before it is parsed.

use buildhooks_receiver::signature::{verify_cirrus, verify_standard, StandardSecret};
use subtle::ConstantTimeEq;

use super::receive::Headers;

/// Why a request is not accepted as its source's (answered 401 with this text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unauthenticated(pub &'static str);

/// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>` with the source's
/// secret.
pub fn github(secret: &str, headers: &dyn Headers, body: &[u8]) -> Result<(), Unauthenticated> {
    let header = headers
        .get("x-hub-signature-256")
        .ok_or(Unauthenticated("X-Hub-Signature-256 is missing"))?;
    let hex = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(Unauthenticated("X-Hub-Signature-256 must be sha256=<hex>"))?;
    verify_cirrus(secret.as_bytes(), body, hex)
        .map_err(|_| Unauthenticated("X-Hub-Signature-256 does not match the body"))
}

/// GitLab: with a signing secret, a Standard Webhooks signature within five minutes (and the
/// secret token, when sent); without one, `X-Gitlab-Token` equal to the source's secret.
pub fn gitlab(
    secret: &str,
    signing_secret: Option<&str>,
    headers: &dyn Headers,
    body: &[u8],
    now_secs: i64,
) -> Result<(), Unauthenticated> {
    let token = headers.get("x-gitlab-token");
    if let Some(signing) = signing_secret {
        let key = StandardSecret::parse(signing)
            .map_err(|_| Unauthenticated("the source's signing secret is unusable"))?;
        let header = |name| headers.get(name).unwrap_or_default();
        verify_standard(
            &key,
            header("webhook-id"),
            header("webhook-timestamp"),
            header("webhook-signature"),
            body,
            now_secs,
        )
        .map_err(|e| match e {
            buildhooks_receiver::signature::VerifyError::TimestampOutOfTolerance => {
                Unauthenticated("webhook-timestamp is more than 5 minutes away")
            }
            buildhooks_receiver::signature::VerifyError::MissingHeader(_) => {
                Unauthenticated("webhook-id, webhook-timestamp and webhook-signature are required")
            }
            _ => Unauthenticated("webhook-signature does not match the body"),
        })?;
        return match token {
            Some(token) if !same(token, secret) => {
                Err(Unauthenticated("X-Gitlab-Token does not match"))
            }
            _ => Ok(()),
        };
    }
    match token {
        None => Err(Unauthenticated("X-Gitlab-Token is missing")),
        Some(token) if same(token, secret) => Ok(()),
        Some(_) => Err(Unauthenticated("X-Gitlab-Token does not match")),
    }
}

/// A generic sender: the token as `?token=` or `Authorization: Bearer <token>`.
pub fn generic(
    secret: &str,
    query_token: Option<&str>,
    headers: &dyn Headers,
) -> Result<(), Unauthenticated> {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.trim().strip_prefix("Bearer "))
        .map(str::trim);
    match query_token.or(bearer) {
        None => Err(Unauthenticated(
            "a token is required (?token= or Authorization: Bearer)",
        )),
        Some(token) if same(token, secret) => Ok(()),
        Some(_) => Err(Unauthenticated("the token does not match")),
    }
}

/// Constant-time equality (only the lengths may differ in time).
fn same(given: &str, expected: &str) -> bool {
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct H(Vec<(&'static str, String)>);
    impl Headers for H {
        fn get(&self, name: &str) -> Option<&str> {
            self.0
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        }
    }

    #[test]
    fn github_published_vector() {
        // GitHub's documented test values ("Validating webhook deliveries").
        let headers = H(vec![(
            "x-hub-signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17".into(),
        )]);
        assert_eq!(
            github("It's a Secret to Everybody", &headers, b"Hello, World!"),
            Ok(())
        );
        assert!(github("another", &headers, b"Hello, World!").is_err());
        assert!(github("It's a Secret to Everybody", &H(vec![]), b"Hello, World!").is_err());
    }

    #[test]
    fn tokens() {
        let h = H(vec![("x-gitlab-token", "abc".into())]);
        assert!(gitlab("abc", None, &h, b"{}", 0).is_ok());
        assert!(gitlab("abd", None, &h, b"{}", 0).is_err());
        assert!(generic("t", Some("t"), &H(vec![])).is_ok());
        let bearer = H(vec![("authorization", "Bearer t".into())]);
        assert!(generic("t", None, &bearer).is_ok());
        assert!(generic("u", None, &bearer).is_err());
        assert!(generic("t", None, &H(vec![])).is_err());
    }
}
