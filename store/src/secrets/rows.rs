//! Sealing the rows: every secret column brought under the sealing key (values in clear left by
//! an older version at start, everything not under the newest key by `buildhooks secrets
//! rotate-key`), and an endpoint's secret rotation. Each row is written only if its value is
//! still the one read, so a secret saved meanwhile is never overwritten with an older one.

use buildhooks_entity::{inbound_source, webhook_endpoint};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use super::vault::{Purpose, SecretError, Vault};
use crate::{Db, Result};

/// How many values a reseal wrote, by column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Resealed {
    pub endpoint_secrets: u64,
    pub endpoint_previous_secrets: u64,
    pub endpoint_urls: u64,
    pub inbound_secrets: u64,
    pub inbound_signing_secrets: u64,
    /// Values that did not open (named by row in the log, never shown); left as they were.
    pub failed: u64,
}

impl Resealed {
    /// Every value written.
    pub fn total(&self) -> u64 {
        self.endpoint_secrets
            + self.endpoint_previous_secrets
            + self.endpoint_urls
            + self.inbound_secrets
            + self.inbound_signing_secrets
    }
}

/// Brings every secret column under the vault's sealing key: values in clear, and (with
/// `older_keys`) values sealed under another key. The URLs of endpoints whose kind is one of
/// `url_kinds` (chat robots, whose URL is their secret) are sealed too.
pub async fn reseal(
    db: &Db,
    vault: &Vault,
    url_kinds: &[&str],
    older_keys: bool,
) -> Result<Resealed> {
    let mut done = Resealed::default();
    if vault.sealing_key_id().is_none() {
        return Ok(done);
    }
    let pending = |stored: &str| match older_keys {
        true => vault.needs_reseal(stored),
        false => !super::vault::is_sealed(stored),
    };
    let conn = db.conn();
    let endpoints = webhook_endpoint::Entity::find()
        .select_only()
        .columns([
            webhook_endpoint::Column::Id,
            webhook_endpoint::Column::Kind,
            webhook_endpoint::Column::Url,
            webhook_endpoint::Column::Secret,
            webhook_endpoint::Column::PreviousSecret,
        ])
        .into_tuple::<(i32, String, String, Option<String>, Option<String>)>()
        .all(conn)
        .await?;
    for (id, kind, url, secret, previous) in endpoints {
        use webhook_endpoint::Column as C;
        let mut jobs: Vec<(C, Purpose, String, &mut u64)> = Vec::new();
        let (s, p, u) = (
            &mut done.endpoint_secrets,
            &mut done.endpoint_previous_secrets,
            &mut done.endpoint_urls,
        );
        if let Some(secret) = secret.filter(|v| pending(v)) {
            jobs.push((C::Secret, Purpose::EndpointSecret, secret, s));
        }
        if let Some(previous) = previous.filter(|v| pending(v)) {
            jobs.push((C::PreviousSecret, Purpose::EndpointSecret, previous, p));
        }
        if url_kinds.contains(&kind.as_str()) && pending(&url) {
            jobs.push((C::Url, Purpose::EndpointUrl, url, u));
        }
        for (column, purpose, stored, count) in jobs {
            let Some(sealed) =
                sealed_or_log(vault, purpose, &stored, "endpoint", id, &mut done.failed)
            else {
                continue;
            };
            let written = webhook_endpoint::Entity::update_many()
                .col_expr(column, Expr::value(sealed))
                .filter(C::Id.eq(id))
                .filter(column.eq(stored))
                .exec(conn)
                .await?;
            *count += written.rows_affected;
        }
    }
    let sources = inbound_source::Entity::find()
        .select_only()
        .columns([
            inbound_source::Column::Id,
            inbound_source::Column::Secret,
            inbound_source::Column::SigningSecret,
        ])
        .into_tuple::<(i32, String, Option<String>)>()
        .all(conn)
        .await?;
    for (id, secret, signing) in sources {
        use inbound_source::Column as C;
        let mut jobs: Vec<(C, Purpose, String, &mut u64)> = Vec::new();
        let (s, g) = (&mut done.inbound_secrets, &mut done.inbound_signing_secrets);
        if pending(&secret) {
            jobs.push((C::Secret, Purpose::InboundSecret, secret, s));
        }
        if let Some(signing) = signing.filter(|v| pending(v)) {
            jobs.push((C::SigningSecret, Purpose::InboundSigningSecret, signing, g));
        }
        for (column, purpose, stored, count) in jobs {
            let Some(sealed) = sealed_or_log(
                vault,
                purpose,
                &stored,
                "inbound source",
                id,
                &mut done.failed,
            ) else {
                continue;
            };
            let written = inbound_source::Entity::update_many()
                .col_expr(column, Expr::value(sealed))
                .filter(C::Id.eq(id))
                .filter(column.eq(stored))
                .exec(conn)
                .await?;
            *count += written.rows_affected;
        }
    }
    Ok(done)
}

/// `stored` sealed under the sealing key, or `None` (logged, counted) when it does not open.
fn sealed_or_log(
    vault: &Vault,
    purpose: Purpose,
    stored: &str,
    what: &str,
    id: i32,
    failed: &mut u64,
) -> Option<String> {
    let sealed = vault
        .open(purpose, stored)
        .and_then(|clear| vault.seal(purpose, &clear));
    match sealed {
        Ok(sealed) => Some(sealed),
        Err(error) => {
            let error: SecretError = error;
            tracing::error!(%error, id, ?purpose, "a {what}'s secret cannot be sealed again; left as it is");
            *failed += 1;
            None
        }
    }
}

/// An endpoint's secret rotation: `secret` (sealed) becomes its secret, and the one it had
/// signs beside it until `until` (ms since the epoch; `None`: not at all). Only an undeleted
/// endpoint of `org_id`; returns whether one was changed.
pub async fn rotate_endpoint_secret(
    db: &impl ConnectionTrait,
    org_id: i32,
    id: i32,
    secret: String,
    until: Option<i64>,
) -> Result<bool> {
    use webhook_endpoint::Column as C;
    let previous = match until {
        Some(_) => Expr::col(C::Secret).into(),
        None => Expr::value(Option::<String>::None),
    };
    let written = webhook_endpoint::Entity::update_many()
        .col_expr(C::PreviousSecret, previous)
        .col_expr(C::PreviousSecretUntil, Expr::value(until))
        .col_expr(C::Secret, Expr::value(secret))
        .filter(C::Id.eq(id))
        .filter(C::OrgId.eq(org_id))
        .filter(C::Deleted.eq(false))
        .exec(db)
        .await?;
    Ok(written.rows_affected == 1)
}
