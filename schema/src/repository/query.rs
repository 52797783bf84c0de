//! Repository queries: `repository(id)`, `ownerRepository(platform, owner, name)` and
//! `githubRepository(owner, name)`. Only the viewer's organization's repositories are ever found;
//! any other is null with NOT_FOUND, exactly like one that does not exist.

use async_graphql::{Context, Object, ResultExt, ID};
use buildhooks_store::orgs;

use crate::ctx::{db, parse_id, viewer};
use crate::error::{Error, Result};
use crate::graph::{load_repository as load, Repository};

/// The viewer's organization's repository `name`, if the organization is `platform`/`owner`.
async fn by_owner(
    ctx: &Context<'_>,
    platform: &str,
    owner: &str,
    name: &str,
) -> Result<Repository> {
    let viewer = viewer(ctx)?;
    let db = db(ctx)?;
    let org = orgs::org(db, viewer.org_id)
        .await?
        .filter(|o| o.name == owner && o.platform == platform)
        .ok_or(Error::NotFound("repository"))?;
    orgs::repo_named(db, org.id, name)
        .await?
        .map(Repository::from)
        .ok_or(Error::NotFound("repository"))
}

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
        by_owner(ctx, &platform, &owner, &name)
            .await
            .map(Some)
            .extend()
    }

    /// A repository of a `github` organization by its owner and name (Cirrus's older field;
    /// `ownerRepository(platform: "github", ...)`).
    async fn github_repository(
        &self,
        ctx: &Context<'_>,
        owner: String,
        name: String,
    ) -> async_graphql::Result<Option<Repository>> {
        by_owner(ctx, "github", &owner, &name)
            .await
            .map(Some)
            .extend()
    }
}
