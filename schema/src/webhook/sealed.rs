//! Endpoint rows with their secrets sealed (as stored) and opened (as the settings logic and
//! the read side compare and mask them). The database holds `secret`, `previous_secret` and a
//! chat robot's `url` sealed under the operator's key (`buildhooks_store::secrets`); a row is
//! opened when read for the settings, and sealed again right before it is written.

use buildhooks_entity::webhook_endpoint;
use buildhooks_store::secrets::{Purpose, SecretError, Vault};
use sea_orm::ActiveValue;

use super::kinds::{is_chat, shown_url};
use crate::error::{Error, Result};

impl From<SecretError> for Error {
    fn from(error: SecretError) -> Self {
        // The text names a key id at most; it stays in the logs.
        Error::Internal(error.to_string())
    }
}

/// `m` with its secrets and its URL in clear.
pub fn opened(vault: &Vault, mut m: webhook_endpoint::Model) -> Result<webhook_endpoint::Model> {
    m.url = vault.open(Purpose::EndpointUrl, &m.url)?.to_string();
    m.secret = open_opt(vault, m.secret.as_deref())?;
    m.previous_secret = open_opt(vault, m.previous_secret.as_deref())?;
    Ok(m)
}

/// Each of `rows` opened.
pub fn all_opened(
    vault: &Vault,
    rows: Vec<webhook_endpoint::Model>,
) -> Result<Vec<webhook_endpoint::Model>> {
    rows.into_iter().map(|m| opened(vault, m)).collect()
}

fn open_opt(vault: &Vault, stored: Option<&str>) -> Result<Option<String>> {
    Ok(vault
        .open_opt(Purpose::EndpointSecret, stored)?
        .map(|s| s.to_string()))
}

/// Seals what `row` is about to write in clear: its secret and, for a chat robot (its kind as
/// set), its URL.
pub fn seal_row(vault: &Vault, row: &mut webhook_endpoint::ActiveModel) -> Result<()> {
    if let ActiveValue::Set(Some(secret)) = &row.secret {
        let sealed = seal_if_clear(vault, Purpose::EndpointSecret, secret)?;
        row.secret = ActiveValue::Set(Some(sealed));
    }
    if let ActiveValue::Set(Some(previous)) = &row.previous_secret {
        let sealed = seal_if_clear(vault, Purpose::EndpointSecret, previous)?;
        row.previous_secret = ActiveValue::Set(Some(sealed));
    }
    let chat = match &row.kind {
        ActiveValue::Set(kind) | ActiveValue::Unchanged(kind) => is_chat(kind),
        ActiveValue::NotSet => false,
    };
    if let (true, ActiveValue::Set(url)) = (chat, &row.url) {
        let sealed = seal_if_clear(vault, Purpose::EndpointUrl, url)?;
        row.url = ActiveValue::Set(sealed);
    }
    Ok(())
}

fn seal_if_clear(vault: &Vault, purpose: Purpose, value: &str) -> Result<String> {
    match buildhooks_store::secrets::vault::is_sealed(value) {
        true => Ok(value.to_owned()),
        false => Ok(vault.seal(purpose, value)?),
    }
}

/// The URL a delivery row keeps for a stored endpoint: a robot's (sealed) URL opened and
/// masked, a webhook's as it is.
pub fn row_url(vault: &Vault, endpoint: &webhook_endpoint::Model) -> Result<String> {
    match is_chat(&endpoint.kind) {
        true => Ok(shown_url(
            &endpoint.kind,
            &vault.open(Purpose::EndpointUrl, &endpoint.url)?,
        )),
        false => Ok(endpoint.url.clone()),
    }
}

/// The secrets an endpoint signs with at `now`: its own, and while a rotation overlaps the one
/// before it (as the webhook sink signs).
pub fn signing_secrets(
    vault: &Vault,
    endpoint: &webhook_endpoint::Model,
    now: i64,
) -> Result<Vec<String>> {
    buildhooks_store::secrets::signing_sealed(endpoint, now)
        .map(|value| Ok(vault.open(Purpose::EndpointSecret, value)?.to_string()))
        .collect()
}
