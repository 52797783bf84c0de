//! `organization`: a tenant (Cirrus's `OwnerInfo`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organization")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub platform: String,
    #[sea_orm(unique)]
    pub name: String,
    pub created_at: i64,
    /// Where a person sees a build (minijinja over `build`, `repository`, `task`), for links
    /// in chat messages; `None`: no link.
    pub build_url_template: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
