//! Inbound sources: each organization's hooks that GitHub, GitLab or any JSON sender call
//! (`inbound_source`, soft-deleted so the log can still name them); which vendor run or job is
//! which of our builds and tasks (`inbound_link`, unique per source); and the inbound log, whose
//! unique (source, delivery key) is what makes a redelivered request change nothing
//! (`inbound_request`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum InboundSource {
    Table,
    Id,
    Uid,
    OrgId,
    Kind,
    Name,
    RepositoryId,
    Mapping,
    Secret,
    SigningSecret,
    Deleted,
    CreatedAt,
}

#[derive(DeriveIden)]
enum InboundLink {
    Table,
    Id,
    OrgId,
    SourceId,
    Kind,
    ExternalId,
    BuildId,
    TaskId,
    Attempt,
}

#[derive(DeriveIden)]
enum InboundRequest {
    Table,
    Id,
    OrgId,
    SourceId,
    ReceivedAt,
    Event,
    DeliveryId,
    DeliveryKey,
    Result,
    Reason,
    HttpStatus,
    BuildId,
    TaskId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(InboundSource::Table)
                .col(
                    ColumnDef::new(InboundSource::Id)
                        .integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(ColumnDef::new(InboundSource::Uid).string().not_null())
                .col(ColumnDef::new(InboundSource::OrgId).integer().not_null())
                .col(ColumnDef::new(InboundSource::Kind).string().not_null())
                .col(ColumnDef::new(InboundSource::Name).string().not_null())
                .col(ColumnDef::new(InboundSource::RepositoryId).integer().null())
                .col(ColumnDef::new(InboundSource::Mapping).text().null())
                .col(ColumnDef::new(InboundSource::Secret).string().not_null())
                .col(ColumnDef::new(InboundSource::SigningSecret).string().null())
                .col(
                    ColumnDef::new(InboundSource::Deleted)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .col(
                    ColumnDef::new(InboundSource::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_inbound_source_uid")
                .table(InboundSource::Table)
                .col(InboundSource::Uid)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_inbound_source_org")
                .table(InboundSource::Table)
                .col(InboundSource::OrgId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(InboundLink::Table)
                .col(
                    ColumnDef::new(InboundLink::Id)
                        .integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(ColumnDef::new(InboundLink::OrgId).integer().not_null())
                .col(ColumnDef::new(InboundLink::SourceId).integer().not_null())
                .col(ColumnDef::new(InboundLink::Kind).string().not_null())
                .col(ColumnDef::new(InboundLink::ExternalId).string().not_null())
                .col(ColumnDef::new(InboundLink::BuildId).integer().not_null())
                .col(ColumnDef::new(InboundLink::TaskId).integer().null())
                .col(
                    ColumnDef::new(InboundLink::Attempt)
                        .integer()
                        .not_null()
                        .default(1),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_inbound_link")
                .table(InboundLink::Table)
                .col(InboundLink::SourceId)
                .col(InboundLink::Kind)
                .col(InboundLink::ExternalId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(InboundRequest::Table)
                .col(
                    ColumnDef::new(InboundRequest::Id)
                        .integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(ColumnDef::new(InboundRequest::OrgId).integer().not_null())
                .col(
                    ColumnDef::new(InboundRequest::SourceId)
                        .integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(InboundRequest::ReceivedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(InboundRequest::Event).string().not_null())
                .col(ColumnDef::new(InboundRequest::DeliveryId).string().null())
                .col(ColumnDef::new(InboundRequest::DeliveryKey).string().null())
                .col(ColumnDef::new(InboundRequest::Result).string().not_null())
                .col(ColumnDef::new(InboundRequest::Reason).text().null())
                .col(
                    ColumnDef::new(InboundRequest::HttpStatus)
                        .integer()
                        .not_null(),
                )
                .col(ColumnDef::new(InboundRequest::BuildId).integer().null())
                .col(ColumnDef::new(InboundRequest::TaskId).integer().null())
                .to_owned(),
        )
        .await?;
        // NULL keys (requests without a delivery id, refusals, duplicates) never collide.
        m.create_index(
            Index::create()
                .name("ux_inbound_request_key")
                .table(InboundRequest::Table)
                .col(InboundRequest::SourceId)
                .col(InboundRequest::DeliveryKey)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_inbound_request_org")
                .table(InboundRequest::Table)
                .col(InboundRequest::OrgId)
                .col(InboundRequest::Id)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            InboundRequest::Table.into_iden(),
            InboundLink::Table.into_iden(),
            InboundSource::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
