//! Delivery control and data lifecycle (issue 19): each endpoint's retry schedule, why and when
//! it was disabled and how long its deliveries have been failing, the secret it is rotating away
//! from and until when both sign; replays (`webhook_replay`) and the replay a delivery was last
//! queued by; API tokens' hint, last use and revocation.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookEndpoint {
    Table,
    RetrySchedule,
    DisabledReason,
    DisabledAt,
    FailingSince,
    FailedDeliveries,
    PreviousSecret,
    PreviousSecretUntil,
}

#[derive(DeriveIden)]
enum WebhookDelivery {
    Table,
    ReplayId,
}

#[derive(DeriveIden)]
enum ApiToken {
    Table,
    Hint,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum WebhookReplay {
    Table,
    Id,
    OrgId,
    Filter,
    State,
    Matched,
    Queued,
    Cursor,
    CreatedAt,
    UpdatedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum Organization {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let endpoint_columns = [
            ColumnDef::new(WebhookEndpoint::RetrySchedule)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(WebhookEndpoint::DisabledReason)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(WebhookEndpoint::DisabledAt)
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(WebhookEndpoint::FailingSince)
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(WebhookEndpoint::FailedDeliveries)
                .integer()
                .not_null()
                .default(0)
                .to_owned(),
            ColumnDef::new(WebhookEndpoint::PreviousSecret)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(WebhookEndpoint::PreviousSecretUntil)
                .big_integer()
                .null()
                .to_owned(),
        ];
        // One column per statement: SQLite adds one column per ALTER TABLE.
        for column in endpoint_columns {
            m.alter_table(
                Table::alter()
                    .table(WebhookEndpoint::Table)
                    .add_column(column)
                    .to_owned(),
            )
            .await?;
        }
        m.alter_table(
            Table::alter()
                .table(WebhookDelivery::Table)
                .add_column(
                    ColumnDef::new(WebhookDelivery::ReplayId)
                        .big_integer()
                        .null(),
                )
                .to_owned(),
        )
        .await?;
        for column in [
            ColumnDef::new(ApiToken::Hint).string().null().to_owned(),
            ColumnDef::new(ApiToken::LastUsedAt)
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(ApiToken::RevokedAt)
                .big_integer()
                .null()
                .to_owned(),
        ] {
            m.alter_table(
                Table::alter()
                    .table(ApiToken::Table)
                    .add_column(column)
                    .to_owned(),
            )
            .await?;
        }
        m.create_table(
            Table::create()
                .table(WebhookReplay::Table)
                .col(
                    ColumnDef::new(WebhookReplay::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(ColumnDef::new(WebhookReplay::OrgId).integer().not_null())
                .col(ColumnDef::new(WebhookReplay::Filter).text().not_null())
                .col(ColumnDef::new(WebhookReplay::State).string().not_null())
                .col(
                    ColumnDef::new(WebhookReplay::Matched)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(WebhookReplay::Queued)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(WebhookReplay::Cursor)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(WebhookReplay::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(WebhookReplay::UpdatedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(WebhookReplay::FinishedAt)
                        .big_integer()
                        .null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(WebhookReplay::Table, WebhookReplay::OrgId)
                        .to(Organization::Table, Organization::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_webhook_replay_state")
                .table(WebhookReplay::Table)
                .col(WebhookReplay::State)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(WebhookReplay::Table).to_owned())
            .await?;
        for column in [ApiToken::Hint, ApiToken::LastUsedAt, ApiToken::RevokedAt] {
            m.alter_table(
                Table::alter()
                    .table(ApiToken::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        m.alter_table(
            Table::alter()
                .table(WebhookDelivery::Table)
                .drop_column(WebhookDelivery::ReplayId)
                .to_owned(),
        )
        .await?;
        for column in [
            WebhookEndpoint::RetrySchedule,
            WebhookEndpoint::DisabledReason,
            WebhookEndpoint::DisabledAt,
            WebhookEndpoint::FailingSince,
            WebhookEndpoint::FailedDeliveries,
            WebhookEndpoint::PreviousSecret,
            WebhookEndpoint::PreviousSecretUntil,
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
