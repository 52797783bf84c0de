//! The secrets an attempt uses, opened from the vault (the database holds them sealed; the
//! vault caches what it opened, so an attempt pays one lookup): the endpoint's signing secrets
//! (its current one, then, while a rotation overlaps, the one before it) and a chat robot's URL.
//! A value that does not open fails the attempt with `secret`, naming no secret.

use std::sync::Arc;

use buildhooks_entity::webhook_endpoint;
use buildhooks_store::secrets::{Purpose, Vault};

use super::outcome::AttemptError;

/// The secrets `endpoint` signs with at `now` (ms since the epoch): its secret, and its
/// previous secret until `previous_secret_until`.
pub fn signing(
    vault: &Vault,
    endpoint: &webhook_endpoint::Model,
    now: i64,
) -> Result<Vec<Arc<str>>, AttemptError> {
    buildhooks_store::secrets::signing_sealed(endpoint, now)
        .map(|value| open(vault, Purpose::EndpointSecret, value, endpoint.id))
        .collect()
}

/// A chat robot's URL (sealed in the database: it carries the robot's token).
pub fn url(vault: &Vault, endpoint: &webhook_endpoint::Model) -> Result<Arc<str>, AttemptError> {
    open(vault, Purpose::EndpointUrl, &endpoint.url, endpoint.id)
}

fn open(
    vault: &Vault,
    purpose: Purpose,
    stored: &str,
    endpoint: i32,
) -> Result<Arc<str>, AttemptError> {
    vault.open(purpose, stored).map_err(|error| {
        tracing::error!(endpoint, ?purpose, %error, "an endpoint's secret does not open; nothing was sent");
        AttemptError::Secret
    })
}

/// The secrets as the signer takes them.
pub fn as_strs(secrets: &[Arc<str>]) -> Vec<&str> {
    secrets.iter().map(|s| &**s).collect()
}
