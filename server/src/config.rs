//! Configuration, from flags and `BUILDHOOKS_*` environment variables with documented defaults.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// Which parts of the server run in this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum Role {
    /// The HTTP API and the settings page only.
    Api,
    /// The outbox dispatcher only.
    Dispatcher,
    /// Both (the default).
    #[default]
    All,
}

/// Settings shared by every command.
#[derive(Clone, Debug, Args)]
pub struct Config {
    /// Database URL: the embedded default (a file), or a database server's URL (see the README).
    #[arg(
        long,
        env = "BUILDHOOKS_DATABASE_URL",
        default_value = crate::db::DEFAULT_URL,
        global = true
    )]
    pub database_url: String,

    /// Address the HTTP server listens on.
    #[arg(
        long,
        env = "BUILDHOOKS_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: SocketAddr,

    /// Allow webhooks to loopback and private networks (development and tests only).
    #[arg(
        long,
        env = "BUILDHOOKS_ALLOW_PRIVATE_TARGETS",
        default_value_t = false,
        global = true
    )]
    pub allow_private_targets: bool,

    /// Total time allowed for one delivery attempt, in milliseconds.
    #[arg(
        long,
        env = "BUILDHOOKS_DELIVERY_TIMEOUT_MS",
        default_value_t = 10_000,
        global = true
    )]
    pub delivery_timeout_ms: u64,

    /// Delay before the single retry, in milliseconds (jittered by +/-20%).
    #[arg(
        long,
        env = "BUILDHOOKS_RETRY_DELAY_MS",
        default_value_t = 5_000,
        global = true
    )]
    pub retry_delay_ms: u64,

    /// Deliveries in flight at once per process.
    #[arg(
        long,
        env = "BUILDHOOKS_DELIVERY_CONCURRENCY",
        default_value_t = 64,
        global = true
    )]
    pub delivery_concurrency: usize,

    /// Most deliveries of one organization in flight at once per process (default: half of
    /// `BUILDHOOKS_DELIVERY_CONCURRENCY`). Each endpoint has its own cap, `maxInFlight`.
    #[arg(long, env = "BUILDHOOKS_ORG_IN_FLIGHT", global = true)]
    pub org_in_flight: Option<usize>,

    /// An attempt still running after this many milliseconds moves from the fast slots to the
    /// slow ones (sixteen per fast slot), so slow receivers hold no slot a healthy one needs.
    #[arg(
        long,
        env = "BUILDHOOKS_SLOW_AFTER_MS",
        default_value_t = 1_000,
        global = true
    )]
    pub slow_after_ms: u64,

    /// Database connections of the API's pool (the embedded database: readers, at most 8).
    #[arg(
        long,
        env = "BUILDHOOKS_DATABASE_POOL",
        default_value_t = crate::db::DEFAULT_POOL,
        global = true
    )]
    pub database_pool: u32,

    /// Largest request body the API accepts, in bytes.
    #[arg(long, env = "BUILDHOOKS_MAX_BODY_BYTES", default_value_t = 1024 * 1024, global = true)]
    pub max_body_bytes: usize,

    /// Longest wait for a database connection (opening one included), in milliseconds: while
    /// the database is down, API requests answer 503 `UNAVAILABLE` after this long.
    #[arg(
        long,
        env = "BUILDHOOKS_DATABASE_ACQUIRE_TIMEOUT_MS",
        default_value_t = crate::db::DEFAULT_ACQUIRE_TIMEOUT_MS,
        global = true
    )]
    pub database_acquire_timeout_ms: u64,
}

impl Config {
    /// Defaults for `database_url`, everything else as documented.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Config {
            database_url: database_url.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            allow_private_targets: false,
            delivery_timeout_ms: 10_000,
            retry_delay_ms: 5_000,
            delivery_concurrency: 64,
            org_in_flight: None,
            slow_after_ms: 1_000,
            database_pool: crate::db::DEFAULT_POOL,
            max_body_bytes: 1024 * 1024,
            database_acquire_timeout_ms: crate::db::DEFAULT_ACQUIRE_TIMEOUT_MS,
        }
    }

    pub fn delivery_timeout(&self) -> Duration {
        Duration::from_millis(self.delivery_timeout_ms)
    }

    pub fn retry_delay(&self) -> Duration {
        Duration::from_millis(self.retry_delay_ms)
    }

    pub fn database_acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.database_acquire_timeout_ms)
    }

    /// How the store opens its pools.
    pub fn connect_options(&self) -> crate::db::ConnectOptions {
        crate::db::ConnectOptions {
            pool: self.database_pool,
            acquire_timeout: self.database_acquire_timeout(),
            synchronous: Default::default(),
        }
    }
}
