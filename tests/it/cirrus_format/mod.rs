//! The two payload formats end to end: golden bodies of both for every event and action
//! buildhooks emits; `CIRRUS` bodies decoded with the types Cirrus's own receiver declares
//! (`cirruslabs/cirrus-webhooks-server`), key order against its `task.json`; and Cirrus's current
//! documented payload query saved as a stored query and delivered in both formats.
//!
//! Every test makes an organization named `edigaryev` (the fixtures' owner) in its own database,
//! so the owner in the bodies is fixed and only ids and times need placeholders (`golden`).

mod decode;
mod docs_query;
mod golden;
mod receiver_types;

use std::collections::BTreeMap;
use std::time::Duration;

use buildhooks_entity::event;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};

use crate::utils::receiver::Received;
use crate::utils::{save_endpoints, Org, Receiver, TestApp};

/// The fixtures' user (`build.user`), given to `createBuild` as the reporter would.
const USER_ID: &str = "5702969901449216";
const USER_NAME: &str = "edigaryev";
const SHA: &str = "1a7a425b71fd28274b739c9d410ca966aedbcd63";
const SECRET: &str = "s3cret";

/// Cirrus's documented payload query: the selections of cirruslabs/cirrus-ci-docs `docs/api.md`
/// @ 026c3127f0f63ad674b15ddcab30594b156eb55c ("Builds and Tasks WebHooks") verbatim, wrapped
/// in an operation header so that it parses.
const DOCS_QUERY: &str = "query WebhookPayload($repositoryId: ID!, $buildId: ID!, $taskId: ID) {
repository(id: $repositoryId) {
  id
  owner
  name
  isPrivate
}
build(id: $buildId) {
  id
  branch
  pullRequest
  durationInSeconds
  changeIdInRepo
  changeTimestamp
  status
  initializer {
    id
    username
  }
}
task(id: $taskId) {
  id
  name
  nameAlias
  status
  statusTimestamp
  creationTimestamp
  durationInSeconds
  uniqueLabels
  automaticReRun
  automaticallyReRunnable
  manualRerunCount
  notifications {
    level
    message
    link
  }
}
}";

/// The organization the fixtures name, in this test's database.
async fn fixture_org(app: &TestApp) -> Org {
    let (org, token) =
        buildhooks_schema::auth::create_organization(app.state.store.conn(), USER_NAME, "github")
            .await
            .expect("create organization");
    Org {
        uid: org.id.to_string(),
        name: org.name,
        token,
    }
}

/// Runs an operation as `org` that must succeed; returns `data`.
async fn ok(app: &TestApp, org: &Org, query: &str, variables: Value) -> Value {
    let resp = app.gql_as(&org.token, query, variables).await;
    assert!(resp.get("errors").is_none(), "{query}: {resp}");
    resp["data"].clone()
}

/// One `DOCUMENTED` and one `CIRRUS` endpoint for every event (derived ones too), both signed.
async fn two_formats(app: &TestApp, org: &Org, query: Option<&str>) -> (Receiver, Receiver) {
    let (documented, cirrus) = (Receiver::start(vec![]).await, Receiver::start(vec![]).await);
    let events = json!(["*", "build.fixed", "build.still_failing"]);
    let endpoint = |url: String, format: &str| {
        json!({ "webhookURL": url, "events": events, "payloadFormat": format,
                "secretToken": SECRET, "query": query })
    };
    let saved = save_endpoints(
        app,
        org,
        json!([
            endpoint(documented.url(), "DOCUMENTED"),
            endpoint(cirrus.url(), "CIRRUS")
        ]),
    )
    .await;
    assert!(saved.get("errors").is_none(), "{saved}");
    (documented, cirrus)
}

async fn repository(app: &TestApp, org: &Org) -> String {
    let data = ok(
        app,
        org,
        "mutation { createRepository(input: {name: \"awesome-system-calls\"}) { repository { id } } }",
        json!({}),
    )
    .await;
    data["createRepository"]["repository"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// A build with one task, with the values a reporter gives (`user` only when `with_user`).
async fn build(
    app: &TestApp,
    org: &Org,
    repo: &str,
    with_user: bool,
    pull_request: Option<i32>,
) -> (String, String) {
    let mut input = json!({
        "repositoryId": repo, "branch": "main", "sha": SHA, "pullRequest": pull_request,
        "message": "Periodic update (#7)\n\nBump dependencies",
        "tasks": [{ "name": "Lint (cargo fmt)", "nameAlias": "lint", "labels": ["container:rust:latest"],
            "instanceType": "CommunityContainer", "automaticallyReRunnable": true,
            "notifications": [{ "level": "WARNING", "message": "cache miss",
                                "link": "https://cirrus-ci.org/guide/writing-tasks/#cache-instruction" }] }],
    });
    if with_user {
        input["user"] = json!({ "id": USER_ID, "username": USER_NAME });
        input["senderUserPermissions"] = json!("admin");
    }
    let data = ok(
        app,
        org,
        "mutation($i: RepositoryCreateBuildInput!) { createBuild(input: $i) { build { id tasks { id } } } }",
        json!({ "i": input }),
    )
    .await;
    let build = &data["createBuild"]["build"];
    (
        build["id"].as_str().expect("build").to_owned(),
        build["tasks"][0]["id"].as_str().expect("task").to_owned(),
    )
}

async fn moves(app: &TestApp, org: &Org, task: &str, statuses: &[&str]) {
    for status in statuses {
        ok(
            app,
            org,
            "mutation($i: UpdateTaskStatusInput!) { updateTaskStatus(input: $i) { task { id } } }",
            json!({ "i": { "taskId": task, "status": status } }),
        )
        .await;
    }
}

/// How many events the organization has recorded: each endpoint here gets one delivery per event.
async fn events_recorded(app: &TestApp, org: &Org) -> usize {
    let org_id: i32 = org.uid.parse().expect("uid");
    event::Entity::find()
        .filter(event::Column::OrgId.eq(org_id))
        .count(app.state.store.conn())
        .await
        .expect("count") as usize
}

/// Everything `receiver` gets for the organization's events, signed with [`SECRET`].
async fn all_received(app: &TestApp, org: &Org, receiver: &Receiver) -> Vec<Received> {
    let expected = events_recorded(app, org).await;
    receiver.wait_for(expected, Duration::from_secs(20)).await;
    // Nothing more than one per event arrives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let got = receiver.received();
    assert_eq!(got.len(), expected, "one delivery per event");
    for r in &got {
        let signature = r.header("x-cirrus-signature").expect("signed");
        assert!(
            buildhooks_receiver::verify_cirrus(SECRET.as_bytes(), &r.body, &signature).is_ok(),
            "Cirrus's recipe verifies the body"
        );
    }
    got
}

/// A received body's golden name, `<event>-<action>-<status>`: the event from `X-Cirrus-Event`,
/// the status of the event's entity (`entities` holds `build` and `task`).
fn golden_name(r: &Received, entities: &Value) -> String {
    let kind = r.header("x-cirrus-event").expect("X-Cirrus-Event");
    let body = r.json();
    let status = entities[&kind]["status"]
        .as_str()
        .unwrap_or_else(|| panic!("no {kind}.status in {body}"));
    format!(
        "{kind}-{}-{}",
        body["action"].as_str().expect("action"),
        status.to_lowercase()
    )
}

/// Golden texts by name, and the names seen twice whose bodies differ beyond ids and times
/// (same state, different bytes: key order is part of the shape).
fn goldens(got: &[Received], documented: bool) -> (BTreeMap<String, String>, Vec<String>) {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut problems = Vec::new();
    for r in got {
        let body = r.json();
        let entities = if documented { &body["data"] } else { &body };
        let name = golden_name(r, entities);
        let text = golden::text(&body);
        match out.get(&name) {
            Some(earlier) if *earlier != text => problems.push(format!(
                "two {name} bodies differ beyond ids and times\n--- one\n{earlier}--- other\n{text}"
            )),
            Some(_) => {}
            None => {
                out.insert(name, text);
            }
        }
    }
    (out, problems)
}

/// Every action buildhooks emits for a build and its task, from this scenario.
const EVERY_BODY: [&str; 13] = [
    "build-created-created",
    "build-fixed-completed",
    "build-still_failing-failed",
    "build-updated-completed",
    "build-updated-executing",
    "build-updated-failed",
    "build-updated-triggered",
    "task-created-created",
    "task-updated-aborted",
    "task-updated-completed",
    "task-updated-executing",
    "task-updated-failed",
    "task-updated-triggered",
];

#[tokio::test]
async fn cirrus_golden_bodies_pin_both_formats_for_every_event_and_action() {
    let app = TestApp::spawn().await;
    let org = fixture_org(&app).await;
    let (documented, cirrus) = two_formats(&app, &org, None).await;
    let repo = repository(&app, &org).await;
    // Four builds of one branch: FAILED (first, nothing derived), FAILED again (still_failing),
    // COMPLETED (fixed), and one whose executing task is aborted (the build fails, nothing derived
    // after a COMPLETED one).
    for (outcome, abort) in [
        ("FAILED", false),
        ("FAILED", false),
        ("COMPLETED", false),
        ("", true),
    ] {
        let (_, task) = build(&app, &org, &repo, true, None).await;
        moves(&app, &org, &task, &["TRIGGERED", "EXECUTING"]).await;
        match abort {
            false => moves(&app, &org, &task, &[outcome]).await,
            true => {
                ok(
                    &app,
                    &org,
                    "mutation($t: ID!) { abortTask(input: {taskId: $t}) { abortedTask { id status } } }",
                    json!({ "t": task }),
                )
                .await;
            }
        }
    }
    let mut problems = Vec::new();
    for (format, receiver) in [("documented", &documented), ("cirrus", &cirrus)] {
        let got = all_received(&app, &org, receiver).await;
        let (produced, unstable) = goldens(&got, format == "documented");
        problems.extend(unstable);
        assert_eq!(
            produced.keys().map(String::as_str).collect::<Vec<_>>(),
            EVERY_BODY,
            "{format}: every event and action"
        );
        problems.extend(golden::check(&golden::dir(format), &produced));
    }
    assert!(
        problems.is_empty(),
        "{} golden bodies differ (BUILDHOOKS_BLESS=1 rewrites them after review):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
