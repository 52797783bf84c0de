//! An inbound source's secrets as stored (sealed under the operator's key) and as verified and
//! masked (opened): a source is opened when it is read, sealed when its secrets are written.

use buildhooks_entity::inbound_source;
use buildhooks_store::secrets::{Purpose, Vault};

use crate::error::Result;

/// `row` with its secrets in clear.
pub fn opened(vault: &Vault, mut row: inbound_source::Model) -> Result<inbound_source::Model> {
    row.secret = vault.open(Purpose::InboundSecret, &row.secret)?.to_string();
    row.signing_secret = vault
        .open_opt(Purpose::InboundSigningSecret, row.signing_secret.as_deref())?
        .map(|s| s.to_string());
    Ok(row)
}

/// A source's secret and signing secret, sealed to be written.
pub fn sealed(
    vault: &Vault,
    secret: &str,
    signing_secret: Option<&str>,
) -> Result<(String, Option<String>)> {
    Ok((
        vault.seal(Purpose::InboundSecret, secret)?,
        vault.seal_opt(Purpose::InboundSigningSecret, signing_secret)?,
    ))
}
