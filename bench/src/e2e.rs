//! `--mode e2e`: transitions through the GraphQL HTTP API, each emitting one task event to one
//! endpoint of the run's `--kind`; and the setup `--mode dispatch` shares (a server, an
//! organization, a repository, that endpoint, builds of tasks).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use buildhooks_server::api_client::Api;
use buildhooks_server::config::{Config, Role};
use serde_json::{json, Value};

use crate::hanging;
use crate::server::{Org, Server};
use crate::sink::Sink;
use crate::{base_report, stats, wait_for, BenchArgs, BenchDb, Kind, Mode, Progress};

/// The transitions each task goes through; each emits one delivered `task.*` event.
pub(crate) const STEPS: [&str; 4] = ["TRIGGERED", "SCHEDULED", "EXECUTING", "COMPLETED"];
const TASKS_PER_BUILD: usize = 50;
/// The delivery timeout of runs with hanging endpoints, in ms.
const HANGING_TIMEOUT_MS: u64 = 2_000;

/// The server (in-process or `--target`), its organization's API client, a repository and one
/// endpoint for `task.*` transitions that points at the run's sink.
pub(crate) struct Setup {
    pub api: Api,
    repo: String,
    pub server: Server,
}

pub(crate) type Commits = Arc<Mutex<HashMap<String, Instant>>>;

/// Notes when each delivery's transition committed: commit-to-receipt latency.
struct CommitTimes(Commits);

impl buildhooks_schema::CommitHooks for CommitTimes {
    fn committed(&self, ids: &[String]) {
        let now = Instant::now();
        if let Ok(mut map) = self.0.lock() {
            for id in ids {
                map.insert(id.clone(), now);
            }
        }
    }
}

pub(crate) async fn setup(
    config: &Config,
    args: &BenchArgs,
    db: &BenchDb,
    sink: &Sink,
    role: Role,
    commits: Commits,
) -> anyhow::Result<Setup> {
    let (Org { api, uid }, server) =
        Server::start(config, args, db, role, Arc::new(CommitTimes(commits))).await?;
    let repo = api
        .call(
            "mutation($n: String!) { createRepository(input: {name: $n}) { repository { id } } }",
            json!({ "n": format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]) }),
        )
        .await?["createRepository"]["repository"]["id"]
        .as_str()
        .context("repository")?
        .to_owned();
    let events: Vec<String> = STEPS
        .iter()
        .map(|s| format!("task.{}", s.to_lowercase()))
        .collect();
    // The sink's own fields (`webhookURL`, or `kind`, `broker`, `subject`, `exchange`) and what
    // every kind shares.
    let mut endpoint = sink.endpoint.clone();
    endpoint["events"] = json!(events);
    endpoint["repositoryId"] = json!(repo);
    endpoint["secretToken"] = json!("bench-secret");
    endpoint["maxInFlight"] = json!(64);
    endpoint["ordering"] = json!(args.ordering.graphql());
    api.call(
        "mutation($i: SaveWebHookSettingsInput!) { saveWebHookSettings(input: $i) { settings { ownerUid } } }",
        json!({ "i": { "ownerUid": uid, "deliveryEndpoints": [endpoint] } }),
    )
    .await?;
    Ok(Setup { api, repo, server })
}

impl Setup {
    /// Creates builds holding `n` tasks (untimed); returns the task ids.
    pub async fn tasks(&self, n: usize) -> anyhow::Result<Vec<String>> {
        let mut ids = Vec::with_capacity(n);
        while ids.len() < n {
            let count = (n - ids.len()).min(TASKS_PER_BUILD);
            let tasks: Vec<Value> = (0..count)
                .map(|i| json!({ "name": format!("task-{i}") }))
                .collect();
            let data = self
                .api
                .call(
                    "mutation($i: RepositoryCreateBuildInput!) { createBuild(input: $i) { build { tasks { id } } } }",
                    json!({ "i": { "repositoryId": self.repo, "branch": "main", "tasks": tasks } }),
                )
                .await?;
            for t in data["createBuild"]["build"]["tasks"]
                .as_array()
                .context("tasks")?
            {
                ids.push(t["id"].as_str().context("task id")?.to_owned());
            }
        }
        Ok(ids)
    }
}

pub(crate) const SET: &str = "mutation($t: ID!, $s: TaskStatus!) { updateTaskStatus(input: {taskId: $t, status: $s}) { clientMutationId } }";

pub async fn run(
    config: &Config,
    args: &BenchArgs,
    db: &BenchDb,
    sink: &Sink,
) -> anyhow::Result<Value> {
    let arrivals = sink.arrivals.clone();
    let commits: Commits = Arc::default();
    let mut config = config.clone();
    sink.configure(&mut config);
    if args.hanging_endpoints > 0 {
        if args.target.is_some() {
            bail!("--hanging-endpoints runs in-process; it cannot be combined with --target");
        }
        // Each attempt to a hanging receiver ends at this timeout (and the run's drain with it).
        config.delivery_timeout_ms = config.delivery_timeout_ms.min(HANGING_TIMEOUT_MS);
    }
    let setup = setup(&config, args, db, sink, Role::All, commits.clone()).await?;
    let task_ids = setup.tasks(args.events.div_ceil(STEPS.len())).await?;
    // Step-major (every task's first step, then every task's second, ...), and within a step
    // round-robin over builds, so concurrent transitions touch different builds, as concurrent
    // CI agents do (each transition locks its build).
    let builds = task_ids.len().div_ceil(TASKS_PER_BUILD);
    let task_ids: Vec<String> = (0..TASKS_PER_BUILD)
        .flat_map(|k| (0..builds).map(move |b| b * TASKS_PER_BUILD + k))
        .filter_map(|i| task_ids.get(i).cloned())
        .collect();
    let healthy: Vec<(usize, String, &'static str)> = STEPS
        .iter()
        .flat_map(|step| task_ids.iter().map(move |t| (0, t.clone(), *step)))
        .take(args.events)
        .collect();
    let healthy_count = healthy.len();
    let mut apis = vec![setup.api];
    let plan = match &setup.server.state {
        Some(state) if args.hanging_endpoints > 0 => {
            let n = args.hanging_endpoints;
            // One hanging transition for every second healthy one, spread over the tenants.
            let per_tenant = (healthy_count / 2).div_ceil(n);
            let url = hanging::start_receiver().await?;
            let tenants = hanging::tenants(
                state,
                &apis[0].url,
                &url,
                n,
                per_tenant.div_ceil(STEPS.len()),
            )
            .await?;
            let mut moves: Vec<Vec<(usize, String, &'static str)>> = Vec::new();
            for tenant in tenants {
                let index = apis.len();
                moves.push(
                    STEPS
                        .iter()
                        .flat_map(|step| {
                            tenant.tasks.iter().map(move |t| (index, t.clone(), *step))
                        })
                        .take(per_tenant)
                        .collect(),
                );
                apis.push(tenant.api);
            }
            let mut hanging_moves = (0..per_tenant).flat_map(|k| {
                moves
                    .iter()
                    .filter_map(move |m| m.get(k).cloned())
                    .collect::<Vec<_>>()
            });
            let mut plan = Vec::with_capacity(healthy_count * 3 / 2);
            for (i, step) in healthy.into_iter().enumerate() {
                plan.push(step);
                if i % 2 == 1 {
                    plan.extend(hanging_moves.next());
                }
            }
            plan
        }
        _ => healthy,
    };
    let plan = Arc::new(plan);
    let apis = Arc::new(apis);
    let errors = Arc::new(AtomicUsize::new(0));
    let progress = Progress::start("e2e", arrivals.clone(), args.events);
    let cpu = stats::CpuMeter::start();
    let started = Instant::now();
    let transition = {
        let (apis, plan, errors) = (apis.clone(), plan.clone(), errors.clone());
        move |i: usize| {
            let (apis, plan, errors) = (apis.clone(), plan.clone(), errors.clone());
            async move {
                let (api, task, step) = &plan[i];
                if apis[*api]
                    .call(SET, json!({ "t": task, "s": step }))
                    .await
                    .is_err()
                {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    };
    match args.rate {
        Some(rate) => {
            let mut ticker =
                tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut running = tokio::task::JoinSet::new();
            for i in 0..plan.len() {
                ticker.tick().await;
                running.spawn(transition(i));
            }
            while running.join_next().await.is_some() {}
        }
        None => {
            let next = Arc::new(AtomicUsize::new(0));
            let mut workers = tokio::task::JoinSet::new();
            for _ in 0..args.concurrency.max(1) {
                let (next, transition) = (next.clone(), transition.clone());
                let len = plan.len();
                workers.spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= len {
                            break;
                        }
                        transition(i).await;
                    }
                });
            }
            while workers.join_next().await.is_some() {}
        }
    }
    let transitions_done = started.elapsed().as_secs_f64();
    wait_for(&arrivals, healthy_count, Duration::from_secs(15)).await;
    let cpu = cpu.stop();
    drop(progress);
    let firsts = arrivals.first_arrivals();
    let last_arrival = firsts.values().max().copied().unwrap_or_else(Instant::now);
    let seconds = last_arrival
        .saturating_duration_since(started)
        .as_secs_f64()
        .max(1e-9);
    let commits = commits.lock().map(|c| c.clone()).unwrap_or_default();
    let latencies: Vec<f64> = if args.target.is_none() {
        firsts
            .iter()
            .filter_map(|(id, at)| {
                commits
                    .get(id)
                    .map(|c| at.saturating_duration_since(*c).as_secs_f64() * 1000.0)
            })
            .collect()
    } else {
        Vec::new()
    };
    let (distinct, total) = arrivals.counts();
    let mut report = base_report(
        Mode::E2e,
        if args.target.is_some() {
            "target"
        } else {
            db.label
        },
        plan.len(),
    );
    report["concurrency"] = json!(if args.rate.is_some() {
        Value::Null
    } else {
        json!(args.concurrency)
    });
    report["offered_rate"] = json!(args.rate);
    report["deliveries"] = json!(distinct);
    report["seconds"] = json!(stats::round(seconds));
    report["transitions_per_s"] = json!(stats::round(plan.len() as f64 / transitions_done));
    report["deliveries_per_s"] = json!(stats::round(distinct as f64 / seconds));
    report["latency_ms"] = stats::percentiles(&latencies);
    report["latency_measured"] = json!(match sink.kind {
        Kind::Webhook => "transition commit -> receiver holds the body",
        Kind::Nats | Kind::Amqp => "transition commit -> the broker's consumer holds the message",
    });
    report["lost"] = json!(healthy_count.saturating_sub(distinct));
    report["ordering"] = json!(args.ordering.graphql());
    if args.hanging_endpoints > 0 {
        report["hanging_endpoints"] = json!(args.hanging_endpoints);
        report["hanging_transitions"] = json!(plan.len() - healthy_count);
        report["latency_of"] = json!("the healthy endpoint's deliveries");
    }
    report["duplicates"] = json!(total - distinct);
    report["api_errors"] = json!(errors.load(Ordering::Relaxed));
    cpu.report(&mut report, distinct);
    drop(transition);
    drop(apis);
    setup.server.stop().await;
    Ok(report)
}
