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
