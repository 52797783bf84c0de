//! Webhook tables: emitted events, per-organization endpoints, the delivery outbox and every
//! delivery attempt.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000001_core::Organization;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Event::Table)
                .col(pk_auto(Event::Id))
                .col(integer(Event::OrgId))
                .col(integer(Event::RepositoryId))
                .col(integer(Event::BuildId))
                .col(integer_null(Event::TaskId))
                .col(string(Event::Kind))
                .col(string(Event::Action))
                .col(string_null(Event::OldStatus))
                .col(string(Event::NewStatus))
                .col(big_integer(Event::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Event::Table, Event::OrgId)
                        .to(Organization::Table, Organization::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_event_org_id")
                .table(Event::Table)
                .col(Event::OrgId)
                .col(Event::Id)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(WebhookEndpoint::Table)
                .col(pk_auto(WebhookEndpoint::Id))
                .col(integer(WebhookEndpoint::OrgId))
                .col(integer(WebhookEndpoint::Position))
                .col(text(WebhookEndpoint::Url))
                .col(text_null(WebhookEndpoint::Secret))
                .col(text(WebhookEndpoint::Events))
                .col(integer_null(WebhookEndpoint::RepositoryId))
                .col(text_null(WebhookEndpoint::Query))
                .col(boolean(WebhookEndpoint::Enabled))
                .col(boolean(WebhookEndpoint::Deleted))
                .col(big_integer(WebhookEndpoint::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(WebhookEndpoint::Table, WebhookEndpoint::OrgId)
                        .to(Organization::Table, Organization::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_webhook_endpoint_org_id")
                .table(WebhookEndpoint::Table)
                .col(WebhookEndpoint::OrgId)
                .col(WebhookEndpoint::Deleted)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(WebhookDelivery::Table)
                .col(pk_auto(WebhookDelivery::Id))
                .col(string_uniq(WebhookDelivery::Uuid))
                .col(integer(WebhookDelivery::OrgId))
                .col(integer_null(WebhookDelivery::EventId))
                .col(integer(WebhookDelivery::EndpointId))
                .col(integer_null(WebhookDelivery::RepositoryId))
                .col(text(WebhookDelivery::Url))
                .col(string(WebhookDelivery::Kind))
                .col(string(WebhookDelivery::Action))
                .col(text(WebhookDelivery::Body))
                .col(string(WebhookDelivery::State))
                .col(integer(WebhookDelivery::AttemptCount))
                .col(integer(WebhookDelivery::RoundAttempts))
                .col(big_integer(WebhookDelivery::NextAttemptAt))
                .col(big_integer_null(WebhookDelivery::LeaseUntil))
                .col(string_null(WebhookDelivery::LeaseToken))
                .col(integer_null(WebhookDelivery::LastStatus))
                .col(big_integer_null(WebhookDelivery::LastDurationMs))
                .col(text_null(WebhookDelivery::LastResponse))
                .col(big_integer(WebhookDelivery::CreatedAt))
                .col(big_integer(WebhookDelivery::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(WebhookDelivery::Table, WebhookDelivery::OrgId)
                        .to(Organization::Table, Organization::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_webhook_delivery_due")
                .table(WebhookDelivery::Table)
                .col(WebhookDelivery::State)
                .col(WebhookDelivery::NextAttemptAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_webhook_delivery_org")
                .table(WebhookDelivery::Table)
                .col(WebhookDelivery::OrgId)
                .col(WebhookDelivery::Id)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(WebhookAttempt::Table)
                .col(pk_auto(WebhookAttempt::Id))
                .col(integer(WebhookAttempt::DeliveryId))
                .col(integer(WebhookAttempt::Number))
                .col(big_integer(WebhookAttempt::StartedAt))
                .col(big_integer(WebhookAttempt::DurationMs))
                .col(integer_null(WebhookAttempt::Status))
                .col(string_null(WebhookAttempt::Error))
                .col(text_null(WebhookAttempt::ResponseExcerpt))
                .foreign_key(
                    ForeignKey::create()
                        .from(WebhookAttempt::Table, WebhookAttempt::DeliveryId)
                        .to(WebhookDelivery::Table, WebhookDelivery::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_webhook_attempt_delivery")
                .table(WebhookAttempt::Table)
                .col(WebhookAttempt::DeliveryId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(WebhookAttempt::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(WebhookDelivery::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(WebhookEndpoint::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Event::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Event {
    Table,
    Id,
    OrgId,
    RepositoryId,
    BuildId,
    TaskId,
    Kind,
    Action,
    OldStatus,
    NewStatus,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebhookEndpoint {
    Table,
    Id,
    OrgId,
    Position,
    Url,
    Secret,
    Events,
    RepositoryId,
    Query,
    Enabled,
    Deleted,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebhookDelivery {
    Table,
    Id,
    Uuid,
    OrgId,
    EventId,
    EndpointId,
    RepositoryId,
    Url,
    Kind,
    Action,
    Body,
    State,
    AttemptCount,
    RoundAttempts,
    NextAttemptAt,
    LeaseUntil,
    LeaseToken,
    LastStatus,
    LastDurationMs,
    LastResponse,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookAttempt {
    Table,
    Id,
    DeliveryId,
    Number,
    StartedAt,
    DurationMs,
    Status,
    Error,
    ResponseExcerpt,
}
