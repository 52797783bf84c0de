//! The domain's handle on persistence: the store's database (`Db`), the caches of insert-only
//! rows and of valid tokens, where committed outbox rows go (an `Outlet`, the local
//! dispatcher's, registered by the server), and the hooks that observe commits (`CommitHooks`,
//! which do nothing in production; tests and the benchmark set their own), and the vault that
//! seals secrets at rest.

use std::sync::{Arc, OnceLock};

use buildhooks_entity::{webhook_delivery, webhook_endpoint};
use buildhooks_store::secrets::Vault;
use buildhooks_store::tokens::Revocation;
use buildhooks_store::{Db, DbHandle, WriteTxn};
use sea_orm::DatabaseConnection;

use crate::auth::{TokenCache, Viewer};
use crate::error::Result;
use crate::seed::RowCache;

/// Where committed outbox rows go: the local dispatcher, if this process runs one.
pub trait Outlet: Send + Sync {
    /// A lease for rows about to be written, when the dispatcher can take rows now.
    fn lease(&self, now: i64) -> Option<Lease>;
    /// Committed rows written under `token`, with the endpoints they go to as read in the
    /// committing transaction.
    fn hand_off(
        &self,
        rows: Vec<webhook_delivery::Model>,
        token: String,
        endpoints: Vec<webhook_endpoint::Model>,
    );
    /// Rows were committed for any dispatcher to claim.
    fn wake(&self);
}

/// Whether the local dispatcher has a free share for a row of (organization, endpoint): rows
/// without one are written PENDING and claimed when a slot frees, instead of handed off.
pub type RoomCheck = Arc<dyn Fn(i32, i32) -> bool + Send + Sync>;

/// A lease for the rows a transaction is about to write, for the local dispatcher.
pub struct Lease {
    pub token: String,
    pub until: i64,
    pub room: RoomCheck,
    /// Whether a full endpoint or organization gave a slot back since the lease was made: a row
    /// written PENDING for want of a share may then have missed the claim that slot started
    /// (it ran before the row's commit), so the commit wakes the dispatcher to claim it.
    pub freed_since: Arc<dyn Fn() -> bool + Send + Sync>,
}

impl Lease {
    /// The lease for a row of `org` to `endpoint`, or none when the dispatcher has no free share
    /// for it.
    pub fn for_row(&self, org: i32, endpoint: i32) -> Option<(String, i64)> {
        (self.room)(org, endpoint).then(|| (self.token.clone(), self.until))
    }
}

/// What a transition's commit tells, besides the dispatcher. The production value
/// (`NoHooks`) does nothing; a test fails a transaction after its outbox rows were written to
/// prove atomicity, and the benchmark times commit-to-receipt.
pub trait CommitHooks: Send + Sync {
    /// Runs after a transition's outbox rows were written, before its commit: an error rolls
    /// the transition back.
    fn before_commit(&self) -> Result<()> {
        Ok(())
    }

    /// Runs right after a commit that wrote outbox rows, with their delivery ids.
    fn committed(&self, _delivery_ids: &[String]) {}
}

/// Hooks that do nothing: production.
pub struct NoHooks;

impl CommitHooks for NoHooks {}

/// The database with the domain's caches, outlet and hooks.
#[derive(Clone)]
pub struct Store {
    db: Db,
    outlet: Arc<OnceLock<Arc<dyn Outlet>>>,
    hooks: Arc<dyn CommitHooks>,
    rows: Arc<RowCache>,
    tokens: Arc<TokenCache>,
    inbound: Arc<crate::inbound::counters::Counters>,
    /// Seals and opens the secrets the database holds.
    vault: Vault,
}

impl Store {
    /// Wraps the database, with no outlet yet and no hooks.
    pub fn new(db: Db) -> Self {
        Store {
            db,
            outlet: Arc::new(OnceLock::new()),
            hooks: Arc::new(NoHooks),
            rows: Arc::new(RowCache::default()),
            tokens: Arc::new(TokenCache::default()),
            inbound: Arc::default(),
            vault: Vault::default(),
        }
    }

    /// The same store sealing and opening secrets with `vault` (the operator's keys); without
    /// one, secrets can be read only where an older version left them in clear, and not saved.
    pub fn with_vault(mut self, vault: Vault) -> Self {
        self.vault = vault;
        self
    }

    /// The vault that seals and opens the database's secrets.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// The same store with `hooks` observing commits.
    pub fn with_hooks(mut self, hooks: Arc<dyn CommitHooks>) -> Self {
        self.hooks = hooks;
        self
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The pool.
    pub fn conn(&self) -> &DatabaseConnection {
        self.db.conn()
    }

    /// The pool as a handle for resolvers and renders.
    pub fn handle(&self) -> DbHandle {
        self.db.handle()
    }

    /// The cache of insert-only rows (organizations, repositories).
    pub fn rows(&self) -> &RowCache {
        &self.rows
    }

    /// This server's inbound hook counters (for `/metrics`) and refusal budgets.
    pub fn inbound_counters(&self) -> &crate::inbound::counters::Counters {
        &self.inbound
    }

    pub(crate) fn hooks(&self) -> &dyn CommitHooks {
        self.hooks.as_ref()
    }

    /// The organization a bearer token belongs to (tokens found valid are trusted for
    /// `auth::TOKEN_TTL`, or until revoked). The token's last use is noted at most once a
    /// minute, in a task of its own: the request never waits for it.
    pub async fn authenticate(&self, token: &str) -> Result<Viewer> {
        let viewer = self.tokens.authenticate(self.db.conn(), token).await?;
        if let Some(id) = viewer.token_id {
            if self.tokens.use_to_note(id, std::time::Instant::now()) {
                let db = self.db.clone();
                tokio::spawn(async move {
                    let noted = buildhooks_store::tokens::note_use(&db, id, crate::clock::now_ms());
                    if let Err(error) = noted.await {
                        tracing::warn!(%error, token_id = id, "cannot note the token's last use");
                    }
                });
            }
        }
        Ok(viewer)
    }

    /// Stops trusting the token whose hash is `token_hash` here (it was just revoked).
    pub fn forget_token(&self, token_hash: &str) {
        self.tokens.forget(token_hash);
    }

    /// Forgets each token another instance revokes as soon as the store hears of it (where
    /// several instances can share the database; else every revocation is made here), until
    /// `stop` turns true.
    pub async fn watch_revocations(self, url: String, stop: tokio::sync::watch::Receiver<bool>) {
        let tokens = self.tokens.clone();
        let on = move |heard: Revocation<'_>| match heard {
            Revocation::Token(hash) => tokens.forget(hash),
            Revocation::Missed => tokens.forget_all(),
        };
        buildhooks_store::tokens::listen_revoked(&self.db, &url, on, stop).await;
    }

    /// Starts a write transaction (see `Db::begin_write`).
    pub async fn begin_write(&self) -> Result<WriteTxn<'_>> {
        Ok(self.db.begin_write().await?)
    }

    /// Registers this process's dispatcher (once).
    pub fn set_outlet(&self, outlet: Arc<dyn Outlet>) {
        let _ = self.outlet.set(outlet);
    }

    /// A lease for rows about to be written, when the local dispatcher can take them now.
    pub fn lease(&self, now: i64) -> Option<Lease> {
        self.outlet.get()?.lease(now)
    }

    /// Gives committed, leased rows to the local dispatcher.
    pub fn hand_off(
        &self,
        rows: Vec<webhook_delivery::Model>,
        token: String,
        endpoints: Vec<webhook_endpoint::Model>,
    ) {
        if let Some(outlet) = self.outlet.get() {
            outlet.hand_off(rows, token, endpoints);
        }
    }

    /// Wakes the local dispatcher; call after committing rows for any dispatcher to claim.
    pub fn wake_dispatcher(&self) {
        if let Some(outlet) = self.outlet.get() {
            outlet.wake();
        }
    }
}
