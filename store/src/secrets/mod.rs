//! Secrets at rest: the operator's keys (`keys`), sealing and opening values (`vault`), and the
//! rows' secret columns brought under the newest key or rotated (`rows`). The sealed columns
//! are `webhook_endpoint.secret`, `previous_secret`, a chat robot's `url`, and
//! `inbound_source.secret` and `signing_secret`; `webhook_delivery.url` of a chat robot keeps
//! only a mask of the URL (the sink sends to the endpoint's).

pub mod keys;
pub mod rows;
pub mod vault;

pub use keys::{vault_for, KEY_ENV};
pub use rows::{reseal, rotate_endpoint_secret, Resealed};
pub use vault::{Purpose, SecretError, Vault};

use buildhooks_entity::webhook_endpoint;

/// When `endpoint`'s rotation overlap ends (ms since the epoch), while it is on at `now`: its
/// previous secret still signs beside the current one until then.
pub fn overlap_until(endpoint: &webhook_endpoint::Model, now: i64) -> Option<i64> {
    endpoint
        .previous_secret_until
        .filter(|until| endpoint.previous_secret.is_some() && now < *until)
}

/// The sealed secrets `endpoint` signs with at `now`: its secret, then its previous one while
/// the rotation overlaps (`overlap_until`).
pub fn signing_sealed(endpoint: &webhook_endpoint::Model, now: i64) -> impl Iterator<Item = &str> {
    let previous = overlap_until(endpoint, now).and(endpoint.previous_secret.as_deref());
    endpoint.secret.as_deref().into_iter().chain(previous)
}
