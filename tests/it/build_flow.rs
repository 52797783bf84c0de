//! Builds and tasks driven through their statuses: the build follows its tasks, with timestamps;
//! approval; rerun and retrigger.

use serde_json::json;

use crate::utils::{error_code, TestApp};

#[tokio::test]
async fn build_with_three_tasks_follows_its_tasks_to_completed() {
    let app = TestApp::spawn().await;
    let repo = app.create_repository("web").await;
    let (build, tasks) = app
        .create_build(
            &repo,
            &[("lint", false), ("test", false), ("flaky", true)],
            false,
        )
        .await;
    let b = app.build(&build).await;
    assert_eq!(b["status"], "CREATED");
    assert_eq!(b["changeMessageTitle"], "Fix the flux capacitor");
    assert!(b["tasks"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .all(|t| t["status"] == "CREATED"));

    app.move_task(&tasks[0], &["TRIGGERED"]).await;
    assert_eq!(app.build(&build).await["status"], "TRIGGERED");
    for t in &tasks {
        if t != &tasks[0] {
            app.move_task(t, &["TRIGGERED"]).await;
        }
        app.move_task(t, &["SCHEDULED"]).await;
    }
    assert_eq!(app.build(&build).await["status"], "TRIGGERED");
    app.move_task(&tasks[0], &["EXECUTING"]).await;
    assert_eq!(app.build(&build).await["status"], "EXECUTING");
    app.move_task(&tasks[1], &["EXECUTING"]).await;
    app.move_task(&tasks[2], &["EXECUTING"]).await;
    app.move_task(&tasks[0], &["COMPLETED"]).await;
    app.move_task(&tasks[2], &["FAILED"]).await;
    assert_eq!(app.build(&build).await["status"], "EXECUTING");
    app.move_task(&tasks[1], &["COMPLETED"]).await;

    let b = app.build(&build).await;
    assert_eq!(
        b["status"], "COMPLETED",
        "only an optional task failed: {b}"
    );
    assert!(b["durationInSeconds"].as_i64().is_some());
    for t in b["tasks"].as_array().expect("tasks") {
        let created = t["creationTimestamp"].as_i64().expect("creation");
        let scheduled = t["scheduledTimestamp"].as_i64().expect("scheduled");
        let executing = t["executingTimestamp"].as_i64().expect("executing");
        let fin = t["finalStatusTimestamp"].as_i64().expect("final");
        assert!(
            created > 1_600_000_000_000,
            "milliseconds since the epoch: {created}"
        );
        assert!(
            created <= scheduled && scheduled <= executing && executing <= fin,
            "{t}"
        );
        assert_eq!(t["statusTimestamp"].as_i64(), Some(fin));
        assert!(t["durationInSeconds"].as_i64().is_some());
    }
}

#[tokio::test]
async fn a_failed_required_task_fails_the_build() {
    let app = TestApp::spawn().await;
    let repo = app.create_repository("api").await;
    let (build, tasks) = app
        .create_build(
            &repo,
            &[("unit", false), ("docs", true), ("e2e", false)],
            false,
        )
        .await;
    for t in &tasks {
        app.move_task(t, &["TRIGGERED", "SCHEDULED", "EXECUTING"])
            .await;
    }
    app.move_task(&tasks[0], &["COMPLETED"]).await;
    app.move_task(&tasks[1], &["COMPLETED"]).await;
    app.move_task(&tasks[2], &["FAILED"]).await;
    let b = app.build(&build).await;
    assert_eq!(b["status"], "FAILED");
    let aborted = app.create_build(&repo, &[("only", false)], false).await;
    let resp = app
        .gql(
            "mutation($i: TaskAbortInput!) { abortTask(input: $i) { abortedTask { status } clientMutationId } }",
            json!({ "i": { "taskId": aborted.1[0], "clientMutationId": "abc" } }),
        )
        .await;
    assert_eq!(
        resp["data"]["abortTask"]["abortedTask"]["status"], "ABORTED",
        "{resp}"
    );
    assert_eq!(resp["data"]["abortTask"]["clientMutationId"], "abc");
    assert_eq!(app.build(&aborted.0).await["status"], "FAILED");
}

#[tokio::test]
async fn approval_gates_the_build_and_a_second_approve_changes_nothing() {
    let app = TestApp::spawn().await;
    let repo = app.create_repository("gated").await;
    let (build, tasks) = app
        .create_build(&repo, &[("a", false), ("b", false)], true)
        .await;
    assert_eq!(app.build(&build).await["status"], "NEEDS_APPROVAL");
    let early = app.set_task(&tasks[0], "TRIGGERED").await;
    assert_eq!(error_code(&early), Some("INVALID_TRANSITION"), "{early}");

    let approve = "mutation($i: BuildApproveInput!) { approve(input: $i) { build { status tasks { status } } clientMutationId } }";
    let resp = app
        .ok(
            approve,
            json!({ "i": { "buildId": build, "clientMutationId": "x" } }),
        )
        .await;
    assert_eq!(resp["approve"]["build"]["status"], "TRIGGERED");
    assert_eq!(resp["approve"]["clientMutationId"], "x");
    assert!(resp["approve"]["build"]["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .all(|t| t["status"] == "TRIGGERED"));

    let before = app.build(&build).await;
    let again = app.gql(approve, json!({ "i": { "buildId": build } })).await;
    assert_eq!(error_code(&again), Some("INVALID_TRANSITION"), "{again}");
    assert!(again["data"].is_null());
    assert_eq!(
        app.build(&build).await,
        before,
        "a refused approve changes nothing"
    );
}

#[tokio::test]
async fn rerun_and_retrigger_start_new_runs_and_reopen_the_build() {
    let app = TestApp::spawn().await;
    let repo = app.create_repository("reruns").await;
    let (build, tasks) = app
        .create_build(&repo, &[("a", false), ("b", false)], false)
        .await;
    for t in &tasks {
        app.move_task(t, &["TRIGGERED", "EXECUTING"]).await;
    }
    app.move_task(&tasks[0], &["COMPLETED"]).await;
    app.move_task(&tasks[1], &["FAILED"]).await;
    assert_eq!(app.build(&build).await["status"], "FAILED");

    let rerun = "mutation($i: TaskReRunInput!) { rerun(input: $i) { newTask { id status manualRerunCount previousRunId } } }";
    let early = app.gql(rerun, json!({ "i": { "taskId": tasks[0] } })).await;
    assert!(early.get("errors").is_none(), "{early}");
    let data = app.ok(rerun, json!({ "i": { "taskId": tasks[1] } })).await;
    let new_task = &data["rerun"]["newTask"];
    assert_eq!(new_task["manualRerunCount"], 1);
    assert_eq!(new_task["previousRunId"], tasks[1].as_str());
    assert_eq!(new_task["status"], "TRIGGERED");
    let b = app.build(&build).await;
    assert_eq!(b["status"], "TRIGGERED");
    assert_eq!(
        b["tasks"].as_array().expect("tasks").len(),
        2,
        "only latest runs: {b}"
    );

    let old = app.set_task(&tasks[1], "EXECUTING").await;
    assert_eq!(
        error_code(&old),
        Some("INVALID_TRANSITION"),
        "a superseded run cannot change"
    );
    let twice = app.gql(rerun, json!({ "i": { "taskId": tasks[1] } })).await;
    assert_eq!(error_code(&twice), Some("INVALID_TRANSITION"));

    let retrigger = "mutation($i: BuildReTriggerInput!) { retrigger(input: $i) { build { status tasks { status } } } }";
    let busy = app
        .gql(retrigger, json!({ "i": { "buildId": build } }))
        .await;
    assert_eq!(error_code(&busy), Some("INVALID_TRANSITION"), "{busy}");
    let current: Vec<String> = app.build(&build).await["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .collect();
    for t in &current {
        app.move_task(t, &["EXECUTING", "COMPLETED"]).await;
    }
    assert_eq!(app.build(&build).await["status"], "COMPLETED");
    let data = app
        .ok(retrigger, json!({ "i": { "buildId": build } }))
        .await;
    assert_eq!(data["retrigger"]["build"]["status"], "TRIGGERED");
    assert!(data["retrigger"]["build"]["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .all(|t| t["status"] == "TRIGGERED"));
}
