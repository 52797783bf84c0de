//! Each endpoint's cap on deliveries in flight at once (`maxInFlight`, default 4): the
//! dispatcher starts no more attempts to one endpoint than this, so a slow or hanging receiver
//! holds at most that many of the dispatcher's slots.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookEndpoint {
    Table,
    MaxInFlight,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(WebhookEndpoint::Table)
                .add_column(
                    ColumnDef::new(WebhookEndpoint::MaxInFlight)
                        .integer()
                        .not_null()
                        .default(4),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(WebhookEndpoint::Table)
                .drop_column(WebhookEndpoint::MaxInFlight)
                .to_owned(),
        )
        .await
    }
}
