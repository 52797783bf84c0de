//! When a delivery's payload was erased on demand (`eraseDeliveryPayloads`): its body, last
//! response and attempts' response excerpts are blanked and `erased_at` says when, so the log
//! shows it was erased and it is never sent again (an empty body is not what was delivered).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookDelivery {
    Table,
    ErasedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(WebhookDelivery::Table)
                .add_column(
                    ColumnDef::new(WebhookDelivery::ErasedAt)
                        .big_integer()
                        .null(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(WebhookDelivery::Table)
                .drop_column(WebhookDelivery::ErasedAt)
                .to_owned(),
        )
        .await
    }
}
