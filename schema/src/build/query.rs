//! `build(id)`.

use async_graphql::{Context, Object, ResultExt, ID};
use buildhooks_entity::build;
use sea_orm::{ColumnTrait, QueryFilter};

use super::types::Build;
use crate::ctx::{db, parse_id, viewer};
use crate::error::{Error, Result};

/// Loads a build of the viewer's organization.
pub(crate) async fn load(ctx: &Context<'_>, id: i32) -> Result<Build> {
    let org_id = viewer(ctx)?.org_id;
    if let Some(row) = crate::seed::build(ctx, org_id, id) {
        return Ok(row.into());
    }
    build::Entity::find_in_org(org_id)
        .filter(build::Column::Id.eq(id))
        .one(db(ctx)?)
        .await?
        .map(Build::from)
        .ok_or(Error::NotFound("build"))
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
}
