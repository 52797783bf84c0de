//! `/readyz` on a running server: ready when migrated with its dispatcher running, 503 naming a
//! migration the database lacks (while `/healthz` stays 200), and an API-only process needs no
//! dispatcher (its outbox rows wait, which the outbox families show by state and kind).

use std::time::Duration;

use serde_json::{json, Value};

use super::exposition::sample;
use crate::utils::{metrics_at, TestApp};

async fn readyz(app: &TestApp) -> (u16, Value) {
    let answer = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    let status = answer.status().as_u16();
    (status, answer.json().await.expect("JSON body"))
}

#[tokio::test]
async fn readyz_names_a_migration_not_applied_while_healthz_stays_ok() {
    use buildhooks_migration::{Migrator, MigratorTrait};
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn().await;
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "ready": true, "not_ready": [], "database": "ok", "migrations": "applied", "dispatcher": "running" })
    );

    // As if this binary were newer than the database: its latest migration is not applied.
    let latest = Migrator::migrations()
        .last()
        .expect("a migration")
        .name()
        .to_owned();
    app.state
        .store
        .conn()
        .execute_unprepared(&format!(
            "DELETE FROM seaql_migrations WHERE version = '{latest}'"
        ))
        .await
        .expect("forget the latest migration");
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["ready"], false, "{body}");
    assert_eq!(body["not_ready"], json!(["migrations"]), "{body}");
    assert_eq!(body["migrations"]["pending"], json!([latest]), "{body}");
    let health = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(
        health.status(),
        200,
        "liveness does not depend on migrations"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_api_only_process_is_ready_without_a_dispatcher_and_shows_the_waiting_outbox() {
    let (app, _receiver) = TestApp::api_only_with_receiver().await;
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["dispatcher"], "not_required", "{body}");

    // No dispatcher: the build's delivery stays PENDING, and the outbox says so by kind.
    let repo = app.create_repository("obs").await;
    app.create_build(&repo, &[("t", false)], false).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let text = metrics_at(&app.client, app.addr).await;
    assert_eq!(
        sample(
            &text,
            "buildhooks_outbox_rows{state=\"PENDING\",kind=\"webhook\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "buildhooks_outbox_oldest_age_seconds{state=\"PENDING\",kind=\"webhook\"}"
        )
        .is_some_and(|age| age > 0.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "buildhooks_outbox_pending"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "buildhooks_api_requests_total{operation=\"createBuild\",outcome=\"ok\"}"
        ),
        Some(1.0),
        "{text}"
    );
    app.stop().await;
}
