//! A backlog larger than the dispatcher's concurrency: the recorder claims the next rows in the
//! transaction that records the last ones and passes its permits on, and the drain at shutdown
//! delivers what it had claimed. Every row arrives once, with one attempt on record. A cycle
//! that records a row whose lease expired does not claim that row again in the same statement.
//! On PostgreSQL the dispatcher's connections plan without sequential scans.

use std::collections::HashSet;
use std::time::Duration;

use buildhooks_server::delivery::dispatcher::{self, DispatchConfig};
use buildhooks_server::delivery::fair::FairConfig;
use buildhooks_server::delivery::sink::{webhook, Outcome};
use buildhooks_server::delivery::{claim, record};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tokio::sync::watch;

use crate::utils::{deliveries, TestApp};

const ROWS: usize = 40;

#[tokio::test]
async fn a_backlog_is_refilled_as_it_is_recorded_and_each_row_arrives_once() {
    // API only: the outbox fills up before any dispatcher runs.
    let (app, receiver) = TestApp::api_only_with_receiver().await;
    let url = app.db.url.clone();
    let repo = app.create_repository("backlog").await;
    for _ in 0..ROWS {
        app.create_build(&repo, &[("a", false)], false).await;
    }
    assert!(
        receiver.received().is_empty(),
        "nothing is sent without a dispatcher"
    );

    // Three permits for forty rows: most rows are claimed by the recorder, three at a time.
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(dispatcher::run(
        app.state.sender.clone(),
        app.state.store.clone(),
        DispatchConfig {
            concurrency: 3,
            lease_ms: 60_000,
            database_url: url,
            fair: FairConfig {
                org_cap: 3,
                ..FairConfig::for_concurrency(3)
            },
        },
        stopped,
    ));
    let got = receiver.wait_for(ROWS, Duration::from_secs(20)).await;
    let _ = stop.send(true);
    running.await.expect("the dispatcher drains and stops");

    let ids: HashSet<String> = got
        .iter()
        .filter_map(|r| r.header("x-cirrus-delivery"))
        .collect();
    assert_eq!(ids.len(), ROWS, "every row arrives");
    assert_eq!(receiver.received().len(), ROWS, "and only once");
    let all = deliveries(&app).await;
    assert_eq!(all.len(), ROWS);
    for d in &all {
        assert_eq!(d["state"], "DELIVERED", "{d}");
        assert_eq!(d["attempts"].as_array().map(Vec::len), Some(1), "{d}");
    }
    app.stop().await;
}

/// An attempt answered 200 at once.
fn answered_200() -> Outcome {
    Outcome {
        started_at: 0,
        duration_ms: 1,
        status: Some(200),
        error: None,
        excerpt: None,
        response_headers: None,
        class: webhook::classify(Some(200), None),
        pause: None,
        sink: "webhook",
    }
}

#[tokio::test]
async fn a_cycle_records_an_expired_lease_without_claiming_it_again() {
    // API only: the test plays the dispatcher. Two rows: one claimed with a lease that expires,
    // one left pending for the cycle's claim.
    let (app, _receiver) = TestApp::api_only_with_receiver().await;
    let repo = app.create_repository("cycle").await;
    app.create_build(&repo, &[("a", false)], false).await;
    let store = app.state.store.db();
    let (first, token) = claim::claim(store, 1, 50).await.expect("claim");
    assert_eq!(first.len(), 1);
    app.create_build(&repo, &[("b", false)], false).await;
    tokio::time::sleep(Duration::from_millis(120)).await;

    // Its lease has expired, so the claim part could pick it: it must not.
    let outcome = answered_200();
    let job = record::Job {
        delivery: &first[0],
        token: &token,
        outcome: &outcome,
        allow_retry: true,
        schedule: None,
    };
    let (verdicts, claimed) = record::record_then_claim(
        store,
        &[job],
        Duration::ZERO,
        Some(record::Next {
            limit: 10,
            lease_ms: 60_000,
            filter: claim::UNLIMITED,
        }),
    )
    .await
    .expect("record and claim");
    assert_eq!(verdicts, vec![record::Verdict::Delivered]);
    let claimed = claimed.expect("a claim was asked for");
    let ids: Vec<i64> = claimed.rows.iter().map(|d| d.id).collect();
    assert_eq!(ids.len(), 1, "only the pending row is claimed: {ids:?}");
    assert_ne!(ids[0], first[0].id, "the recorded row is not claimed again");
    let endpoints = claimed.endpoints.expect("the cycle reads the endpoints");
    assert_eq!(
        endpoints.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![claimed.rows[0].endpoint_id],
        "with the claimed row's endpoint"
    );

    let all = deliveries(&app).await;
    let states: Vec<&str> = all.iter().filter_map(|d| d["state"].as_str()).collect();
    assert!(states.contains(&"DELIVERED"), "{states:?}");
    assert!(states.contains(&"IN_FLIGHT"), "{states:?}");
    app.stop().await;
}

#[tokio::test]
async fn the_dispatchers_postgres_connections_plan_without_sequential_scans() {
    let (app, _receiver) = TestApp::api_only_with_receiver().await;
    if !app.db.is_postgres() {
        println!("skipped on SQLite: a PostgreSQL planner setting; set BUILDHOOKS_TEST_DATABASE_URL (.ci/run does)");
        app.stop().await;
        return;
    }
    let show = |conn: &sea_orm::DatabaseConnection| {
        let conn = conn.clone();
        async move {
            conn.query_one(Statement::from_string(
                DbBackend::Postgres,
                "SHOW enable_seqscan",
            ))
            .await
            .expect("show")
            .expect("a row")
            .try_get_by_index::<String>(0)
            .expect("text")
        }
    };
    // Prepared statements keep index scans however small the outbox was when they were planned.
    assert_eq!(show(app.state.sender.db.conn()).await, "off");
    // The API's queries (listings, settings) may still scan small tables.
    assert_eq!(show(app.state.store.conn()).await, "on");
    // And the dispatcher's statements run on those connections: a claim and a record.
    let repo = app.create_repository("plans").await;
    app.create_build(&repo, &[("a", false)], false).await;
    let (rows, token) = claim::claim(&app.state.sender.db, 5, 60_000)
        .await
        .expect("claim");
    assert_eq!(rows.len(), 1);
    let outcome = answered_200();
    let job = record::Job {
        delivery: &rows[0],
        token: &token,
        outcome: &outcome,
        allow_retry: true,
        schedule: None,
    };
    let (verdicts, _) =
        record::record_then_claim(&app.state.sender.db, &[job], Duration::ZERO, None)
            .await
            .expect("record");
    assert_eq!(verdicts, vec![record::Verdict::Delivered]);
    app.stop().await;
}
