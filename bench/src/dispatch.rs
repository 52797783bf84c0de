//! `--mode dispatch`: N outbox rows written first (copies of one rendered row, each with its own
//! delivery id), then the dispatcher alone drains them to the run's sink (the HTTP receiver, a
//! JetStream stream or a RabbitMQ queue). The window runs from the dispatcher's start to the
//! sink holding every delivery id, so a broker's figure includes the broker's acknowledgement
//! and its delivery to the consumer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use buildhooks_entity::{webhook_attempt, webhook_delivery};
use buildhooks_server::config::{Config, Role};
use buildhooks_server::delivery::dispatcher::{self, DispatchConfig};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set,
};
use serde_json::{json, Map, Value};
use tokio::sync::watch;

use crate::e2e::{setup, SET};
use crate::sink::Sink;
use crate::{base_report, stats, wait_for, BenchArgs, BenchDb, Mode, Progress};

pub async fn run(
    config: &Config,
    args: &BenchArgs,
    db: &BenchDb,
    sink: &Sink,
) -> anyhow::Result<Value> {
    if args.target.is_some() {
        bail!("--mode dispatch runs in-process; --target is for e2e");
    }
    let arrivals = sink.arrivals.clone();
    let mut config = config.clone();
    sink.configure(&mut config);
    // API only: rows pile up until the dispatcher is started below.
    let setup = setup(&config, args, db, sink, Role::Api, Arc::default()).await?;
    let state = setup.server.state.clone().context("in-process state")?;
    let task = setup.tasks(1).await?;
    setup
        .api
        .call(SET, json!({ "t": task[0], "s": "TRIGGERED" }))
        .await?;
    let template = webhook_delivery::Entity::find()
        .one(state.store.conn())
        .await?
        .context("a rendered outbox row")?;
    // Written in chunks of 500 rows (21 columns each: within both databases' parameter limits).
    let mut left = args.events.saturating_sub(1);
    while left > 0 {
        let n = left.min(500);
        left -= n;
        let rows = (0..n).map(|_| {
            let mut row: webhook_delivery::ActiveModel = template.clone().into();
            row.id = sea_orm::ActiveValue::NotSet;
            row.uuid = Set(uuid::Uuid::new_v4().to_string());
            row
        });
        webhook_delivery::Entity::insert_many(rows)
            .exec(state.store.conn())
            .await?;
    }
    let progress = Progress::start("dispatch", arrivals.clone(), args.events);
    let cpu = stats::CpuMeter::start();
    let started = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let dispatch_config = DispatchConfig::from_config(&state.config);
    let running = tokio::spawn(dispatcher::run(
        state.sender.clone(),
        state.store.clone(),
        dispatch_config,
        stop_rx,
    ));
    wait_for(&arrivals, args.events, Duration::from_secs(15)).await;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu.stop();
    let _ = stop_tx.send(true);
    let _ = running.await;
    drop(progress);
    let (distinct, total) = arrivals.counts();
    let mut report = base_report(Mode::Dispatch, db.label, args.events);
    cpu.report(&mut report, distinct);
    report["deliveries"] = json!(distinct);
    report["seconds"] = json!(stats::round(seconds));
    report["deliveries_per_s"] = json!(stats::round(distinct as f64 / seconds));
    report["lost"] = json!(args.events.saturating_sub(distinct));
    report["duplicates"] = json!(total - distinct);
    let conn = state.store.conn();
    report["attempts"] = json!(webhook_attempt::Entity::find().count(conn).await?);
    if distinct < args.events {
        // Why they were lost: where the rows ended and what their attempts said.
        report["outcomes"] = outcomes(conn).await?;
    }
    drop(state);
    setup.server.stop().await;
    Ok(report)
}

/// Delivery rows by state, and attempts by error code (`ok` for none), after a run that lost
/// deliveries.
async fn outcomes(conn: &DatabaseConnection) -> anyhow::Result<Value> {
    let states: Vec<(String, i64)> = webhook_delivery::Entity::find()
        .select_only()
        .column(webhook_delivery::Column::State)
        .column_as(webhook_delivery::Column::Id.count(), "n")
        .group_by(webhook_delivery::Column::State)
        .into_tuple()
        .all(conn)
        .await?;
    let errors: Vec<(Option<String>, i64)> = webhook_attempt::Entity::find()
        .select_only()
        .column(webhook_attempt::Column::Error)
        .column_as(webhook_attempt::Column::Id.count(), "n")
        .group_by(webhook_attempt::Column::Error)
        .into_tuple()
        .all(conn)
        .await?;
    let first_error = webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::Error.is_not_null())
        .one(conn)
        .await?
        .map(|a| json!({ "error": a.error, "excerpt": a.response_excerpt }));
    Ok(json!({
        "delivery_states": states.into_iter().map(|(s, n)| (s, json!(n))).collect::<Map<_, _>>(),
        "attempt_errors": errors
            .into_iter()
            .map(|(e, n)| (e.unwrap_or_else(|| "ok".to_owned()), json!(n)))
            .collect::<Map<_, _>>(),
        "first_failed_attempt": first_error,
    }))
}
