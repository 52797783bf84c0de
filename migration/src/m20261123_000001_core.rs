//! Core tables: organizations, their API tokens (hashes only), repositories, builds and tasks.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Organization::Table)
                .col(pk_auto(Organization::Id))
                .col(string(Organization::Platform))
                .col(string_uniq(Organization::Name))
                .col(big_integer(Organization::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ApiToken::Table)
                .col(pk_auto(ApiToken::Id))
                .col(integer(ApiToken::OrgId))
                .col(string_uniq(ApiToken::TokenHash))
                .col(big_integer(ApiToken::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(ApiToken::Table, ApiToken::OrgId)
                        .to(Organization::Table, Organization::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Repository::Table)
                .col(pk_auto(Repository::Id))
                .col(integer(Repository::OrgId))
                .col(string(Repository::Name))
                .col(boolean(Repository::IsPrivate))
                .col(string(Repository::DefaultBranch))
                .col(big_integer(Repository::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Repository::Table, Repository::OrgId)
                        .to(Organization::Table, Organization::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_repository_org_name")
                .table(Repository::Table)
                .col(Repository::OrgId)
                .col(Repository::Name)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Build::Table)
                .col(pk_auto(Build::Id))
                .col(integer(Build::OrgId))
                .col(integer(Build::RepositoryId))
                .col(string_null(Build::Name))
                .col(string(Build::Branch))
                .col(string_null(Build::Tag))
                .col(string(Build::ChangeIdInRepo))
                .col(text(Build::ChangeMessage))
                .col(integer_null(Build::PullRequest))
                .col(string(Build::Status))
                .col(big_integer(Build::ChangeTimestamp))
                .col(big_integer(Build::BuildCreatedTimestamp))
                .col(big_integer(Build::StatusTimestamp))
                .col(big_integer_null(Build::ExecutingTimestamp))
                .col(big_integer_null(Build::FinalStatusTimestamp))
                .foreign_key(
                    ForeignKey::create()
                        .from(Build::Table, Build::RepositoryId)
                        .to(Repository::Table, Repository::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_build_repository_id")
                .table(Build::Table)
                .col(Build::RepositoryId)
                .col(Build::Id)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Task::Table)
                .col(pk_auto(Task::Id))
                .col(integer(Task::OrgId))
                .col(integer(Task::BuildId))
                .col(integer(Task::RepositoryId))
                .col(string(Task::Name))
                .col(string_null(Task::NameAlias))
                .col(string(Task::Status))
                .col(text(Task::Labels))
                .col(boolean(Task::Optional))
                .col(integer(Task::ManualRerunCount))
                .col(integer_null(Task::PreviousRunId))
                .col(boolean(Task::Superseded))
                .col(big_integer(Task::StatusTimestamp))
                .col(big_integer(Task::CreationTimestamp))
                .col(big_integer_null(Task::ScheduledTimestamp))
                .col(big_integer_null(Task::ExecutingTimestamp))
                .col(big_integer_null(Task::FinalStatusTimestamp))
                .foreign_key(
                    ForeignKey::create()
                        .from(Task::Table, Task::BuildId)
                        .to(Build::Table, Build::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_task_build_id")
                .table(Task::Table)
                .col(Task::BuildId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Task::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Build::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Repository::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(ApiToken::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Organization::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub(crate) enum Organization {
    Table,
    Id,
    Platform,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApiToken {
    Table,
    Id,
    OrgId,
    TokenHash,
    CreatedAt,
}

#[derive(DeriveIden)]
pub(crate) enum Repository {
    Table,
    Id,
    OrgId,
    Name,
    IsPrivate,
    DefaultBranch,
    CreatedAt,
}

// Column names mirror Cirrus CI's (`buildCreatedTimestamp`).
#[allow(clippy::enum_variant_names)]
#[derive(DeriveIden)]
enum Build {
    Table,
    Id,
    OrgId,
    RepositoryId,
    Name,
    Branch,
    Tag,
    ChangeIdInRepo,
    ChangeMessage,
    PullRequest,
    Status,
    ChangeTimestamp,
    BuildCreatedTimestamp,
    StatusTimestamp,
    ExecutingTimestamp,
    FinalStatusTimestamp,
}

#[derive(DeriveIden)]
enum Task {
    Table,
    Id,
    OrgId,
    BuildId,
    RepositoryId,
    Name,
    NameAlias,
    Status,
    Labels,
    Optional,
    ManualRerunCount,
    PreviousRunId,
    Superseded,
    StatusTimestamp,
    CreationTimestamp,
    ScheduledTimestamp,
    ExecutingTimestamp,
    FinalStatusTimestamp,
}
