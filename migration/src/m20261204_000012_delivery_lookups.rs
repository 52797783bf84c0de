//! Two ways into the deliveries. By replay (`webhook_delivery.replay_id`): a replay's progress
//! (how many of its rows are pending, delivered, failed) and its runner's check that the last
//! page has left the outbox read this index; partial, so live rows (no replay) add no entry to
//! it on the hot path. By event (`event_id`): `event(id) { routing }` finds the rows written for
//! one event without reading every delivery of the organization.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared(
            "CREATE INDEX ix_webhook_delivery_replay ON webhook_delivery (replay_id, state) \
             WHERE replay_id IS NOT NULL",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX ix_webhook_delivery_event ON webhook_delivery (event_id)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("DROP INDEX ix_webhook_delivery_event")
            .await?;
        db.execute_unprepared("DROP INDEX ix_webhook_delivery_replay")
            .await?;
        Ok(())
    }
}
