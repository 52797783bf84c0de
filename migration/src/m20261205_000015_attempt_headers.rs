//! What the receiver answered besides its status and body: `webhook_attempt.response_headers`,
//! a JSON object of the answer's headers (names in lower case, values cut short, the whole at
//! most 8 KiB, cookies and credentials left out; see the server's `sink::http`), shown in the
//! settings page's delivery detail and blanked by `eraseDeliveryPayloads`. Also the index the
//! deliveries log walks when it is filtered by endpoint (`webhookDeliveries(endpointId:)`):
//! `(org_id, endpoint_id, id)`, read newest first from a cursor like the organization's
//! `(org_id, id)`. (With `(endpoint_id, id)` SQLite's planner took the organization's index and
//! read every row of the organization to find one endpoint's.)

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookAttempt {
    Table,
    ResponseHeaders,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(WebhookAttempt::Table)
                .add_column(
                    ColumnDef::new(WebhookAttempt::ResponseHeaders)
                        .text()
                        .null(),
                )
                .to_owned(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_webhook_delivery_endpoint ON webhook_delivery \
                 (org_id, endpoint_id, id)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("DROP INDEX ix_webhook_delivery_endpoint")
            .await?;
        m.alter_table(
            Table::alter()
                .table(WebhookAttempt::Table)
                .drop_column(WebhookAttempt::ResponseHeaders)
                .to_owned(),
        )
        .await
    }
}
