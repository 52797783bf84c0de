//! `api_token`: an organization's API tokens; only the SHA-256 hash of each token is stored.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_token")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub org_id: i32,
    #[sea_orm(unique)]
    pub token_hash: String,
    pub created_at: i64,
    /// The token's last four characters, shown masked (`bh_…abcd`); `None` for tokens made
    /// before hints were kept.
    pub hint: Option<String>,
    /// When it last authenticated a request (ms since the epoch; updated at most once a minute).
    pub last_used_at: Option<i64>,
    /// When it was revoked; a revoked token authenticates nothing.
    pub revoked_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
