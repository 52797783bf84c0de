//! The outbox's due index split in two partial indexes: pending rows by next attempt time, and
//! in-flight rows by lease expiry. A delivered or failed row is in neither, so recording an
//! outcome adds no index entry, and a claim looking for expired leases reads only in-flight rows.
//! (On PostgreSQL the old `(state, next_attempt_at)` index held an entry for every past state of
//! every row until vacuum; the expired-lease lookup read all of them, about 2.5 ms per claim
//! after 20,000 deliveries.) The state names are those of `outbox::state`; queries must name
//! them as literals for the planners to use these indexes.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const CREATE: [&str; 2] = [
    "CREATE INDEX ix_webhook_delivery_pending ON webhook_delivery (next_attempt_at) \
     WHERE state = 'PENDING'",
    "CREATE INDEX ix_webhook_delivery_leased ON webhook_delivery (lease_until) \
     WHERE state = 'IN_FLIGHT'",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for sql in CREATE {
            db.execute_unprepared(sql).await?;
        }
        db.execute_unprepared("DROP INDEX ix_webhook_delivery_due")
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared(
            "CREATE INDEX ix_webhook_delivery_due ON webhook_delivery (state, next_attempt_at)",
        )
        .await?;
        db.execute_unprepared("DROP INDEX ix_webhook_delivery_leased")
            .await?;
        db.execute_unprepared("DROP INDEX ix_webhook_delivery_pending")
            .await?;
        Ok(())
    }
}
