//! `ownerInfo(platform, uid)` and `ownerInfoByName(platform, name)`: only the viewer's own
//! organization is ever found.

use async_graphql::{Context, Object, ResultExt, ID};
use buildhooks_store::orgs;

use super::types::{check_owner, OwnerInfo};
use crate::ctx::{db, viewer};
use crate::error::Error;

#[derive(Default)]
pub struct OwnerQuery;

/// A person signed in to Cirrus (`viewer`). buildhooks has no users: its API tokens belong to
/// organizations, so `viewer` is always null.
#[derive(async_graphql::SimpleObject)]
pub struct User {
    pub id: ID,
}

#[Object]
impl OwnerQuery {
    /// The person making the request: always null, since requests come with an organization's
    /// API token, not a user's session (Cirrus answers null to unauthenticated requests too).
    async fn viewer(&self) -> Option<User> {
        None
    }

    /// An organization by uid; without a uid, the viewer's own.
    async fn owner_info(
        &self,
        ctx: &Context<'_>,
        platform: Option<String>,
        uid: Option<ID>,
    ) -> async_graphql::Result<Option<OwnerInfo>> {
        async {
            let uid = match uid {
                Some(uid) => uid,
                None => ID(viewer(ctx)?.org_id.to_string()),
            };
            check_owner(ctx, platform.as_deref(), &uid).await.map(Some)
        }
        .await
        .extend()
    }

    /// An organization by name.
    async fn owner_info_by_name(
        &self,
        ctx: &Context<'_>,
        platform: Option<String>,
        name: String,
    ) -> async_graphql::Result<Option<OwnerInfo>> {
        async {
            let viewer = viewer(ctx)?;
            orgs::org(db(ctx)?, viewer.org_id)
                .await?
                .filter(|o| o.name == name && platform.as_deref().is_none_or(|p| p == o.platform))
                .map(|o| Some(OwnerInfo::from(o)))
                .ok_or(Error::NotFound("owner"))
        }
        .await
        .extend()
    }
}
