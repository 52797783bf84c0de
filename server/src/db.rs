//! Connecting to the database (SQLite in WAL mode with a busy timeout, or PostgreSQL) and
//! applying migrations. Every pool waits at most its acquire timeout for a connection, so a
//! database that is down fails a request within about a second (503 `UNAVAILABLE`) instead of
//! holding it; only startup waits longer, for a PostgreSQL server that is still starting.

use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Context;
use buildhooks_migration::{Migrator, MigratorTrait};
use buildhooks_schema::Store;
use sea_orm::{
    ConnAcquireErr, ConnectOptions, Database, DatabaseConnection, DbErr, RuntimeErr,
    SqlxSqliteConnector,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::ConnectOptions as _;

/// Connections per pool unless configured (`BUILDHOOKS_DATABASE_POOL`). Measured on 2 cores:
/// 8 gives more transitions per second, less CPU per delivery and a far lower p99 than 32, whose
/// extra PostgreSQL backends only add context switches.
pub const DEFAULT_POOL: u32 = 8;

/// Longest wait for a pooled connection unless configured
/// (`BUILDHOOKS_DATABASE_ACQUIRE_TIMEOUT_MS`), in milliseconds.
pub const DEFAULT_ACQUIRE_TIMEOUT_MS: u64 = 1_000;

/// How long startup keeps trying a PostgreSQL server that refuses connections (it may still be
/// starting), in acquire-timeout steps.
const STARTUP_WAIT: Duration = Duration::from_secs(10);

fn default_acquire_timeout() -> Duration {
    Duration::from_millis(DEFAULT_ACQUIRE_TIMEOUT_MS)
}

/// Opens the database named by `url`, without migrating.
pub async fn open(url: &str) -> anyhow::Result<DatabaseConnection> {
    open_sized(url, DEFAULT_POOL).await
}

/// Opens the database with at most `max_connections` (SQLite: at most 8).
pub async fn open_sized(url: &str, max_connections: u32) -> anyhow::Result<DatabaseConnection> {
    open_with(url, max_connections, default_acquire_timeout(), false).await
}

/// The dispatcher's own pool on PostgreSQL. Its statements find outbox rows by key or through
/// the outbox's partial indexes, so its connections run with `enable_seqscan = off`: the generic
/// plan of a prepared statement, made while the outbox was small, then keeps its index scans as
/// the table grows. (With sequential scans allowed, the record statement's plan from a fresh
/// database read the whole outbox on every later record, until statistics changed.)
/// It waits at most `acquire_timeout` for a connection.
pub async fn open_dispatcher_pool(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> anyhow::Result<DatabaseConnection> {
    open_with(url, max_connections, acquire_timeout, true).await
}

async fn open_with(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
    index_scans_only: bool,
) -> anyhow::Result<DatabaseConnection> {
    if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(url)
            .context("invalid SQLite database URL")?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .disable_statement_logging();
        // No ping before each use: a connection to a local file does not go stale, and the ping
        // is one more round trip to SQLite's worker thread per transaction.
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.clamp(1, 8))
            .acquire_timeout(acquire_timeout)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .context("cannot open the SQLite database")?;
        Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
    } else {
        let mut options = ConnectOptions::new(without_loopback_tls(url));
        options
            .max_connections(max_connections)
            .min_connections(1)
            // sqlx bounds the whole acquire, opening a connection included, by this.
            .acquire_timeout(acquire_timeout)
            .sqlx_logging(false);
        if index_scans_only {
            options.map_sqlx_postgres_opts(|o| o.options([("enable_seqscan", "off")]));
        }
        connect_at_startup(options).await
    }
}

/// Connects, trying again while the server refuses connections (sqlx retries a refused
/// connection until the acquire timeout, then reports a timeout) for up to `STARTUP_WAIT`. Any
/// other error (a wrong password, a missing database) fails at once.
async fn connect_at_startup(options: ConnectOptions) -> anyhow::Result<DatabaseConnection> {
    let started = Instant::now();
    loop {
        match Database::connect(options.clone()).await {
            Err(error) if timed_out(&error) && started.elapsed() < STARTUP_WAIT => {
                tracing::warn!(%error, "the database does not answer yet; trying again");
            }
            connected => return connected.context("cannot connect to the database"),
        }
    }
}

fn timed_out(error: &DbErr) -> bool {
    matches!(
        error,
        DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)
            | DbErr::Conn(RuntimeErr::SqlxError(sqlx::Error::PoolTimedOut))
    )
}

/// A PostgreSQL URL for a server on this machine (127.0.0.1, ::1, localhost or a Unix socket)
/// that names no `sslmode` gets `sslmode=disable`: the driver's default, `prefer`, would wrap
/// every statement in TLS that protects nothing on loopback and costs about a quarter of the
/// throughput. An explicit `sslmode` is always kept.
pub fn without_loopback_tls(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_owned();
    };
    let mut socket = false;
    for (key, value) in parsed.query_pairs() {
        match key.as_ref() {
            "sslmode" => return url.to_owned(),
            "host" if value.starts_with('/') => socket = true,
            _ => {}
        }
    }
    let loopback = match parsed.host() {
        // `postgres:` is not a special scheme: its host comes back as an opaque string.
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost")
                || d.trim_matches(|c| c == '[' || c == ']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => true,
    };
    if socket || loopback {
        parsed.query_pairs_mut().append_pair("sslmode", "disable");
        return parsed.into();
    }
    url.to_owned()
}

/// Opens the database and applies every pending migration.
pub async fn connect(url: &str) -> anyhow::Result<Store> {
    connect_pool(url, DEFAULT_POOL, default_acquire_timeout()).await
}

/// As `connect`, with at most `pool` connections in the main pool, every pool waiting at most
/// `acquire_timeout` for a connection.
pub async fn connect_pool(
    url: &str,
    pool: u32,
    acquire_timeout: Duration,
) -> anyhow::Result<Store> {
    let conn = open_with(url, pool, acquire_timeout, false).await?;
    Migrator::up(&conn, None)
        .await
        .context("cannot apply migrations")?;
    let store = Store::new(conn);
    if store.backend() == sea_orm::DbBackend::Sqlite {
        // One connection for every write transaction: its page cache stays warm, where a pool
        // connection that another one wrote behind would re-read the pages it changed.
        return Ok(store.with_writer(open_with(url, 1, acquire_timeout, false).await?));
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::without_loopback_tls as t;

    #[test]
    fn loopback_urls_skip_tls_unless_told() {
        assert_eq!(
            t("postgres://postgres@127.0.0.1:5432/postgres"),
            "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
        );
        assert_eq!(
            t("postgres://u@localhost/db?application_name=x"),
            "postgres://u@localhost/db?application_name=x&sslmode=disable"
        );
        assert_eq!(
            t("postgres://u@127.0.0.1/db?sslmode=require"),
            "postgres://u@127.0.0.1/db?sslmode=require"
        );
        assert_eq!(
            t("postgres://u@db.example.com/db"),
            "postgres://u@db.example.com/db"
        );
        assert_eq!(t("postgres://u@10.0.0.5/db"), "postgres://u@10.0.0.5/db");
    }
}
