//! The organization's API tokens: `ownerAccessTokens` lists them masked (`bh_…abcd`), with
//! when each was made, last used and revoked; `deleteOwnerAccessToken` revokes one. A revoked
//! token is refused at once here and by every other instance sharing the database as soon as it
//! hears of the revocation (`Store::watch_revocations`). Tokens are revoked, not deleted: the list keeps
//! showing when.

use async_graphql::{Context, InputObject, Object, ResultExt, SimpleObject, ID};
use buildhooks_entity::api_token;
use buildhooks_store::tokens;

use crate::auth::masked_token;
use crate::clock::now_ms;
use crate::ctx::{db, parse_id, store, viewer};
use crate::error::Error;
use crate::webhook::outbox::commit_audited;

/// An API token of the organization, never shown whole again after it was issued.
#[derive(SimpleObject, Clone, Debug)]
pub struct OwnerAccessToken {
    pub id: ID,
    /// `bh_…` and the token's last four characters, or `••••` for a token issued before
    /// hints were kept.
    pub masked_token: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// When it last authenticated a request (noted at most once a minute), if ever.
    pub last_used_at: Option<i64>,
    /// When it was revoked; a revoked token authenticates nothing.
    pub revoked_at: Option<i64>,
}

impl From<api_token::Model> for OwnerAccessToken {
    fn from(m: api_token::Model) -> Self {
        OwnerAccessToken {
            id: ID(m.id.to_string()),
            masked_token: masked_token(m.hint.as_deref()),
            created_at: m.created_at,
            last_used_at: m.last_used_at,
            revoked_at: m.revoked_at,
        }
    }
}

#[derive(Default)]
pub struct OwnerTokensQuery;

#[Object]
impl OwnerTokensQuery {
    /// The API tokens of the viewer's organization, revoked ones included, oldest first.
    async fn owner_access_tokens(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<OwnerAccessToken>> {
        async {
            let rows = tokens::of_org(db(ctx)?, viewer(ctx)?.org_id).await?;
            Ok::<_, Error>(rows.into_iter().map(OwnerAccessToken::from).collect())
        }
        .await
        .extend()
    }
}

#[derive(InputObject)]
pub struct DeleteOwnerAccessTokenInput {
    /// The token's id (`ownerAccessTokens { id }`).
    pub id: ID,
    pub client_mutation_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct DeleteOwnerAccessTokenPayload {
    /// The token as revoked.
    pub token: OwnerAccessToken,
    pub client_mutation_id: Option<String>,
}

#[derive(Default)]
pub struct OwnerTokensMutation;

#[Object]
impl OwnerTokensMutation {
    /// Revokes an API token of the viewer's organization (the one making the request included):
    /// it authenticates nothing from now on. Revoking a revoked token changes nothing.
    async fn delete_owner_access_token(
        &self,
        ctx: &Context<'_>,
        input: DeleteOwnerAccessTokenInput,
    ) -> async_graphql::Result<DeleteOwnerAccessTokenPayload> {
        async {
            let org_id = viewer(ctx)?.org_id;
            let id = parse_id(&input.id, "access token")?;
            let store = store(ctx)?;
            let w = store.begin_write().await?;
            let token = tokens::revoke(w.txn(), org_id, id, now_ms())
                .await?
                .ok_or(Error::NotFound("access token"))?;
            commit_audited(ctx, w, org_id, None).await?;
            store.forget_token(&token.token_hash);
            Ok::<_, Error>(DeleteOwnerAccessTokenPayload {
                token: token.into(),
                client_mutation_id: input.client_mutation_id,
            })
        }
        .await
        .extend()
    }
}
