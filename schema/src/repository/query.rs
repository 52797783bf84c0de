//! Repository queries: `repository(id)` and `ownerRepository(platform, owner, name)`.

use async_graphql::{Context, Object, ResultExt, ID};
use buildhooks_store::orgs;

use crate::ctx::{db, parse_id, viewer};
use crate::error::Error;
use crate::graph::{load_repository as load, Repository};

#[derive(Default)]
pub struct RepositoryQuery;

#[Object]
impl RepositoryQuery {
    /// A repository by id.
    async fn repository(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<Repository>> {
        async { load(ctx, parse_id(&id, "repository")?).await.map(Some) }
            .await
            .extend()
    }

    /// A repository by its organization's platform and name and its own name.
    async fn owner_repository(
        &self,
        ctx: &Context<'_>,
        platform: String,
        owner: String,
        name: String,
    ) -> async_graphql::Result<Option<Repository>> {
        async {
            let viewer = viewer(ctx)?;
            let db = db(ctx)?;
            let org = orgs::org(db, viewer.org_id)
                .await?
                .filter(|o| o.name == owner && o.platform == platform)
                .ok_or(Error::NotFound("repository"))?;
            orgs::repo_named(db, org.id, &name)
                .await?
                .map(|m| Some(Repository::from(m)))
                .ok_or(Error::NotFound("repository"))
        }
        .await
        .extend()
    }
}
