//! Endpoints disabled by buildhooks: a `410 Gone` disables at once; deliveries that all fail
//! for `disable_after` and at least `disable_min_failures` in a row disable (a small policy here:
//! 1 s and 3); the `endpoint.disabled` event reaches the organization's endpoint that selects
//! `endpoint.*` and not one that selects `*`; deliveries queued for the disabled endpoint fail
//! with `endpoint_disabled` without a request; re-enabling is refused with
//! `TEST_MESSAGE_FAILED` while the test message fails, and sends `endpoint.recovered` once it
//! succeeds.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::endpoints;
use crate::utils::{error_code, save_endpoints, settled_deliveries, Receiver, Reply, TestApp};

const ENABLE: &str =
    "mutation($i: EnableWebhookEndpointInput!) { enableWebhookEndpoint(input: $i) {
    endpoint { id enabled disabledReason disabledAt failingSince } testDelivery { id state } } }";

/// Waits until endpoint `index` is disabled (10 s at most); returns it.
async fn disabled(app: &TestApp, index: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ep = endpoints(app).await[index].clone();
        if ep["enabled"] == false {
            return ep;
        }
        assert!(Instant::now() < deadline, "never disabled: {ep}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The operational events `receiver` got: (X-Cirrus-Event, body).
fn operational(receiver: &Receiver) -> Vec<(String, Value)> {
    receiver
        .received()
        .iter()
        .filter(|r| r.header("x-cirrus-event").as_deref() == Some("endpoint"))
        .map(|r| ("endpoint".to_owned(), r.json()))
        .collect()
}

async fn wait_operational(receiver: &Receiver, n: usize) -> Vec<(String, Value)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = operational(receiver);
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_410_disables_the_endpoint_and_tells_the_endpoints_that_select_it() {
    let app = TestApp::spawn().await;
    // A 503 first: that delivery waits for its retry, queued while the endpoint is disabled.
    let gone = Receiver::start(vec![Reply::status(503)]).await;
    gone.set_default(Reply::status(410));
    let watcher = Receiver::start(vec![]).await;
    let everything = Receiver::start(vec![]).await;
    let resp = save_endpoints(
        &app,
        &app.org,
        json!([
            { "webhookURL": gone.url(), "events": ["build.created"], "retrySchedule": [1, 1] },
            { "webhookURL": watcher.url(), "events": ["endpoint.*"] },
            { "webhookURL": everything.url(), "events": ["*"] },
        ]),
    )
    .await;
    assert!(resp.get("errors").is_none(), "{resp}");
    let repo = app.create_repository("gone").await;
    app.create_build(&repo, &[("test", false)], false).await;
    gone.wait_for(1, Duration::from_secs(10)).await;
    app.create_build(&repo, &[("test", false)], false).await;

    let ep = disabled(&app, 0).await;
    assert_eq!(ep["disabledReason"], "410 Gone", "{ep}");
    assert!(ep["disabledAt"].as_i64().is_some(), "{ep}");

    let events = wait_operational(&watcher, 1).await;
    assert_eq!(events.len(), 1, "one endpoint.disabled event");
    let body = &events[0].1;
    assert_eq!(body["action"], "disabled", "{body}");
    assert_eq!(body["data"]["endpoint"]["id"], ep["id"], "{body}");
    assert_eq!(body["data"]["endpoint"]["disabledReason"], "410 Gone");
    assert_eq!(body["data"]["endpoint"]["enabled"], false);

    // The delivery queued for it (the first build's, waiting for its retry) fails without a
    // request, with a stable error; a redelivery can send it once it is enabled again.
    let all = settled_deliveries(&app, 6).await;
    let to_gone: Vec<&Value> = all
        .iter()
        .filter(|d| d["webhookURL"] == gone.url().as_str())
        .collect();
    assert_eq!(to_gone.len(), 2, "{all:?}");
    let queued = to_gone[0];
    assert_eq!(queued["state"], "FAILED", "{queued}");
    assert_eq!(queued["attempts"][0]["status"], 503, "{queued}");
    assert_eq!(
        queued["attempts"][1]["error"], "endpoint_disabled",
        "{queued}"
    );
    let answered = to_gone[1];
    assert_eq!(answered["attempts"][0]["status"], 410, "{answered}");
    assert_eq!(
        answered["attemptCount"], 1,
        "a 4xx is not retried: {answered}"
    );
    assert_eq!(
        gone.received().len(),
        2,
        "nothing sent to a disabled endpoint"
    );
    // New events are not queued for it at all.
    app.create_build(&repo, &[("test", false)], false).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = crate::utils::deliveries(&app).await;
    assert_eq!(
        again
            .iter()
            .filter(|d| d["webhookURL"] == gone.url().as_str())
            .count(),
        2
    );
    // `*` never selects operational events.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        everything
            .received()
            .iter()
            .all(|r| r.header("x-cirrus-event").as_deref() != Some("endpoint")),
        "* takes no endpoint events"
    );
    assert!(!everything.received().is_empty(), "* takes build events");
}

#[tokio::test]
async fn failing_endpoints_are_disabled_at_the_threshold_and_re_enabled_after_a_test_message() {
    let app = TestApp::spawn_with(|config| {
        config.disable_after = Duration::from_secs(1);
        config.disable_min_failures = 3;
    })
    .await;
    let failing = Receiver::start(vec![]).await;
    failing.set_default(Reply::status(400));
    let watcher = Receiver::start(vec![]).await;
    save_endpoints(
        &app,
        &app.org,
        json!([
            { "webhookURL": failing.url(), "events": ["build.created"] },
            { "webhookURL": watcher.url(), "events": ["endpoint.disabled", "endpoint.recovered"] },
        ]),
    )
    .await;
    let repo = app.create_repository("flaky").await;
    // Three failures within the first second: enough in a row, not yet for long enough.
    for _ in 0..3 {
        app.create_build(&repo, &[("test", false)], false).await;
    }
    failing.wait_for(3, Duration::from_secs(10)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let ep = loop {
        let ep = endpoints(&app).await[0].clone();
        if ep["failedDeliveries"] == 3 || Instant::now() > deadline {
            break ep;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(ep["failedDeliveries"], 3, "{ep}");
    assert!(ep["failingSince"].as_i64().is_some(), "{ep}");
    assert_eq!(ep["enabled"], true, "under a second of failures: {ep}");

    tokio::time::sleep(Duration::from_millis(1_100)).await;
    app.create_build(&repo, &[("test", false)], false).await;
    let ep = disabled(&app, 0).await;
    let reason = ep["disabledReason"].as_str().expect("reason");
    assert!(reason.contains("4 in a row"), "{reason}");
    let events = wait_operational(&watcher, 1).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1["action"], "disabled");
    assert_eq!(events[0].1["data"]["endpoint"]["id"], ep["id"]);

    // Re-enabling while the receiver still fails: refused, with its status; still disabled.
    let resp = app
        .gql(ENABLE, json!({ "i": { "endpointId": ep["id"] } }))
        .await;
    assert_eq!(error_code(&resp), Some("TEST_MESSAGE_FAILED"), "{resp}");
    assert_eq!(resp["errors"][0]["extensions"]["status"], 400, "{resp}");
    let last = failing
        .received()
        .last()
        .cloned()
        .expect("the test message");
    assert_eq!(last.header("x-cirrus-event").as_deref(), Some("ping"));
    let still = endpoints(&app).await[0].clone();
    assert_eq!(still["enabled"], false, "{still}");
    assert_eq!(still["disabledReason"], ep["disabledReason"]);
    // A save cannot bring it back without the test message.
    let saved = app
        .ok(
            "query($uid: ID){ ownerInfo(uid: $uid) { webhookSettings { endpoints { id webhookURL events } } } }",
            json!({ "uid": app.org.uid }),
        )
        .await;
    let list: Vec<Value> = saved["ownerInfo"]["webhookSettings"]["endpoints"]
        .as_array()
        .expect("list")
        .iter()
        .map(|e| json!({ "id": e["id"], "webhookURL": e["webhookURL"], "events": e["events"], "enabled": true }))
        .collect();
    let resp = save_endpoints(&app, &app.org, Value::Array(list)).await;
    assert!(resp.get("errors").is_none(), "{resp}");
    assert_eq!(endpoints(&app).await[0]["enabled"], false, "held disabled");

    // Once the receiver answers, the test message succeeds and the endpoint is back.
    failing.set_default(Reply::status(200));
    let data = app
        .ok(ENABLE, json!({ "i": { "endpointId": ep["id"] } }))
        .await;
    let payload = &data["enableWebhookEndpoint"];
    assert_eq!(payload["endpoint"]["enabled"], true, "{payload}");
    assert_eq!(payload["endpoint"]["disabledReason"], Value::Null);
    assert_eq!(payload["endpoint"]["failingSince"], Value::Null);
    assert_eq!(payload["testDelivery"]["state"], "DELIVERED");
    let events = wait_operational(&watcher, 2).await;
    assert_eq!(events.len(), 2, "endpoint.recovered too");
    assert_eq!(events[1].1["action"], "recovered");
    assert_eq!(events[1].1["data"]["endpoint"]["id"], ep["id"]);
    assert_eq!(events[1].1["data"]["endpoint"]["enabled"], true);

    // Enabled again: its deliveries go out.
    let before = failing.received().len();
    app.create_build(&repo, &[("test", false)], false).await;
    let got = failing.wait_for(before + 1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), before + 1);
    let resp = app
        .gql(ENABLE, json!({ "i": { "endpointId": ep["id"] } }))
        .await;
    assert_eq!(error_code(&resp), Some("INVALID_TRANSITION"), "{resp}");
}
