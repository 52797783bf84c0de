//! `--mode render`: the rendering path alone — for each event, inside one write transaction, the
//! outbox publish step (event row, matching endpoints, payload rendered once per distinct stored
//! query, one outbox row per endpoint) and the commit; no HTTP, no dispatcher.
//! `--endpoints N --queries K`: N endpoints sharing K distinct queries (the default one first).

use std::time::Instant;

use anyhow::Context;
use buildhooks_schema::event::{EventDraft, EventKind};
use buildhooks_schema::seed::Seed;
use buildhooks_schema::transition::Changes;
use buildhooks_schema::webhook::outbox::publish;
use buildhooks_schema::{build_payload_schema, transition};
use buildhooks_server::config::Config;
use serde_json::{json, Value};

use crate::{base_report, stats, BenchArgs, BenchDb, Mode};

/// Custom queries that differ from the default one and from each other.
fn query(i: usize) -> Option<String> {
    (i > 0).then(|| {
        format!(
            "query Q{i}($repositoryId: ID!, $buildId: ID!, $taskId: ID) {{ repository(id: $repositoryId) {{ id name }} build(id: $buildId) {{ id status branch }} task(id: $taskId) {{ id name status labels }} }}"
        )
    })
}

pub async fn run(config: &Config, args: &BenchArgs, db: &BenchDb) -> anyhow::Result<Value> {
    use buildhooks_entity::{repository, webhook_endpoint};
    use sea_orm::{ActiveModelTrait, Set};
    let store = buildhooks_server::db::connect(&db.url).await?;
    let _ = config;
    let (org, _) = buildhooks_schema::auth::create_organization(store.conn(), "render", "github")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let repo = repository::ActiveModel {
        org_id: Set(org.id),
        name: Set("render".into()),
        is_private: Set(false),
        default_branch: Set("main".into()),
        created_at: Set(0),
        ..Default::default()
    }
    .insert(store.conn())
    .await?;
    let distinct = args.queries.max(1).min(args.endpoints.max(1));
    for i in 0..args.endpoints.max(1) {
        webhook_endpoint::ActiveModel {
            org_id: Set(org.id),
            position: Set(i as i32),
            url: Set(format!("http://127.0.0.1:9/{i}")),
            secret: Set(Some("render-secret".into())),
            events: Set("[\"*\"]".into()),
            repository_id: Set(None),
            query: Set(query(i % distinct)),
            enabled: Set(true),
            deleted: Set(false),
            created_at: Set(0),
            ..Default::default()
        }
        .insert(store.conn())
        .await?;
    }
    let new = transition::NewBuild {
        repository_id: repo.id,
        branch: "main".into(),
        sha: Some("4b825dc".into()),
        message: Some("render".into()),
        name: None,
        tag: None,
        pull_request: None,
        needs_approval: false,
        tasks: vec![transition::NewTask {
            name: "test".into(),
            name_alias: None,
            optional: false,
            labels: vec!["linux".into()],
            attributes: Default::default(),
        }],
        attributes: Default::default(),
    };
    let (build, _) = transition::create_build(store.conn(), org.id, new).await?;
    let task = buildhooks_entity::task::Entity::find_in_org(org.id)
        .one(store.conn())
        .await?
        .context("task")?;
    let schema = build_payload_schema(&store);
    let event = EventDraft::updated(
        EventKind::Task,
        "SCHEDULED",
        "EXECUTING",
        (repo.id, build.id, Some(task.id)),
    );
    let cpu = stats::CpuMeter::start();
    let started = Instant::now();
    let mut rows = 0;
    // What a transition leaves in hand: the build and task rows it wrote.
    let mut seed = Seed::default();
    seed.put_build(build);
    seed.put_task(task);
    for _ in 0..args.events {
        let w = store.begin_write().await?;
        let changes = Changes {
            events: vec![event.clone()],
            seed: seed.clone(),
            audit: None,
        };
        let (written, _) = publish(&store, &w, &schema, org.id, changes, None).await?;
        rows += written.len();
        w.commit().await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu.stop();
    let mut report = base_report(Mode::Render, db.label, args.events);
    cpu.report(&mut report, args.events);
    report["endpoints"] = json!(args.endpoints.max(1));
    report["distinct_queries"] = json!(distinct);
    report["outbox_rows"] = json!(rows);
    report["seconds"] = json!(stats::round(seconds));
    report["events_per_s"] = json!(stats::round(args.events as f64 / seconds));
    report["outbox_rows_per_s"] = json!(stats::round(rows as f64 / seconds));
    report["lost"] = json!(args.events * args.endpoints.max(1) - rows);
    report["duplicates"] = json!(0);
    Ok(report)
}
