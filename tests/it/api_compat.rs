//! Cirrus's API as its clients call it, with Cirrus's argument names: `trigger` (a PAUSED task
//! to TRIGGERED), `batchAbort` (how Cirrus aborts a build: its unfinished tasks, in one
//! transaction, with the events `abortTask` sends), `Repository.lastDefaultBranchBuild`,
//! `searchBuilds(repositoryOwner, repositoryName, SHA)`, `githubRepository(owner, name)`,
//! `ownerRepository(platform, owner, name)` and the `OwnerInfo.repositories` connection; another
//! organization's repository is invisible, exactly like one that does not exist.

use buildhooks_server::Role;
use serde_json::{json, Value};

use crate::utils::database::TestDatabase;
use crate::utils::{deliveries, error_code, save_endpoints, TestApp};

/// An API-only server (deliveries stay in the outbox) with one endpoint for every event.
async fn api_with_events() -> TestApp {
    let db = TestDatabase::new().await;
    let mut config = crate::utils::database::config(&db.url);
    config.allow_private_targets = true;
    let app = TestApp::start(db, config, Role::Api).await;
    let saved = save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": "http://127.0.0.1:9/all", "events": ["*"] }]),
    )
    .await;
    assert!(saved.get("errors").is_none(), "{saved}");
    app
}

/// (event, action, old_status, new status of the build or task) of every delivery, oldest first.
async fn events(app: &TestApp) -> Vec<(String, String, String, String)> {
    deliveries(app)
        .await
        .iter()
        .map(|d| {
            let event = d["payload"]["event"].as_str().expect("event").to_owned();
            let body: Value =
                serde_json::from_str(d["payload"]["data"].as_str().expect("body")).expect("json");
            let status = &body["data"][event.as_str()]["status"];
            (
                event.clone(),
                body["action"].as_str().unwrap_or("").to_owned(),
                body["old_status"].as_str().unwrap_or("").to_owned(),
                status.as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn ev(event: &str, action: &str, old: &str, new: &str) -> (String, String, String, String) {
    (event.into(), action.into(), old.into(), new.into())
}

/// Creates a build of `repo` on `branch` with `sha`; returns its id.
async fn build_on(app: &TestApp, repo: &str, branch: &str, sha: &str) -> String {
    app.ok(
        "mutation($i: RepositoryCreateBuildInput!) { createBuild(input: $i) { build { id } } }",
        json!({ "i": { "repositoryId": repo, "branch": branch, "sha": sha, "tasks": [{ "name": "t" }] } }),
    )
    .await["createBuild"]["build"]["id"]
        .as_str()
        .expect("build")
        .to_owned()
}

const TRIGGER: &str = "mutation($i: TaskTriggerInput!) { trigger(input: $i) { task { id status } clientMutationId } }";
const BATCH_ABORT: &str = "mutation($i: TaskBatchAbortInput!) { batchAbort(input: $i) { tasks { id status } clientMutationId } }";

#[tokio::test]
async fn trigger_starts_a_paused_task_and_refuses_any_other() {
    let app = api_with_events().await;
    let repo = app.create_repository("manual").await;
    let (build, tasks) = app
        .create_build(&repo, &[("manual", false), ("auto", false)], false)
        .await;
    app.move_task(&tasks[0], &["TRIGGERED", "EXECUTING", "PAUSED"])
        .await;
    let before = events(&app).await.len();

    let resp = app
        .ok(
            TRIGGER,
            json!({ "i": { "taskId": tasks[0], "clientMutationId": "go" } }),
        )
        .await;
    assert_eq!(resp["trigger"]["task"]["status"], "TRIGGERED");
    assert_eq!(resp["trigger"]["clientMutationId"], "go");
    // The same event any task move sends; the build (EXECUTING) is unchanged.
    assert_eq!(
        events(&app).await[before..],
        [ev("task", "updated", "PAUSED", "TRIGGERED")]
    );
    assert_eq!(app.build(&build).await["status"], "EXECUTING");

    // A task that is not PAUSED: INVALID_TRANSITION, nothing changes.
    let snapshot = app.build(&build).await;
    for task in [&tasks[0], &tasks[1]] {
        let resp = app.gql(TRIGGER, json!({ "i": { "taskId": task } })).await;
        assert_eq!(error_code(&resp), Some("INVALID_TRANSITION"), "{resp}");
        let message = resp["errors"][0]["message"].as_str().unwrap_or("");
        assert!(message.contains("PAUSED"), "{message}");
    }
    assert_eq!(app.build(&build).await, snapshot);
    assert_eq!(events(&app).await.len(), before + 1);
    let missing = app
        .gql(TRIGGER, json!({ "i": { "taskId": "999999" } }))
        .await;
    assert_eq!(error_code(&missing), Some("NOT_FOUND"));
}

#[tokio::test]
async fn batch_abort_aborts_a_builds_unfinished_tasks_in_one_transaction() {
    let app = api_with_events().await;
    let repo = app.create_repository("aborted").await;
    let (build, tasks) = app
        .create_build(
            &repo,
            &[("done", false), ("running", false), ("waiting", false)],
            false,
        )
        .await;
    app.move_task(&tasks[0], &["TRIGGERED", "EXECUTING", "COMPLETED"])
        .await;
    app.move_task(&tasks[1], &["TRIGGERED", "EXECUTING"]).await;
    assert_eq!(app.build(&build).await["status"], "EXECUTING");

    // One unknown id: NOT_FOUND, and nothing changed.
    let snapshot = app.build(&build).await;
    let before = events(&app).await.len();
    let refused = app
        .gql(
            BATCH_ABORT,
            json!({ "i": { "taskIds": [tasks[1], "999999"] } }),
        )
        .await;
    assert_eq!(error_code(&refused), Some("NOT_FOUND"), "{refused}");
    assert_eq!(app.build(&build).await, snapshot);
    assert_eq!(events(&app).await.len(), before);

    let resp = app
        .ok(
            BATCH_ABORT,
            json!({ "i": { "taskIds": tasks, "clientMutationId": "stop" } }),
        )
        .await;
    let statuses: Vec<&Value> = resp["batchAbort"]["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| &t["status"])
        .collect();
    assert_eq!(
        statuses,
        [&json!("COMPLETED"), &json!("ABORTED"), &json!("ABORTED")]
    );
    assert_eq!(resp["batchAbort"]["clientMutationId"], "stop");
    assert_eq!(app.build(&build).await["status"], "FAILED");
    // What `abortTask` sends for each task, then the build's one change.
    assert_eq!(
        events(&app).await[before..],
        [
            ev("task", "updated", "EXECUTING", "ABORTED"),
            ev("task", "updated", "CREATED", "ABORTED"),
            ev("build", "updated", "EXECUTING", "FAILED"),
        ]
    );
    let sizes = app
        .gql(BATCH_ABORT, json!({ "i": { "taskIds": [] } }))
        .await;
    assert_eq!(error_code(&sizes), Some("VALIDATION"));
}

#[tokio::test]
async fn last_default_branch_build_and_search_builds_find_the_builds_clients_ask_for() {
    let app = TestApp::spawn().await;
    let repo = app.create_repository("searched").await;
    let q = "query($id: ID!) { repository(id: $id) { lastDefaultBranchBuild { id branch } } }";
    let none = app.ok(q, json!({ "id": repo })).await;
    assert!(
        none["repository"]["lastDefaultBranchBuild"].is_null(),
        "{none}"
    );
    let b1 = build_on(&app, &repo, "main", "aaa").await;
    let b2 = build_on(&app, &repo, "feature", "bbb").await;
    let b3 = build_on(&app, &repo, "main", "bbb").await;
    let b4 = build_on(&app, &repo, "feature", "ccc").await;
    let last = app.ok(q, json!({ "id": repo })).await;
    assert_eq!(
        last["repository"]["lastDefaultBranchBuild"]["id"],
        b3.as_str()
    );

    let search = "query($o: String!, $n: String!, $sha: String, $branch: String) {
        searchBuilds(repositoryOwner: $o, repositoryName: $n, SHA: $sha, branch: $branch) { id changeIdInRepo branch } }";
    let ids = |data: &Value| -> Vec<String> {
        data["searchBuilds"]
            .as_array()
            .expect("builds")
            .iter()
            .map(|b| b["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let owner = app.org.name.clone();
    let all = app.ok(search, json!({ "o": owner, "n": "searched" })).await;
    assert_eq!(ids(&all), [b4.as_str(), &b3, &b2, &b1], "newest first");
    let by_sha = app
        .ok(search, json!({ "o": owner, "n": "searched", "sha": "bbb" }))
        .await;
    assert_eq!(ids(&by_sha), [b3.as_str(), &b2]);
    let both = app
        .ok(
            search,
            json!({ "o": owner, "n": "searched", "sha": "bbb", "branch": "feature" }),
        )
        .await;
    assert_eq!(ids(&both), [b2.as_str()]);
    let nothing = app
        .ok(search, json!({ "o": owner, "n": "searched", "sha": "zzz" }))
        .await;
    assert_eq!(ids(&nothing), Vec::<String>::new());

    // Another organization's repository of the same name: NOT_FOUND, as a missing one.
    let other = app.new_org("other").await;
    let theirs = app
        .gql_as(
            &other.token,
            "mutation { createRepository(input: {name: \"searched\"}) { repository { id } } }",
            json!({}),
        )
        .await["data"]["createRepository"]["repository"]["id"]
        .as_str()
        .expect("repo")
        .to_owned();
    app.gql_as(
        &other.token,
        "mutation($i: RepositoryCreateBuildInput!) { createBuild(input: $i) { build { id } } }",
        json!({ "i": { "repositoryId": theirs, "branch": "main", "sha": "bbb", "tasks": [{ "name": "t" }] } }),
    )
    .await;
    let refused = app
        .gql(search, json!({ "o": other.name, "n": "searched" }))
        .await;
    let missing = app
        .gql(search, json!({ "o": "no-such-org", "n": "searched" }))
        .await;
    assert_eq!(error_code(&refused), Some("NOT_FOUND"), "{refused}");
    assert_eq!(
        refused["errors"][0]["message"],
        missing["errors"][0]["message"]
    );
    assert!(refused["data"].is_null() || refused["data"]["searchBuilds"].is_null());
}

#[tokio::test]
async fn repositories_are_found_by_owner_and_name_only_in_the_viewers_organization() {
    let app = TestApp::spawn().await;
    let mine = app.create_repository("mine").await;
    let owner = app.org.name.clone();
    let by_github = "query($o: String!, $n: String!) { githubRepository(owner: $o, name: $n) { id name owner platform } }";
    let by_owner = "query($p: String!, $o: String!, $n: String!) { ownerRepository(platform: $p, owner: $o, name: $n) { id } }";
    let found = app.ok(by_github, json!({ "o": owner, "n": "mine" })).await;
    assert_eq!(found["githubRepository"]["id"], mine.as_str());
    assert_eq!(found["githubRepository"]["platform"], "github");
    let found = app
        .ok(by_owner, json!({ "p": "github", "o": owner, "n": "mine" }))
        .await;
    assert_eq!(found["ownerRepository"]["id"], mine.as_str());

    let other = app.new_org("other").await;
    app.gql_as(
        &other.token,
        "mutation { createRepository(input: {name: \"theirs\"}) { repository { id } } }",
        json!({}),
    )
    .await;
    let cases = [
        (
            by_github,
            json!({ "o": other.name, "n": "theirs" }),
            json!({ "o": "nobody", "n": "theirs" }),
        ),
        (
            by_owner,
            json!({ "p": "github", "o": other.name, "n": "theirs" }),
            json!({ "p": "github", "o": "nobody", "n": "theirs" }),
        ),
        // Our own repository under another platform is not ours either.
        (
            by_owner,
            json!({ "p": "gitlab", "o": owner, "n": "mine" }),
            json!({ "p": "gitlab", "o": "nobody", "n": "mine" }),
        ),
    ];
    for (query, theirs, nowhere) in cases {
        let refused = app.gql(query, theirs.clone()).await;
        let missing = app.gql(query, nowhere).await;
        assert_eq!(
            error_code(&refused),
            Some("NOT_FOUND"),
            "{theirs}: {refused}"
        );
        assert_eq!(
            refused["errors"][0]["message"],
            missing["errors"][0]["message"]
        );
        assert!(!refused.to_string().contains("theirs\""), "{refused}");
    }

    // `OwnerInfo.repositories` is Cirrus's connection: `last: 50` lists ours only.
    let listed = app
        .ok("{ ownerInfo { repositories(last: 50) { edges { node { id name lastDefaultBranchBuild { id } } } pageInfo { hasNextPage hasPreviousPage } } } }", json!({}))
        .await;
    let names: Vec<&str> = listed["ownerInfo"]["repositories"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["mine"]);
}
