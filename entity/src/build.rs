//! `build`: one build of a repository; `status` holds a `BuildStatus` name.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "build")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub org_id: i32,
    pub repository_id: i32,
    pub name: Option<String>,
    pub branch: String,
    pub tag: Option<String>,
    pub change_id_in_repo: String,
    pub change_message: String,
    pub pull_request: Option<i32>,
    pub status: String,
    pub change_timestamp: i64,
    pub build_created_timestamp: i64,
    pub status_timestamp: i64,
    pub executing_timestamp: Option<i64>,
    pub final_status_timestamp: Option<i64>,
    /// Cirrus attributes the reporter gave, as a JSON object (`user`, `senderUserPermissions`);
    /// `None` when it gave none.
    pub attributes: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::org_scoped!(Entity, Column::OrgId);
