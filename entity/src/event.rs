//! `event`: a build or task creation or status change, written in the transition's transaction.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: i32,
    pub repository_id: i32,
    pub build_id: i32,
    pub task_id: Option<i32>,
    /// `build` or `task`: the `X-Cirrus-Event` value.
    pub kind: String,
    /// `created` or `updated`.
    pub action: String,
    pub old_status: Option<String>,
    pub new_status: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::org_scoped!(Entity, Column::OrgId);
