//! Endpoint kinds as a save sees them: each kind checks its own settings (where it sends, its
//! secret) when they are saved. The dispatcher's sinks (`server/src/delivery/sink/`) deliver to
//! the same kinds by the same name (`webhook_endpoint.kind`); a new kind is added in both.

use super::{secret, target};

/// What one kind checks when an endpoint of it is saved.
#[async_trait::async_trait]
pub trait KindSettings: Send + Sync {
    /// The kind's stored name.
    fn kind(&self) -> &'static str;

    /// The endpoint's address, checked (and normalised); a message for the client otherwise.
    async fn check_url(&self, raw: &str, allow_private: bool) -> Result<url::Url, String>;

    /// A secret the client set; a message for the client when the kind cannot use it.
    fn check_secret(&self, secret: &str) -> Result<(), String>;
}

/// `webhook`: a signed HTTP POST to a public `http(s)` URL (the SSRF guard's ranges), signed
/// with a secret of the forms `secret::validate` allows.
pub struct Webhook;

#[async_trait::async_trait]
impl KindSettings for Webhook {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    async fn check_url(&self, raw: &str, allow_private: bool) -> Result<url::Url, String> {
        target::check_url(raw, allow_private).await
    }

    fn check_secret(&self, secret: &str) -> Result<(), String> {
        secret::validate(secret)
    }
}

/// Every kind an endpoint may be saved as.
static KINDS: [&dyn KindSettings; 1] = [&Webhook];

/// The kind named `name`.
pub fn of(name: &str) -> Option<&'static dyn KindSettings> {
    KINDS.iter().copied().find(|k| k.kind() == name)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_webhook_kind_checks_its_address_and_secret() {
        let webhook = super::of("webhook").expect("webhook");
        assert!(super::of("carrier-pigeon").is_none());
        assert!(webhook
            .check_url("https://hooks.example.com/x", false)
            .await
            .is_ok());
        assert!(webhook
            .check_url("http://127.0.0.1:9/x", false)
            .await
            .is_err());
        assert!(webhook.check_secret("whsec_short").is_err());
        assert!(webhook.check_secret("a plain secret").is_ok());
    }
}
