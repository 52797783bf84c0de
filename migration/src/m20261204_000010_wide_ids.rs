//! 64-bit ids for the tables that grow with traffic (issue 19, "room to grow"): `event`,
//! `webhook_delivery` and `webhook_attempt`, and the keys naming them (`webhook_delivery.event_id`,
//! `webhook_attempt.delivery_id`). On PostgreSQL they were `serial` (`integer`, about 2.1 billion
//! values); this widens each column to `bigint` and its sequence `AS bigint` (a sequence whose
//! maximum was `integer`'s gets `bigint`'s). Widening rewrites each table and its indexes under
//! an exclusive lock: on a large outbox, run `buildhooks migrate` in a maintenance window.
//!
//! SQLite needs nothing: an `INTEGER PRIMARY KEY` is the 64-bit rowid, and every integer column
//! stores 64-bit values whatever its declared type.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (table, columns widened); the first column is the one its sequence feeds.
const WIDENED: [(&str, &[&str]); 3] = [
    ("event", &["id"]),
    ("webhook_delivery", &["id", "event_id"]),
    ("webhook_attempt", &["id", "delivery_id"]),
];

/// The statements that give `table`'s `columns` the type `ty` and the sequence of its `id`
/// the same type (found by `pg_get_serial_sequence`, so a renamed sequence is still found).
fn statements(ty: &str) -> Vec<String> {
    let mut sql = Vec::new();
    for (table, columns) in WIDENED {
        let alters: Vec<String> = columns
            .iter()
            .map(|c| format!("ALTER COLUMN {c} TYPE {ty}"))
            .collect();
        sql.push(format!("ALTER TABLE {table} {}", alters.join(", ")));
        sql.push(format!(
            "DO $$ BEGIN EXECUTE format('ALTER SEQUENCE %s AS {ty}', \
             pg_get_serial_sequence('{table}', 'id')); END $$"
        ));
    }
    sql
}

async fn run(m: &SchemaManager<'_>, ty: &str) -> Result<(), DbErr> {
    if m.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let db = m.get_connection();
    for sql in statements(ty) {
        db.execute_unprepared(&sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        run(m, "bigint").await
    }

    /// Back to `integer`: fails, changing nothing, once any id (or a sequence's last value)
    /// has passed `integer`'s range.
    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        run(m, "integer").await
    }
}

#[cfg(test)]
mod tests {
    use super::statements;

    #[test]
    fn widens_every_id_and_key_and_each_sequence() {
        let sql = statements("bigint").join(";\n");
        for column in [
            "ALTER TABLE event ALTER COLUMN id TYPE bigint",
            "ALTER TABLE webhook_delivery ALTER COLUMN id TYPE bigint, ALTER COLUMN event_id TYPE bigint",
            "ALTER TABLE webhook_attempt ALTER COLUMN id TYPE bigint, ALTER COLUMN delivery_id TYPE bigint",
        ] {
            assert!(sql.contains(column), "{column}");
        }
        assert_eq!(
            sql.matches("AS bigint', pg_get_serial_sequence(").count(),
            3
        );
    }
}
