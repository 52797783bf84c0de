//! NATS JetStream endpoints against the real server: a transition reaches a JetStream consumer
//! under the default subject with the webhook's headers, `Nats-Msg-Id` = the delivery id and a
//! signature both the receiver crate and a hand-made HMAC verify; a template with
//! `{repository}` and `{build}` renders; a subject no stream covers fails `unroutable` after
//! one retry; `PER_BUILD` keeps each build's events in order on the stream; a redelivery is
//! published under a new message id, so JetStream's duplicate window does not drop it; a broker
//! nothing answers at fails `connect` after one retry and `/metrics` shows it down.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};

use super::{
    assert_delivered_once, attempts, id_of, redeliver, save_ok, settled, spawn, NATS_BROKER,
};
use crate::chat::settle;
use crate::utils::brokers::{assert_signed, nats_url, unique, JetStream, Received};
use crate::utils::TestApp;

const WITHIN: Duration = Duration::from_secs(15);

/// The message of `stream` whose `x-cirrus-delivery` is `id`.
fn message_of<'a>(got: &'a [Received], id: &str) -> &'a Received {
    got.iter()
        .find(|m| m.delivery() == id)
        .unwrap_or_else(|| panic!("no message for delivery {id}: {got:?}"))
}

#[tokio::test]
async fn a_transition_reaches_a_jetstream_consumer_under_the_default_subject_signed() {
    let Some(url) = nats_url() else { return };
    let app = spawn(Some(&url), None, |_| {}).await;
    let org = app.org.uid.clone();
    let mut stream = JetStream::create(&url, &[format!("buildhooks.{org}.>")]).await;
    let secret = format!("s3cret-{}", unique(""));
    let saved = save_ok(
        &app,
        json!([{ "kind": "NATS", "broker": NATS_BROKER, "secretToken": secret,
                 "events": ["build.created", "task.created"] }]),
    )
    .await;
    assert_eq!(saved[0]["kind"], "NATS");
    assert_eq!(saved[0]["subject"], "buildhooks.{org}.{event}.{status}");
    let repo = app.create_repository("jetstream").await;
    let (build, _) = app.create_build(&repo, &[("a", false)], false).await;

    let got = stream.fetch(2, WITHIN).await;
    let rows = settle(&app, &app.org, 2, WITHIN).await;
    assert_eq!(rows.len(), 2, "build.created and task.created: {rows:?}");
    for d in &rows {
        assert_delivered_once(d);
        let id = id_of(d);
        let m = message_of(&got, id);
        let event = d["payload"]["event"].as_str().expect("event");
        let subject = format!("buildhooks.{org}.{event}.created");
        assert_eq!(m.subject, subject);
        assert_eq!(d["webhookURL"], format!("nats://{NATS_BROKER}/{subject}"));
        assert_eq!(m.header("x-cirrus-event"), Some(event));
        assert_eq!(m.header("x-cirrus-delivery"), Some(id));
        assert_eq!(m.message_id.as_deref(), Some(id), "Nats-Msg-Id: {m:?}");
        assert_eq!(m.header("content-type"), Some("application/json"));
        let ts: i64 = m
            .header("x-cirrus-timestamp")
            .expect("x-cirrus-timestamp")
            .parse()
            .expect("a timestamp in ms");
        assert!(ts > 1_600_000_000_000, "{ts}");
        assert_signed(&secret, m);
        let body = m.json();
        assert_eq!(body["action"], "created");
        assert_eq!(
            body["data"]["build"]["id"].to_string().trim_matches('"'),
            build
        );
    }
    assert_eq!(
        stream.rest(Duration::from_millis(500)).await.len(),
        0,
        "one message per delivery"
    );
    let metrics = crate::utils::metrics_at(&app.client, app.addr).await;
    assert!(
        metrics.contains(&format!(
            "buildhooks_broker_up{{kind=\"nats\",broker=\"{NATS_BROKER}\"}} 1"
        )),
        "{metrics}"
    );
    stream.delete().await;
}

#[tokio::test]
async fn a_subject_template_renders_the_repository_and_the_build() {
    let Some(url) = nats_url() else { return };
    let app = spawn(Some(&url), None, |_| {}).await;
    let prefix = unique("bh");
    let mut stream = JetStream::create(&url, &[format!("{prefix}.>")]).await;
    let template = format!("{prefix}.{{org}}.{{repository}}.{{build}}.{{event}}.{{action}}");
    let saved = save_ok(
        &app,
        json!([{ "kind": "NATS", "broker": NATS_BROKER, "subject": template,
                 "events": ["build.created", "task.triggered"] }]),
    )
    .await;
    assert_eq!(saved[0]["subject"], template);
    assert_eq!(
        saved[0]["webhookURL"],
        format!("nats://{NATS_BROKER}/{template}")
    );
    let repo = app.create_repository("templated").await;
    let (build, tasks) = app.create_build(&repo, &[("a", false)], false).await;
    app.move_task(&tasks[0], &["TRIGGERED"]).await;

    let got = stream.fetch(2, WITHIN).await;
    let rows = settle(&app, &app.org, 2, WITHIN).await;
    let org = &app.org.uid;
    let mut subjects: Vec<&str> = got.iter().map(|m| m.subject.as_str()).collect();
    subjects.sort();
    assert_eq!(
        subjects,
        [
            format!("{prefix}.{org}.{repo}.{build}.build.created"),
            format!("{prefix}.{org}.{repo}.{build}.task.updated"),
        ]
    );
    for d in &rows {
        assert_delivered_once(d);
        let m = message_of(&got, id_of(d));
        assert_eq!(
            d["webhookURL"],
            format!("nats://{NATS_BROKER}/{}", m.subject)
        );
    }
    stream.delete().await;
}

#[tokio::test]
async fn a_subject_no_stream_covers_fails_unroutable_after_one_retry() {
    let Some(url) = nats_url() else { return };
    let app = spawn(Some(&url), None, |_| {}).await;
    let prefix = unique("bhnone");
    save_ok(
        &app,
        json!([{ "kind": "NATS", "broker": NATS_BROKER,
                 "subject": format!("{prefix}.{{org}}.{{event}}"), "events": ["build.created"] }]),
    )
    .await;
    let repo = app.create_repository("nowhere").await;
    app.create_build(&repo, &[("a", false)], false).await;
    let rows = settle(&app, &app.org, 1, WITHIN).await;
    assert_eq!(rows.len(), 1);
    let d = &rows[0];
    assert_eq!(d["state"], "FAILED", "{d}");
    let unroutable = (Value::Null, json!("unroutable"));
    assert_eq!(attempts(d), [unroutable.clone(), unroutable], "{d}");
}

#[tokio::test]
async fn a_broker_that_cannot_be_reached_is_retried_then_failed_and_shown_down() {
    // Runs without a NATS server: nothing listens on the port (bound, then freed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let app = spawn(Some(&format!("nats://127.0.0.1:{port}")), None, |_| {}).await;
    save_ok(
        &app,
        json!([{ "kind": "NATS", "broker": NATS_BROKER, "events": ["build.created"] }]),
    )
    .await;
    let metrics = crate::utils::metrics_at(&app.client, app.addr).await;
    assert!(
        !metrics.contains("buildhooks_broker_up{"),
        "not tried yet: {metrics}"
    );
    let repo = app.create_repository("down").await;
    app.create_build(&repo, &[("a", false)], false).await;
    let rows = settle(&app, &app.org, 1, WITHIN).await;
    let d = &rows[0];
    assert_eq!(d["state"], "FAILED", "{d}");
    let connect = (Value::Null, json!("connect"));
    assert_eq!(attempts(d), [connect.clone(), connect], "{d}");
    let metrics = crate::utils::metrics_at(&app.client, app.addr).await;
    assert!(
        metrics.contains(&format!(
            "buildhooks_broker_up{{kind=\"nats\",broker=\"{NATS_BROKER}\"}} 0"
        )),
        "{metrics}"
    );
}

/// Drives one build: two tasks, each moved through every status in turn.
async fn drive(app: &TestApp, repo: &str) {
    let (_, tasks) = app
        .create_build(repo, &[("a", false), ("b", false)], false)
        .await;
    for status in ["TRIGGERED", "SCHEDULED", "EXECUTING", "COMPLETED"] {
        for task in &tasks {
            app.move_task(task, &[status]).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_build_order_holds_on_the_stream() {
    const BUILDS: usize = 4;
    const EVENTS: usize = BUILDS * 10;
    let Some(url) = nats_url() else { return };
    let app = spawn(Some(&url), None, |_| {}).await;
    let prefix = unique("bh");
    let mut stream = JetStream::create(&url, &[format!("{prefix}.>")]).await;
    let saved = save_ok(
        &app,
        json!([{ "kind": "NATS", "broker": NATS_BROKER, "events": ["task.*"],
                 "subject": format!("{prefix}.{{org}}.{{build}}.{{event}}.{{status}}"),
                 "ordering": "PER_BUILD" }]),
    )
    .await;
    assert_eq!(saved[0]["ordering"], "PER_BUILD");
    let repo = app.create_repository("ordered").await;
    futures::stream::iter(0..BUILDS)
        .map(|_| drive(&app, &repo))
        .buffer_unordered(BUILDS)
        .collect::<Vec<()>>()
        .await;

    let got = stream.fetch(EVENTS, Duration::from_secs(30)).await;
    let rows = settle(&app, &app.org, EVENTS, Duration::from_secs(30)).await;
    assert_eq!(rows.len(), EVENTS);
    let build_of: HashMap<&str, String> = got
        .iter()
        .map(|m| (m.delivery(), m.json()["data"]["build"]["id"].to_string()))
        .collect();
    // Each build's deliveries in the outbox's order (rows are oldest first) ...
    let mut expected: HashMap<&str, Vec<&str>> = HashMap::new();
    for d in &rows {
        assert_eq!(d["state"], "DELIVERED", "{d}");
        let id = id_of(d);
        let build = build_of
            .get(id)
            .unwrap_or_else(|| panic!("delivery {id} never reached the stream"));
        expected.entry(build.as_str()).or_default().push(id);
    }
    // ... are the stream's order.
    let mut arrived: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut last_sequence = 0;
    for m in &got {
        let sequence = m.sequence.expect("a stream sequence");
        assert!(
            sequence > last_sequence,
            "the consumer reads in stream order"
        );
        last_sequence = sequence;
        arrived
            .entry(build_of[m.delivery()].as_str())
            .or_default()
            .push(m.delivery());
    }
    assert_eq!(arrived.len(), BUILDS);
    for (build, ids) in &expected {
        assert_eq!(
            arrived.get(build),
            Some(ids),
            "build {build}: the stream's order is not the outbox's"
        );
    }
    stream.delete().await;
}

#[tokio::test]
async fn a_redelivery_gets_a_new_message_id_so_the_duplicate_window_keeps_it() {
    let Some(url) = nats_url() else { return };
    let app = spawn(Some(&url), None, |_| {}).await;
    let prefix = unique("bh");
    let mut stream = JetStream::create(&url, &[format!("{prefix}.>")]).await;
    save_ok(
        &app,
        json!([{ "kind": "NATS", "broker": NATS_BROKER, "events": ["build.created"],
                 "subject": format!("{prefix}.{{org}}.{{event}}.{{status}}") }]),
    )
    .await;
    let repo = app.create_repository("again").await;
    app.create_build(&repo, &[("a", false)], false).await;
    let first = stream.fetch(1, WITHIN).await.remove(0);
    let rows = settle(&app, &app.org, 1, WITHIN).await;
    let id = id_of(&rows[0]).to_owned();
    assert_eq!(first.message_id.as_deref(), Some(id.as_str()));

    redeliver(&app, &id).await;
    let again = stream.fetch(1, WITHIN).await.remove(0);
    assert_eq!(again.delivery(), id, "the same delivery");
    assert_eq!(again.body, first.body, "the same bytes");
    assert_eq!(
        again.message_id,
        Some(format!("{id}.r1")),
        "a manual redelivery is published as <uuid>.r1"
    );
    assert_eq!(stream.messages().await, 2, "both are on the stream");
    let d = settled(&app, &id, 2).await;
    assert_eq!(d["state"], "DELIVERED", "{d}");
    assert_eq!(attempts(&d).len(), 2, "{d}");
    stream.delete().await;
}
