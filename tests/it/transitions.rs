//! Every pair of task statuses, table-driven: the allowed ones succeed, every forbidden one is
//! INVALID_TRANSITION and leaves the task and its build unchanged. The expected table is written
//! out here, independently of the server's.

use serde_json::json;

use crate::utils::{error_code, TestApp};

const STATUSES: [&str; 9] = [
    "CREATED",
    "TRIGGERED",
    "SCHEDULED",
    "EXECUTING",
    "PAUSED",
    "ABORTED",
    "FAILED",
    "COMPLETED",
    "SKIPPED",
];

/// The allowed task transitions, as documented.
const ALLOWED: &[(&str, &str)] = &[
    ("CREATED", "TRIGGERED"),
    ("CREATED", "ABORTED"),
    ("CREATED", "SKIPPED"),
    ("TRIGGERED", "SCHEDULED"),
    ("TRIGGERED", "EXECUTING"),
    ("TRIGGERED", "ABORTED"),
    ("TRIGGERED", "SKIPPED"),
    ("SCHEDULED", "EXECUTING"),
    ("SCHEDULED", "ABORTED"),
    ("EXECUTING", "COMPLETED"),
    ("EXECUTING", "FAILED"),
    ("EXECUTING", "ABORTED"),
    ("EXECUTING", "PAUSED"),
    ("PAUSED", "EXECUTING"),
    ("PAUSED", "ABORTED"),
];

/// How to reach a status from CREATED.
fn path_to(status: &str) -> &'static [&'static str] {
    match status {
        "CREATED" => &[],
        "TRIGGERED" => &["TRIGGERED"],
        "SCHEDULED" => &["TRIGGERED", "SCHEDULED"],
        "EXECUTING" => &["TRIGGERED", "EXECUTING"],
        "PAUSED" => &["TRIGGERED", "EXECUTING", "PAUSED"],
        "ABORTED" => &["ABORTED"],
        "FAILED" => &["TRIGGERED", "EXECUTING", "FAILED"],
        "COMPLETED" => &["TRIGGERED", "EXECUTING", "COMPLETED"],
        "SKIPPED" => &["SKIPPED"],
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn every_task_status_pair_follows_the_transition_table() {
    let app = TestApp::spawn().await;
    let repo = app.create_repository("table").await;
    let mut checked = 0;
    for from in STATUSES {
        // One task per target status, all first driven to `from`.
        let names: Vec<(&str, bool)> = STATUSES.iter().map(|s| (*s, false)).collect();
        let (build, tasks) = app.create_build(&repo, &names, false).await;
        for task in &tasks {
            app.move_task(task, path_to(from)).await;
        }
        for (to, task) in STATUSES.iter().zip(&tasks) {
            let before = app.build(&build).await;
            let resp = app.set_task(task, to).await;
            if ALLOWED.contains(&(from, to)) {
                assert!(
                    resp.get("errors").is_none(),
                    "{from} -> {to} must be allowed: {resp}"
                );
                assert_eq!(resp["data"]["updateTaskStatus"]["task"]["status"], *to);
            } else {
                assert_eq!(
                    error_code(&resp),
                    Some("INVALID_TRANSITION"),
                    "{from} -> {to}: {resp}"
                );
                let message = resp["errors"][0]["message"].as_str().unwrap_or("");
                assert!(
                    message.contains(from) && message.contains(to),
                    "clear message: {message}"
                );
                assert_eq!(
                    app.build(&build).await,
                    before,
                    "{from} -> {to} changed something"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 81);
}

#[tokio::test]
async fn build_level_moves_are_refused_outside_their_source_status() {
    let app = TestApp::spawn().await;
    let repo = app.create_repository("build-table").await;
    let approve = "mutation($i: BuildApproveInput!) { approve(input: $i) { build { status } } }";
    let retrigger =
        "mutation($i: BuildReTriggerInput!) { retrigger(input: $i) { build { status } } }";
    // Reach CREATED, TRIGGERED, EXECUTING, COMPLETED and FAILED.
    let paths: [(&str, &[&str]); 5] = [
        ("CREATED", &[]),
        ("TRIGGERED", &["TRIGGERED"]),
        ("EXECUTING", &["TRIGGERED", "EXECUTING"]),
        ("COMPLETED", &["TRIGGERED", "EXECUTING", "COMPLETED"]),
        ("FAILED", &["TRIGGERED", "EXECUTING", "FAILED"]),
    ];
    for (status, path) in paths {
        let (build, tasks) = app.create_build(&repo, &[("only", false)], false).await;
        app.move_task(&tasks[0], path).await;
        let before = app.build(&build).await;
        assert_eq!(before["status"], status);
        let resp = app.gql(approve, json!({ "i": { "buildId": build } })).await;
        assert_eq!(
            error_code(&resp),
            Some("INVALID_TRANSITION"),
            "approve from {status}"
        );
        assert_eq!(app.build(&build).await, before);
        if !matches!(status, "COMPLETED" | "FAILED") {
            let resp = app
                .gql(retrigger, json!({ "i": { "buildId": build } }))
                .await;
            assert_eq!(
                error_code(&resp),
                Some("INVALID_TRANSITION"),
                "retrigger from {status}"
            );
            assert_eq!(app.build(&build).await, before);
        }
    }
}
