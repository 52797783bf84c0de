//! The deliveries log as the settings page reads it: `webhookDeliveries` filtered by endpoint,
//! state and event returns only matching rows and pages forwards then backwards onto the same
//! pages; each delivery carries its event's build, task and status change, the response status
//! and its latency; each attempt the receiver's response headers (a real receiver on
//! 127.0.0.1:0 that answers with its own header, a cookie and a token, the last two never
//! stored). Bad filters are VALIDATION, another organization's endpoint is NOT_FOUND exactly as
//! a missing one, and erasing payloads blanks the stored response headers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Router;
use buildhooks_entity::webhook_attempt;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use crate::utils::{error_code, save_endpoints, settled_deliveries, TestApp};

/// A receiver on 127.0.0.1:0: `/fail` answers 400, anything else 200, both with
/// `x-receiver-id: r-42`, a cookie and a token header.
pub(crate) async fn header_receiver() -> String {
    async fn answer(uri: Uri) -> (StatusCode, HeaderMap, &'static str) {
        let mut headers = HeaderMap::new();
        headers.insert("x-receiver-id", "r-42".parse().expect("value"));
        headers.insert("set-cookie", "session=s3cret".parse().expect("value"));
        headers.insert("x-auth-token", "t0ken".parse().expect("value"));
        match uri.path() {
            "/fail" => (StatusCode::BAD_REQUEST, headers, "no thanks"),
            _ => (StatusCode::OK, headers, "thanks"),
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, Router::new().fallback(answer)).await;
    });
    format!("http://{addr}")
}

const PAGE: &str =
    "query($first: Int, $after: String, $last: Int, $before: String, $endpointId: ID,
    $state: [String!], $event: String) {
  ownerInfo { webhookDeliveries(first: $first, after: $after, last: $last, before: $before,
      endpointId: $endpointId, state: $state, event: $event) {
    edges { cursor node { id state endpointId buildId taskId oldStatus newStatus latencyMs
      responseStatus payload { event action }
      attempts { number durationMs status responseHeaders { name value } } } }
    pageInfo { hasPreviousPage hasNextPage startCursor endCursor } } } }";

/// The filtered page's response (errors included).
async fn page(app: &TestApp, token: &str, vars: Value) -> Value {
    app.gql_as(token, PAGE, vars).await
}

fn nodes(resp: &Value) -> Vec<Value> {
    resp["data"]["ownerInfo"]["webhookDeliveries"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("edges: {resp}"))
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

fn ids(nodes: &[Value]) -> Vec<String> {
    nodes
        .iter()
        .map(|n| n["id"].as_str().expect("id").to_owned())
        .collect()
}

/// The ids of the deliveries among `all` that `keep` selects, in order.
fn picked(all: &[Value], keep: impl Fn(&Value) -> bool) -> Vec<String> {
    ids(&all.iter().filter(|n| keep(n)).cloned().collect::<Vec<_>>())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

#[tokio::test]
async fn filters_return_only_matching_rows_and_page_back_and_forth() {
    let app = TestApp::spawn().await;
    let base = header_receiver().await;
    let saved = save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": format!("{base}/ok"), "events": ["*"] },
               { "webhookURL": format!("{base}/fail"), "events": ["task.*"] }]),
    )
    .await;
    let eps = &saved["data"]["saveWebHookSettings"]["settings"]["endpoints"];
    let (ok_ep, fail_ep) = (eps[0]["id"].clone(), eps[1]["id"].clone());
    let repo = app.create_repository("view").await;
    let (build, tasks) = app.create_build(&repo, &[("test", false)], false).await;
    app.move_task(&tasks[0], &["TRIGGERED", "EXECUTING", "COMPLETED"])
        .await;
    // Build: created, triggered?, executing, completed; task: created + 3 moves, to both.
    settled_deliveries(&app, 10).await;
    let token = app.org.token.clone();
    let all = nodes(&page(&app, &token, json!({ "last": 100 })).await);
    assert!(all.len() >= 10, "{}", all.len());

    // By endpoint, by state, by event: exactly the matching rows.
    for ep in [&ok_ep, &fail_ep] {
        let got = nodes(&page(&app, &token, json!({ "last": 100, "endpointId": ep })).await);
        assert_eq!(ids(&got), picked(&all, |n| &n["endpointId"] == ep));
        assert!(!got.is_empty());
    }
    let failed = nodes(&page(&app, &token, json!({ "last": 100, "state": ["FAILED"] })).await);
    assert_eq!(ids(&failed), picked(&all, |n| n["endpointId"] == fail_ep));
    assert!(failed
        .iter()
        .all(|n| n["state"] == "FAILED" && n["responseStatus"] == 400));
    let both = page(
        &app,
        &token,
        json!({ "last": 100, "state": ["failed", "DELIVERED"] }),
    )
    .await;
    assert_eq!(nodes(&both).len(), all.len());
    for (event, keep) in [
        (
            "task",
            Box::new(|n: &Value| n["payload"]["event"] == "task") as Box<dyn Fn(&Value) -> bool>,
        ),
        (
            "build.*",
            Box::new(|n: &Value| n["payload"]["event"] == "build"),
        ),
        (
            "task.completed",
            Box::new(|n: &Value| n["payload"]["event"] == "task" && n["newStatus"] == "COMPLETED"),
        ),
        (
            "build.created",
            Box::new(|n: &Value| {
                n["payload"]["event"] == "build" && n["payload"]["action"] == "created"
            }),
        ),
    ] {
        let got = nodes(&page(&app, &token, json!({ "last": 100, "event": event })).await);
        let want = picked(&all, keep);
        assert!(!want.is_empty(), "{event}");
        assert_eq!(ids(&got), want, "{event}");
    }
    let combined = json!({ "last": 100, "endpointId": ok_ep, "event": "task.completed", "state": ["DELIVERED"] });
    assert_eq!(nodes(&page(&app, &token, combined).await).len(), 1);

    // Paging a filtered log forwards by 2, then backwards from the last page: the same pages.
    let filter = json!({ "endpointId": ok_ep });
    let mut forward: Vec<Vec<String>> = Vec::new();
    let mut after: Option<String> = None;
    // The last page's start cursor: where paging back begins.
    let mut last_start: Option<String>;
    loop {
        let mut vars = filter.clone();
        vars["first"] = json!(2);
        vars["after"] = json!(after);
        let resp = page(&app, &token, vars).await;
        forward.push(ids(&nodes(&resp)));
        let info = &resp["data"]["ownerInfo"]["webhookDeliveries"]["pageInfo"];
        last_start = info["startCursor"].as_str().map(str::to_owned);
        if info["hasNextPage"] != true {
            break;
        }
        after = info["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(forward.concat(), picked(&all, |n| n["endpointId"] == ok_ep));
    assert!(forward.len() >= 3, "{forward:?}");
    let mut backward: Vec<Vec<String>> = Vec::new();
    let mut start = last_start;
    while let Some(cursor) = start.take() {
        let mut vars = filter.clone();
        vars["last"] = json!(2);
        vars["before"] = json!(cursor);
        let resp = page(&app, &token, vars).await;
        backward.push(ids(&nodes(&resp)));
        let info = &resp["data"]["ownerInfo"]["webhookDeliveries"]["pageInfo"];
        if info["hasPreviousPage"] == true {
            start = info["startCursor"].as_str().map(str::to_owned);
        }
    }
    backward.reverse();
    assert_eq!(
        backward,
        forward[..forward.len() - 1],
        "back over the same pages"
    );

    // The new fields, for the task's move to COMPLETED, delivered and refused.
    let completed = |ep: &Value| {
        all.iter()
            .find(|n| {
                &n["endpointId"] == ep
                    && n["payload"]["event"] == "task"
                    && n["newStatus"] == "COMPLETED"
            })
            .cloned()
            .expect("the task's COMPLETED delivery")
    };
    let d = completed(&ok_ep);
    assert_eq!(d["buildId"], json!(build));
    assert_eq!(d["taskId"], json!(tasks[0]));
    assert_eq!(d["oldStatus"], "EXECUTING");
    assert_eq!(d["state"], "DELIVERED");
    assert_eq!(d["responseStatus"], 200);
    let latency = d["latencyMs"].as_i64().expect("latency once delivered");
    let took = d["attempts"][0]["durationMs"].as_i64().expect("duration");
    assert!(latency >= took && latency < 10_000, "{latency} vs {took}");
    let headers = d["attempts"][0]["responseHeaders"]
        .as_array()
        .expect("response headers");
    let header = |name: &str| {
        headers
            .iter()
            .find(|h| h["name"] == name)
            .map(|h| h["value"].clone())
    };
    assert_eq!(header("x-receiver-id"), Some(json!("r-42")), "{headers:?}");
    assert_eq!(header("set-cookie"), None, "{headers:?}");
    assert_eq!(header("x-auth-token"), None, "{headers:?}");
    let refused = completed(&fail_ep);
    assert_eq!(refused["state"], "FAILED");
    assert_eq!(refused["responseStatus"], 400);
    assert_eq!(refused["latencyMs"], Value::Null, "never succeeded");
    assert_eq!(refused["taskId"], json!(tasks[0]));
    let build_created = all
        .iter()
        .find(|n| n["payload"]["event"] == "build" && n["payload"]["action"] == "created")
        .expect("build created");
    assert_eq!(build_created["oldStatus"], Value::Null);
    assert_eq!(build_created["taskId"], Value::Null);
    assert_eq!(build_created["buildId"], json!(build));
    app.stop().await;
}

#[tokio::test]
async fn bad_filters_are_refused_and_another_orgs_endpoint_is_not_found() {
    let app = TestApp::spawn().await;
    let base = header_receiver().await;
    let mine = save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": format!("{base}/ok"), "events": ["*"] }]),
    )
    .await;
    let mine = mine["data"]["saveWebHookSettings"]["settings"]["endpoints"][0]["id"].clone();
    let other = app.new_org("other").await;
    let theirs = save_endpoints(
        &app,
        &other,
        json!([{ "webhookURL": format!("{base}/ok"), "events": ["*"] }]),
    )
    .await;
    let theirs = theirs["data"]["saveWebHookSettings"]["settings"]["endpoints"][0]["id"].clone();
    let repo = app
        .gql_as(
            &other.token,
            "mutation { createRepository(input: {name: \"theirs\"}) { repository { id } } }",
            json!({}),
        )
        .await;
    let repo = repo["data"]["createRepository"]["repository"]["id"]
        .as_str()
        .expect("repo")
        .to_owned();
    app.gql_as(
        &other.token,
        "mutation($i: RepositoryCreateBuildInput!) { createBuild(input: $i) { build { id } } }",
        json!({ "i": { "repositoryId": repo, "branch": "main", "sha": "abc", "tasks": [{ "name": "t" }] } }),
    )
    .await;
    let token = app.org.token.clone();

    let bad = page(&app, &token, json!({ "last": 10, "state": ["DONE"] })).await;
    assert_eq!(error_code(&bad), Some("VALIDATION"), "{bad}");
    assert_eq!(bad["errors"][0]["extensions"]["field"], "state");
    let bad = page(&app, &token, json!({ "last": 10, "event": "task failed" })).await;
    assert_eq!(error_code(&bad), Some("VALIDATION"), "{bad}");
    assert_eq!(bad["errors"][0]["extensions"]["field"], "event");

    // Theirs is NOT_FOUND for us, word for word as an id nobody has; ours for them.
    let foreign = page(&app, &token, json!({ "last": 10, "endpointId": theirs })).await;
    let missing = page(&app, &token, json!({ "last": 10, "endpointId": "987654" })).await;
    assert_eq!(error_code(&foreign), Some("NOT_FOUND"), "{foreign}");
    assert_eq!(
        foreign["errors"][0]["message"],
        missing["errors"][0]["message"]
    );
    assert_eq!(foreign["data"], missing["data"]);
    let reverse = page(
        &app,
        &other.token,
        json!({ "last": 10, "endpointId": mine }),
    )
    .await;
    assert_eq!(error_code(&reverse), Some("NOT_FOUND"), "{reverse}");
    // Their deliveries exist, and ours is empty for our own endpoint: nothing of theirs shows.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let theirs_all = page(&app, &other.token, json!({ "last": 10 })).await;
    assert!(!nodes(&theirs_all).is_empty(), "{theirs_all}");
    let ours = page(&app, &token, json!({ "last": 10, "endpointId": mine })).await;
    assert_eq!(nodes(&ours), Vec::<Value>::new());
    app.stop().await;
}

#[tokio::test]
async fn erasing_payloads_blanks_the_response_headers() {
    let app = TestApp::spawn().await;
    let base = header_receiver().await;
    let saved = save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": format!("{base}/ok"), "events": ["*"] }]),
    )
    .await;
    let endpoint = saved["data"]["saveWebHookSettings"]["settings"]["endpoints"][0]["id"].clone();
    let ping = app
        .ok(
            "mutation($i: WebhookPingInput!) { webhookPing(input: $i) { delivery { id state
               attempts { responseHeaders { name value } } } } }",
            json!({ "i": { "ownerUid": app.org.uid, "endpointId": endpoint } }),
        )
        .await;
    let d = &ping["webhookPing"]["delivery"];
    assert_eq!(d["state"], "DELIVERED", "{ping}");
    let shown = d["attempts"][0]["responseHeaders"].to_string();
    assert!(
        shown.contains("r-42") && !shown.contains("s3cret"),
        "{shown}"
    );
    let conn = app.state.store.conn();
    let stored = webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::ResponseHeaders.is_not_null())
        .all(conn)
        .await
        .expect("attempts");
    assert_eq!(stored.len(), 1);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let erased = app
        .ok(
            "mutation($i: EraseDeliveryPayloadsInput!) { eraseDeliveryPayloads(input: $i) { erased } }",
            json!({ "i": { "before": now_ms().to_string() } }),
        )
        .await;
    assert_eq!(erased["eraseDeliveryPayloads"]["erased"], 1, "{erased}");
    let after = app
        .ok(
            "query($id: String!) { webhookDelivery(id: $id) { erased attempts { responseHeaders { name } responseExcerpt } } }",
            json!({ "id": d["id"] }),
        )
        .await;
    assert_eq!(after["webhookDelivery"]["erased"], true);
    assert_eq!(
        after["webhookDelivery"]["attempts"][0]["responseHeaders"],
        Value::Null
    );
    let left = webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::ResponseHeaders.is_not_null())
        .all(conn)
        .await
        .expect("attempts");
    assert!(left.is_empty(), "{left:?}");
    app.stop().await;
}
