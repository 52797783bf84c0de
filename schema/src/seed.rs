//! Rows a payload render takes from memory instead of reading them again: the build and task rows
//! the writing transaction itself just wrote (current by construction), and organization and
//! repository rows, which are insert-only (no mutation renames or deletes them), kept per store
//! in a bounded cache (`quick_cache`). Resolvers look here first and read the database for anything else.

use std::sync::Arc;

use async_graphql::Context;
use buildhooks_entity::{build, organization, repository, task, webhook_endpoint};
use buildhooks_store::orgs;
use quick_cache::sync::Cache;
use sea_orm::ConnectionTrait;

use crate::error::Result;

/// Rows current in one write transaction, lent to the payload renders of its events.
#[derive(Default, Clone, Debug)]
pub struct Seed {
    builds: Vec<build::Model>,
    tasks: Vec<task::Model>,
    organizations: Vec<organization::Model>,
    repositories: Vec<repository::Model>,
    /// The organization's enabled endpoints, in order, when the transition read them with the
    /// build lock; `None`: the outbox reads them.
    endpoints: Option<Vec<webhook_endpoint::Model>>,
}

/// Puts `row` in `rows`, replacing an older copy with the same id.
fn put<T>(rows: &mut Vec<T>, row: T, id: impl Fn(&T) -> i32) {
    let key = id(&row);
    match rows.iter_mut().find(|r| id(r) == key) {
        Some(old) => *old = row,
        None => rows.push(row),
    }
}

impl Seed {
    /// A build row as this transaction left it.
    pub fn put_build(&mut self, row: build::Model) {
        put(&mut self.builds, row, |r| r.id);
    }

    /// A task row as this transaction left it.
    pub fn put_task(&mut self, row: task::Model) {
        put(&mut self.tasks, row, |r| r.id);
    }

    /// The organization's enabled, undeleted endpoints in position order, read in this
    /// transaction.
    pub(crate) fn put_endpoints(&mut self, rows: Vec<webhook_endpoint::Model>) {
        self.endpoints = Some(rows);
    }

    /// The endpoints put here, if any.
    pub(crate) fn endpoints(&self) -> Option<&[webhook_endpoint::Model]> {
        self.endpoints.as_deref()
    }

    /// The endpoints put here, if any, leaving none.
    pub(crate) fn take_endpoints(&mut self) -> Option<Vec<webhook_endpoint::Model>> {
        self.endpoints.take()
    }

    pub(crate) fn put_organization(&mut self, row: organization::Model) {
        put(&mut self.organizations, row, |r| r.id);
    }

    pub(crate) fn put_repository(&mut self, row: repository::Model) {
        put(&mut self.repositories, row, |r| r.id);
    }
}

impl Seed {
    /// Build `id` of `org_id`, if seeded.
    pub(crate) fn build(&self, org_id: i32, id: i32) -> Option<&build::Model> {
        self.builds
            .iter()
            .find(|r| r.id == id && r.org_id == org_id)
    }

    /// Task `id` of `org_id`, if seeded.
    pub(crate) fn task(&self, org_id: i32, id: i32) -> Option<&task::Model> {
        self.tasks.iter().find(|r| r.id == id && r.org_id == org_id)
    }

    /// Organization `id`, if seeded.
    pub(crate) fn organization(&self, id: i32) -> Option<&organization::Model> {
        self.organizations.iter().find(|r| r.id == id)
    }

    /// Repository `id` of `org_id`, if seeded.
    pub(crate) fn repository(&self, org_id: i32, id: i32) -> Option<&repository::Model> {
        self.repositories
            .iter()
            .find(|r| r.id == id && r.org_id == org_id)
    }
}

/// The seed lent to this request, if it renders a payload.
fn seed<'a>(ctx: &Context<'a>) -> Option<&'a Seed> {
    ctx.data_opt::<Arc<Seed>>().map(|s| s.as_ref())
}

/// The seeded build `id` of `org_id`, if any.
pub(crate) fn build(ctx: &Context<'_>, org_id: i32, id: i32) -> Option<build::Model> {
    seed(ctx)?.build(org_id, id).cloned()
}

/// The seeded task `id` of `org_id`, if any.
pub(crate) fn task(ctx: &Context<'_>, org_id: i32, id: i32) -> Option<task::Model> {
    seed(ctx)?.task(org_id, id).cloned()
}

/// The seeded organization `id`, if any.
pub(crate) fn organization(ctx: &Context<'_>, id: i32) -> Option<organization::Model> {
    seed(ctx)?.organization(id).cloned()
}

/// The seeded repository `id` of `org_id`, if any.
pub(crate) fn repository(ctx: &Context<'_>, org_id: i32, id: i32) -> Option<repository::Model> {
    seed(ctx)?.repository(org_id, id).cloned()
}

/// Entries kept per table (a full table's cache evicts the rows least likely to be read again).
const CACHE_LIMIT: usize = 10_000;

/// Organization and repository rows of one database. Both tables are insert-only but for an
/// organization's `build_url_template`, which the settings change: never read that column from
/// this cache. If a rename or delete mutation is ever added, it must clear this cache.
pub struct RowCache {
    organizations: Cache<i32, organization::Model>,
    repositories: Cache<i32, repository::Model>,
}

impl Default for RowCache {
    fn default() -> Self {
        RowCache {
            organizations: Cache::new(CACHE_LIMIT),
            repositories: Cache::new(CACHE_LIMIT),
        }
    }
}

impl RowCache {
    /// Organization `id`, from the cache or read through `db`.
    pub async fn organization(
        &self,
        db: &impl ConnectionTrait,
        id: i32,
    ) -> Result<Option<organization::Model>> {
        if let Some(row) = self.organizations.get(&id) {
            return Ok(Some(row));
        }
        let row = orgs::org(db, id).await?;
        if let Some(row) = &row {
            self.organizations.insert(id, row.clone());
        }
        Ok(row)
    }

    /// Repository `id` of `org_id`, from the cache or read through `db`.
    pub async fn repository(
        &self,
        db: &impl ConnectionTrait,
        org_id: i32,
        id: i32,
    ) -> Result<Option<repository::Model>> {
        if let Some(row) = self.repositories.get(&id) {
            return Ok((row.org_id == org_id).then_some(row));
        }
        let row = orgs::repo(db, org_id, id).await?;
        if let Some(row) = &row {
            self.repositories.insert(id, row.clone());
        }
        Ok(row)
    }
}
