//! Delivery control (issue 19), against real receivers on 127.0.0.1:0: retry schedules (the
//! gaps between attempts, `X-Cirrus-Attempt`, the delivery's `nextAttemptAt`, `Retry-After`
//! honoured up to the step) here; `410 Gone`, auto-disable and re-enabling in `disable`. A
//! receiver that answers `Retry-After` is this module's own ([`Scripted`]).

mod disable;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{json, Value};

use crate::utils::{error_code, save_endpoints, Receiver, Reply, TestApp};

/// The script left (status, `Retry-After`) and the requests so far (arrival, headers).
type Shared = Arc<
    Mutex<(
        VecDeque<(u16, Option<&'static str>)>,
        Vec<(Instant, HeaderMap)>,
    )>,
>;

/// A receiver answering a script of (status, `Retry-After`), then 200; it records each
/// request's arrival and headers.
#[derive(Clone)]
pub struct Scripted {
    addr: SocketAddr,
    inner: Shared,
}

async fn answer(State(inner): State<Shared>, headers: HeaderMap) -> impl IntoResponse {
    let (status, retry_after) = {
        let mut inner = inner.lock().expect("lock");
        inner.1.push((Instant::now(), headers));
        inner.0.pop_front().unwrap_or((200, None))
    };
    let mut out = HeaderMap::new();
    if let Some(value) = retry_after {
        out.insert("retry-after", value.parse().expect("header"));
    }
    (
        StatusCode::from_u16(status).expect("status"),
        out,
        "scripted",
    )
}

impl Scripted {
    pub async fn start(script: Vec<(u16, Option<&'static str>)>) -> Self {
        let inner = Arc::new(Mutex::new((script.into(), Vec::new())));
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Scripted { addr, inner }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Waits for `n` requests (20 s at most); returns every request's arrival and headers.
    pub async fn wait_for(&self, n: usize) -> Vec<(Instant, HeaderMap)> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.inner.lock().expect("lock").1.clone();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The endpoints' control fields, in order.
pub async fn endpoints(app: &TestApp) -> Vec<Value> {
    let data = app
        .ok(
            "query($uid: ID){ ownerInfo(uid: $uid) { webhookSettings { endpoints {
                id webhookURL enabled retrySchedule disabledReason disabledAt failingSince failedDeliveries } } } }",
            json!({ "uid": app.org.uid }),
        )
        .await;
    data["ownerInfo"]["webhookSettings"]["endpoints"]
        .as_array()
        .expect("endpoints")
        .clone()
}

/// The gap between two arrivals, in seconds.
fn gap(a: Instant, b: Instant) -> f64 {
    b.duration_since(a).as_secs_f64()
}

fn attempt_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-cirrus-attempt")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[tokio::test]
async fn bad_retry_schedules_are_refused_on_the_field_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    for (steps, why) in [
        (json!([0]), "zero"),
        (json!([86_401]), "over a day"),
        (json!([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), "eleven steps"),
    ] {
        let resp = save_endpoints(
            &app,
            &app.org,
            json!([{ "webhookURL": receiver.url(), "retrySchedule": steps }]),
        )
        .await;
        assert_eq!(error_code(&resp), Some("VALIDATION"), "{why}: {resp}");
        assert_eq!(
            resp["errors"][0]["extensions"]["field"], "deliveryEndpoints[0].retrySchedule",
            "{why}"
        );
        assert!(endpoints(&app).await.is_empty(), "{why}: nothing written");
    }
    // Saved, read back; a save without the field keeps it; null is Cirrus's rule again.
    let resp = save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": receiver.url(), "retrySchedule": [5, 300, 1800] }]),
    )
    .await;
    assert!(resp.get("errors").is_none(), "{resp}");
    assert_eq!(
        endpoints(&app).await[0]["retrySchedule"],
        json!([5, 300, 1800])
    );
    save_endpoints(&app, &app.org, json!([{ "webhookURL": receiver.url() }])).await;
    assert_eq!(
        endpoints(&app).await[0]["retrySchedule"],
        json!([5, 300, 1800])
    );
    save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": receiver.url(), "retrySchedule": null }]),
    )
    .await;
    assert_eq!(endpoints(&app).await[0]["retrySchedule"], Value::Null);
}

#[tokio::test]
async fn a_three_step_schedule_retries_at_its_gaps_and_counts_attempts() {
    let app = TestApp::spawn().await;
    let receiver = Scripted::start(vec![(500, None), (502, None)]).await;
    let resp = save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": receiver.url(), "events": ["build.created"], "retrySchedule": [1, 2, 4] }]),
    )
    .await;
    assert!(resp.get("errors").is_none(), "{resp}");
    let repo = app.create_repository("sched").await;
    app.create_build(&repo, &[("test", false)], false).await;

    // After the first attempt the delivery waits for the schedule's first step, as GraphQL shows.
    let first = receiver.wait_for(1).await;
    assert_eq!(first.len(), 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    let pending = loop {
        let data = app
            .ok(
                "{ ownerInfo { webhookDeliveries(last: 1) { edges { node { id state attemptCount nextAttemptAt attempts { number at } } } } } }",
                json!({}),
            )
            .await;
        let node = data["ownerInfo"]["webhookDeliveries"]["edges"][0]["node"].clone();
        if node["attemptCount"] == 1 {
            break node;
        }
        assert!(
            Instant::now() < deadline,
            "the first attempt is never recorded: {node}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(pending["state"], "PENDING", "{pending}");
    let wait_ms = pending["nextAttemptAt"].as_i64().expect("next")
        - pending["attempts"][0]["at"].as_i64().expect("at");
    assert!(
        (790..=1_300).contains(&wait_ms),
        "the next attempt is due after the first step (1 s +/-20%): {wait_ms} ms"
    );

    let got = receiver.wait_for(3).await;
    // No fourth attempt: the third succeeded.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let got_after = receiver.wait_for(0).await;
    assert_eq!(got_after.len(), 3, "exactly three attempts");
    let (g1, g2) = (gap(got[0].0, got[1].0), gap(got[1].0, got[2].0));
    println!("schedule [1, 2, 4]: gaps {g1:.3} s, {g2:.3} s");
    assert!((0.79..=1.5).contains(&g1), "first gap ~1 s: {g1}");
    assert!((1.59..=2.7).contains(&g2), "second gap ~2 s: {g2}");
    let numbers: Vec<_> = got.iter().map(|(_, h)| attempt_header(h)).collect();
    assert_eq!(
        numbers,
        [Some("1".into()), Some("2".into()), Some("3".into())],
        "X-Cirrus-Attempt"
    );
    let ids: Vec<_> = got
        .iter()
        .map(|(_, h)| h.get("x-cirrus-delivery").cloned())
        .collect();
    assert!(
        ids.iter().all(|id| id.is_some() && *id == ids[0]),
        "one delivery"
    );
    let data = app
        .ok(
            "{ ownerInfo { webhookDeliveries(last: 1) { edges { node { state attemptCount } } } } }",
            json!({}),
        )
        .await;
    let node = &data["ownerInfo"]["webhookDeliveries"]["edges"][0]["node"];
    assert_eq!(node["state"], "DELIVERED", "{node}");
    assert_eq!(node["attemptCount"], 3, "{node}");
}

#[tokio::test]
async fn retry_after_on_503_and_429_is_honoured_up_to_the_step() {
    let app = TestApp::spawn().await;
    // Step 1 is 5 s: Retry-After 2 is shorter, so the retry comes after 2 s. Step 2 is 1 s:
    // Retry-After 60 is capped at it.
    let receiver = Scripted::start(vec![(503, Some("2")), (429, Some("60"))]).await;
    save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": receiver.url(), "events": ["build.created"], "retrySchedule": [5, 1] }]),
    )
    .await;
    let repo = app.create_repository("after").await;
    app.create_build(&repo, &[("test", false)], false).await;
    let got = receiver.wait_for(3).await;
    assert_eq!(got.len(), 3, "three attempts");
    let (g1, g2) = (gap(got[0].0, got[1].0), gap(got[1].0, got[2].0));
    println!("Retry-After 2 on step 5 s: {g1:.3} s; Retry-After 60 on step 1 s: {g2:.3} s");
    assert!(g1 >= 2.0, "Retry-After 2 honoured: {g1}");
    assert!(g1 < 3.5, "not the 5 s step: {g1}");
    assert!((0.95..2.0).contains(&g2), "capped by the 1 s step: {g2}");
}

#[tokio::test]
async fn without_a_schedule_cirrus_rule_stands_one_retry_and_a_success_ends_a_failing_spell() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    receiver.set_default(Reply::status(500));
    save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": receiver.url(), "events": ["build.created"] }]),
    )
    .await;
    let repo = app.create_repository("cirrus").await;
    app.create_build(&repo, &[("test", false)], false).await;
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.received().len(),
        2,
        "the first attempt and one retry"
    );
    assert_eq!(got[0].header("x-cirrus-attempt").as_deref(), Some("1"));
    assert_eq!(got[1].header("x-cirrus-attempt").as_deref(), Some("2"));

    // The delivery ended FAILED: the endpoint is failing, counted; the next success ends it.
    let deadline = Instant::now() + Duration::from_secs(5);
    let ep = loop {
        let ep = endpoints(&app).await[0].clone();
        if ep["failedDeliveries"] == 1 || Instant::now() > deadline {
            break ep;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(ep["failedDeliveries"], 1, "{ep}");
    assert!(ep["failingSince"].as_i64().is_some(), "{ep}");
    receiver.set_default(Reply::status(200));
    app.create_build(&repo, &[("test", false)], false).await;
    receiver.wait_for(3, Duration::from_secs(10)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let ep = loop {
        let ep = endpoints(&app).await[0].clone();
        if ep["failingSince"].is_null() || Instant::now() > deadline {
            break ep;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(ep["failingSince"], Value::Null, "{ep}");
    assert_eq!(ep["failedDeliveries"], 0, "{ep}");
    assert_eq!(ep["enabled"], true);
}
