//! API tokens: written by hash with a hint (their last four characters, to tell them apart),
//! found by hash while not revoked, listed, revoked, their last use noted (at most once a
//! minute), and revocations told to every instance: on PostgreSQL a `NOTIFY` on the revoking
//! transaction's commit, heard by each instance's `listen_revoked`; SQLite is one process.

use buildhooks_entity::api_token;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, Set, Statement,
};
use tokio::sync::watch;

use crate::dialect::Dialect;
use crate::postgres::listen::{self, Heard};
use crate::{Db, Result};

/// The channel a revocation is notified on, with the token's hash as payload.
const REVOKED_CHANNEL: &str = "buildhooks_token_revoked";

/// A token's last use is written at most this often (ms).
pub const USE_NOTED_EVERY_MS: i64 = 60_000;

/// Writes a token of `org_id` by its hash, with its `hint`.
pub async fn insert(
    db: &impl ConnectionTrait,
    org_id: i32,
    token_hash: &str,
    hint: Option<&str>,
    now: i64,
) -> Result<()> {
    api_token::ActiveModel {
        org_id: Set(org_id),
        token_hash: Set(token_hash.to_owned()),
        created_at: Set(now),
        hint: Set(hint.map(str::to_owned)),
        ..Default::default()
    }
    .insert(db)
    .await
    .map(|_| ())
}

/// The organization and id of the unrevoked token whose hash is `token_hash`.
pub async fn find_valid(db: &impl ConnectionTrait, token_hash: &str) -> Result<Option<(i32, i32)>> {
    Ok(api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(token_hash))
        .filter(api_token::Column::RevokedAt.is_null())
        .one(db)
        .await?
        .map(|t| (t.org_id, t.id)))
}

/// Every token of `org_id`, revoked ones included, oldest first.
pub async fn of_org(db: &impl ConnectionTrait, org_id: i32) -> Result<Vec<api_token::Model>> {
    api_token::Entity::find()
        .filter(api_token::Column::OrgId.eq(org_id))
        .order_by_asc(api_token::Column::Id)
        .all(db)
        .await
}

/// Revokes token `id` of `org_id` at `now` in the caller's transaction (a token revoked
/// earlier keeps its time) and, on PostgreSQL, tells every instance on commit. Returns the
/// token as revoked, or `None` when `org_id` has no such token.
pub async fn revoke(
    db: &impl ConnectionTrait,
    org_id: i32,
    id: i32,
    now: i64,
) -> Result<Option<api_token::Model>> {
    api_token::Entity::update_many()
        .col_expr(api_token::Column::RevokedAt, Expr::value(now))
        .filter(api_token::Column::Id.eq(id))
        .filter(api_token::Column::OrgId.eq(org_id))
        .filter(api_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    let token = api_token::Entity::find_by_id(id)
        .filter(api_token::Column::OrgId.eq(org_id))
        .one(db)
        .await?;
    if let (Some(token), Dialect::Postgres) = (&token, Dialect::of(db)) {
        db.execute(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT pg_notify($1, $2)",
            [REVOKED_CHANNEL.into(), token.token_hash.clone().into()],
        ))
        .await?;
    }
    Ok(token)
}

/// Notes that token `id` authenticated a request at `now`, unless its last use was noted less
/// than `USE_NOTED_EVERY_MS` before (by any instance). Runs off the request's path: SQLite
/// queues it behind the writers of the moment.
pub async fn note_use(db: &Db, id: i32, now: i64) -> Result<()> {
    let update = api_token::Entity::update_many()
        .col_expr(api_token::Column::LastUsedAt, Expr::value(now))
        .filter(api_token::Column::Id.eq(id))
        .filter(
            Condition::any()
                .add(api_token::Column::LastUsedAt.is_null())
                .add(api_token::Column::LastUsedAt.lte(now - USE_NOTED_EVERY_MS)),
        );
    match db.dialect() {
        Dialect::Postgres => update.exec(db.conn()).await.map(|_| ()),
        Dialect::Sqlite => {
            let w = db.begin_write().await?;
            update.exec(w.txn()).await?;
            w.commit().await
        }
    }
}

/// What an instance hears of revocations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation<'a> {
    /// The token with this hash was revoked.
    Token(&'a str),
    /// Revocations may have been missed (the listener connected again): trust no cached token.
    Missed,
}

/// Tells `on` of every token another instance (or this one) revokes, until `stop` turns true,
/// reconnecting on failure; returns at once on SQLite, where every writer is in this process.
pub async fn listen_revoked(
    db: &Db,
    url: &str,
    on: impl Fn(Revocation<'_>) + Send,
    stop: watch::Receiver<bool>,
) {
    if db.dialect() != Dialect::Postgres {
        return;
    }
    let on = move |heard: Heard<'_>| match heard {
        Heard::Connected => on(Revocation::Missed),
        Heard::Payload(hash) => on(Revocation::Token(hash)),
    };
    listen::run(url, REVOKED_CHANNEL, on, stop).await;
}
