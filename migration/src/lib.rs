//! Database schema of buildhooks, as sea-orm migrations that run unchanged on SQLite and
//! PostgreSQL. Applied at start-up and by `buildhooks migrate`; never edit one that has shipped.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_core;
mod m20261123_000002_webhooks;
mod m20261124_000003_outbox_partial_indexes;
mod m20261203_000004_endpoint_in_flight;
mod m20261203_000005_endpoint_kind;
mod m20261203_000006_chat;
mod m20261203_000007_inbound;
mod m20261203_000008_cirrus_fields;
mod m20261204_000009_delivery_control;
mod m20261204_000010_wide_ids;
mod m20261204_000012_delivery_lookups;
mod m20261204_000014_delivery_erasure;
mod m20261205_000015_attempt_headers;
mod m20261205_000016_org_copies_unchecked;

/// Every migration of buildhooks, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_core::Migration),
            Box::new(m20261123_000002_webhooks::Migration),
            Box::new(m20261124_000003_outbox_partial_indexes::Migration),
            Box::new(m20261203_000004_endpoint_in_flight::Migration),
            Box::new(m20261203_000005_endpoint_kind::Migration),
            Box::new(m20261203_000006_chat::Migration),
            Box::new(m20261203_000007_inbound::Migration),
            Box::new(m20261203_000008_cirrus_fields::Migration),
            Box::new(m20261204_000009_delivery_control::Migration),
            Box::new(m20261204_000012_delivery_lookups::Migration),
            Box::new(m20261204_000010_wide_ids::Migration),
            Box::new(m20261204_000014_delivery_erasure::Migration),
            Box::new(m20261205_000015_attempt_headers::Migration),
            Box::new(m20261205_000016_org_copies_unchecked::Migration),
        ]
    }
}
