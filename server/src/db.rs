//! Connecting to the database (SQLite in WAL mode with a busy timeout, or PostgreSQL) and
//! applying migrations.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use buildhooks_migration::{Migrator, MigratorTrait};
use buildhooks_schema::Store;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, SqlxSqliteConnector};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::ConnectOptions as _;

/// Opens the database named by `url`, without migrating.
pub async fn open(url: &str) -> anyhow::Result<DatabaseConnection> {
    open_sized(url, 32).await
}

/// Opens the database with at most `max_connections` (PostgreSQL; SQLite uses 8).
pub async fn open_sized(url: &str, max_connections: u32) -> anyhow::Result<DatabaseConnection> {
    if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(url)
            .context("invalid SQLite database URL")?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .disable_statement_logging();
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .context("cannot open the SQLite database")?;
        Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
    } else {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .max_connections(max_connections)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        Database::connect(options)
            .await
            .context("cannot connect to the database")
    }
}

/// Opens the database and applies every pending migration.
pub async fn connect(url: &str) -> anyhow::Result<Store> {
    let conn = open(url).await?;
    Migrator::up(&conn, None)
        .await
        .context("cannot apply migrations")?;
    Ok(Store::new(conn))
}
