//! The GraphQL `Repository` type.

use async_graphql::{connection::Connection, ComplexObject, Context, ResultExt, SimpleObject, ID};
use buildhooks_entity::{build, organization, repository};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::build::types::{Build, BuildConnection};
use crate::ctx::{db, page_size, parse_cursor, viewer};
use crate::error::Error;
use crate::status::BuildStatus;

/// A repository of an organization (Cirrus's `Repository`).
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Repository {
    pub id: ID,
    pub name: String,
    pub is_private: bool,
    pub default_branch: String,
    #[graphql(skip)]
    pub org_id: i32,
    #[graphql(skip)]
    pub row_id: i32,
}

impl From<repository::Model> for Repository {
    fn from(m: repository::Model) -> Self {
        Repository {
            id: ID(m.id.to_string()),
            name: m.name,
            is_private: m.is_private,
            default_branch: m.default_branch,
            org_id: m.org_id,
            row_id: m.id,
        }
    }
}

#[ComplexObject]
impl Repository {
    /// The organization's name.
    async fn owner(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(self.organization(ctx).await?.name)
    }

    /// The organization's platform.
    async fn platform(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(self.organization(ctx).await?.platform)
    }

    /// Same as `defaultBranch` (Cirrus's older name).
    async fn master_branch(&self) -> &str {
        &self.default_branch
    }

    /// Builds, newest first.
    async fn builds(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        branch: Option<String>,
        status: Option<BuildStatus>,
    ) -> async_graphql::Result<BuildConnection> {
        async {
            let limit = page_size(first, 20)?;
            let viewer = viewer(ctx)?;
            let mut q = build::Entity::find_in_org(viewer.org_id)
                .filter(build::Column::RepositoryId.eq(self.row_id));
            if let Some(after) = parse_cursor(after.as_deref())? {
                q = q.filter(build::Column::Id.lt(after));
            }
            if let Some(branch) = branch {
                q = q.filter(build::Column::Branch.eq(branch));
            }
            if let Some(status) = status {
                q = q.filter(build::Column::Status.eq(status.as_str()));
            }
            let mut rows = q
                .order_by_desc(build::Column::Id)
                .limit(limit + 1)
                .all(db(ctx)?)
                .await?;
            let has_next = rows.len() as u64 > limit;
            rows.truncate(limit as usize);
            let mut conn = Connection::new(after.is_some(), has_next);
            conn.edges.extend(
                rows.into_iter().map(|m| {
                    async_graphql::connection::Edge::new(m.id.to_string(), Build::from(m))
                }),
            );
            Ok::<_, Error>(conn)
        }
        .await
        .extend()
    }
}

impl Repository {
    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<organization::Model> {
        async {
            if let Some(row) = crate::seed::organization(ctx, self.org_id) {
                return Ok(row);
            }
            organization::Entity::find_by_id(self.org_id)
                .one(db(ctx)?)
                .await?
                .ok_or(Error::NotFound("organization"))
        }
        .await
        .extend()
    }
}
