//! Broker endpoints: the operator's broker an endpoint publishes to (`broker`, a name from
//! `BUILDHOOKS_BROKERS`), its subject or routing-key template (`subject`) and, for AMQP, its
//! exchange (`exchange`). Null for the HTTP kinds.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookEndpoint {
    Table,
    Broker,
    Subject,
    Exchange,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            WebhookEndpoint::Broker,
            WebhookEndpoint::Subject,
            WebhookEndpoint::Exchange,
        ] {
            m.alter_table(
                Table::alter()
                    .table(WebhookEndpoint::Table)
                    .add_column(ColumnDef::new(column).text().null())
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            WebhookEndpoint::Broker,
            WebhookEndpoint::Subject,
            WebhookEndpoint::Exchange,
        ] {
            m.alter_table(
                Table::alter()
                    .table(WebhookEndpoint::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
