//! `build(id)`.

use async_graphql::{Context, Object, ResultExt, ID};

use crate::ctx::parse_id;
use crate::graph::{load_build as load, Build};

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
}
