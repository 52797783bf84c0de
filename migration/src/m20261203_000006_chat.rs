//! Chat robots as endpoint kinds: each endpoint's message template, ordering, digest, the
//! kind's own options and its pacing mark (`send_after`: no message to it before this time, ms);
//! each outbox row's build and, when its endpoint orders per build, its order key (the build id)
//! with the index the claim walks to find an earlier unfinished row of the same build; each
//! organization's build URL template.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookEndpoint {
    Table,
    Template,
    Ordering,
    Digest,
    Options,
    SendAfter,
}

#[derive(DeriveIden)]
enum WebhookDelivery {
    Table,
    BuildId,
    OrderKey,
}

#[derive(DeriveIden)]
enum Organization {
    Table,
    BuildUrlTemplate,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        let endpoint_columns = [
            ColumnDef::new(WebhookEndpoint::Template)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(WebhookEndpoint::Ordering)
                .string()
                .not_null()
                .default("NONE")
                .to_owned(),
            ColumnDef::new(WebhookEndpoint::Digest)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
            ColumnDef::new(WebhookEndpoint::Options)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(WebhookEndpoint::SendAfter)
                .big_integer()
                .not_null()
                .default(0)
                .to_owned(),
        ];
        for mut column in endpoint_columns {
            m.alter_table(
                Table::alter()
                    .table(WebhookEndpoint::Table)
                    .add_column(&mut column)
                    .to_owned(),
            )
            .await?;
        }
        for column in [WebhookDelivery::BuildId, WebhookDelivery::OrderKey] {
            m.alter_table(
                Table::alter()
                    .table(WebhookDelivery::Table)
                    .add_column(ColumnDef::new(column).integer().null())
                    .to_owned(),
            )
            .await?;
        }
        m.alter_table(
            Table::alter()
                .table(Organization::Table)
                .add_column(ColumnDef::new(Organization::BuildUrlTemplate).text().null())
                .to_owned(),
        )
        .await?;
        // A partial index: rows of endpoints without ordering (most) are not in it.
        m.get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_webhook_delivery_order ON webhook_delivery \
                 (endpoint_id, order_key, id) WHERE order_key IS NOT NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("DROP INDEX ix_webhook_delivery_order")
            .await?;
        m.alter_table(
            Table::alter()
                .table(Organization::Table)
                .drop_column(Organization::BuildUrlTemplate)
                .to_owned(),
        )
        .await?;
        for column in [WebhookDelivery::BuildId, WebhookDelivery::OrderKey] {
            m.alter_table(
                Table::alter()
                    .table(WebhookDelivery::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        for column in [
            WebhookEndpoint::Template,
            WebhookEndpoint::Ordering,
            WebhookEndpoint::Digest,
            WebhookEndpoint::Options,
            WebhookEndpoint::SendAfter,
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
