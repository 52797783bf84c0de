//! `createBuild` as it is written on every database: the build, its tasks, their events and the
//! outbox rows together or not at all, payloads carrying the ids the rows got, and a stored
//! query that reads the new rows seeing them (the common case is written at once after its ids
//! were drawn, and such a query takes the write-transaction path), build ids in creation order
//! whichever path wrote them, and concurrent new builds (sent together on both databases) each
//! with its own events and rows.

use std::sync::atomic::Ordering;
use std::time::Duration;

use buildhooks_entity::{build, event, task, webhook_delivery};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde_json::json;

use crate::utils::{error_code, save_endpoints, settled_deliveries, Receiver, TestApp};

const CREATE: &str = "mutation($i: RepositoryCreateBuildInput!) {
  createBuild(input: $i) { build { id status tasks { id name status } } } }";

/// A receiver of the organization's one endpoint, which takes builds' and tasks' creation.
async fn created_events_receiver(app: &TestApp) -> Receiver {
    let receiver = Receiver::start(vec![]).await;
    let saved = save_endpoints(
        app,
        &app.org,
        json!([{ "webhookURL": receiver.url(), "events": ["build.created", "task.created"] }]),
    )
    .await;
    assert!(saved.get("errors").is_none(), "{saved}");
    receiver
}

#[tokio::test]
async fn a_new_build_is_written_with_its_events_and_rows_or_not_at_all() {
    let app = TestApp::spawn().await;
    let receiver = created_events_receiver(&app).await;
    let repo = app.create_repository("at-once").await;
    let org_id: i32 = app.org.uid.parse().expect("uid");
    let conn = app.state.store.conn();
    let counts = || async {
        (
            build::Entity::find()
                .filter(build::Column::OrgId.eq(org_id))
                .count(conn)
                .await
                .expect("builds"),
            task::Entity::find()
                .filter(task::Column::OrgId.eq(org_id))
                .count(conn)
                .await
                .expect("tasks"),
            event::Entity::find()
                .filter(event::Column::OrgId.eq(org_id))
                .count(conn)
                .await
                .expect("events"),
            webhook_delivery::Entity::find()
                .filter(webhook_delivery::Column::OrgId.eq(org_id))
                .count(conn)
                .await
                .expect("rows"),
        )
    };
    let input = json!({ "i": { "repositoryId": repo, "branch": "main",
        "tasks": [{ "name": "lint" }, { "name": "test" }] } });

    // Failed after its rows were made, before they were written: nothing is left.
    let before = counts().await;
    app.faults.fail_after_outbox.store(true, Ordering::SeqCst);
    let failed = app.gql(CREATE, input.clone()).await;
    app.faults.fail_after_outbox.store(false, Ordering::SeqCst);
    assert_eq!(error_code(&failed), Some("INTERNAL"), "{failed}");
    assert_eq!(counts().await, before, "a failed createBuild left rows");

    let data = app.ok(CREATE, input).await;
    let made = &data["createBuild"]["build"];
    assert_eq!(made["status"], "CREATED");
    let build_id = made["id"].as_str().expect("build id").to_owned();
    let task_ids: Vec<String> = made["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["id"].as_str().expect("task id").to_owned())
        .collect();
    assert_eq!(made["tasks"][0]["name"], "lint");
    assert_eq!(made["tasks"][1]["status"], "CREATED");
    assert_eq!(
        counts().await,
        (before.0 + 1, before.1 + 2, before.2 + 3, before.3 + 3)
    );

    // The events in order, each naming the rows; each outbox row names its own event.
    let events = event::Entity::find()
        .filter(event::Column::OrgId.eq(org_id))
        .order_by_asc(event::Column::Id)
        .all(conn)
        .await
        .expect("events");
    let ours: Vec<_> = events
        .iter()
        .filter(|e| e.build_id.to_string() == build_id)
        .collect();
    let named: Vec<(String, Option<String>)> = ours
        .iter()
        .map(|e| (e.kind.clone(), e.task_id.map(|t| t.to_string())))
        .collect();
    assert_eq!(
        named,
        [
            ("build".to_owned(), None),
            ("task".to_owned(), Some(task_ids[0].clone())),
            ("task".to_owned(), Some(task_ids[1].clone())),
        ]
    );
    let rows = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::OrgId.eq(org_id))
        .all(conn)
        .await
        .expect("rows");
    for row in &rows {
        let event = ours
            .iter()
            .find(|e| Some(e.id) == row.event_id)
            .expect("a row of another event");
        assert_eq!(row.kind, event.kind);
        assert_eq!(row.build_id.map(|b| b.to_string()), Some(build_id.clone()));
    }

    // The payloads carry the ids the rows got.
    let got = receiver.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 3);
    let mut task_payloads: Vec<String> = Vec::new();
    for hit in &got {
        let body = hit.json();
        assert_eq!(body["data"]["build"]["id"], build_id.as_str(), "{body}");
        match hit.header("x-cirrus-event").as_deref() {
            Some("task") => task_payloads.push(
                body["data"]["task"]["id"]
                    .as_str()
                    .expect("task id")
                    .to_owned(),
            ),
            other => assert_eq!(other, Some("build")),
        }
    }
    task_payloads.sort();
    let mut expected = task_ids.clone();
    expected.sort();
    assert_eq!(task_payloads, expected);
    settled_deliveries(&app, 3).await;
}

#[tokio::test]
async fn a_stored_query_reading_the_new_build_sees_its_tasks() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let query = "query($buildId: ID!) { build(id: $buildId) { id tasks { id name } } }";
    let saved = save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": receiver.url(), "events": ["build.created"], "query": query }]),
    )
    .await;
    assert!(saved.get("errors").is_none(), "{saved}");
    let repo = app.create_repository("read-back").await;
    let (build_id, task_ids) = app
        .create_build(&repo, &[("a", false), ("b", true)], false)
        .await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    let body = got[0].json();
    assert_eq!(body["data"]["build"]["id"], build_id.as_str(), "{body}");
    let listed: Vec<&str> = body["data"]["build"]["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        listed,
        task_ids.iter().map(String::as_str).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn builds_keep_the_order_they_were_created_in_on_either_path() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let repo = app.create_repository("in-order").await;
    let plain = json!([{ "webhookURL": receiver.url(), "events": ["build.created"] }]);
    // A stored query that reads the new rows: that build goes through a write transaction.
    let query = "query($buildId: ID!) { build(id: $buildId) { id } }";
    let reading =
        json!([{ "webhookURL": receiver.url(), "events": ["build.created"], "query": query }]);
    let mut ids = Vec::new();
    for endpoints in [&plain, &reading, &plain] {
        let saved = save_endpoints(&app, &app.org, endpoints.clone()).await;
        assert!(saved.get("errors").is_none(), "{saved}");
        let (build_id, _) = app.create_build(&repo, &[("t", false)], false).await;
        ids.push(build_id.parse::<i64>().expect("numeric id"));
    }
    assert!(
        ids[0] < ids[1] && ids[1] < ids[2],
        "ids out of creation order: {ids:?}"
    );
    receiver.wait_for(3, Duration::from_secs(10)).await;
    settled_deliveries(&app, 3).await;
}

#[tokio::test]
async fn concurrent_new_builds_each_get_their_own_events_and_rows() {
    let app = TestApp::spawn().await;
    let receiver = created_events_receiver(&app).await;
    let repo = app.create_repository("together").await;
    let written_before = app.state.store.db().new_builds_written();
    let calls = (0..24).map(|i| {
        let input = json!({ "i": { "repositoryId": repo, "branch": format!("b{i}"),
            "tasks": [{ "name": format!("t{i}") }] } });
        let app = &app;
        async move { app.ok(CREATE, input).await }
    });
    let made = futures::future::join_all(calls).await;
    let mut builds: Vec<String> = made
        .iter()
        .map(|d| {
            d["createBuild"]["build"]["id"]
                .as_str()
                .expect("id")
                .to_owned()
        })
        .collect();
    builds.sort();
    builds.dedup();
    assert_eq!(builds.len(), 24, "every call got a build of its own");
    // PostgreSQL: every build counted once, in at most as many statements.
    let written_after = app.state.store.db().new_builds_written();
    if let (Some(before), Some(after)) = (written_before, written_after) {
        assert_eq!(after.builds - before.builds, 24);
        assert!(after.statements - before.statements <= 24);
    }
    let org_id: i32 = app.org.uid.parse().expect("uid");
    let conn = app.state.store.conn();
    let events = event::Entity::find()
        .filter(event::Column::OrgId.eq(org_id))
        .all(conn)
        .await
        .expect("events");
    assert_eq!(events.len(), 48);
    let rows = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::OrgId.eq(org_id))
        .all(conn)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 48);
    for row in &rows {
        let event = events
            .iter()
            .find(|e| Some(e.id) == row.event_id)
            .expect("each row names an event");
        assert_eq!(
            Some(event.build_id),
            row.build_id,
            "a row named another build's event"
        );
        assert_eq!(event.kind, row.kind);
    }
    assert_eq!(
        receiver.wait_for(48, Duration::from_secs(20)).await.len(),
        48
    );
    settled_deliveries(&app, 48).await;
}

/// PostgreSQL: a trigger the test installs in its own database fails the build on branch
/// `poison` and holds those on `slow*` for a second, so that the calls sent meanwhile queue and
/// are written together.
const GUARD: &str = "CREATE FUNCTION test_build_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.branch = 'poison' THEN RAISE EXCEPTION 'poisoned build'; END IF;
  IF NEW.branch LIKE 'slow%' THEN PERFORM pg_sleep(1); END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER test_build_guard BEFORE INSERT ON build FOR EACH ROW
  EXECUTE FUNCTION test_build_guard()";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_that_fails_in_a_batch_fails_alone() {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn().await;
    if !app.db.is_postgres() {
        println!("skipped on SQLite: PostgreSQL's batches of new builds; set BUILDHOOKS_TEST_DATABASE_URL (.ci/run does); SQLite's are tested in store/src/sqlite/batch.rs");
        return;
    }
    let receiver = created_events_receiver(&app).await;
    let repo = app.create_repository("poisoned").await;
    app.state
        .store
        .conn()
        .execute_unprepared(GUARD)
        .await
        .expect("guard");
    let db = app.state.store.db();
    let before = db.new_builds_written().expect("counted on PostgreSQL");
    let call = |branch: String| {
        let input = json!({ "i": { "repositoryId": repo, "branch": branch,
            "tasks": [{ "name": "t" }] } });
        let app = &app;
        async move { app.gql(CREATE, input).await }
    };
    // Both runners held by a slow build each (sent apart, so each is written alone); the next
    // calls queue behind them.
    let slow = futures::future::join_all((0..2).map(|i| async move {
        tokio::time::sleep(Duration::from_millis(150 * i)).await;
        call(format!("slow{i}")).await
    }));
    let queued = async {
        tokio::time::sleep(Duration::from_millis(350)).await;
        let branches = (0..8).map(|i| match i {
            5 => "poison".to_owned(),
            i => format!("b{i}"),
        });
        futures::future::join_all(branches.map(call)).await
    };
    let (slow, queued) = tokio::join!(slow, queued);
    for answer in slow.iter().chain(&queued) {
        let branch_failed = error_code(answer).is_some();
        assert_eq!(
            branch_failed,
            std::ptr::eq(answer, &queued[5]),
            "only the poisoned call fails: {answer}"
        );
    }
    assert_eq!(error_code(&queued[5]), Some("INTERNAL"), "{}", queued[5]);
    assert!(
        !queued[5].to_string().contains("poisoned"),
        "the database's text is not shown: {}",
        queued[5]
    );
    let after = db.new_builds_written().expect("counted");
    assert_eq!(
        after.builds - before.builds,
        9,
        "every call but the poisoned one"
    );
    assert_eq!(
        after.failed_batches - before.failed_batches,
        1,
        "the queued calls were written together, that batch failed and was written again alone"
    );
    let org_id: i32 = app.org.uid.parse().expect("uid");
    let branches: Vec<String> = build::Entity::find()
        .filter(build::Column::OrgId.eq(org_id))
        .all(app.state.store.conn())
        .await
        .expect("builds")
        .into_iter()
        .map(|b| b.branch)
        .collect();
    assert_eq!(branches.len(), 9);
    assert!(!branches.iter().any(|b| b == "poison"));
    // Each written build's two events were delivered: nothing of the poisoned one.
    assert_eq!(
        receiver.wait_for(18, Duration::from_secs(20)).await.len(),
        18
    );
    settled_deliveries(&app, 18).await;
}
