//! Accessors for what every resolver needs from the GraphQL context: the viewer (tenant), the
//! database handle, the store, and id parsing that treats a malformed id like a missing one.

use async_graphql::{Context, ID};

use crate::auth::Viewer;
use crate::error::{Error, Result};
use crate::store::Store;
use buildhooks_store::DbHandle;

/// The organization this request acts as.
pub(crate) fn viewer(ctx: &Context<'_>) -> Result<Viewer> {
    ctx.data_opt::<Viewer>()
        .copied()
        .ok_or(Error::Unauthenticated)
}

/// The database handle: the request's transaction when rendering a payload, else the pool.
pub(crate) fn db<'a>(ctx: &Context<'a>) -> Result<&'a DbHandle> {
    ctx.data_opt::<DbHandle>()
        .ok_or_else(|| Error::Internal("no database handle in context".into()))
}

/// The store, for mutations that open a write transaction.
pub(crate) fn store<'a>(ctx: &Context<'a>) -> Result<&'a Store> {
    ctx.data_opt::<Store>()
        .ok_or_else(|| Error::Internal("no store in context".into()))
}

/// A numeric id; anything else names nothing that exists.
pub(crate) fn parse_id(id: &ID, what: &'static str) -> Result<i32> {
    id.as_str()
        .trim()
        .parse()
        .map_err(|_| Error::NotFound(what))
}
