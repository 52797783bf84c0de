//! `inbound_source`: a hook of an organization that GitHub, GitLab or a generic JSON sender
//! calls at `/hooks/in/{uid}`. Soft-deleted, so the inbound log can still name it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inbound_source")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The unguessable id in the URL (32 lower-case hex characters).
    pub uid: String,
    pub org_id: i32,
    /// `github`, `gitlab` or `generic`.
    pub kind: String,
    pub name: String,
    /// Every build of this source goes to this repository; `None`: found by name.
    pub repository_id: Option<i32>,
    /// A generic source's mapping, as JSON.
    pub mapping: Option<String>,
    /// GitHub's webhook secret, GitLab's secret token, or a generic sender's token; write-only
    /// for clients (shown once, then masked).
    pub secret: String,
    /// A GitLab source's Standard Webhooks signing secret (`whsec_...`), when set up with one.
    pub signing_secret: Option<String>,
    pub deleted: bool,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::org_scoped!(Entity, Column::OrgId);
