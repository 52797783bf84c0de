//! Configuration, from flags and `BUILDHOOKS_*` environment variables with documented defaults.
//! Each default is one `DEFAULT_*` constant (the pool's live in `db`, which uses them too), read
//! by its flag and by [`Config::for_database`].

use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::db::Synchronous;
pub use crate::listen::{Listen, DEFAULT_LISTEN};
use crate::retention::Span;
pub use crate::telemetry::LogFormat;

/// `BUILDHOOKS_DATABASE_URL`: the embedded database, a file in the working directory, created if
/// missing.
pub const DEFAULT_DATABASE_URL: &str = crate::db::DEFAULT_URL;
/// `BUILDHOOKS_ALLOW_PRIVATE_TARGETS`.
pub const DEFAULT_ALLOW_PRIVATE_TARGETS: bool = false;
/// `BUILDHOOKS_DELIVERY_TIMEOUT_MS`.
pub const DEFAULT_DELIVERY_TIMEOUT_MS: u64 = 10_000;
/// `BUILDHOOKS_RETRY_DELAY_MS`.
pub const DEFAULT_RETRY_DELAY_MS: u64 = 5_000;
/// `BUILDHOOKS_DELIVERY_CONCURRENCY`. A fast slot is held from the attempt's start until its
/// outcome's record commits, so the slots needed are the delivery rate times that whole cycle
/// (Little's law), not times the HTTP attempt alone. With 64, at saturation on this 2-core host
/// the slots ran out and the dispatcher fell behind the API for good (its new rows then wait for
/// claims, which cost more per delivery): on the production database 2,288-2,369 deliveries/s
/// with a p50 of 1.5 s from send to receipt, against 3,960-4,336/s and 15 ms with 128 (README,
/// Benchmark).
pub const DEFAULT_DELIVERY_CONCURRENCY: usize = 128;
/// `BUILDHOOKS_SLOW_AFTER_MS`.
pub const DEFAULT_SLOW_AFTER_MS: u64 = 1_000;
/// `BUILDHOOKS_MAX_BODY_BYTES`: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// `BUILDHOOKS_DISABLE_AFTER`: 5 days.
pub const DEFAULT_DISABLE_AFTER: Duration = Duration::from_secs(5 * 86_400);
/// `BUILDHOOKS_DISABLE_MIN_FAILURES`.
pub const DEFAULT_DISABLE_MIN_FAILURES: i32 = 20;
/// `BUILDHOOKS_SQLITE_SYNCHRONOUS`.
pub const DEFAULT_SYNCHRONOUS: Synchronous = Synchronous::Normal;
/// `BUILDHOOKS_RETENTION_DAYS`.
pub const DEFAULT_RETENTION_DAYS: Span = Span(Some(30));
/// `BUILDHOOKS_RETENTION_BATCH`.
pub const DEFAULT_RETENTION_BATCH: u64 = 1_000;
/// `BUILDHOOKS_RETENTION_PAUSE_MS`.
pub const DEFAULT_RETENTION_PAUSE_MS: u64 = 20;

/// `BUILDHOOKS_LOG_FORMAT`.
pub const DEFAULT_LOG_FORMAT: LogFormat = LogFormat::Text;

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
        default_value = DEFAULT_DATABASE_URL,
        global = true
    )]
    pub database_url: String,

    /// Address the HTTP server listens on: `host:port`, the host an IP address or a name
    /// (`localhost:8080`) resolved at start.
    #[arg(
        long,
        env = "BUILDHOOKS_LISTEN",
        default_value = DEFAULT_LISTEN,
        global = true
    )]
    pub listen: Listen,

    /// Allow webhooks to loopback and private networks (development and tests only).
    #[arg(
        long,
        env = "BUILDHOOKS_ALLOW_PRIVATE_TARGETS",
        default_value_t = DEFAULT_ALLOW_PRIVATE_TARGETS,
        global = true
    )]
    pub allow_private_targets: bool,

    /// Total time allowed for one delivery attempt, in milliseconds.
    #[arg(
        long,
        env = "BUILDHOOKS_DELIVERY_TIMEOUT_MS",
        default_value_t = DEFAULT_DELIVERY_TIMEOUT_MS,
        global = true
    )]
    pub delivery_timeout_ms: u64,

    /// Delay before the single retry, in milliseconds (jittered by +/-20%).
    #[arg(
        long,
        env = "BUILDHOOKS_RETRY_DELAY_MS",
        default_value_t = DEFAULT_RETRY_DELAY_MS,
        global = true
    )]
    pub retry_delay_ms: u64,

    /// Deliveries in flight at once per process.
    #[arg(
        long,
        env = "BUILDHOOKS_DELIVERY_CONCURRENCY",
        default_value_t = DEFAULT_DELIVERY_CONCURRENCY,
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
        default_value_t = DEFAULT_SLOW_AFTER_MS,
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
    #[arg(
        long,
        env = "BUILDHOOKS_MAX_BODY_BYTES",
        default_value_t = DEFAULT_MAX_BODY_BYTES,
        global = true
    )]
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

    /// The embedded database only: `normal` (the default) survives a crash of the process but
    /// can lose the last commits on power loss or an OS crash; `full` syncs every commit to
    /// disk, so none is lost, at the cost of a disk flush per commit.
    #[arg(
        long,
        env = "BUILDHOOKS_SQLITE_SYNCHRONOUS",
        default_value_t = DEFAULT_SYNCHRONOUS,
        global = true
    )]
    pub synchronous: Synchronous,

    /// Multiplies every chat robot's pace (DingTalk's 20 messages a minute is one per 3 s):
    /// below 1 only to test a throttle in less time; never above the vendors' documented rates
    /// in production.
    #[arg(
        long,
        env = "BUILDHOOKS_THROTTLE_SCALE",
        default_value_t = DEFAULT_THROTTLE_SCALE,
        global = true
    )]
    pub throttle_scale: f64,

    /// Largest inbound hook body (`/hooks/in/{id}`), in bytes; larger ones are answered 413.
    #[arg(
        long,
        env = "BUILDHOOKS_INBOUND_MAX_BYTES",
        default_value_t = DEFAULT_INBOUND_MAX_BYTES,
        global = true
    )]
    pub inbound_max_bytes: usize,

    /// Where this server is reached from outside (e.g. `https://hooks.example.com`): inbound
    /// sources' URLs are given with it; without it, as paths.
    #[arg(long, env = "BUILDHOOKS_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// The brokers NATS and AMQP endpoints may publish to, as `name=url` entries separated by
    /// commas or spaces (`bus=nats://127.0.0.1:4222,rabbit=amqp://user:pass@mq:5672/%2f`).
    /// Organizations name them; they never give an address.
    #[arg(
        long,
        env = "BUILDHOOKS_BROKERS",
        global = true,
        hide_env_values = true
    )]
    pub brokers: Option<String>,

    /// A file of `name=url` broker entries, one per line (`#` starts a comment), read beside
    /// `BUILDHOOKS_BROKERS` (for credentials kept out of the environment).
    #[arg(long, env = "BUILDHOOKS_BROKERS_FILE", global = true)]
    pub brokers_file: Option<std::path::PathBuf>,

    /// The key that seals secrets in the database (endpoint secrets, chat robot URLs, inbound
    /// source secrets): base64 of 32 bytes, or a comma-separated list `new,old` while
    /// `buildhooks secrets rotate-key` moves values to the new one. Required with a database
    /// server; the embedded database otherwise keeps a generated key in `<database file>.key`.
    #[arg(
        long,
        env = "BUILDHOOKS_SECRET_KEY",
        global = true,
        hide_env_values = true
    )]
    pub secret_key: Option<SecretKey>,

    /// Deliveries a replay (`webhookReplay`) puts back in the outbox at a time; the next page
    /// waits until this one has been sent.
    #[arg(
        long,
        env = "BUILDHOOKS_REPLAY_PAGE",
        default_value_t = DEFAULT_REPLAY_PAGE,
        global = true
    )]
    pub replay_page: u64,

    /// Milliseconds between two slices of two rows of a replay page coming due (at the
    /// fastest: the runner widens it while the dispatcher lags), so live deliveries committed
    /// meanwhile go between them.
    #[arg(
        long,
        env = "BUILDHOOKS_REPLAY_GAP_MS",
        default_value_t = DEFAULT_REPLAY_GAP_MS,
        global = true
    )]
    pub replay_gap_ms: u64,
    /// Days delivered and failed deliveries (by their last change), their attempts, and events
    /// no waiting delivery belongs to are kept before they are deleted; `0` or `off` keeps
    /// everything.
    #[arg(
        long,
        env = "BUILDHOOKS_RETENTION_DAYS",
        default_value_t = DEFAULT_RETENTION_DAYS,
        global = true
    )]
    pub retention_days: Span,

    /// The same in seconds, overriding `BUILDHOOKS_RETENTION_DAYS` (tests and soaks); `0` or
    /// `off` keeps everything.
    #[arg(long, env = "BUILDHOOKS_RETENTION_SECONDS", global = true)]
    pub retention_seconds: Option<Span>,

    /// Milliseconds between two pruning passes (default: a twelfth of the retention, between
    /// 1 s and 10 min).
    #[arg(long, env = "BUILDHOOKS_RETENTION_INTERVAL_MS", global = true)]
    pub retention_interval_ms: Option<u64>,

    /// Rows one pruning or erasing batch reads at most (each batch is one short transaction).
    #[arg(
        long,
        env = "BUILDHOOKS_RETENTION_BATCH",
        default_value_t = DEFAULT_RETENTION_BATCH,
        global = true
    )]
    pub retention_batch: u64,

    /// Milliseconds between two pruning batches, at least as long as the last batch took.
    #[arg(
        long,
        env = "BUILDHOOKS_RETENTION_PAUSE_MS",
        default_value_t = DEFAULT_RETENTION_PAUSE_MS,
        global = true
    )]
    pub retention_pause_ms: u64,

    /// An endpoint whose deliveries have all failed for this long (`5d`, `12h`, `30m`, `10s`,
    /// or seconds), and at least `BUILDHOOKS_DISABLE_MIN_FAILURES` in a row, is disabled (with
    /// its reason, and an `endpoint.disabled` event to the endpoints that select it).
    #[arg(
        long,
        env = "BUILDHOOKS_DISABLE_AFTER",
        default_value = "5d",
        value_parser = parse_duration,
        global = true
    )]
    pub disable_after: Duration,

    /// The fewest deliveries in a row that must have failed before an endpoint is disabled.
    #[arg(
        long,
        env = "BUILDHOOKS_DISABLE_MIN_FAILURES",
        default_value_t = DEFAULT_DISABLE_MIN_FAILURES,
        global = true
    )]
    pub disable_min_failures: i32,

    /// Log lines as human-readable text (`text`) or one JSON object per line (`json`), on stderr.
    #[arg(
        long,
        env = "BUILDHOOKS_LOG_FORMAT",
        value_enum,
        default_value_t = DEFAULT_LOG_FORMAT,
        global = true
    )]
    pub log_format: LogFormat,
}

/// A duration as `<number><unit>` with unit `ms`, `s`, `m`, `h` or `d` (`5d`, `10s`), or a
/// plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: a duration is a number and a unit (5d, 12h, 30m, 10s)"))?;
    let unit_ms: u64 = match unit.trim() {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => return Err(format!("{other:?}: the unit is ms, s, m, h or d")),
    };
    n.checked_mul(unit_ms)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// `BUILDHOOKS_SECRET_KEY` as given; its `Debug` hides it (the configuration may be logged).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(pub String);

impl std::str::FromStr for SecretKey {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(SecretKey(s.to_owned()))
    }
}

impl SecretKey {
    /// A fresh random key (a throwaway database's, or one to give the operator).
    pub fn generate() -> Self {
        use buildhooks_store::secrets::vault;
        SecretKey(vault::encode_key(&vault::generate_key()))
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// `BUILDHOOKS_REPLAY_PAGE`.
pub const DEFAULT_REPLAY_PAGE: u64 = 100;
/// `BUILDHOOKS_REPLAY_GAP_MS`.
pub const DEFAULT_REPLAY_GAP_MS: u64 = 10;

/// GitHub's own limit on a webhook payload is 25 MB; CI events are far smaller.
pub const DEFAULT_INBOUND_MAX_BYTES: usize = 5 * 1024 * 1024;

/// Chat robots paced at their vendors' documented rates.
pub const DEFAULT_THROTTLE_SCALE: f64 = 1.0;

impl Config {
    /// Defaults for `database_url`, everything else as documented (the flags' defaults).
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Config {
            database_url: database_url.into(),
            listen: Listen::default(),
            allow_private_targets: DEFAULT_ALLOW_PRIVATE_TARGETS,
            delivery_timeout_ms: DEFAULT_DELIVERY_TIMEOUT_MS,
            retry_delay_ms: DEFAULT_RETRY_DELAY_MS,
            delivery_concurrency: DEFAULT_DELIVERY_CONCURRENCY,
            org_in_flight: None,
            slow_after_ms: DEFAULT_SLOW_AFTER_MS,
            database_pool: crate::db::DEFAULT_POOL,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            database_acquire_timeout_ms: crate::db::DEFAULT_ACQUIRE_TIMEOUT_MS,
            synchronous: DEFAULT_SYNCHRONOUS,
            throttle_scale: DEFAULT_THROTTLE_SCALE,
            inbound_max_bytes: DEFAULT_INBOUND_MAX_BYTES,
            public_url: None,
            brokers: None,
            brokers_file: None,
            secret_key: None,
            replay_page: DEFAULT_REPLAY_PAGE,
            replay_gap_ms: DEFAULT_REPLAY_GAP_MS,
            retention_days: DEFAULT_RETENTION_DAYS,
            retention_seconds: None,
            retention_interval_ms: None,
            retention_batch: DEFAULT_RETENTION_BATCH,
            retention_pause_ms: DEFAULT_RETENTION_PAUSE_MS,
            disable_after: DEFAULT_DISABLE_AFTER,
            disable_min_failures: DEFAULT_DISABLE_MIN_FAILURES,
            log_format: DEFAULT_LOG_FORMAT,
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

    /// How long finished deliveries are kept; `None`: forever.
    pub fn retention(&self) -> Option<Duration> {
        match self.retention_seconds {
            Some(seconds) => seconds.0.map(Duration::from_secs),
            None => self
                .retention_days
                .0
                .map(|days| Duration::from_secs(days.saturating_mul(86_400))),
        }
    }

    /// The pause between two pruning passes.
    pub fn retention_interval(&self) -> Duration {
        match self.retention_interval_ms {
            Some(ms) => Duration::from_millis(ms.max(1)),
            None => (self.retention().unwrap_or(Duration::from_secs(7_200)) / 12)
                .clamp(Duration::from_secs(1), Duration::from_secs(600)),
        }
    }

    /// How the store opens its pools.
    pub fn connect_options(&self) -> crate::db::ConnectOptions {
        crate::db::ConnectOptions {
            pool: self.database_pool,
            acquire_timeout: self.database_acquire_timeout(),
            synchronous: self.synchronous,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    #[test]
    fn the_flags_defaults_are_for_databases_defaults() {
        // The flags read `BUILDHOOKS_*` variables: set ones would be told apart from defaults.
        if std::env::vars().any(|(name, _)| name.starts_with("BUILDHOOKS_")) {
            return;
        }
        let parsed = Cli::parse_from(["buildhooks"]).config;
        assert_eq!(parsed.database_url, DEFAULT_DATABASE_URL);
        let built = Config::for_database(DEFAULT_DATABASE_URL);
        assert_eq!(format!("{parsed:?}"), format!("{built:?}"));
        assert_eq!(parsed.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(parsed.synchronous, Synchronous::Normal);
    }

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("5d"), Ok(DEFAULT_DISABLE_AFTER));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7_200)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "d", "5w", "-1s", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn synchronous_takes_normal_or_full() {
        let full = Cli::parse_from(["buildhooks", "--synchronous", "full"]).config;
        assert_eq!(full.synchronous, Synchronous::Full);
        assert!(Cli::try_parse_from(["buildhooks", "--synchronous", "off"]).is_err());
    }
}
