//! `webhook_replay`: a filtered replay of an organization's deliveries (`webhookReplay`), run in
//! the background in bounded pages; its progress is read from it and from the deliveries that
//! carry its id.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_replay")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: i32,
    /// The filter as JSON (endpoint, since, until, states, repository, branch, build).
    pub filter: String,
    /// `RUNNING`, `DONE` or `CANCELLED`.
    pub state: String,
    /// Deliveries the filter matched when the replay was made.
    pub matched: i64,
    /// Deliveries queued again so far.
    pub queued: i64,
    /// The highest delivery id queued so far: pages go in id order.
    pub cursor: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::org_scoped!(Entity, Column::OrgId);
