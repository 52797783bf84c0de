//! "Why was it not delivered?" (`event(id) { routing }`, issue 19): for an event of the
//! organization, every endpoint it has says whether the outbox wrote a delivery for it or why
//! not (its patterns, its repository scope, disabled, deleted, made after the event, a chat
//! robot and an audit event), and a delivery whose target was refused says so. Another
//! organization's event is NOT_FOUND, exactly like one that does not exist.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::utils::robots::{Robot, Vendor};
use crate::utils::{
    deliveries, error_code, insert_unchecked_endpoints, save_endpoints, Receiver, TestApp,
};

const ROUTING: &str = "query($id: ID!) { event(id: $id) { id kind action filterKey createdAt
    routing { endpoint { id url kind enabled deleted } matched reason message delivery { id state } } } }";

/// `event(id)` of the app's organization.
async fn event(app: &TestApp, id: &str) -> Value {
    app.ok(ROUTING, json!({ "id": id })).await["event"].clone()
}

/// The routing of an event by endpoint id: (matched, reason).
fn by_endpoint(event: &Value) -> HashMap<String, (bool, Value, Value)> {
    event["routing"]
        .as_array()
        .expect("routing")
        .iter()
        .map(|r| {
            (
                r["endpoint"]["id"].as_str().expect("id").to_owned(),
                (
                    r["matched"].as_bool().expect("matched"),
                    r["reason"].clone(),
                    r["endpoint"].clone(),
                ),
            )
        })
        .collect()
}

/// The event id of the first delivery of the organization matching `pick`.
async fn event_of(app: &TestApp, pick: impl Fn(&Value) -> bool) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let data = app
            .ok(
                "{ ownerInfo { webhookDeliveries(last: 100) { edges { node { id endpointId eventId state
                    payload { event action data } } } } } }",
                json!({}),
            )
            .await;
        let found = data["ownerInfo"]["webhookDeliveries"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"].clone())
            .find(|d| pick(d));
        if let Some(d) = found {
            return d["eventId"].as_str().expect("event id").to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no such delivery: {data}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn routing_says_where_an_event_went_and_why_not_elsewhere() {
    let app = TestApp::spawn().await;
    let ok = Receiver::start(vec![]).await;
    let robot = Robot::start(Vendor::Slack, None).await;
    let a = app.create_repository("routed-a").await;
    let b = app.create_repository("routed-b").await;
    let saved = save_endpoints(
        &app,
        &app.org,
        json!([
            { "webhookURL": format!("{}/match", ok.url()), "events": ["build.*"] },
            { "webhookURL": format!("{}/pattern", ok.url()), "events": ["task.failed"] },
            { "webhookURL": format!("{}/scope", ok.url()), "events": ["*"], "repositoryId": b },
            { "webhookURL": format!("{}/disabled", ok.url()), "events": ["*"], "enabled": false },
            { "kind": "SLACK", "webhookURL": robot.url(), "events": ["task.failed"] },
            { "webhookURL": format!("{}/audit", ok.url()), "events": ["audit_event.*"] },
            { "webhookURL": format!("{}/gone", ok.url()), "events": ["*"] },
        ]),
    )
    .await;
    assert!(saved.get("errors").is_none(), "{saved}");
    let endpoints = saved["data"]["saveWebHookSettings"]["settings"]["endpoints"]
        .as_array()
        .expect("endpoints")
        .clone();
    let id = |i: usize| endpoints[i]["id"].as_str().expect("id").to_owned();
    let (matched, pattern, scope, disabled, chat, audit, gone) =
        (id(0), id(1), id(2), id(3), id(4), id(5), id(6));

    // One build of repository a with a task: build.created, task.created, and the
    // mutation's audit event.
    let (build, _) = app.create_build(&a, &[("t", false)], false).await;
    let build_event = event_of(&app, |d| {
        d["endpointId"] == matched.as_str() && d["payload"]["event"] == "build"
    })
    .await;
    let audit_event = event_of(&app, |d| {
        d["endpointId"] == audit.as_str()
            && d["payload"]["data"]
                .as_str()
                .is_some_and(|s| s.contains("RepositoryCreateBuild"))
    })
    .await;

    // Then the settings change: the last endpoint goes, a new one comes.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let again = json!([
        { "id": matched, "webhookURL": format!("{}/match", ok.url()), "events": ["build.*"] },
        { "id": pattern, "webhookURL": format!("{}/pattern", ok.url()), "events": ["task.failed"] },
        { "id": scope, "webhookURL": format!("{}/scope", ok.url()), "events": ["*"], "repositoryId": b },
        { "id": disabled, "webhookURL": format!("{}/disabled", ok.url()), "events": ["*"], "enabled": false },
        { "id": chat, "kind": "SLACK", "webhookURL": robot.url(), "events": ["task.failed"] },
        { "id": audit, "webhookURL": format!("{}/audit", ok.url()), "events": ["audit_event.*"] },
        { "webhookURL": format!("{}/late", ok.url()), "events": ["*"] },
    ]);
    let resaved = save_endpoints(&app, &app.org, again).await;
    assert!(resaved.get("errors").is_none(), "{resaved}");
    let late = resaved["data"]["saveWebHookSettings"]["settings"]["endpoints"][6]["id"]
        .as_str()
        .expect("late id")
        .to_owned();

    let shown = event(&app, &build_event).await;
    assert_eq!(shown["kind"], "build");
    assert_eq!(shown["filterKey"], "build.created");
    let routes = by_endpoint(&shown);
    assert_eq!(routes.len(), 8, "every endpoint, deleted ones too: {shown}");
    let reason = |id: &str| routes[id].1.as_str().map(str::to_owned);
    assert!(routes[&matched].0, "{shown}");
    assert_eq!(reason(&matched), None, "{shown}");
    for (id, why) in [
        (&pattern, "PATTERN"),
        (&scope, "REPOSITORY_SCOPE"),
        (&disabled, "DISABLED"),
        (&chat, "PATTERN"),
        (&audit, "PATTERN"),
        (&late, "CREATED_AFTER_EVENT"),
    ] {
        assert!(!routes[id].0, "{id}: {shown}");
        assert_eq!(reason(id).as_deref(), Some(why), "{id}: {shown}");
    }
    // The deleted endpoint took it (`*`) before it was deleted: matched, and sent.
    assert!(routes[&gone].0, "{shown}");
    assert_eq!(routes[&gone].2["deleted"], true);
    // A robot's URL is shown masked, as everywhere.
    let robot_url = routes[&chat].2["url"].as_str().expect("url");
    assert!(!robot_url.contains(&robot.token), "{robot_url}");

    let shown = event(&app, &audit_event).await;
    assert_eq!(shown["kind"], "audit_event");
    let routes = by_endpoint(&shown);
    let reason = |id: &str| routes[id].1.as_str().map(str::to_owned);
    assert!(routes[&audit].0, "{shown}");
    assert_eq!(reason(&chat).as_deref(), Some("KIND_FILTER"), "{shown}");
    assert_eq!(reason(&matched).as_deref(), Some("PATTERN"), "{shown}");
    // `*` never selects audit events: that, not its state, is why these did not get it.
    assert_eq!(reason(&disabled).as_deref(), Some("PATTERN"), "{shown}");
    assert_eq!(reason(&gone).as_deref(), Some("PATTERN"), "{shown}");

    // Another organization sees neither event, nor a made-up one.
    let other = app.new_org("other").await;
    for id in [build_event.as_str(), "999999", "not-an-id"] {
        let resp = app.gql_as(&other.token, ROUTING, json!({ "id": id })).await;
        assert_eq!(error_code(&resp), Some("NOT_FOUND"), "{resp}");
    }
    assert!(!build.is_empty());
}

#[tokio::test]
async fn a_delivery_whose_target_was_refused_says_so() {
    // Private targets refused: the endpoint row points at loopback (written as if saved while
    // its name resolved elsewhere), so the dispatcher refuses it when sending.
    let app = TestApp::spawn_with(|c| c.allow_private_targets = false).await;
    let ids = insert_unchecked_endpoints(&app, &["http://127.0.0.1:9/hook".to_owned()]).await;
    let repo = app.create_repository("refused").await;
    app.create_build(&repo, &[("t", false)], false).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let delivery = loop {
        let all = deliveries(&app).await;
        if let Some(d) = all.iter().find(|d| d["state"] == "FAILED") {
            break d.clone();
        }
        assert!(std::time::Instant::now() < deadline, "{all:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let event_id = event_of(&app, |d| d["id"] == delivery["id"]).await;
    let shown = event(&app, &event_id).await;
    let routes = by_endpoint(&shown);
    let (matched, reason, _) = &routes[&ids[0].to_string()];
    assert!(matched, "{shown}");
    assert_eq!(reason, "REFUSED_TARGET", "{shown}");
}
