//! `inbound_request`: the inbound log. One row per request to a known source: what it was, what
//! came of it (`applied`, `duplicate`, `ignored`, `refused`) and why. The unique (source,
//! delivery key) of applied and ignored rows is what makes a redelivery change nothing.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inbound_request")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub org_id: i32,
    pub source_id: i32,
    pub received_at: i64,
    /// The vendor's event name (`workflow_job`, `Pipeline Hook`, `generic`).
    pub event: String,
    /// The vendor's delivery id, as the request gave it (shown in the log).
    pub delivery_id: Option<String>,
    /// The same id as the deduplication key: set on applied and ignored rows only (unique per
    /// source), so a duplicate's or a refusal's row never takes it.
    pub delivery_key: Option<String>,
    pub result: String,
    pub reason: Option<String>,
    pub http_status: i32,
    pub build_id: Option<i32>,
    pub task_id: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::org_scoped!(Entity, Column::OrgId);
