//! What `/readyz` asks the database: the migrations this binary knows that the database has not
//! applied (sea-orm-migration's own bookkeeping, the `seaql_migrations` table).

use buildhooks_migration::{Migrator, MigratorTrait};

use crate::{Db, Result};

/// Names of the migrations not applied yet, oldest first (empty: the schema is current).
pub async fn pending_migrations(db: &Db) -> Result<Vec<String>> {
    let pending = Migrator::get_pending_migrations(db.conn()).await?;
    Ok(pending.iter().map(|m| m.name().to_owned()).collect())
}
