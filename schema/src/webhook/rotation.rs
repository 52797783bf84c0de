//! `rotateWebhookSecret`: an endpoint gets a new generated secret, returned this once; the one
//! it had keeps signing beside it for `overlapSeconds` (default a day), so receivers can switch
//! at their own pace. During the overlap the Standard Webhooks header carries both signatures
//! (`webhook-signature: v1,<new> v1,<old>`) and `X-Cirrus-Signature` is made with the new
//! secret; afterwards only the new one signs. The settings show when the overlap ends
//! (`secretOverlapEndsAt`).

use async_graphql::{Context, InputObject, Object, ResultExt, SimpleObject, ID};
use buildhooks_store::secrets::{self, Purpose};

use super::endpoints::WebHookDeliveryEndpoint;
use super::kinds::EndpointKind;
use super::outbox::commit_audited;
use super::{sealed, secret};
use crate::clock::now_ms;
use crate::ctx::{parse_id, store, viewer};
use crate::error::{Error, Result};

/// The overlap when none is given: a day.
pub const DEFAULT_OVERLAP_SECONDS: i32 = 86_400;
/// The longest overlap: thirty days.
pub const MAX_OVERLAP_SECONDS: i32 = 30 * 86_400;

#[derive(InputObject)]
pub struct RotateWebhookSecretInput {
    pub endpoint_id: ID,
    /// How long the previous secret keeps signing beside the new one, 0 to 2592000 seconds
    /// (30 days); default 86400 (a day). 0 retires it at once.
    #[graphql(default = 86400)]
    pub overlap_seconds: i32,
    pub client_mutation_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct RotateWebhookSecretPayload {
    /// The new secret (`whsec_...`): shown this once, never again.
    pub secret: String,
    /// The endpoint as the settings show it (its secret masked).
    pub endpoint: WebHookDeliveryEndpoint,
    /// When the previous secret stops signing (ms since the epoch); null without an overlap.
    pub secret_overlap_ends_at: Option<i64>,
    pub client_mutation_id: Option<String>,
}

async fn rotate(
    ctx: &Context<'_>,
    input: RotateWebhookSecretInput,
) -> Result<RotateWebhookSecretPayload> {
    let org_id = viewer(ctx)?.org_id;
    if !(0..=MAX_OVERLAP_SECONDS).contains(&input.overlap_seconds) {
        return Err(Error::field(
            "overlapSeconds",
            format!("give 0 to {MAX_OVERLAP_SECONDS} seconds"),
        ));
    }
    let id = parse_id(&input.endpoint_id, "webhook endpoint")?;
    let store = store(ctx)?;
    let vault = store.vault();
    let w = store.begin_write().await?;
    let endpoint = buildhooks_store::endpoints::find(w.txn(), org_id, Some(id), None)
        .await?
        .ok_or(Error::NotFound("webhook endpoint"))?;
    let kind = EndpointKind::of_stored(&endpoint.kind)
        .ok_or_else(|| Error::Internal(format!("endpoint {id}: unknown kind")))?;
    if kind.chat().is_some() {
        return Err(Error::field(
            "endpointId",
            format!(
                "{} endpoints use their vendor's secret; set it in the settings",
                kind.stored()
            ),
        ));
    }
    let new = secret::generate();
    let now = now_ms();
    // Without a secret before, nothing overlaps.
    let until = (input.overlap_seconds > 0 && endpoint.secret.is_some())
        .then(|| now + i64::from(input.overlap_seconds) * 1000);
    let sealed_new = vault.seal(Purpose::EndpointSecret, &new)?;
    if !secrets::rotate_endpoint_secret(w.txn(), org_id, id, sealed_new, until).await? {
        return Err(Error::NotFound("webhook endpoint"));
    }
    let row = buildhooks_store::endpoints::by_id(w.txn(), id)
        .await?
        .ok_or(Error::NotFound("webhook endpoint"))?;
    commit_audited(ctx, w, org_id, endpoint.repository_id).await?;
    let endpoint = WebHookDeliveryEndpoint::from_row(&sealed::opened(vault, row)?, None)?;
    Ok(RotateWebhookSecretPayload {
        secret: new,
        secret_overlap_ends_at: endpoint.secret_overlap_ends_at,
        endpoint,
        client_mutation_id: input.client_mutation_id,
    })
}

#[derive(Default)]
pub struct WebhookRotationMutation;

#[Object]
impl WebhookRotationMutation {
    /// Gives an endpoint a new generated secret, returned once; the previous one keeps signing
    /// beside it for `overlapSeconds` (Standard Webhooks: `v1,<new> v1,<old>`;
    /// `X-Cirrus-Signature` uses the new one).
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        input: RotateWebhookSecretInput,
    ) -> async_graphql::Result<RotateWebhookSecretPayload> {
        let _ = viewer(ctx).extend()?;
        rotate(ctx, input).await.extend()
    }
}
