//! `--mode e2e --duration D`: the end-to-end load for a while (a soak), in rounds of `--events`
//! transitions (builds of tasks made untimed before each round), at `--rate` or saturation.
//! Every 30 s it prints the rows of the outbox, attempts and events tables as the server's
//! pruner last counted them (with `BUILDHOOKS_RETENTION_SECONDS=60` they stay bounded), and the
//! report holds them all. Loss is counted at the receiver: every transition the API accepted
//! must arrive exactly once, whatever retention deleted since.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use buildhooks_server::config::{Config, Role};
use buildhooks_server::retention::Stats;
use serde_json::{json, Value};

use crate::e2e::{self, Commits, SET, STEPS};
use crate::receiver::Arrivals;
use crate::sink::Sink;
use crate::{base_report, stats, wait_for, BenchArgs, BenchDb, Mode};

/// How often the tables' rows are printed.
const EVERY: Duration = Duration::from_secs(30);

/// One look at the tables and the receiver.
fn sample(started: Instant, stats: &Stats, arrivals: &Arrivals) -> Value {
    let (distinct, _) = arrivals.counts();
    let mut sample = json!({ "t_s": started.elapsed().as_secs(), "delivered": distinct });
    if let Some(rows) = stats.rows() {
        for (table, n) in rows.by_table() {
            sample[table] = json!(n);
        }
    }
    for (table, n) in stats.pruned() {
        sample[format!("pruned_{table}")] = json!(n);
    }
    sample
}

pub async fn run(
    config: &Config,
    args: &BenchArgs,
    db: &BenchDb,
    sink: &Sink,
    duration: Duration,
) -> anyhow::Result<Value> {
    let arrivals = sink.arrivals.clone();
    let commits: Commits = Arc::default();
    let mut config = config.clone();
    sink.configure(&mut config);
    let setup = e2e::setup(&config, args, db, sink, Role::All, commits.clone()).await?;
    let state = setup
        .server
        .state
        .clone()
        .context("--duration runs the server in-process (not with --target)")?;
    let samples: Arc<Mutex<Vec<Value>>> = Arc::default();
    let started = Instant::now();
    let cpu = stats::CpuMeter::start();
    let monitor = {
        let (stats, arrivals, samples) =
            (state.retention.clone(), arrivals.clone(), samples.clone());
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(EVERY);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let s = sample(started, &stats, &arrivals);
                eprintln!("soak {s}");
                if let Ok(mut samples) = samples.lock() {
                    samples.push(s);
                }
            }
        })
    };
    let (accepted, errors) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let api = Arc::new(buildhooks_server::api_client::Api {
        client: setup.api.client.clone(),
        url: setup.api.url.clone(),
        token: setup.api.token.clone(),
    });
    let round = args.events.max(STEPS.len());
    let mut ticker = args.rate.map(|rate| {
        let mut t = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        t
    });
    while started.elapsed() < duration {
        let tasks = setup.tasks(round.div_ceil(STEPS.len())).await?;
        // Step-major, as `e2e`: every task's first step, then every task's second, ...
        let plan: Arc<Vec<(String, &'static str)>> = Arc::new(
            STEPS
                .iter()
                .flat_map(|step| tasks.iter().map(move |t| (t.clone(), *step)))
                .collect(),
        );
        let transition = {
            let (api, plan, accepted, errors) =
                (api.clone(), plan.clone(), accepted.clone(), errors.clone());
            move |i: usize| {
                let (api, plan, accepted, errors) =
                    (api.clone(), plan.clone(), accepted.clone(), errors.clone());
                async move {
                    let (task, step) = &plan[i];
                    match api.call(SET, json!({ "t": task, "s": step })).await {
                        Ok(_) => accepted.fetch_add(1, Ordering::Relaxed),
                        Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                    };
                }
            }
        };
        let mut running = tokio::task::JoinSet::new();
        match &mut ticker {
            Some(ticker) => {
                for i in 0..plan.len() {
                    ticker.tick().await;
                    running.spawn(transition(i));
                }
            }
            None => {
                let next = Arc::new(AtomicUsize::new(0));
                for _ in 0..args.concurrency.max(1) {
                    let (next, transition, len) = (next.clone(), transition.clone(), plan.len());
                    running.spawn(async move {
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= len {
                                break;
                            }
                            transition(i).await;
                        }
                    });
                }
            }
        }
        while running.join_next().await.is_some() {}
    }
    let sent_for = started.elapsed().as_secs_f64();
    let expected = accepted.load(Ordering::Relaxed);
    wait_for(&arrivals, expected, Duration::from_secs(30)).await;
    let cpu = cpu.stop();
    monitor.abort();
    let last = sample(started, &state.retention, &arrivals);
    eprintln!("soak {last}");
    let (distinct, total) = arrivals.counts();
    let firsts = arrivals.first_arrivals();
    let commits = commits.lock().map(|c| c.clone()).unwrap_or_default();
    let latencies: Vec<f64> = firsts
        .iter()
        .filter_map(|(id, at)| {
            commits
                .get(id)
                .map(|c| at.saturating_duration_since(*c).as_secs_f64() * 1000.0)
        })
        .collect();
    let mut samples = samples.lock().map(|s| s.clone()).unwrap_or_default();
    samples.push(last);
    let mut report = base_report(Mode::E2e, db.label, expected);
    report["soak_seconds"] = json!(stats::round(sent_for));
    report["offered_rate"] = json!(args.rate);
    report["retention_seconds"] = json!(config.retention().map(|d| d.as_secs()));
    report["deliveries"] = json!(distinct);
    report["deliveries_per_s"] = json!(stats::round(distinct as f64 / sent_for.max(1e-9)));
    report["latency_ms"] = stats::percentiles(&latencies);
    report["lost"] = json!(expected.saturating_sub(distinct));
    report["duplicates"] = json!(total - distinct);
    report["api_errors"] = json!(errors.load(Ordering::Relaxed));
    report["tables"] = json!(samples);
    cpu.report(&mut report, distinct);
    drop(api);
    setup.server.stop().await;
    Ok(report)
}
