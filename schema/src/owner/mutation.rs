//! `generateNewOwnerAccessToken`: a new API token for the viewer's organization, returned once.

use async_graphql::{Context, InputObject, Object, ResultExt, SimpleObject, ID};

use super::types::check_owner;
use crate::auth::issue_token;
use crate::ctx::store;
use crate::webhook::outbox::commit_audited;

#[derive(InputObject)]
pub struct GenerateNewOwnerAccessTokenInput {
    pub platform: Option<String>,
    pub owner_uid: ID,
    pub client_mutation_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct GenerateNewOwnerAccessTokenPayload {
    /// The token; shown this once, only its hash is stored.
    pub token: String,
    pub client_mutation_id: Option<String>,
}

#[derive(Default)]
pub struct OwnerMutation;

#[Object]
impl OwnerMutation {
    /// Issues a new API token for the organization.
    async fn generate_new_owner_access_token(
        &self,
        ctx: &Context<'_>,
        input: GenerateNewOwnerAccessTokenInput,
    ) -> async_graphql::Result<GenerateNewOwnerAccessTokenPayload> {
        async {
            let org = check_owner(ctx, input.platform.as_deref(), &input.owner_uid).await?;
            let w = store(ctx)?.begin_write().await?;
            let token = issue_token(w.txn(), org.org_id).await?;
            commit_audited(ctx, w, org.org_id, None).await?;
            Ok::<_, crate::error::Error>(GenerateNewOwnerAccessTokenPayload {
                token,
                client_mutation_id: input.client_mutation_id,
            })
        }
        .await
        .extend()
    }
}
