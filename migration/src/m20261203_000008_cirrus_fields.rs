//! What Cirrus's current payload and API carry beyond the first schema: a task's and a build's
//! Cirrus attributes (`attributes`, a JSON object; NULL when the reporter gave none) and each
//! endpoint's payload format (`documented`, the nested body, or `cirrus`, the flat body Cirrus
//! sends today). One JSON column per row rather than a column per attribute: every transition
//! reads its rows whole, and each extra column is paid for on every one.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Task {
    Table,
    Attributes,
}

#[derive(DeriveIden)]
enum Build {
    Table,
    Attributes,
}

#[derive(DeriveIden)]
enum WebhookEndpoint {
    Table,
    PayloadFormat,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Task::Table)
                .add_column(ColumnDef::new(Task::Attributes).text().null())
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Build::Table)
                .add_column(ColumnDef::new(Build::Attributes).text().null())
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(WebhookEndpoint::Table)
                .add_column(
                    ColumnDef::new(WebhookEndpoint::PayloadFormat)
                        .string()
                        .not_null()
                        .default("documented"),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(WebhookEndpoint::Table)
                .drop_column(WebhookEndpoint::PayloadFormat)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Build::Table)
                .drop_column(Build::Attributes)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Task::Table)
                .drop_column(Task::Attributes)
                .to_owned(),
        )
        .await
    }
}
