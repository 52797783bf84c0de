//! A database outage, made with a TCP proxy in front of PostgreSQL (the shared server keeps
//! running): while it lasts, API requests and `/healthz` answer 503 within about the pool's
//! acquire timeout, with the stable code `UNAVAILABLE` and no database text; once it ends, the
//! API answers again and every delivery committed before it arrives at the receiver. PostgreSQL
//! only: an SQLite file has no server to lose.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use buildhooks_entity::webhook_delivery;
use buildhooks_schema::auth::TOKEN_TTL;
use buildhooks_server::Role;
use sea_orm::EntityTrait;
use serde_json::{json, Value};

use crate::utils::database::{postgres_server, TestDatabase, PG_ENV};
use crate::utils::proxy::{upstream_of, Proxy};
use crate::utils::{error_code, save_endpoints, Receiver, Reply, TestApp};

/// The promise: a client learns of an outage within this long.
const FAIL_FAST: Duration = Duration::from_secs(2);
/// How long the database stays away.
const OUTAGE: Duration = Duration::from_secs(3);
const BUILD: &str = "query($id: ID!) { build(id: $id) { id status } }";

/// Whether this run is on PostgreSQL; says so and returns false on SQLite. A set variable that
/// is not a PostgreSQL URL fails under CI instead of passing unnoticed.
fn on_postgres() -> bool {
    if postgres_server().is_some() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        !(ci && std::env::var_os(PG_ENV).is_some()),
        "CI=true and {PG_ENV} is set but is not a postgres:// URL: the outage test cannot run"
    );
    println!("not applicable on SQLite (an outage needs a database server to lose): set {PG_ENV}=postgres://... to run it (.ci/run does)");
    false
}

/// POSTs one operation with `token`; returns the status, the body and how long it took.
async fn timed_gql(app: &TestApp, token: &str, query: &str, vars: Value) -> (u16, Value, Duration) {
    let started = Instant::now();
    let body = json!({ "query": query, "variables": vars }).to_string();
    let (status, json) = app.post_raw(Some(token), &body).await;
    (status, json, started.elapsed())
}

/// The answer of an outage: 503, `UNAVAILABLE`, the fixed message, nothing from the database.
fn assert_unavailable(what: &str, status: u16, body: &Value, proxy: &Proxy) {
    assert_eq!(status, 503, "{what}: {body}");
    assert_eq!(error_code(body), Some("UNAVAILABLE"), "{what}: {body}");
    assert_eq!(
        body["errors"][0]["message"], "the database is unavailable; try again",
        "{what}: {body}"
    );
    let text = body.to_string().to_lowercase();
    let port = proxy.addr.port().to_string();
    for leak in [
        "sqlx",
        "pool",
        "connect",
        "postgres",
        "refused",
        "timed out",
        "io error",
    ] {
        assert!(!text.contains(leak), "{what} leaks {leak:?}: {body}");
    }
    assert!(
        !text.contains(&port),
        "{what} leaks the database address: {body}"
    );
}

async fn healthz(app: &TestApp) -> (u16, String, Duration) {
    let started = Instant::now();
    let resp = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"), started.elapsed())
}

async fn outbox(app: &TestApp) -> Vec<webhook_delivery::Model> {
    webhook_delivery::Entity::find()
        .all(app.state.store.conn())
        .await
        .expect("outbox rows")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_at_once_and_loses_no_delivery() {
    if !on_postgres() {
        return;
    }
    let mut db = TestDatabase::new().await;
    let mut proxy = Proxy::start(&upstream_of(&db.url)).await;
    db.url = proxy.url_for(&db.url);
    let mut config = crate::utils::database::config(&db.url);
    config.allow_private_targets = true;
    config.retry_delay_ms = 50;
    // Leases of 2 x 1 s + 2 s: an attempt whose outcome could not be recorded is sent again soon.
    config.delivery_timeout_ms = 1_000;
    config.delivery_concurrency = 4;
    let app = TestApp::start(db, config, Role::All).await;
    let other = app.new_org("uncached").await;

    // Slow answers and few permits: when the database goes, some deliveries are at the
    // receiver and the others wait their turn.
    let receiver = Receiver::start(vec![]).await;
    receiver.set_default(Reply::slow(200, Duration::from_millis(600)));
    save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": receiver.url(), "events": ["*"] }]),
    )
    .await;
    let repo = app.create_repository("outage").await;
    let mut builds = Vec::new();
    for _ in 0..3 {
        let (build, tasks) = app
            .create_build(&repo, &[("a", false), ("b", true)], false)
            .await;
        app.move_task(&tasks[0], &["TRIGGERED", "SCHEDULED"]).await;
        builds.push(build);
    }
    let committed: HashSet<String> = outbox(&app).await.into_iter().map(|r| r.uuid).collect();
    receiver.wait_for(1, Duration::from_secs(5)).await;
    // The token is now in the server's cache: authentication will not need the database.
    app.ok(BUILD, json!({ "id": builds[0] })).await;
    let cached_at = Instant::now();

    proxy.stop().await;
    let stopped_at = Instant::now();
    let pending = committed.len()
        - receiver
            .received()
            .iter()
            .filter_map(|r| r.header("x-cirrus-delivery"))
            .collect::<HashSet<_>>()
            .len();

    // A cached token passes authentication; the query itself meets the outage.
    let (status, body, read) =
        timed_gql(&app, &app.org.token, BUILD, json!({ "id": builds[0] })).await;
    assert_unavailable("a read with a cached token", status, &body, &proxy);
    if cached_at.elapsed() < TOKEN_TTL {
        assert!(body.get("data").is_some(), "answered by execution: {body}");
    }
    assert!(read < FAIL_FAST, "a read waited {read:?}");
    // A token not seen before must be looked up: authentication meets the outage.
    let (status, body, auth) = timed_gql(&app, &other.token, BUILD, json!({ "id": "1" })).await;
    assert_unavailable("authentication", status, &body, &proxy);
    assert!(
        body.get("data").is_none(),
        "answered by authentication: {body}"
    );
    assert!(auth < FAIL_FAST, "authentication waited {auth:?}");
    let (status, body, write) = timed_gql(
        &app,
        &app.org.token,
        "mutation { createRepository(input: {name: \"during-outage\"}) { repository { id } } }",
        json!({}),
    )
    .await;
    assert_unavailable("a write", status, &body, &proxy);
    assert!(write < FAIL_FAST, "a write waited {write:?}");
    let (status, text, health) = healthz(&app).await;
    assert_eq!((status, text.as_str()), (503, "database unavailable"));
    assert!(health < FAIL_FAST, "/healthz waited {health:?}");

    tokio::time::sleep(OUTAGE.saturating_sub(stopped_at.elapsed())).await;
    proxy.resume();
    let resumed_at = Instant::now();

    let api_back = loop {
        let (status, body, _) =
            timed_gql(&app, &app.org.token, BUILD, json!({ "id": builds[0] })).await;
        if status == 200 && body.get("errors").is_none() {
            break resumed_at.elapsed();
        }
        assert!(
            resumed_at.elapsed() < Duration::from_secs(10),
            "the API stays down: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let all_delivered = loop {
        let rows = outbox(&app).await;
        if rows.iter().all(|r| r.state == "DELIVERED") {
            break resumed_at.elapsed();
        }
        let states: Vec<&str> = rows.iter().map(|r| r.state.as_str()).collect();
        assert!(
            resumed_at.elapsed() < Duration::from_secs(30),
            "not delivered: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (status, _, _) = healthz(&app).await;
    assert_eq!(status, 200);

    let rows: HashSet<String> = outbox(&app).await.into_iter().map(|r| r.uuid).collect();
    assert_eq!(
        rows, committed,
        "the failed write committed nothing, nothing vanished"
    );
    let arrived: Vec<String> = receiver
        .received()
        .iter()
        .filter_map(|r| r.header("x-cirrus-delivery"))
        .collect();
    let distinct: HashSet<&String> = arrived.iter().collect();
    let lost: Vec<&String> = committed.iter().filter(|u| !distinct.contains(u)).collect();
    assert!(lost.is_empty(), "lost deliveries: {lost:?}");
    println!(
        "outage: 503 after {read:?} (read, cached token), {auth:?} (authentication), {write:?} \
         (write), /healthz {health:?}; after {OUTAGE:?} down: API back in {api_back:?}, all {} \
         deliveries ({pending} not yet sent at the stop) delivered in {all_delivered:?}, 0 lost, \
         {} duplicates",
        committed.len(),
        arrived.len() - distinct.len()
    );
    app.stop().await;
}

/// A pooled connection PostgreSQL closed while it sat idle (a restart, an operator's
/// `pg_terminate_backend`) is pinged before its next use, found dead and replaced: the next
/// requests all succeed. (A connection in use within the last half second is not pinged: sqlx
/// pinged it when it went back to the pool.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_closed_while_idle_are_replaced_before_use() {
    use sea_orm::ConnectionTrait;
    if !on_postgres() {
        return;
    }
    let db = TestDatabase::new().await;
    let url = db.url.clone();
    let config = crate::utils::database::config(&db.url);
    let app = TestApp::start(db, config, Role::All).await;
    let create =
        "mutation($n: String!) { createRepository(input: {name: $n}) { repository { id } } }";
    let app = &app;
    let made = |i: usize| async move {
        let name = json!({ "n": format!("r{i}") });
        let (status, body, _) = timed_gql(app, &app.org.token, create, name).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "{body}");
        let id = &body["data"]["createRepository"]["repository"]["id"];
        assert!(id.is_string(), "{body}");
    };
    for i in 0..4 {
        made(i).await;
    }
    let admin = sea_orm::Database::connect(&url).await.expect("connect");
    let killed = admin
        .query_all(sea_orm::Statement::from_string(
            admin.get_database_backend(),
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        ))
        .await
        .expect("terminate");
    let _ = admin.close().await;
    assert!(!killed.is_empty(), "the server had no connection to close");
    tokio::time::sleep(Duration::from_millis(700)).await;
    for i in 4..12 {
        made(i).await;
    }
}
