//! `inbound_link`: which vendor run or job (by the vendor's id, per source) is which of our
//! builds and tasks.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inbound_link")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub org_id: i32,
    pub source_id: i32,
    /// `build` or `task`.
    pub kind: String,
    /// The vendor's id (GitHub run or job id, GitLab pipeline or job id, a generic id).
    pub external_id: String,
    pub build_id: i32,
    /// The task, for a `task` link.
    pub task_id: Option<i32>,
    /// A build link's latest attempt of the vendor's run (GitHub's `run_attempt`); 1 otherwise.
    pub attempt: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::org_scoped!(Entity, Column::OrgId);
