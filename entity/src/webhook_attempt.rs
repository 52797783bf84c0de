//! `webhook_attempt`: one HTTP attempt of a delivery, with its outcome.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_attempt")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub delivery_id: i64,
    pub number: i32,
    pub started_at: i64,
    pub duration_ms: i64,
    pub status: Option<i32>,
    /// `timeout`, `connect`, `blocked_target`, ... when no HTTP status was received.
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
    /// The answer's headers as a JSON object (names in lower case, values cut short, at most
    /// 8 KiB, cookies and credentials left out); `None` without an answer or once erased.
    pub response_headers: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
