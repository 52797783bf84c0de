//! The GraphQL `OwnerInfo` type and the check that an owner uid is the viewer's own.

use async_graphql::connection::Connection;
use async_graphql::{ComplexObject, Context, ResultExt, SimpleObject, ID};
use buildhooks_entity::organization;
use buildhooks_store::{orgs, runs};

use crate::ctx::{db, store, viewer};
use crate::error::{Error, Result};
use crate::graph::{BuildConnection, Repository};
use crate::page::PageArgs;
use crate::status::BuildStatus;
use crate::webhook::delivery::{self, DeliveryConnection};
use crate::webhook::delivery_filter::FilterArgs;
use crate::webhook::endpoints::{load_settings, WebHookSettings};

/// A page of repositories.
pub type RepositoryConnection = Connection<String, Repository>;

/// An organization.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct OwnerInfo {
    pub uid: ID,
    pub platform: String,
    pub name: String,
    #[graphql(skip)]
    pub org_id: i32,
}

impl From<organization::Model> for OwnerInfo {
    fn from(m: organization::Model) -> Self {
        OwnerInfo {
            uid: ID(m.id.to_string()),
            platform: m.platform,
            name: m.name,
            org_id: m.id,
        }
    }
}

#[ComplexObject]
impl OwnerInfo {
    /// The organization's repositories, oldest first (a Relay connection, as in Cirrus; without
    /// arguments the newest 50).
    async fn repositories(
        &self,
        ctx: &Context<'_>,
        before: Option<String>,
        after: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> async_graphql::Result<RepositoryConnection> {
        async {
            let page = PageArgs::new(first, after, last, before).page(50)?;
            let rows = orgs::repos_page(db(ctx)?, self.org_id, &page.window).await?;
            Ok::<_, Error>(page.connection(rows, |m| m.id, Repository::from))
        }
        .await
        .extend()
    }

    /// The organization's builds, of every repository, oldest first (a Relay connection, as in
    /// Cirrus: `last: 20`, the default, is the newest 20).
    async fn builds(
        &self,
        ctx: &Context<'_>,
        before: Option<String>,
        after: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
        status: Option<BuildStatus>,
    ) -> async_graphql::Result<BuildConnection> {
        let filter = runs::BuildFilter {
            status: status.map(|s| s.as_str()),
            ..Default::default()
        };
        let args = PageArgs::new(first, after, last, before);
        crate::graph::builds_page(ctx, filter, &args).await.extend()
    }

    /// Webhook endpoints; secrets are masked.
    async fn webhook_settings(&self, ctx: &Context<'_>) -> async_graphql::Result<WebHookSettings> {
        async { load_settings(db(ctx)?, store(ctx)?.vault(), self.org_id).await }
            .await
            .extend()
    }

    /// Inbound sources (GitHub, GitLab, generic JSON senders); secrets are masked.
    async fn inbound_sources(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<crate::inbound::source::InboundSource>> {
        crate::inbound::source::sources_of(ctx, self.org_id)
            .await
            .extend()
    }

    /// The inbound log, newest first: every request to a source and what came of it.
    async fn inbound_requests(
        &self,
        ctx: &Context<'_>,
        source_id: Option<ID>,
        #[graphql(default = 50)] last: i32,
    ) -> async_graphql::Result<Vec<crate::inbound::source::InboundRequest>> {
        crate::inbound::source::requests_of(ctx, self.org_id, source_id.as_ref(), last)
            .await
            .extend()
    }

    /// Deliveries, oldest first (a Relay connection, as in Cirrus: `last: 50`, the default, is
    /// the newest 50); only one endpoint's (`endpointId`: NOT_FOUND unless it is this
    /// organization's), in these states (`state`: PENDING, IN_FLIGHT, DELIVERED, FAILED), of
    /// this event (`event`: a kind such as `task`, or `kind.action` / `kind.status` in lower
    /// case such as `build.fixed`, `task.failed`).
    #[allow(clippy::too_many_arguments)]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        before: Option<String>,
        after: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
        endpoint_id: Option<ID>,
        state: Option<Vec<String>>,
        event: Option<String>,
    ) -> async_graphql::Result<DeliveryConnection> {
        let args = PageArgs::new(first, after, last, before);
        let filter = FilterArgs {
            endpoint_id,
            state,
            event,
        };
        async { delivery::page(db(ctx)?, self.org_id, &args, &filter).await }
            .await
            .extend()
    }
}

/// The viewer's organization, if `uid` (and `platform`, when given) name it; otherwise
/// NOT_FOUND, exactly as for an organization that does not exist.
pub(crate) async fn check_owner(
    ctx: &Context<'_>,
    platform: Option<&str>,
    uid: &ID,
) -> Result<OwnerInfo> {
    let viewer = viewer(ctx)?;
    if uid.as_str().trim() != viewer.org_id.to_string() {
        return Err(Error::NotFound("owner"));
    }
    let org = orgs::org(db(ctx)?, viewer.org_id)
        .await?
        .ok_or(Error::NotFound("owner"))?;
    if platform.is_some_and(|p| p != org.platform) {
        return Err(Error::NotFound("owner"));
    }
    Ok(org.into())
}
