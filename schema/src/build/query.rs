//! Build queries: `build(id)`, `searchBuilds(repositoryOwner, repositoryName, SHA, branch)` (Cirrus's
//! argument names).

use async_graphql::{Context, Object, ResultExt, ID};
use buildhooks_store::{orgs, runs};

use crate::ctx::{db, parse_id, viewer};
use crate::error::{Error, Result};
use crate::graph::{load_build as load, Build};

/// Most builds `searchBuilds` returns (the newest).
const SEARCH_LIMIT: u64 = 100;

/// The builds of the viewer's organization's repository `owner`/`name`, newest first. Any
/// other repository is NOT_FOUND, exactly like one that does not exist.
async fn search(
    ctx: &Context<'_>,
    owner: &str,
    name: &str,
    sha: Option<&str>,
    branch: Option<&str>,
) -> Result<Vec<Build>> {
    let org_id = viewer(ctx)?.org_id;
    let db = db(ctx)?;
    let org = orgs::org(db, org_id)
        .await?
        .filter(|o| o.name == owner)
        .ok_or(Error::NotFound("repository"))?;
    let repo = orgs::repo_named(db, org.id, name)
        .await?
        .ok_or(Error::NotFound("repository"))?;
    let rows = runs::search(db, org_id, repo.id, sha, branch, SEARCH_LIMIT).await?;
    Ok(rows.into_iter().map(Build::from).collect())
}

#[derive(Default)]
pub struct BuildQuery;

#[Object]
impl BuildQuery {
    /// A build by id.
    async fn build(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Build>> {
        async { load(ctx, parse_id(&id, "build")?).await.map(Some) }
            .await
            .extend()
    }

    /// Builds of a repository of the viewer's organization by its owner and name, of commit
    /// `SHA` and on `branch` when given, newest first (at most 100). A repository of another
    /// organization is NOT_FOUND, exactly like one that does not exist.
    async fn search_builds(
        &self,
        ctx: &Context<'_>,
        repository_owner: String,
        repository_name: String,
        #[graphql(name = "SHA")] sha: Option<String>,
        branch: Option<String>,
    ) -> async_graphql::Result<Option<Vec<Build>>> {
        search(
            ctx,
            &repository_owner,
            &repository_name,
            sha.as_deref(),
            branch.as_deref(),
        )
        .await
        .map(Some)
        .extend()
    }
}
