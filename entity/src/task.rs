//! `task`: one run of a task of a build; a rerun is a new row whose `previous_run_id` points at the
//! run it replaces, which is then `superseded`. `labels` is a JSON array of strings.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "task")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub org_id: i32,
    pub build_id: i32,
    pub repository_id: i32,
    pub name: String,
    pub name_alias: Option<String>,
    pub status: String,
    pub labels: String,
    pub optional: bool,
    pub manual_rerun_count: i32,
    pub previous_run_id: Option<i32>,
    pub superseded: bool,
    pub status_timestamp: i64,
    pub creation_timestamp: i64,
    pub scheduled_timestamp: Option<i64>,
    pub executing_timestamp: Option<i64>,
    pub final_status_timestamp: Option<i64>,
    /// Cirrus attributes the reporter gave, as a JSON object (`instanceType`, `automaticReRun`,
    /// `automaticallyReRunnable`, `notifications`); `None` when it gave none.
    pub attributes: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::org_scoped!(Entity, Column::OrgId);
