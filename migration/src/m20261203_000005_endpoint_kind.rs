//! Each endpoint's kind: which sink delivers to it (`webhook`, the signed HTTP POST, for every
//! endpoint saved so far). The dispatcher hands a claimed row to the sink its endpoint names.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookEndpoint {
    Table,
    Kind,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(WebhookEndpoint::Table)
                .add_column(
                    ColumnDef::new(WebhookEndpoint::Kind)
                        .string()
                        .not_null()
                        .default("webhook"),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(WebhookEndpoint::Table)
                .drop_column(WebhookEndpoint::Kind)
                .to_owned(),
        )
        .await
    }
}
