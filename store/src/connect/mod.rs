//! Connecting to the database (SQLite in WAL mode with a busy timeout, or PostgreSQL) and
//! applying migrations. On SQLite, `synchronous=NORMAL` (the default) makes a commit survive a
//! crash of the process but not of the machine: on power loss the last commits before it can be
//! lost. `Synchronous::Full` syncs every commit to disk before it returns. Every pool waits at most its acquire timeout for a connection, so a
//! database that is down fails a request within about a second (503 `UNAVAILABLE`) instead of
//! holding it; only startup waits longer, for a PostgreSQL server that is still starting.
//! A failure to open names the database and the fix (`hint`).

mod hint;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use buildhooks_migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnAcquireErr, DatabaseConnection, DbErr, RuntimeErr, SqlxPostgresConnector,
    SqlxSqliteConnector,
};

use crate::dialect::Dialect;
use crate::sqlite::checkpoint;
use crate::sqlite::own_reader::OwnReader;
use crate::sqlite::own_writer::{self, OwnWriter};
use crate::Db;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions as _, Connection as _};

/// The embedded default: a database file in the working directory, created when missing.
pub const DEFAULT_URL: &str = "sqlite://buildhooks.db?mode=rwc";

/// The URL of an embedded database in the file at `path`, created when missing.
pub fn file_url(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

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

/// How SQLite makes a commit durable (`PRAGMA synchronous`); PostgreSQL ignores it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// Survives a crash of the process; the last commits can be lost on power loss (WAL mode's
    /// `NORMAL`).
    #[default]
    Normal,
    /// Every commit is on disk before it returns (`FULL`).
    Full,
}

impl std::str::FromStr for Synchronous {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "normal" => Ok(Synchronous::Normal),
            "full" => Ok(Synchronous::Full),
            other => Err(format!("{other:?} is not normal or full")),
        }
    }
}

impl std::fmt::Display for Synchronous {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Synchronous::Normal => "normal",
            Synchronous::Full => "full",
        })
    }
}

/// How pools are opened.
#[derive(Clone, Copy, Debug)]
pub struct ConnectOptions {
    /// Connections in the main pool (SQLite: at most 8).
    pub pool: u32,
    /// Longest wait for a pooled connection.
    pub acquire_timeout: Duration,
    pub synchronous: Synchronous,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            pool: DEFAULT_POOL,
            acquire_timeout: Duration::from_millis(DEFAULT_ACQUIRE_TIMEOUT_MS),
            synchronous: Synchronous::default(),
        }
    }
}

/// Opens the database named by `url`, without migrating.
pub async fn open(url: &str) -> anyhow::Result<DatabaseConnection> {
    open_with(url, &ConnectOptions::default(), false).await
}

/// The dispatcher's own pool on PostgreSQL. Its statements find outbox rows by key or through
/// the outbox's partial indexes, so its connections run with `enable_seqscan = off`: the generic
/// plan of a prepared statement, made while the outbox was small, then keeps its index scans as
/// the table grows. (With sequential scans allowed, the record statement's plan from a fresh
/// database read the whole outbox on every later record, until statistics changed.)
/// It has `max_connections` and waits as `options` say. On SQLite the dispatcher shares `db`.
pub async fn dispatcher_db(
    db: &Db,
    url: &str,
    max_connections: u32,
    options: &ConnectOptions,
) -> anyhow::Result<Db> {
    if db.dialect() == Dialect::Sqlite {
        return Ok(db.clone());
    }
    let options = ConnectOptions {
        pool: max_connections,
        ..*options
    };
    Ok(db.with_pool(open_with(url, &options, true).await?))
}

/// The pool of background work (retention): on PostgreSQL one connection of its own, with index
/// scans only as the dispatcher's (its batches walk keys and the outbox's partial indexes); on
/// SQLite `db` itself, whose write gate orders its writers.
pub async fn background_db(db: &Db, url: &str, options: &ConnectOptions) -> anyhow::Result<Db> {
    dispatcher_db(db, url, 1, options).await
}

/// How many times opening an SQLite pool waits its acquire timeout before it gives up.
const OPEN_TRIES: u32 = 10;

async fn open_with(
    url: &str,
    options: &ConnectOptions,
    index_scans_only: bool,
) -> anyhow::Result<DatabaseConnection> {
    let (max_connections, acquire_timeout) = (options.pool, options.acquire_timeout);
    if url.starts_with("sqlite:") {
        let sqlite = sqlite_options(url, options)?;
        sqlite_pool(url, sqlite, max_connections.clamp(1, 8), acquire_timeout).await
    } else {
        let mut connect = match PgConnectOptions::from_str(&without_loopback_tls(url)) {
            Ok(connect) => connect.disable_statement_logging(),
            Err(error) => {
                let error = DbErr::Conn(RuntimeErr::SqlxError(error));
                return Err(hint::server_error(url, &error, Duration::ZERO).await);
            }
        };
        if index_scans_only {
            connect = connect.options([("enable_seqscan", "off")]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(1)
            // sqlx bounds the whole acquire, opening a connection included, by this.
            .acquire_timeout(acquire_timeout)
            // sqlx pings a connection when it goes back to the pool; pinging it again when it
            // is taken out costs every statement one more round trip to the server. Only a
            // connection idle for a while is pinged (HikariCP's "alive bypass window").
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_WHEN_IDLE {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            });
        connect_at_startup(url, pool, connect).await
    }
}

/// A pooled PostgreSQL connection idle at least this long is pinged before it is used (one
/// busy within it was pinged when it went back to the pool).
const PING_WHEN_IDLE: Duration = Duration::from_millis(500);

/// Results (rows and each statement's outcome) SQLite's thread may hand over before the caller
/// takes them (sqlx's default 50). A batch of new builds returns about 100: with 50 the thread
/// stopped mid-batch, holding the write gate, until the runtime ran the caller again. Measured
/// (`/metrics` write gate, 8,000 calls at 64 in flight): 1.64-1.67 ms held per batch of about 14
/// builds against 1.92-2.02 ms with 50.
const ROW_BUFFER: usize = 1024;

/// An SQLite database's connection options: WAL mode, the configured durability, a busy
/// timeout, foreign keys enforced.
fn sqlite_options(url: &str, options: &ConnectOptions) -> anyhow::Result<SqliteConnectOptions> {
    Ok(SqliteConnectOptions::from_str(url)
        .with_context(|| format!("invalid SQLite database URL {url:?}"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(match options.synchronous {
            Synchronous::Normal => SqliteSynchronous::Normal,
            Synchronous::Full => SqliteSynchronous::Full,
        })
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
        .row_buffer_size(ROW_BUFFER)
        .disable_statement_logging())
}

/// A pool of `max_connections` SQLite connections opened with `options`.
async fn sqlite_pool(
    url: &str,
    options: SqliteConnectOptions,
    max_connections: u32,
    acquire_timeout: Duration,
) -> anyhow::Result<DatabaseConnection> {
    // No ping before each use: a connection to a local file does not go stale, and the ping
    // is one more round trip to SQLite's worker thread per transaction.
    // Opening the first connection (creating the file, switching to WAL) can outlast the
    // acquire timeout on a loaded machine; that timeout is for requests (answer 503 fast),
    // so opening tries again a few times before it gives up.
    let mut tries = 1;
    let pool = loop {
        let opened = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await;
        match opened {
            Err(sqlx::Error::PoolTimedOut) if tries < OPEN_TRIES => tries += 1,
            Ok(pool) => break pool,
            Err(error) => return Err(hint::file_error(url, &error)),
        }
    };
    Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
}

/// Connects, trying again while the server refuses connections (sqlx retries a refused
/// connection until the acquire timeout, then reports a timeout) for up to `STARTUP_WAIT`, and
/// says so once. Any other error (a wrong password, a missing database) fails at once.
/// An error names `url` as the operator gave it (without its password).
async fn connect_at_startup(
    url: &str,
    pool: PgPoolOptions,
    connect: PgConnectOptions,
) -> anyhow::Result<DatabaseConnection> {
    let started = Instant::now();
    let mut said = false;
    loop {
        match pool.clone().connect_with(connect.clone()).await {
            Ok(pool) => return Ok(SqlxPostgresConnector::from_sqlx_postgres_pool(pool)),
            Err(sqlx::Error::PoolTimedOut) if started.elapsed() < STARTUP_WAIT => {
                if !said {
                    said = true;
                    tracing::warn!(
                        wait = ?STARTUP_WAIT,
                        "the database does not answer yet; trying again"
                    );
                }
            }
            Err(error) => {
                let error = DbErr::Conn(RuntimeErr::SqlxError(error));
                return Err(hint::server_error(url, &error, started.elapsed()).await);
            }
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

/// `the database file <path>` for a SQLite URL, `the database <url>` for any other, without
/// its password.
pub fn describe(url: &str) -> String {
    match hint::file_path(url) {
        Some(path) => format!("the database file {}", path.display()),
        None => format!("the database {}", without_password(url)),
    }
}

/// `url` without the password of its user info and without a `password=` query parameter
/// (both are accepted by the PostgreSQL driver). Everything else stays, to help find a typo.
pub fn without_password(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let base = match base.split_once("://") {
        // The user info ends at the last `@` of the authority; a password may contain `/`, so
        // the authority is not cut at the first `/` (a database name with `@` is not expected).
        Some((scheme, rest)) => match rest.rfind('@') {
            Some(at) => {
                let user = rest[..at].split_once(':').map_or(&rest[..at], |(u, _)| u);
                format!("{scheme}://{user}@{}", &rest[at + 1..])
            }
            None => base.to_owned(),
        },
        None => base.to_owned(),
    };
    let Some(query) = query else {
        return base;
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(key, _)| key);
            !key.eq_ignore_ascii_case("password")
        })
        .collect();
    match kept.is_empty() {
        true => base,
        false => format!("{base}?{}", kept.join("&")),
    }
}

/// Opens the database and applies every pending migration.
pub async fn connect(url: &str, options: &ConnectOptions) -> anyhow::Result<Db> {
    let conn = open_with(url, options, false).await?;
    Migrator::up(&conn, None)
        .await
        .context("cannot apply migrations")?;
    let db = Db::new(conn);
    if db.dialect() == Dialect::Sqlite {
        // One connection for every write transaction: its page cache stays warm, where a pool
        // connection that another one wrote behind would re-read the pages it changed. Its
        // commits checkpoint the WAL only when the checkpointer falls behind (see
        // `sqlite::checkpoint`), which has a connection of its own.
        let base = sqlite_options(url, options)?;
        let writer = base
            .clone()
            .pragma(
                "wal_autocheckpoint",
                checkpoint::WRITER_AUTOCHECKPOINT.to_string(),
            )
            .pragma("temp_store", "memory");
        let writer = sqlite_pool(url, writer, 1, options.acquire_timeout).await?;
        let own = sqlite_pool(url, base, 1, options.acquire_timeout).await?;
        let path = hint::file_path(url)
            .filter(|path| path.is_file())
            .with_context(|| format!("{url:?} names no SQLite database file"))?;
        let settings = own_writer::Settings {
            synchronous: match options.synchronous {
                Synchronous::Normal => "NORMAL",
                Synchronous::Full => "FULL",
            },
            wal_autocheckpoint: checkpoint::WRITER_AUTOCHECKPOINT,
            restart: Arc::default(),
        };
        let thread = OwnWriter::open(&path, &settings)
            .with_context(|| format!("cannot open {} for writing", path.display()))?;
        let reader = OwnReader::open(&path)
            .with_context(|| format!("cannot open {} for reading", path.display()))?;
        return Ok(db
            .with_writer(writer)
            .with_own_writer(thread)
            .with_own_reader(reader)
            .with_checkpointer(checkpoint::spawn(own, settings.restart)));
    }
    Ok(db)
}

#[cfg(test)]
mod tests {
    use super::without_loopback_tls as t;
    use super::{describe, without_password};

    #[test]
    fn postgres_urls_lose_their_password_and_keep_the_rest() {
        assert_eq!(
            without_password("postgres://bh:s3cret@db.example.com:5432/buildhooks"),
            "postgres://bh@db.example.com:5432/buildhooks"
        );
        assert_eq!(
            without_password("postgres://bh:p@ss/w@rd@127.0.0.1/bh?sslmode=disable"),
            "postgres://bh@127.0.0.1/bh?sslmode=disable"
        );
        assert_eq!(
            without_password("postgres://bh@/bh?host=/var/run/postgresql&password=x"),
            "postgres://bh@/bh?host=/var/run/postgresql"
        );
        assert_eq!(
            without_password("postgres://db/bh?PASSWORD=x"),
            "postgres://db/bh"
        );
        assert_eq!(
            without_password("postgres://postgres@127.0.0.1:5432/postgres"),
            "postgres://postgres@127.0.0.1:5432/postgres"
        );
    }

    #[test]
    fn sqlite_urls_are_named_by_their_file() {
        assert_eq!(
            describe("sqlite:///var/lib/bh/x.db?mode=rwc"),
            "the database file /var/lib/bh/x.db"
        );
        assert!(describe("sqlite://buildhooks.db?mode=rwc").ends_with("/buildhooks.db"));
        assert!(describe("sqlite:x.db").starts_with("the database file /"));
        assert_eq!(
            describe("postgres://u:pw@h/d"),
            "the database postgres://u@h/d"
        );
    }

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
