//! `--mode raw`: the delivery client and a receiver, signed POSTs, no database at all.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use buildhooks_entity::webhook_delivery;
use buildhooks_server::config::Config;
use buildhooks_server::delivery::client;
use buildhooks_server::delivery::sink::{webhook, Class};
use serde_json::{json, Value};

use crate::receiver::{self, Arrivals};
use crate::{base_report, stats, wait_for, BenchArgs, Mode, Progress};

/// A delivery as the dispatcher would hold it, with a typical body.
pub(crate) fn sample_delivery(url: &str) -> webhook_delivery::Model {
    let body = json!({ "action": "updated", "old_status": "SCHEDULED", "data": {
        "repository": { "id": "1", "owner": "bench", "name": "bench", "isPrivate": false },
        "build": { "id": "1", "name": null, "branch": "main", "changeIdInRepo": "4b825dc642cb6eb9a060e54bf8d69288fbee4904", "status": "EXECUTING", "changeTimestamp": 1_700_000_000_000_i64 },
        "task": { "id": "1", "name": "test", "status": "EXECUTING", "creationTimestamp": 1_700_000_000_000_i64, "finalStatusTimestamp": null } } });
    webhook_delivery::Model {
        id: 0,
        uuid: String::new(),
        org_id: 0,
        event_id: None,
        endpoint_id: 0,
        repository_id: None,
        url: url.to_owned(),
        kind: "task".into(),
        action: "updated".into(),
        body: body.to_string(),
        state: "IN_FLIGHT".into(),
        attempt_count: 0,
        round_attempts: 0,
        next_attempt_at: 0,
        lease_until: None,
        lease_token: None,
        last_status: None,
        last_duration_ms: None,
        last_response: None,
        created_at: 0,
        updated_at: 0,
        build_id: None,
        order_key: None,
        replay_id: None,
        erased_at: None,
    }
}

pub async fn run(config: &Config, args: &BenchArgs) -> anyhow::Result<Value> {
    let arrivals = Arrivals::default();
    let url = receiver::start(arrivals.clone()).await?;
    let client = client::build(config.delivery_timeout(), true)?;
    let template = sample_delivery(&url);
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let progress = Progress::start("raw", arrivals.clone(), args.events);
    let cpu = stats::CpuMeter::start();
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (client, next, failures, mut delivery) = (
            client.clone(),
            next.clone(),
            failures.clone(),
            template.clone(),
        );
        let events = args.events;
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < events {
                delivery.uuid = uuid::Uuid::new_v4().to_string();
                let t = Instant::now();
                let outcome = webhook::send(&client, &delivery, Some("bench-secret"), true).await;
                if outcome.class == Class::Delivered {
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                } else {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await?);
    }
    wait_for(&arrivals, args.events, Duration::from_secs(5)).await;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu.stop();
    drop(progress);
    let (distinct, total) = arrivals.counts();
    let mut report = base_report(Mode::Raw, "none", args.events);
    cpu.report(&mut report, distinct);
    report["deliveries"] = json!(distinct);
    report["seconds"] = json!(stats::round(seconds));
    report["deliveries_per_s"] = json!(stats::round(distinct as f64 / seconds));
    report["latency_ms"] = stats::percentiles(&latencies);
    report["latency_measured"] = json!("request sent -> response received");
    report["lost"] = json!(args.events.saturating_sub(distinct));
    report["duplicates"] = json!(total - distinct);
    report["failed_requests"] = json!(failures.load(Ordering::Relaxed));
    Ok(report)
}
