//! `buildhooks bench`: measures the delivery path the same way every time and prints one JSON
//! object. Modes: `raw` (signed POSTs, no database: the machine's ceiling), `dispatch` (N outbox
//! rows written first, then the dispatcher alone drains them) and `e2e` (transitions through the
//! GraphQL HTTP API, latency from the transition's commit to the receiver holding the body),
//! `render` (the rendering path alone) and `inbound` (signed GitHub `workflow_job` requests to an
//! inbound source, latency from the request's send to the receiver holding the task delivery),
//! and `api` (`api/`: the server and the receiver as processes of their own, this process the
//! load generator, as users load it). The other modes run everything in-process on a fresh
//! database unless `--target` names a running server.
//! `--kind nats|amqp` makes `dispatch` and `e2e` deliver to a broker (a JetStream stream or a
//! RabbitMQ queue made for the run, see `sink`) instead of the HTTP receiver, and measures the
//! webhook figure in the same invocation beside it.
//! A crate beside the server library, not inside it: it drives the server only through its public
//! API (`AppState`, `run`, `db`, `delivery`), and the `buildhooks` binary offers it as `bench`.

mod amqp;
mod api;
mod dispatch;
mod e2e;
mod hanging;
mod inbound;
mod nats;
mod progress;
mod raw;
mod receiver;
mod render;
mod runs;
mod server;
mod sink;
mod soak;
pub mod stats;

use std::time::Duration;

use buildhooks_server::config::Config;
use clap::{Args, ValueEnum};
use serde_json::{json, Value};

pub(crate) use progress::Progress;
use receiver::Arrivals;
use sink::Sink;

/// What to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Raw,
    Dispatch,
    E2e,
    /// The rendering path alone (publish + commit per event), no HTTP.
    Render,
    /// Signed GitHub `workflow_job` requests to an inbound source at saturation.
    Inbound,
    /// The call users make, as they load it: the server as its own process, this process the
    /// load generator over HTTP (`--call`), a third process receiving the deliveries.
    Api,
    /// The receiver process of `--mode api` (started by it).
    #[value(hide = true)]
    ApiReceiver,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Raw => "raw",
            Mode::Dispatch => "dispatch",
            Mode::E2e => "e2e",
            Mode::Render => "render",
            Mode::Inbound => "inbound",
            Mode::Api => "api",
            Mode::ApiReceiver => "api-receiver",
        }
    }
}

/// Where `dispatch` and `e2e` deliver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Signed POSTs to the benchmark's HTTP receiver.
    Webhook,
    /// JetStream publishes, counted at a consumer of a stream made for the run.
    Nats,
    /// RabbitMQ publishes (confirmed, persistent), counted at a queue made for the run.
    Amqp,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Webhook => "webhook",
            Kind::Nats => "nats",
            Kind::Amqp => "amqp",
        }
    }

    /// The broker a run uses without `--broker-url`: the local one `.ci/run` starts.
    fn default_broker_url(self) -> &'static str {
        match self {
            Kind::Webhook => "",
            Kind::Nats => "nats://127.0.0.1:4222",
            Kind::Amqp => "amqp://guest:guest@127.0.0.1:5672/%2f",
        }
    }
}

/// Benchmark options.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// raw, dispatch, e2e, render or inbound.
    #[arg(long, value_enum, default_value_t = Mode::E2e)]
    pub mode: Mode,
    /// Events (e2e: transitions; dispatch: outbox rows; raw: POSTs; inbound: inbound requests,
    /// three per job).
    #[arg(long, default_value_t = 2000)]
    pub events: usize,
    /// Requests in flight at once (e2e: API clients; raw: senders; inbound: senders).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// e2e at a fixed offered rate (transitions per second) instead of saturation.
    #[arg(long)]
    pub rate: Option<u32>,
    /// e2e against a running server (`http://host:port`); it must allow private targets.
    #[arg(long)]
    pub target: Option<String>,
    /// The organization token for `--target`.
    #[arg(long, requires = "target")]
    pub token: Option<String>,
    /// render: endpoints matching every event.
    #[arg(long, default_value_t = 1)]
    pub endpoints: usize,
    /// render: distinct stored queries among the endpoints (the default query counts as one).
    #[arg(long, default_value_t = 1)]
    pub queries: usize,
    /// Also run `raw` with the same size and report the ratio to it.
    #[arg(long)]
    pub compare_raw: bool,
    /// e2e: this many other organizations' endpoints never answer (2 s timeout); their
    /// transitions run interleaved with the measured ones (one for every second), and the
    /// latency reported is the healthy endpoint's.
    #[arg(long, default_value_t = 0)]
    pub hanging_endpoints: usize,
    /// e2e: the measured endpoint's `ordering` (`none`, or `per-build`: each build's events
    /// one after another, builds in parallel).
    #[arg(long, value_enum, default_value_t = Ordering::None)]
    pub ordering: Ordering,
    /// Repeat the measurement, each time on a fresh database, and report the medians.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=99))]
    pub runs: u32,
    /// dispatch and e2e: deliver to `webhook` (the benchmark's HTTP receiver), `nats` (JetStream)
    /// or `amqp` (RabbitMQ). A broker kind also runs the webhook measurement in the same
    /// invocation (on its own fresh database, the order alternating over `--runs`) and reports
    /// it beside its own (`webhook_deliveries_per_s`, `ratio_to_webhook`, `webhook`).
    #[arg(long, value_enum, default_value_t = Kind::Webhook)]
    pub kind: Kind,
    /// The broker for `--kind nats|amqp` (default: `nats://127.0.0.1:4222`,
    /// `amqp://guest:guest@127.0.0.1:5672/%2f`). The run makes its own stream or queue there and
    /// deletes it afterwards.
    #[arg(long)]
    pub broker_url: Option<String>,
    /// e2e: a soak: keep making transitions for this long (`600`, `600s`, `10m`) in rounds of
    /// `--events`, printing the tables' rows every 30 s (set `BUILDHOOKS_RETENTION_SECONDS` to
    /// see retention hold them).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// api: the call each request makes (`create-build`: one build with one task, its endpoint
    /// selecting `build.created`; `update-task-status`: a task made before the clock starts
    /// moved to TRIGGERED, its endpoint selecting `task.triggered`). One call, one delivery.
    #[arg(long, value_enum, default_value_t = api::Call::CreateBuild)]
    pub call: api::Call,
    /// api: calls sent as the measured ones are (same rate or concurrency) before the clock
    /// starts, their deliveries awaited and checked (lost or duplicated ones fail the run) but
    /// not timed: a fresh server's first calls open its connections and fill its caches.
    /// `--warmup 0` measures from the first call.
    #[arg(long, default_value_t = 250)]
    pub warmup: usize,
}

/// `600`, `600s` or `10m`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.strip_suffix('m') {
        Some(minutes) => (minutes, 60),
        None => (text.strip_suffix('s').unwrap_or(text), 1),
    };
    number
        .parse::<u64>()
        .map(|n| Duration::from_secs(n * unit))
        .map_err(|_| format!("{text:?} is not a duration (600, 600s, 10m)"))
}

/// The measured endpoint's ordering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Ordering {
    None,
    PerBuild,
}

impl Ordering {
    /// The GraphQL name.
    pub fn graphql(self) -> &'static str {
        match self {
            Ordering::None => "NONE",
            Ordering::PerBuild => "PER_BUILD",
        }
    }
}

/// A fresh database for one run: a temporary SQLite file, or a new database on the PostgreSQL
/// server of `--database-url` (dropped afterwards).
pub(crate) struct BenchDb {
    pub url: String,
    pub label: &'static str,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl BenchDb {
    async fn create(config: &Config) -> anyhow::Result<Self> {
        use sea_orm::ConnectionTrait;
        if config.database_url.starts_with("postgres") {
            let name = format!("bh_bench_{}", uuid::Uuid::new_v4().simple());
            let admin = buildhooks_server::db::open(&config.database_url).await?;
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await?;
            let (base, query) = match config.database_url.split_once('?') {
                Some((b, q)) => (b.to_owned(), format!("?{q}")),
                None => (config.database_url.clone(), String::new()),
            };
            let prefix = base
                .rsplit_once('/')
                .map(|(p, _)| p.to_owned())
                .unwrap_or(base);
            Ok(BenchDb {
                url: format!("{prefix}/{name}{query}"),
                label: "postgresql",
                _dir: None,
                pg: Some((config.database_url.clone(), name)),
            })
        } else {
            let dir = tempfile::tempdir()?;
            Ok(BenchDb {
                url: format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("bench.db").display()
                ),
                label: "sqlite",
                _dir: Some(dir),
                pg: None,
            })
        }
    }

    async fn drop_database(self) {
        use sea_orm::ConnectionTrait;
        if let Some((server, name)) = &self.pg {
            if let Ok(admin) = buildhooks_server::db::open(server).await {
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            }
        }
    }
}

/// Waits until `n` distinct deliveries arrived, or `timeout` without progress.
pub(crate) async fn wait_for(arrivals: &Arrivals, n: usize, timeout: Duration) {
    let mut last = (0, tokio::time::Instant::now());
    loop {
        let (distinct, _) = arrivals.counts();
        if distinct >= n {
            return;
        }
        if distinct != last.0 {
            last = (distinct, tokio::time::Instant::now());
        } else if last.1.elapsed() > timeout {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Runs the benchmark (`--runs` times) and prints its JSON; fails when deliveries were lost or
/// duplicated, or (inbound) a request was refused or a delivery matched nothing.
pub async fn run(config: Config, args: BenchArgs) -> anyhow::Result<()> {
    if args.mode == Mode::ApiReceiver {
        return api::receive::serve().await;
    }
    if args.kind != Kind::Webhook {
        if !matches!(args.mode, Mode::Dispatch | Mode::E2e) {
            anyhow::bail!(
                "--kind {} measures --mode dispatch or e2e; --mode {} delivers to webhooks only",
                args.kind.name(),
                args.mode.name()
            );
        }
        if args.target.is_some() {
            anyhow::bail!(
                "--kind {} runs in-process (it names the server's broker); \
                 it cannot be combined with --target",
                args.kind.name()
            );
        }
    }
    let mut reports = Vec::new();
    for index in 0..args.runs {
        reports.push(run_once(&config, &args, index).await?);
    }
    let mut report = match reports.len() {
        1 => reports.remove(0),
        _ => runs::summarise(&reports),
    };
    let (rss, peak) = stats::rss_mb();
    report["rss_mb"] = json!(rss);
    report["peak_rss_mb"] = json!(peak);
    println!("{}", serde_json::to_string(&report)?);
    let count = |field: &str| report[field].as_u64().unwrap_or(0);
    // A broker run's webhook comparison must be as clean as the run itself.
    let webhook = |field: &str| report["webhook"][field].as_u64().unwrap_or(0);
    let (lost, duplicates) = (
        count("lost") + webhook("lost"),
        count("duplicates") + webhook("duplicates"),
    );
    if lost > 0 || duplicates > 0 {
        anyhow::bail!("{lost} lost and {duplicates} duplicated deliveries");
    }
    let refused = count("non_2xx") + count("request_errors");
    let unexpected = count("unexpected_deliveries");
    if refused > 0 || unexpected > 0 {
        anyhow::bail!(
            "{refused} inbound requests not answered 2xx and {unexpected} unexpected deliveries"
        );
    }
    Ok(())
}

/// One measurement (the `index`th), with its comparisons to webhooks (broker kinds) and to
/// `raw` (when asked).
async fn run_once(config: &Config, args: &BenchArgs, index: u32) -> anyhow::Result<Value> {
    let mut report = match args.mode {
        Mode::Raw => raw::run(config, args).await?,
        Mode::Dispatch | Mode::E2e if args.kind == Kind::Webhook => {
            measure(config, args, Kind::Webhook).await?
        }
        Mode::Dispatch | Mode::E2e => {
            // Which goes first alternates over the runs, so neither always gets the quieter
            // machine or the warmer caches.
            let (report, webhook) = if index.is_multiple_of(2) {
                let report = measure(config, args, args.kind).await?;
                (report, measure(config, args, Kind::Webhook).await?)
            } else {
                let webhook = measure(config, args, Kind::Webhook).await?;
                (measure(config, args, args.kind).await?, webhook)
            };
            compare_to_webhook(report, webhook)
        }
        Mode::Api if args.target.is_some() => api::run(config, args, None).await?,
        Mode::Api => {
            let db = BenchDb::create(config).await?;
            let result = api::run(config, args, Some(&db)).await;
            db.drop_database().await;
            result?
        }
        Mode::ApiReceiver => anyhow::bail!("--mode api-receiver is started by --mode api"),
        Mode::Render | Mode::Inbound => {
            let db = BenchDb::create(config).await?;
            let result = match args.mode {
                Mode::Render => render::run(config, args, &db).await,
                _ => inbound::run(config, args, &db).await,
            };
            db.drop_database().await;
            result?
        }
    };
    if args.compare_raw && args.mode != Mode::Raw {
        let baseline = raw::run(config, args).await?;
        let raw_rate = baseline["deliveries_per_s"].as_f64().unwrap_or(0.0);
        let rate = report["deliveries_per_s"].as_f64().unwrap_or(0.0);
        report["raw_deliveries_per_s"] = json!(raw_rate);
        report["ratio_to_raw"] = json!(if raw_rate > 0.0 {
            stats::round(rate / raw_rate)
        } else {
            0.0
        });
    }
    Ok(report)
}

/// `dispatch` or `e2e` delivering to `kind`, on a fresh database and a fresh sink (both removed
/// afterwards, whatever the outcome).
async fn measure(config: &Config, args: &BenchArgs, kind: Kind) -> anyhow::Result<Value> {
    let db = BenchDb::create(config).await?;
    let sink = match Sink::start(kind, args.broker_url.as_deref()).await {
        Ok(sink) => sink,
        Err(e) => {
            db.drop_database().await;
            return Err(e);
        }
    };
    let result = match (args.mode, args.duration) {
        (Mode::Dispatch, _) => dispatch::run(config, args, &db, &sink).await,
        (_, Some(duration)) => soak::run(config, args, &db, &sink, duration).await,
        _ => e2e::run(config, args, &db, &sink).await,
    };
    let stopped = sink.stop().await;
    db.drop_database().await;
    let mut report = result?;
    stopped?;
    report["kind"] = json!(kind.name());
    Ok(report)
}

/// A broker run's report with the same sitting's webhook run beside it: its rate and CPU per
/// 1,000 at the top, the whole report under `webhook`.
fn compare_to_webhook(mut report: Value, webhook: Value) -> Value {
    let rate = report["deliveries_per_s"].as_f64().unwrap_or(0.0);
    let webhook_rate = webhook["deliveries_per_s"].as_f64().unwrap_or(0.0);
    report["webhook_deliveries_per_s"] = json!(webhook_rate);
    report["webhook_machine_cpu_s_per_1000"] = webhook["machine_cpu_s_per_1000"].clone();
    report["ratio_to_webhook"] = json!(if webhook_rate > 0.0 {
        stats::round(rate / webhook_rate)
    } else {
        0.0
    });
    report["webhook"] = webhook;
    report
}

/// The fields every mode reports.
pub(crate) fn base_report(mode: Mode, database: &str, events: usize) -> Value {
    json!({ "mode": mode.name(), "database": database, "events": events })
}
