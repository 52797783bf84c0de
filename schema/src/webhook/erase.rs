//! `eraseDeliveryPayloads(input: {before, repositoryId?})`: erasure on demand (GDPR-style) of
//! what the organization's finished deliveries sent and received. The bodies, last responses and
//! attempts' response excerpts and headers of its DELIVERED and FAILED deliveries created before
//! `before` (of one repository when named) are blanked, page by page in short transactions, and
//! the deliveries marked erased (`erased: true`); they can no longer be redelivered (`ERASED`).
//! Deliveries still waiting or in flight are left alone, and counted. The first page's
//! transaction carries the mutation's audit event.

use async_graphql::{Context, InputObject, Object, ResultExt, SimpleObject, ID};
use buildhooks_store::retention::erase::{self, Scope};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::outbox::commit_audited;
use super::WebhookConfig;
use crate::clock::now_ms;
use crate::ctx::{db, parse_id, store, viewer};
use crate::error::{Error, Result};

/// Deliveries one page (one transaction) reads at most, unless configured.
const DEFAULT_PAGE: u64 = 1_000;

#[derive(InputObject)]
pub struct EraseDeliveryPayloadsInput {
    /// Erase deliveries created before this time: RFC 3339 (`2026-11-01T00:00:00Z`) or
    /// milliseconds since the epoch; not in the future.
    pub before: String,
    /// Only this repository's deliveries.
    pub repository_id: Option<ID>,
    pub client_mutation_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct EraseDeliveryPayloadsPayload {
    /// Deliveries whose payloads this call erased (ones erased before are not counted again).
    pub erased: i64,
    /// Deliveries in the scope still waiting or in flight, left alone.
    pub pending_left: i64,
    pub client_mutation_id: Option<String>,
}

/// `before` in milliseconds since the epoch, refused when unreadable or in the future.
fn parse_before(text: &str, now: i64) -> Result<i64> {
    let text = text.trim();
    let at = match text.parse::<i64>() {
        Ok(ms) => Some(ms),
        Err(_) => OffsetDateTime::parse(text, &Rfc3339)
            .ok()
            .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64),
    };
    match at {
        None => Err(Error::field(
            "before",
            "not a time: give RFC 3339 (2026-11-01T00:00:00Z) or milliseconds since the epoch",
        )),
        Some(at) if at > now => Err(Error::field("before", "is in the future")),
        Some(at) => Ok(at),
    }
}

async fn erase_payloads(
    ctx: &Context<'_>,
    input: &EraseDeliveryPayloadsInput,
) -> Result<(u64, u64)> {
    let org_id = viewer(ctx)?.org_id;
    let now = now_ms();
    let before = parse_before(&input.before, now)?;
    let repository_id = match &input.repository_id {
        Some(id) => {
            let id = parse_id(id, "repository")?;
            crate::graph::load_repository(ctx, id).await?;
            Some(id)
        }
        None => None,
    };
    let scope = Scope {
        org_id,
        before,
        repository_id,
    };
    let page = match ctx.data_opt::<WebhookConfig>().map(|c| c.erase_batch) {
        Some(n) if n > 0 => n,
        _ => DEFAULT_PAGE,
    };
    let store = store(ctx)?;
    let (mut after, mut erased, mut first) = (0, 0, true);
    loop {
        let w = store.begin_write().await?;
        let done = erase::erase_page(w.txn(), scope, after, page, now).await?;
        if first {
            commit_audited(ctx, w, org_id, repository_id).await?;
            first = false;
        } else {
            w.commit().await?;
        }
        erased += done.deliveries;
        match done.next {
            Some(next) => after = next,
            None => break,
        }
    }
    let pending = erase::waiting(db(ctx)?, scope).await?;
    tracing::info!(org_id, erased, pending, "delivery payloads erased");
    Ok((erased, pending))
}

#[derive(Default)]
pub struct EraseMutation;

#[Object]
impl EraseMutation {
    /// Blanks the payloads (bodies, responses, response excerpts and headers) of the
    /// organization's finished deliveries created before `before`, of one repository when
    /// named; answers how many were erased and how many waiting deliveries were left alone.
    /// Erased deliveries cannot be redelivered.
    async fn erase_delivery_payloads(
        &self,
        ctx: &Context<'_>,
        input: EraseDeliveryPayloadsInput,
    ) -> async_graphql::Result<EraseDeliveryPayloadsPayload> {
        let (erased, pending) = erase_payloads(ctx, &input).await.extend()?;
        Ok(EraseDeliveryPayloadsPayload {
            erased: erased as i64,
            pending_left: pending as i64,
            client_mutation_id: input.client_mutation_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parse_before;

    #[test]
    fn before_is_rfc3339_or_milliseconds_and_not_in_the_future() {
        let now = 1_800_000_000_000;
        assert_eq!(
            parse_before("1700000000000", now).ok(),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            parse_before("2023-11-14T22:13:20Z", now).ok(),
            Some(1_700_000_000_000)
        );
        assert!(parse_before("yesterday", now).is_err());
        assert!(parse_before("1900000000000", now).is_err());
    }
}
