//! PostgreSQL: `event.org_id` and `webhook_delivery.org_id` lose their foreign keys to
//! `organization`. Both are copies of the organization of the build or task the row was written
//! for, in the same statement (`build.repository_id` keeps its key, and the repository's to its
//! organization), and no statement deletes an organization. Each key made every event and every
//! outbox row take `FOR KEY SHARE` on the organization's one row: with concurrent writers that is
//! a multixact and a WAL record per row on one hot heap page (3 of the 5 checks a `createBuild`
//! made). SQLite keeps them: a check there is one b-tree probe without a lock, and dropping a
//! key means rebuilding the table.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (table, constraint): the names PostgreSQL gave the keys the first migrations made.
const KEYS: [(&str, &str); 2] = [
    ("event", "event_org_id_fkey"),
    ("webhook_delivery", "webhook_delivery_org_id_fkey"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for (table, key) in KEYS {
            m.get_connection()
                .execute_unprepared(&format!(
                    "ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {key}"
                ))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for (table, key) in KEYS {
            m.get_connection()
                .execute_unprepared(&format!(
                    "ALTER TABLE {table} ADD CONSTRAINT {key} FOREIGN KEY (org_id) \
                     REFERENCES organization (id) ON DELETE CASCADE"
                ))
                .await?;
        }
        Ok(())
    }
}
