//! Events and payloads: the default query's exact Cirrus shape frozen at the transition, custom
//! queries, tenant isolation inside stored queries, filters, and atomicity with the transition.

use std::sync::atomic::Ordering;
use std::time::Duration;

use buildhooks_entity::{event, webhook_delivery};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};

use crate::utils::{deliveries, error_code, save_endpoints, settled_deliveries, Receiver, TestApp};

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

#[tokio::test]
async fn default_payload_has_the_cirrus_shape_and_the_state_at_the_transition() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let saved = save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": receiver.url(), "events": ["task.executing"] }]),
    )
    .await;
    assert!(saved.get("errors").is_none(), "{saved}");
    let repo = app.create_repository("shape").await;
    let (build, tasks) = app.create_build(&repo, &[("test", false)], false).await;
    app.move_task(&tasks[0], &["TRIGGERED", "EXECUTING", "COMPLETED"])
        .await;

    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "only task.executing matches");
    let body = got[0].json();
    assert_eq!(keys(&body), ["action", "data", "old_status"]);
    assert_eq!(body["action"], "updated");
    assert_eq!(body["old_status"], "TRIGGERED");
    assert_eq!(keys(&body["data"]), ["build", "repository", "task"]);
    assert_eq!(
        keys(&body["data"]["repository"]),
        ["id", "isPrivate", "name", "owner"]
    );
    assert_eq!(
        keys(&body["data"]["build"]),
        [
            "branch",
            "changeIdInRepo",
            "changeTimestamp",
            "id",
            "name",
            "status"
        ]
    );
    assert_eq!(
        keys(&body["data"]["task"]),
        [
            "creationTimestamp",
            "finalStatusTimestamp",
            "id",
            "name",
            "status"
        ]
    );
    assert_eq!(body["data"]["repository"]["name"], "shape");
    assert_eq!(body["data"]["repository"]["owner"], app.org.name.as_str());
    assert_eq!(body["data"]["build"]["id"], build.as_str());
    assert_eq!(
        body["data"]["build"]["status"], "EXECUTING",
        "the build as of this transition"
    );
    assert_eq!(
        body["data"]["task"]["status"], "EXECUTING",
        "the task as of this transition, not COMPLETED"
    );
    assert!(body["data"]["task"]["finalStatusTimestamp"].is_null());
    assert_eq!(got[0].header("x-cirrus-event").as_deref(), Some("task"));

    // The stored body is byte-identical to what was sent.
    let stored = deliveries(&app).await;
    assert_eq!(
        stored[0]["payload"]["data"].as_str().map(str::as_bytes),
        Some(&got[0].body[..])
    );
    assert_eq!(app.build(&build).await["tasks"][0]["status"], "COMPLETED");
}

#[tokio::test]
async fn build_events_have_a_null_task_and_no_old_status_when_created() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": receiver.url(), "events": ["build.*"] }]),
    )
    .await;
    let repo = app.create_repository("builds").await;
    app.create_build(&repo, &[("a", false)], true).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    let body = got[0].json();
    assert_eq!(
        keys(&body),
        ["action", "data"],
        "no old_status on creation: {body}"
    );
    assert_eq!(body["action"], "created");
    assert_eq!(body["data"]["build"]["status"], "NEEDS_APPROVAL");
    assert!(body["data"]["task"].is_null());
    assert_eq!(got[0].header("x-cirrus-event").as_deref(), Some("build"));
}

#[tokio::test]
async fn a_custom_query_yields_exactly_its_data() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let query = "query($buildId: ID!) { build(id: $buildId) { status tasks { name status } } }";
    let saved = save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": receiver.url(), "events": ["task.failed"], "query": query }]),
    )
    .await;
    assert!(saved.get("errors").is_none(), "{saved}");
    let repo = app.create_repository("custom").await;
    let (_, tasks) = app
        .create_build(&repo, &[("a", false), ("b", false)], false)
        .await;
    app.move_task(&tasks[0], &["TRIGGERED", "EXECUTING", "FAILED"])
        .await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(
        got[0].json(),
        json!({ "action": "updated", "old_status": "EXECUTING", "data": { "build": { "status": "EXECUTING",
            "tasks": [{ "name": "a", "status": "FAILED" }, { "name": "b", "status": "CREATED" }] } } })
    );
}

#[tokio::test]
async fn invalid_stored_queries_are_refused_and_the_saved_settings_stay() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let good = save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": receiver.url(), "events": ["*"] }]),
    )
    .await;
    let before = good["data"]["saveWebHookSettings"]["settings"]["endpoints"].clone();
    let deep = format!(
        "query($buildId: ID!) {{ build(id: $buildId) {} id {} }}",
        "{ tasks { build ".repeat(5),
        "} } ".repeat(5)
    );
    let cases = [
        ("syntax error", "query { build(id: ", "line 1"),
        (
            "unknown field",
            "query($buildId: ID!) { build(id: $buildId) { noSuchField } }",
            "noSuchField",
        ),
        (
            "mutation",
            "mutation { approve(input: {buildId: \"1\"}) { build { id } } }",
            "must be a query",
        ),
        (
            "undeclared variable",
            "query { build(id: $buildId) { id } }",
            "buildId",
        ),
        (
            "unknown variable",
            "query($other: ID!) { build(id: $other) { id } }",
            "not available",
        ),
        ("past the depth limit", deep.as_str(), "deep"),
        (
            "introspection",
            "query { __schema { types { name } } }",
            "introspection",
        ),
        (
            "two operations",
            "query A { __typename } query B { __typename }",
            "exactly one",
        ),
    ];
    for (name, query, needle) in cases {
        let resp = save_endpoints(
            &app,
            &app.org,
            json!([{ "webhookURL": receiver.url(), "query": query }]),
        )
        .await;
        assert_eq!(error_code(&resp), Some("VALIDATION"), "{name}: {resp}");
        assert_eq!(
            resp["errors"][0]["extensions"]["field"], "deliveryEndpoints[0].query",
            "{name}"
        );
        let message = resp["errors"][0]["message"].as_str().unwrap_or("");
        assert!(
            message.to_lowercase().contains(&needle.to_lowercase()),
            "{name}: {message}"
        );
        let now = app.ok("{ ownerInfo { webhookSettings { endpoints { id webhookURL maskedSecretToken events repositoryId query enabled generatedSecretToken } } } }", json!({})).await;
        assert_eq!(
            now["ownerInfo"]["webhookSettings"]["endpoints"], before,
            "{name} changed the settings"
        );
    }
}

#[tokio::test]
async fn a_stored_query_never_sees_another_organizations_data() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let other = app.new_org("victim").await;
    let their_repo = app
        .gql_as(
            &other.token,
            "mutation { createRepository(input: {name: \"crown-jewels\"}) { repository { id } } }",
            json!({}),
        )
        .await["data"]["createRepository"]["repository"]["id"]
        .as_str()
        .expect("repo")
        .to_owned();
    let their_build = app
        .gql_as(&other.token, "mutation($r: ID!) { createBuild(input: {repositoryId: $r, branch: \"secret-branch\", tasks: [{name: \"t\"}]}) { build { id } } }", json!({ "r": their_repo }))
        .await["data"]["createBuild"]["build"]["id"]
        .as_str()
        .expect("build")
        .to_owned();
    let query = format!(
        "query($buildId: ID!) {{ mine: build(id: $buildId) {{ id }} theirs: build(id: \"{their_build}\") {{ id branch }} repo: repository(id: \"{their_repo}\") {{ name }} }}"
    );
    let saved = save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": receiver.url(), "events": ["build.created"], "query": query }]),
    )
    .await;
    assert!(saved.get("errors").is_none(), "{saved}");
    let repo = app.create_repository("mine").await;
    let (build, _) = app.create_build(&repo, &[("a", false)], false).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    let body = got[0].json();
    assert_eq!(body["data"]["mine"]["id"], build.as_str());
    assert!(body["data"]["theirs"].is_null(), "{body}");
    assert!(body["data"]["repo"].is_null(), "{body}");
    let text = String::from_utf8_lossy(&got[0].body);
    assert!(
        !text.contains("secret-branch") && !text.contains("crown-jewels"),
        "{text}"
    );
}

#[tokio::test]
async fn filters_select_events_by_pattern_repository_and_enabled() {
    let app = TestApp::spawn().await;
    let (failed, scoped, all, disabled) = (
        Receiver::start(vec![]).await,
        Receiver::start(vec![]).await,
        Receiver::start(vec![]).await,
        Receiver::start(vec![]).await,
    );
    let repo_a = app.create_repository("a").await;
    let repo_b = app.create_repository("b").await;
    let saved = save_endpoints(
        &app,
        &app.org,
        json!([
            { "webhookURL": failed.url(), "events": ["task.failed"] },
            { "webhookURL": scoped.url(), "events": ["*"], "repositoryId": repo_b },
            { "webhookURL": all.url(), "events": ["*"] },
            { "webhookURL": disabled.url(), "events": ["*"], "enabled": false },
        ]),
    )
    .await;
    assert!(saved.get("errors").is_none(), "{saved}");
    for repo in [&repo_a, &repo_b] {
        let (_, tasks) = app
            .create_build(repo, &[("ok", false), ("bad", false)], false)
            .await;
        app.move_task(&tasks[0], &["TRIGGERED", "EXECUTING", "COMPLETED"])
            .await;
        app.move_task(&tasks[1], &["TRIGGERED", "EXECUTING", "FAILED"])
            .await;
    }
    // Per build: build created, 2 tasks created, 6 task updates, build TRIGGERED, EXECUTING, FAILED.
    let per_build = 1 + 2 + 6 + 3;
    let everything = all.wait_for(2 * per_build, Duration::from_secs(10)).await;
    assert_eq!(everything.len(), 2 * per_build);
    let scoped_got = scoped.wait_for(per_build, Duration::from_secs(10)).await;
    assert_eq!(scoped_got.len(), per_build);
    assert!(scoped_got
        .iter()
        .all(|r| r.json()["data"]["repository"]["id"] == repo_b.as_str()));
    let failed_got = failed.wait_for(2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(failed.received().len(), 2);
    assert!(failed_got
        .iter()
        .all(|r| r.json()["data"]["task"]["status"] == "FAILED"
            && r.header("x-cirrus-event").as_deref() == Some("task")));
    assert!(
        disabled.received().is_empty(),
        "a disabled endpoint gets nothing"
    );
    // Events are recorded in the order they happened (delivery runs in parallel, so arrival order
    // is not guaranteed): the build's creation first, a task's change before the build it moved.
    let org_id: i32 = app.org.uid.parse().expect("uid");
    let recorded: Vec<String> = event::Entity::find()
        .filter(event::Column::OrgId.eq(org_id))
        .order_by_asc(event::Column::Id)
        .all(app.state.store.conn())
        .await
        .expect("events")
        .into_iter()
        .map(|e| format!("{}.{}", e.kind, e.new_status.to_lowercase()))
        .collect();
    assert_eq!(
        recorded[..per_build],
        [
            "build.created",
            "task.created",
            "task.created",
            "task.triggered",
            "build.triggered",
            "task.executing",
            "build.executing",
            "task.completed",
            "task.triggered",
            "task.executing",
            "task.failed",
            "build.failed",
        ]
    );
}

#[tokio::test]
async fn refused_and_rolled_back_transitions_leave_no_event_and_no_row() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    save_endpoints(&app, &app.org, json!([{ "webhookURL": receiver.url() }])).await;
    let repo = app.create_repository("atomic").await;
    let (build, tasks) = app.create_build(&repo, &[("a", false)], false).await;
    let org_id: i32 = app.org.uid.parse().expect("uid");
    let conn = app.state.store.conn();
    let count = || async {
        let events = event::Entity::find()
            .filter(event::Column::OrgId.eq(org_id))
            .count(conn)
            .await
            .expect("count");
        let rows = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::OrgId.eq(org_id))
            .count(conn)
            .await
            .expect("count");
        (events, rows)
    };
    let before = count().await;
    assert_eq!(before, (2, 2));

    let refused = app.set_task(&tasks[0], "COMPLETED").await;
    assert_eq!(error_code(&refused), Some("INVALID_TRANSITION"));
    assert_eq!(
        count().await,
        before,
        "a refused transition wrote something"
    );

    app.faults.fail_after_outbox.store(true, Ordering::SeqCst);
    let failed = app.set_task(&tasks[0], "TRIGGERED").await;
    app.faults.fail_after_outbox.store(false, Ordering::SeqCst);
    assert_eq!(error_code(&failed), Some("INTERNAL"), "{failed}");
    assert_eq!(
        failed["errors"][0]["message"], "internal error",
        "no detail reaches the client"
    );
    assert_eq!(
        count().await,
        before,
        "a rolled-back transition left rows behind"
    );
    assert_eq!(app.build(&build).await["tasks"][0]["status"], "CREATED");

    app.move_task(&tasks[0], &["TRIGGERED"]).await;
    assert_eq!(
        count().await,
        (before.0 + 2, before.1 + 2),
        "task and build events, one row each"
    );
    settled_deliveries(&app, 4).await;
}

/// Payloads are rendered from the rows the transition holds in memory (and cached organization
/// and repository rows); nested fields read the transaction. The result must equal what the same
/// query reads from the committed database.
#[tokio::test]
async fn payloads_rendered_from_rows_in_hand_equal_a_fresh_read() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let query = "query($repositoryId: ID!, $buildId: ID!, $taskId: ID) {
      repository(id: $repositoryId) { id owner platform name isPrivate defaultBranch }
      build(id: $buildId) { id status branch changeIdInRepo changeMessage statusTimestamp
        executingTimestamp finalStatusTimestamp repository { owner name } tasks { id status } }
      task(id: $taskId) { id name status statusTimestamp creationTimestamp executingTimestamp
        finalStatusTimestamp labels optional build { status finalStatusTimestamp }
        repository { name owner } }
    }";
    let saved = save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": receiver.url(), "events": ["task.*"], "query": query }]),
    )
    .await;
    assert!(saved.get("errors").is_none(), "{saved}");
    let repo = app.create_repository("in-hand").await;
    let (_, tasks) = app.create_build(&repo, &[("only", false)], false).await;
    app.move_task(&tasks[0], &["TRIGGERED", "EXECUTING", "COMPLETED"])
        .await;
    let got = receiver.wait_for(4, Duration::from_secs(10)).await;
    let completed = got
        .iter()
        .map(|r| r.json())
        .find(|b| b["data"]["task"]["status"] == "COMPLETED")
        .expect("the task.completed delivery");
    // The transition that completed the task also completed the build, in the same transaction.
    assert_eq!(completed["data"]["build"]["status"], "COMPLETED");
    assert_eq!(completed["data"]["task"]["build"]["status"], "COMPLETED");
    let preview = app
        .ok(
            "query($r: ID!, $q: String) { webhookPreview(repositoryId: $r, query: $q) { body errors } }",
            json!({ "r": repo, "q": query }),
        )
        .await;
    let preview = &preview["webhookPreview"];
    assert_eq!(preview["errors"], json!([]), "{preview}");
    let fresh: Value =
        serde_json::from_str(preview["body"].as_str().expect("body")).expect("preview json");
    assert_eq!(completed["data"], fresh["data"]);
}

/// The `data` of a body, as sent: the bytes after `"data":`, up to the body's closing brace.
fn raw_data(body: &str) -> &str {
    let start = body.find("\"data\":").expect("a data field") + "\"data\":".len();
    &body[start..body.len() - 1]
}

/// The default query's payload is built from the rows in hand without running the schema; it
/// must be byte for byte what the schema renders for the same query (here through
/// `webhookPreview`, which has no rows in hand and runs it), for task and build events alike.
#[tokio::test]
async fn the_default_payload_is_byte_for_byte_what_the_schema_renders() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let saved = save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": receiver.url(), "events": ["task.completed", "build.completed"] }]),
    )
    .await;
    assert!(saved.get("errors").is_none(), "{saved}");
    let repo = app.create_repository("bytes.v2_x").await;
    let (_, tasks) = app.create_build(&repo, &[("only", false)], false).await;
    app.move_task(&tasks[0], &["TRIGGERED", "EXECUTING", "COMPLETED"])
        .await;
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    let body = |kind: &str| {
        got.iter()
            .find(|r| r.header("x-cirrus-event").as_deref() == Some(kind))
            .map(|r| String::from_utf8(r.body.to_vec()).expect("utf-8"))
            .unwrap_or_else(|| panic!("a {kind} delivery"))
    };
    let (task_body, build_body) = (body("task"), body("build"));

    // The preview renders the latest build and its first task as they are now: both completed,
    // as the transition that sent these deliveries left them.
    let preview = app
        .ok(
            "query($r: ID!) { webhookPreview(repositoryId: $r) { body errors } }",
            json!({ "r": repo }),
        )
        .await;
    let rendered = preview["webhookPreview"]["body"].as_str().expect("body");
    assert_eq!(raw_data(&task_body), raw_data(rendered));
    let data: Value = serde_json::from_str(raw_data(&task_body)).expect("json");
    assert_eq!(data["task"]["status"], "COMPLETED", "{data}");
    assert!(data["build"]["name"].is_null(), "a null field: {data}");

    // A build event's task is null; everything before it is the same bytes.
    let task_data = raw_data(&task_body);
    let before_task = &task_data[..task_data.find("\"task\":").expect("task last")];
    assert_eq!(
        raw_data(&build_body),
        format!("{before_task}\"task\":null}}")
    );
}
