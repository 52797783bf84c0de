//! Retention: the pruner deletes delivered and failed deliveries older than the retention (by
//! their last change), with their attempts, in batches, and events no waiting delivery belongs
//! to; rows PENDING or IN_FLIGHT, young rows and events of waiting deliveries stay; `/metrics`
//! counts what was pruned and the rows left. `eraseDeliveryPayloads` blanks exactly the
//! caller's finished deliveries before a time, leaves waiting ones and other organizations'
//! alone, and an erased delivery cannot be redelivered. Rows are written directly, with the
//! ages each case needs (the dispatcher never claims them: waiting rows are due tomorrow,
//! in-flight ones leased until tomorrow).

use std::collections::BTreeSet;
use std::time::Duration;

use buildhooks_entity::{event, webhook_attempt, webhook_delivery};
use buildhooks_schema::clock::now_ms;
use buildhooks_server::retention::Span;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::json;

use crate::utils::{error_code, metrics_at, TestApp};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// A delivery row to write.
struct Row {
    org_id: i32,
    repository_id: Option<i32>,
    state: &'static str,
    created_at: i64,
    updated_at: i64,
    event: bool,
    attempts: usize,
}

impl Row {
    fn new(org_id: i32, state: &'static str, created_at: i64) -> Row {
        Row {
            org_id,
            repository_id: None,
            state,
            created_at,
            updated_at: created_at,
            event: true,
            attempts: 1,
        }
    }
}

/// What was written for a row: the delivery's id and uuid, its event's id.
#[derive(Clone, Debug)]
struct Written {
    id: i64,
    uuid: String,
    event_id: Option<i64>,
}

async fn write_event(app: &TestApp, org_id: i32, created_at: i64) -> i64 {
    let row = event::ActiveModel {
        org_id: Set(org_id),
        repository_id: Set(0),
        build_id: Set(0),
        task_id: Set(None),
        kind: Set("task".into()),
        action: Set("updated".into()),
        old_status: Set(Some("EXECUTING".into())),
        new_status: Set("COMPLETED".into()),
        created_at: Set(created_at),
        ..Default::default()
    }
    .insert(app.state.store.conn())
    .await
    .expect("event");
    row.id
}

async fn write(app: &TestApp, row: Row) -> Written {
    let conn = app.state.store.conn();
    // Written young and waiting first, aged and finished last: the running pruner never sees
    // half a row (a delivery without its attempts, an old event before its waiting delivery).
    let now = now_ms();
    let event_id = match row.event {
        true => Some(write_event(app, row.org_id, now).await),
        false => None,
    };
    let uuid = uuid::Uuid::new_v4().to_string();
    let delivery = webhook_delivery::ActiveModel {
        uuid: Set(uuid.clone()),
        org_id: Set(row.org_id),
        event_id: Set(event_id.map(|e| e as _)),
        endpoint_id: Set(1),
        repository_id: Set(row.repository_id),
        url: Set("http://127.0.0.1:9/hook".into()),
        kind: Set("task".into()),
        action: Set("updated".into()),
        body: Set(r#"{"action":"updated","data":{"secret":"personal data"}}"#.into()),
        state: Set("PENDING".into()),
        attempt_count: Set(row.attempts as i32),
        round_attempts: Set(row.attempts as i32),
        // Waiting rows are due tomorrow, in-flight ones leased until tomorrow: the dispatcher
        // leaves them alone.
        next_attempt_at: Set(now + DAY),
        lease_until: Set((row.state == "IN_FLIGHT").then_some(now + DAY)),
        lease_token: Set((row.state == "IN_FLIGHT").then(|| "held".to_owned())),
        last_status: Set(Some(200)),
        last_duration_ms: Set(Some(3)),
        last_response: Set(Some("thanks, personal data".into())),
        created_at: Set(row.created_at),
        updated_at: Set(row.updated_at),
        build_id: Set(None),
        order_key: Set(None),
        replay_id: Set(None),
        erased_at: Set(None),
        ..Default::default()
    }
    .insert(conn)
    .await
    .expect("delivery");
    for number in 1..=row.attempts {
        webhook_attempt::ActiveModel {
            delivery_id: Set(delivery.id),
            number: Set(number as i32),
            started_at: Set(row.created_at),
            duration_ms: Set(3),
            status: Set(Some(200)),
            error: Set(None),
            response_excerpt: Set(Some("thanks, personal data".into())),
            ..Default::default()
        }
        .insert(conn)
        .await
        .expect("attempt");
    }
    webhook_delivery::ActiveModel {
        id: Set(delivery.id),
        state: Set(row.state.into()),
        ..Default::default()
    }
    .update(conn)
    .await
    .expect("finish");
    if let Some(id) = event_id {
        event::ActiveModel {
            id: Set(id as _),
            created_at: Set(row.created_at),
            ..Default::default()
        }
        .update(conn)
        .await
        .expect("age");
    }
    Written {
        id: delivery.id,
        uuid,
        event_id,
    }
}

async fn delivery_ids(app: &TestApp) -> BTreeSet<i64> {
    webhook_delivery::Entity::find()
        .all(app.state.store.conn())
        .await
        .expect("deliveries")
        .into_iter()
        .map(|d| d.id)
        .collect()
}

async fn event_ids(app: &TestApp) -> BTreeSet<i64> {
    event::Entity::find()
        .all(app.state.store.conn())
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.id)
        .collect()
}

async fn attempts_of(app: &TestApp, id: i64) -> Vec<webhook_attempt::Model> {
    webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::DeliveryId.eq(id))
        .all(app.state.store.conn())
        .await
        .expect("attempts")
}

/// The value of the sample `name` (with its labels) in a Prometheus exposition.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// `promtool check metrics`, where promtool is installed (`.ci/run` installs it and sets
/// `BUILDHOOKS_TEST_REQUIRE_PROMTOOL`, so there a missing promtool fails instead).
pub(crate) fn promtool_accepts(text: &str) {
    use std::io::Write;
    let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        assert!(
            std::env::var_os("BUILDHOOKS_TEST_REQUIRE_PROMTOOL").is_none(),
            "promtool is required (BUILDHOOKS_TEST_REQUIRE_PROMTOOL) but not installed"
        );
        println!("promtool is not installed: the exposition was not checked with it");
        return;
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(text.as_bytes()).expect("promtool stdin");
    }
    let out = child.wait_with_output().expect("promtool");
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    // Lint warnings are printed too; only errors fail the check.
    assert!(out.status.success(), "promtool: {said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_finished_rows_are_pruned_in_batches_and_waiting_or_young_rows_kept() {
    let app = TestApp::spawn_with(|c| {
        c.retention_seconds = Some(Span(Some(3_600)));
        c.retention_batch = 5;
        c.retention_interval_ms = Some(100);
        c.retention_pause_ms = 1;
    })
    .await;
    let org: i32 = app.org.uid.parse().expect("uid");
    let now = now_ms();
    let old = now - 2 * HOUR;

    let mut pruned = Vec::new();
    for i in 0..23 {
        let state = if i % 4 == 0 { "FAILED" } else { "DELIVERED" };
        pruned.push(
            write(
                &app,
                Row {
                    attempts: 2,
                    ..Row::new(org, state, old - i * 1_000)
                },
            )
            .await,
        );
    }
    let mut kept = Vec::new();
    for state in ["PENDING", "PENDING", "PENDING", "IN_FLIGHT", "IN_FLIGHT"] {
        kept.push(write(&app, Row::new(org, state, old - DAY)).await);
    }
    // Events no delivery ever belonged to.
    for _ in 0..5 {
        write_event(&app, org, old).await;
    }
    for _ in 0..4 {
        kept.push(write(&app, Row::new(org, "DELIVERED", now)).await);
    }
    // Created long ago, but redelivered a minute ago: its age is its last change's.
    for _ in 0..2 {
        kept.push(
            write(
                &app,
                Row {
                    updated_at: now - 60_000,
                    event: false,
                    ..Row::new(org, "FAILED", old)
                },
            )
            .await,
        );
    }

    let kept_ids: BTreeSet<i64> = kept.iter().map(|w| w.id).collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while delivery_ids(&app).await != kept_ids || event_ids(&app).await.len() > kept.len() - 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "not pruned in time: deliveries {:?}, events {:?}",
            delivery_ids(&app).await,
            event_ids(&app).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The waiting, in-flight and young deliveries' events stay; the pruned ones' and the
    // orphans go.
    let kept_events: BTreeSet<i64> = kept.iter().filter_map(|w| w.event_id).collect();
    assert_eq!(event_ids(&app).await, kept_events);
    for w in &pruned {
        assert!(attempts_of(&app, w.id).await.is_empty(), "{w:?}");
    }
    for w in &kept {
        assert_eq!(attempts_of(&app, w.id).await.len(), 1, "{w:?}");
    }

    // The counters say what went, the gauges what is left (once the pruner counted again after
    // the last deletion: a count taken while the rows were being written may match by chance).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = metrics_at(&app.client, app.addr).await;
        let rows = sample(&text, "buildhooks_table_rows{table=\"event\"}");
        let events = sample(
            &text,
            "buildhooks_retention_pruned_rows_total{table=\"event\"}",
        );
        let deliveries = sample(&text, "buildhooks_table_rows{table=\"webhook_delivery\"}");
        if (rows == Some(kept_events.len() as f64)
            && events == Some(28.0)
            && deliveries == Some(kept.len() as f64))
            || std::time::Instant::now() > deadline
        {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let pruned_rows = |table: &str| {
        sample(
            &text,
            &format!("buildhooks_retention_pruned_rows_total{{table=\"{table}\"}}"),
        )
    };
    assert_eq!(pruned_rows("webhook_delivery"), Some(23.0), "{text}");
    assert_eq!(pruned_rows("webhook_attempt"), Some(46.0), "{text}");
    assert_eq!(pruned_rows("event"), Some(28.0), "{text}");
    let batches = sample(&text, "buildhooks_retention_batches_total").expect("batches");
    // 34 deliveries and 40 events walked 5 at a time.
    assert!(batches >= 15.0, "{batches} batches: {text}");
    let conn = app.state.store.conn();
    let count = |n: u64| Some(n as f64);
    assert_eq!(
        sample(&text, "buildhooks_table_rows{table=\"webhook_delivery\"}"),
        count(
            webhook_delivery::Entity::find()
                .count(conn)
                .await
                .expect("count")
        ),
        "{text}"
    );
    assert_eq!(
        sample(&text, "buildhooks_table_rows{table=\"webhook_attempt\"}"),
        count(
            webhook_attempt::Entity::find()
                .count(conn)
                .await
                .expect("count")
        ),
        "{text}"
    );
    assert_eq!(
        sample(&text, "buildhooks_table_rows{table=\"event\"}"),
        count(event::Entity::find().count(conn).await.expect("count")),
        "{text}"
    );
    promtool_accepts(&text);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_off_deletes_nothing() {
    let app = TestApp::spawn_with(|c| {
        c.retention_seconds = Some(Span(None));
        c.retention_interval_ms = Some(50);
    })
    .await;
    let org: i32 = app.org.uid.parse().expect("uid");
    let old = write(&app, Row::new(org, "DELIVERED", now_ms() - 400 * DAY)).await;
    // Several passes' time: the gauges are counted, nothing is pruned.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = metrics_at(&app.client, app.addr).await;
        if sample(&text, "buildhooks_table_rows{table=\"webhook_delivery\"}") == Some(1.0)
            || std::time::Instant::now() > deadline
        {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(delivery_ids(&app).await, BTreeSet::from([old.id]));
    assert_eq!(
        sample(
            &text,
            "buildhooks_retention_pruned_rows_total{table=\"webhook_delivery\"}"
        ),
        Some(0.0),
        "{text}"
    );
    app.stop().await;
}

const ERASE: &str = "mutation($i: EraseDeliveryPayloadsInput!) {
    eraseDeliveryPayloads(input: $i) { erased pendingLeft clientMutationId } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_payloads_counts_exactly_and_spares_other_orgs_and_waiting_rows() {
    let app = TestApp::spawn_with(|c| {
        c.retention_seconds = Some(Span(None));
        // Pages of 4: every erasure below takes several transactions.
        c.retention_batch = 4;
    })
    .await;
    let org: i32 = app.org.uid.parse().expect("uid");
    let repo1: i32 = app.create_repository("erase-1").await.parse().expect("id");
    let repo2: i32 = app.create_repository("erase-2").await.parse().expect("id");
    let other = app.new_org("other").await;
    let other_id: i32 = other.uid.parse().expect("uid");
    let other_repo = app
        .gql_as(
            &other.token,
            "mutation { createRepository(input: {name: \"theirs\"}) { repository { id } } }",
            json!({}),
        )
        .await["data"]["createRepository"]["repository"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let now = now_ms();
    // 2023-11-14T22:13:20Z, before 2024-01-01T00:00:00Z.
    let (old, before) = (1_700_000_000_000, 1_704_067_200_000_i64);
    let in_repo = |repo: i32, state: &'static str, created: i64| Row {
        repository_id: Some(repo),
        attempts: 2,
        ..Row::new(org, state, created)
    };
    let mut repo1_done = Vec::new();
    for i in 0..8 {
        let state = if i < 6 { "DELIVERED" } else { "FAILED" };
        repo1_done.push(write(&app, in_repo(repo1, state, old)).await);
    }
    let mut waiting = Vec::new();
    for _ in 0..2 {
        waiting.push(write(&app, in_repo(repo1, "PENDING", old)).await);
    }
    let mut repo2_done = Vec::new();
    for _ in 0..5 {
        repo2_done.push(write(&app, in_repo(repo2, "DELIVERED", old)).await);
    }
    waiting.push(write(&app, in_repo(repo2, "IN_FLIGHT", old)).await);
    let mut young = Vec::new();
    for _ in 0..2 {
        young.push(write(&app, in_repo(repo1, "DELIVERED", now)).await);
    }
    let mut theirs = Vec::new();
    for _ in 0..4 {
        theirs.push(write(&app, Row::new(other_id, "DELIVERED", old)).await);
    }

    // Refused: a time in the future, a text that is no time, another organization's repository.
    for bad in [(now + HOUR).to_string(), "last tuesday".to_owned()] {
        let resp = app.gql(ERASE, json!({ "i": { "before": bad } })).await;
        assert_eq!(error_code(&resp), Some("VALIDATION"), "{resp}");
    }
    let resp = app
        .gql(
            ERASE,
            json!({ "i": { "before": before.to_string(), "repositoryId": other_repo } }),
        )
        .await;
    assert_eq!(error_code(&resp), Some("NOT_FOUND"), "{resp}");

    // One repository, the time as RFC 3339: its 8 finished deliveries; its 2 waiting ones left.
    let rfc3339 = "2024-01-01T00:00:00Z";
    let data = app
        .ok(
            ERASE,
            json!({ "i": { "before": rfc3339, "repositoryId": repo1.to_string(), "clientMutationId": "e1" } }),
        )
        .await;
    assert_eq!(
        data["eraseDeliveryPayloads"],
        json!({ "erased": 8, "pendingLeft": 2, "clientMutationId": "e1" })
    );
    // Again: nothing more to erase.
    let data = app
        .ok(
            ERASE,
            json!({ "i": { "before": before.to_string(), "repositoryId": repo1.to_string() } }),
        )
        .await;
    assert_eq!(data["eraseDeliveryPayloads"]["erased"], 0);
    // Every repository: the other one's 5; 3 waiting left in all.
    let data = app
        .ok(ERASE, json!({ "i": { "before": before.to_string() } }))
        .await;
    assert_eq!(data["eraseDeliveryPayloads"]["erased"], 5, "{data}");
    assert_eq!(data["eraseDeliveryPayloads"]["pendingLeft"], 3, "{data}");

    let conn = app.state.store.conn();
    let row = |id: i64| async move {
        webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::Id.eq(id))
            .one(conn)
            .await
            .expect("row")
            .expect("still there")
    };
    for w in repo1_done.iter().chain(&repo2_done) {
        let d = row(w.id).await;
        assert_eq!(d.body, "", "{w:?}");
        assert_eq!(d.last_response, None, "{w:?}");
        assert!(d.erased_at.is_some(), "{w:?}");
        for a in attempts_of(&app, w.id).await {
            assert_eq!(a.response_excerpt, None, "{w:?}");
        }
    }
    for w in waiting.iter().chain(&young).chain(&theirs) {
        let d = row(w.id).await;
        assert!(d.body.contains("personal data"), "{w:?} was erased");
        assert!(d.erased_at.is_none(), "{w:?}");
        assert_eq!(d.last_response.as_deref(), Some("thanks, personal data"));
        for a in attempts_of(&app, w.id).await {
            assert!(a.response_excerpt.is_some(), "{w:?}");
        }
    }

    // The log shows the erasure; a redelivery is refused with its own code and changes nothing.
    let erased = &repo1_done[0];
    let data = app
        .ok(
            "query($id: String!) { webhookDelivery(id: $id) { state erased erasedAt payload { data }
               response { data } attempts { responseExcerpt } } }",
            json!({ "id": erased.uuid }),
        )
        .await;
    let d = &data["webhookDelivery"];
    assert_eq!(d["erased"], true, "{d}");
    assert!(d["erasedAt"].as_i64().is_some(), "{d}");
    assert_eq!(d["payload"]["data"], "", "{d}");
    assert_eq!(d["response"]["data"], "", "{d}");
    assert_eq!(d["attempts"][0]["responseExcerpt"], json!(null), "{d}");
    let resp = app
        .gql(
            "mutation($i: WebhookRedeliverInput!) { webhookRedeliver(input: $i) { delivery { state } } }",
            json!({ "i": { "deliveryId": erased.uuid } }),
        )
        .await;
    assert_eq!(error_code(&resp), Some("ERASED"), "{resp}");
    assert_eq!(row(erased.id).await.state, "DELIVERED");
    let data = app
        .ok(
            "query($id: String!) { webhookDelivery(id: $id) { erased } }",
            json!({ "id": young[0].uuid }),
        )
        .await;
    assert_eq!(data["webhookDelivery"]["erased"], false);
    app.stop().await;
}
