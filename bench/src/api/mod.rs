//! `--mode api`: the call users make, measured as they load it. The server runs as its own
//! process (`buildhooks serve` on the run's fresh database, or the running server `--target`
//! names), this process is the load generator (GraphQL over HTTP: `createBuild` with one task, or
//! `updateTaskStatus`; closed loop or open loop, see `load`), and a third process receives the
//! deliveries (`receive`). Reports deliveries/s, send -> receipt, ack -> receipt and send -> ack
//! percentiles, and the machine's CPU per 1,000 deliveries split by process (server, database,
//! client, receiver, the rest); fails on a lost, duplicated or unexpected delivery or a failed
//! call.

mod figures;
mod load;
mod procs;
pub mod receive;

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use buildhooks_server::api_client::Api;
use buildhooks_server::config::{Config, SecretKey};
use serde_json::{json, Value};

pub use load::Call;
use load::Target;
use procs::Proc;
use receive::{now_ns, Remote};

use crate::{base_report, stats, BenchArgs, BenchDb, Mode};

/// How long the run waits for the next delivery before it counts the rest as lost.
const PATIENCE: Duration = Duration::from_secs(15);

/// The CPU seconds each process had used at one moment.
struct CpuSnapshot {
    machine: Option<f64>,
    ticks: Option<stats::Ticks>,
    client: Option<f64>,
    server: Option<f64>,
    /// The server's time in the kernel (system calls: sockets, the database file, wake-ups).
    server_system: Option<f64>,
    receiver: Option<f64>,
    database: f64,
}

impl CpuSnapshot {
    fn take(server: Option<u32>, receiver: u32) -> Self {
        CpuSnapshot {
            machine: stats::machine_cpu_seconds(),
            ticks: stats::machine_ticks(),
            client: procs::cpu_of(std::process::id()),
            server: server.and_then(procs::cpu_of),
            server_system: server.and_then(procs::system_cpu_of),
            receiver: procs::cpu_of(receiver),
            database: procs::database_cpu(),
        }
    }

    /// CPU seconds per 1,000 `units` between `self` and `end`, by process.
    fn report(&self, end: &CpuSnapshot, units: usize) -> Value {
        let per_1000 = |s: f64| stats::round(s * 1000.0 / units.max(1) as f64);
        let delta = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| (b - a).max(0.0));
        let machine = delta(self.machine, end.machine);
        let client = delta(self.client, end.client);
        let server = delta(self.server, end.server);
        let server_system = delta(self.server_system, end.server_system);
        let receiver = delta(self.receiver, end.receiver);
        let database = (end.database - self.database).max(0.0);
        let known =
            client.unwrap_or(0.0) + server.unwrap_or(0.0) + receiver.unwrap_or(0.0) + database;
        json!({
            "machine": machine.map(per_1000),
            "server": server.map(per_1000),
            "server_in_kernel": server_system.map(per_1000),
            "database": per_1000(database),
            "client": client.map(per_1000),
            "receiver": receiver.map(per_1000),
            "rest": machine.map(|m| per_1000((m - known).max(0.0))),
        })
    }
}

/// One `--mode api` run: on `db` with a server of its own, or (`db` none) against `--target`.
pub async fn run(config: &Config, args: &BenchArgs, db: Option<&BenchDb>) -> anyhow::Result<Value> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(4096)
        .build()?;
    let log = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned());
    let mut receiver = Proc::spawn(
        &["bench", "--mode", "api-receiver"],
        &[("RUST_LOG", log.clone())],
        Stdio::piped(),
        None,
    )?;
    let remote = Remote::new(receiver.first_line().await?, client.clone());
    let (api, mut server) = match (db, &args.target) {
        (None, Some(target)) => {
            let token = args.token.clone().context("--target needs --token")?;
            let url = format!("{}/graphql", target.trim_end_matches('/'));
            (
                Api {
                    client: client.clone(),
                    url,
                    token,
                },
                None,
            )
        }
        (Some(db), _) => {
            let (api, server) = start_server(config, db, &client, log).await?;
            (api, Some(server))
        }
        (None, None) => anyhow::bail!("--mode api needs a database or --target"),
    };
    let database = db.map_or("target", |db| db.label);
    let result = measure(args, database, &api, &remote, server.as_mut(), receiver.pid).await;
    if let Some(server) = server {
        server.stop(Duration::from_secs(30)).await;
    }
    receiver.stop(Duration::from_secs(2)).await;
    result
}

/// Makes the organization and starts `buildhooks serve` on `db`; returns its API client.
async fn start_server(
    config: &Config,
    db: &BenchDb,
    client: &reqwest::Client,
    log: String,
) -> anyhow::Result<(Api, Proc)> {
    let key = match &config.secret_key {
        Some(key) => key.0.clone(),
        None => SecretKey::generate().0,
    };
    let port = procs::free_port()?;
    let env = [
        ("BUILDHOOKS_DATABASE_URL", db.url.clone()),
        ("BUILDHOOKS_ALLOW_PRIVATE_TARGETS", "true".to_owned()),
        ("BUILDHOOKS_SECRET_KEY", key),
        ("BUILDHOOKS_LISTEN", format!("127.0.0.1:{port}")),
        ("RUST_LOG", log),
    ];
    let org: Value =
        serde_json::from_str(&procs::output(&["org", "create", "bench"], &env).await?)?;
    let token = org["token"]
        .as_str()
        .context("org create printed no token")?
        .to_owned();
    // `BUILDHOOKS_BENCH_SERVER_WRAPPER="valgrind --tool=callgrind"` profiles the server alone.
    let wrapper = std::env::var("BUILDHOOKS_BENCH_SERVER_WRAPPER").ok();
    let mut server = Proc::spawn(&["serve"], &env, Stdio::null(), wrapper.as_deref())?;
    let base = format!("http://127.0.0.1:{port}");
    procs::wait_ready(client, &format!("{base}/readyz"), &mut server).await?;
    let api = Api {
        client: client.clone(),
        url: format!("{base}/graphql"),
        token,
    };
    Ok((api, server))
}

/// The repository and the endpoint, the load, and the report.
async fn measure(
    args: &BenchArgs,
    database: &str,
    api: &Api,
    remote: &Remote,
    mut server: Option<&mut Proc>,
    receiver: u32,
) -> anyhow::Result<Value> {
    let uid = api.call("{ ownerInfo { uid } }", json!({})).await?["ownerInfo"]["uid"]
        .as_str()
        .context("uid")?
        .to_owned();
    let name = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let repository = api
        .call(
            "mutation($n: String!) { createRepository(input: {name: $n}) { repository { id } } }",
            json!({ "n": name }),
        )
        .await?["createRepository"]["repository"]["id"]
        .as_str()
        .context("repository")?
        .to_owned();
    let endpoint = json!({
        "webhookURL": format!("{}/hook", remote.url),
        "events": [args.call.event()],
        "repositoryId": repository,
        "secretToken": "bench-secret",
        "maxInFlight": 64,
    });
    api.call(
        "mutation($i: SaveWebHookSettingsInput!) { saveWebHookSettings(input: $i) { settings { ownerUid } } }",
        json!({ "i": { "ownerUid": uid, "deliveryEndpoints": [endpoint] } }),
    )
    .await?;
    let target = Arc::new(Target {
        client: api.client.clone(),
        url: api.url.clone(),
        token: api.token.clone(),
        call: args.call,
        repository,
    });
    let mut tasks = match args.call {
        Call::CreateBuild => Vec::new(),
        Call::UpdateTaskStatus => load::tasks(&target, args.warmup + args.events).await?,
    };
    let measured = Arc::new(tasks.split_off(tasks.len().min(args.warmup)));
    let load = |tasks: Arc<Vec<String>>, n: usize| {
        let target = target.clone();
        async move {
            match args.rate {
                Some(rate) => load::open(target, tasks, n, rate).await,
                None => load::closed(target, tasks, n, args.concurrency).await,
            }
        }
    };
    let warmup = load(Arc::new(tasks), args.warmup).await;
    let warm = warmup.iter().filter(|s| !s.subject.is_empty()).count();
    wait_for(remote, warm, &mut server).await?;
    let server_pid = server.as_ref().map(|s| s.pid);
    let before = CpuSnapshot::take(server_pid, receiver);
    let start_ns = now_ns();
    let sent = load(measured, args.events).await;
    let calls_done = stats::machine_ticks();
    let expected = sent.iter().filter(|s| !s.subject.is_empty()).count();
    wait_for(remote, warm + expected, &mut server).await?;
    let after = CpuSnapshot::take(server_pid, receiver);
    let arrivals = remote.arrivals().await?;
    let mut report = base_report(Mode::Api, database, args.events);
    report["call"] = json!(args.call.name());
    match args.rate {
        Some(rate) => report["offered_rate"] = json!(rate),
        None => report["concurrency"] = json!(args.concurrency),
    }
    report["warmup_calls"] = json!(warmup.len());
    let delivered = figures::figures(&mut report, &sent, &warmup, &arrivals, start_ns);
    report["cpu_s_per_1000"] = before.report(&after, delivered);
    report["machine_cpu_s_per_1000"] = report["cpu_s_per_1000"]["machine"].clone();
    report["machine_idle"] = idle_report(before.ticks, calls_done, after.ticks);
    if let Some(pid) = server_pid {
        let (rss, peak) = procs::rss_of(pid);
        report["server_rss_mb"] = json!(rss);
        report["server_peak_rss_mb"] = json!(peak);
    }
    report["receiver_rss_mb"] = json!(procs::rss_of(receiver).0);
    Ok(report)
}

/// The machine's idle and disk-waiting shares (percent of both cores' time) while the calls
/// were made (`calls`: from the first call to the last answer) and over the whole run (`run`:
/// until the last delivery arrived): whether CPU sat idle, and whether the disk was why.
fn idle_report(
    before: Option<stats::Ticks>,
    calls_done: Option<stats::Ticks>,
    after: Option<stats::Ticks>,
) -> Value {
    let shares = |end: Option<stats::Ticks>| {
        before.zip(end).map(|(a, b)| {
            let (idle, iowait) = a.idle_iowait_pct(&b);
            json!({ "idle_pct": idle, "iowait_pct": iowait })
        })
    };
    json!({ "calls": shares(calls_done), "run": shares(after) })
}

/// Waits until `n` distinct deliveries arrived, or [`PATIENCE`] without progress.
async fn wait_for(remote: &Remote, n: usize, server: &mut Option<&mut Proc>) -> anyhow::Result<()> {
    let mut last = (0, tokio::time::Instant::now());
    loop {
        let (distinct, _) = remote.counts().await?;
        if distinct >= n {
            return Ok(());
        }
        if let Some(server) = server.as_mut() {
            server.check_alive("server")?;
        }
        if distinct != last.0 {
            last = (distinct, tokio::time::Instant::now());
        } else if last.1.elapsed() > PATIENCE {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
