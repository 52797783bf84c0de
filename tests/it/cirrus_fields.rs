//! The Cirrus fields a reporter gives and clients read: a build's user, permission and
//! notifications, a task's instance type, re-run flags, trigger type, groups and notifications,
//! `uniqueLabels`, `previousRuns`, `clockDurationInSeconds`, `viewerPermission`, `cloneUrl`,
//! `viewer`; checked input (a bad value is VALIDATION and writes nothing), and a notification
//! given with `updateTaskStatus` carried by the event it sends.

use std::time::Duration;

use serde_json::{json, Value};

use crate::utils::{error_code, save_endpoints, Receiver, TestApp};

const CREATE: &str = "mutation($i: RepositoryCreateBuildInput!) { createBuild(input: $i) {
    build { id user { id username } initializer { username } senderUserPermissions
      notifications { level message link } clockDurationInSeconds
      tasks { id name uniqueLabels instanceType automaticReRun automaticallyReRunnable
        triggerType localGroupId requiredGroups notifications { level message } } } } }";

fn input(repo: &str) -> Value {
    json!({ "i": {
        "repositoryId": repo, "branch": "main", "sha": "abc",
        "user": { "id": "5702969901449216", "username": "octo" },
        "senderUserPermissions": "write",
        "notifications": [{ "level": "INFO", "message": "built on a fork", "link": "https://ci.example.com/x" }],
        "tasks": [
            { "name": "lint", "labels": ["linux", "fmt"], "instanceType": "container",
              "automaticallyReRunnable": true, "localGroupId": 1, "requiredGroups": [0] },
            { "name": "deploy", "labels": ["linux"], "triggerType": "MANUAL",
              "notifications": [{ "level": "WARNING", "message": "needs a person" }] },
        ],
    } })
}

#[tokio::test]
async fn reporters_give_cirrus_fields_and_clients_read_them() {
    let app = TestApp::spawn().await;
    let repo = app.create_repository("fields").await;
    let data = app.ok(CREATE, input(&repo)).await;
    let build = &data["createBuild"]["build"];
    assert_eq!(
        build["user"],
        json!({"id": "5702969901449216", "username": "octo"})
    );
    assert_eq!(build["initializer"]["username"], "octo");
    assert_eq!(build["senderUserPermissions"], "write");
    assert_eq!(
        build["notifications"][0]["link"],
        "https://ci.example.com/x"
    );
    assert_eq!(
        build["clockDurationInSeconds"],
        Value::Null,
        "null until final"
    );
    let lint = &build["tasks"][0];
    assert_eq!(lint["uniqueLabels"], json!(["fmt"]), "linux is shared");
    assert_eq!(lint["instanceType"], "container");
    assert_eq!(lint["automaticallyReRunnable"], true);
    assert_eq!(lint["automaticReRun"], false);
    assert_eq!(lint["triggerType"], "AUTOMATIC");
    assert_eq!(lint["localGroupId"], 1);
    assert_eq!(lint["requiredGroups"], json!([0]));
    let deploy = &build["tasks"][1];
    assert_eq!(deploy["triggerType"], "MANUAL");
    assert_eq!(deploy["notifications"][0]["level"], "WARNING");
    assert_eq!(deploy["instanceType"], "");

    // An automatic re-run keeps the task's attributes, marks itself, and is not a manual one.
    let lint_id = lint["id"].as_str().expect("id").to_owned();
    app.move_task(&lint_id, &["TRIGGERED", "EXECUTING", "FAILED"])
        .await;
    let rerun = app
        .ok(
            "mutation($i: TaskReRunInput!) { rerun(input: $i) { newTask { id automaticReRun
                manualRerunCount instanceType automaticallyReRunnable previousRuns { id status } } } }",
            json!({ "i": { "taskId": lint_id, "automatic": true } }),
        )
        .await;
    let new = &rerun["rerun"]["newTask"];
    assert_eq!(new["automaticReRun"], true);
    assert_eq!(new["manualRerunCount"], 0);
    assert_eq!(new["instanceType"], "container");
    assert_eq!(new["automaticallyReRunnable"], true);
    assert_eq!(
        new["previousRuns"],
        json!([{"id": lint_id, "status": "FAILED"}])
    );

    let repo_fields = app
        .ok(
            "query($r: ID!) { repository(id: $r) { viewerPermission cloneUrl } viewer { id } }",
            json!({ "r": repo }),
        )
        .await;
    assert_eq!(repo_fields["repository"]["viewerPermission"], "ADMIN");
    assert!(
        repo_fields["repository"]["cloneUrl"]
            .as_str()
            .is_some_and(|u| u.ends_with("/fields.git")),
        "{repo_fields}"
    );
    assert_eq!(
        repo_fields["viewer"],
        Value::Null,
        "tokens are organizations'"
    );
}

#[tokio::test]
async fn bad_cirrus_fields_are_refused_and_write_nothing() {
    let app = TestApp::spawn().await;
    let repo = app.create_repository("refused").await;
    for (path, value, field) in [
        (
            "senderUserPermissions",
            json!("root"),
            "senderUserPermissions",
        ),
        (
            "tasks",
            json!([{ "name": "a", "requiredGroups": [-1] }]),
            "tasks[0].requiredGroups",
        ),
        (
            "tasks",
            json!([{ "name": "a", "instanceType": "x".repeat(300) }]),
            "tasks[0].instanceType",
        ),
        (
            "notifications",
            json!([{ "level": "INFO", "message": "m".repeat(3000) }]),
            "notifications[0].message",
        ),
    ] {
        let mut i = input(&repo);
        i["i"][path] = value;
        let resp = app.gql(CREATE, i).await;
        assert_eq!(error_code(&resp), Some("VALIDATION"), "{path}: {resp}");
        assert_eq!(resp["errors"][0]["extensions"]["field"], field, "{resp}");
    }
    let builds = app
        .ok(
            "query($r: ID!) { repository(id: $r) { builds { edges { node { id } } } } }",
            json!({ "r": repo }),
        )
        .await;
    assert_eq!(
        builds["repository"]["builds"]["edges"],
        json!([]),
        "nothing written"
    );
}

#[tokio::test]
async fn notifications_given_with_a_status_travel_with_its_event() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let saved = save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": receiver.url(), "events": ["task.failed"], "payloadFormat": "CIRRUS" }]),
    )
    .await;
    assert!(saved.get("errors").is_none(), "{saved}");
    let repo = app.create_repository("notes").await;
    let (_, tasks) = app.create_build(&repo, &[("t", false)], false).await;
    app.move_task(&tasks[0], &["TRIGGERED", "EXECUTING"]).await;
    let resp = app
        .gql(
            "mutation($i: UpdateTaskStatusInput!) { updateTaskStatus(input: $i) { task { notifications { message } } } }",
            json!({ "i": { "taskId": tasks[0], "status": "FAILED",
                "notifications": [{ "level": "ERROR", "message": "out of memory" }] } }),
        )
        .await;
    assert_eq!(
        resp["data"]["updateTaskStatus"]["task"]["notifications"],
        json!([{"message": "out of memory"}]),
        "{resp}"
    );
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    let body = got[0].json();
    assert_eq!(
        body["task"]["notifications"],
        json!([{"level": "ERROR", "message": "out of memory"}]),
        "the event renders the task as the transition left it: {body}"
    );
}
