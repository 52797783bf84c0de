//! Concurrent transitions on one build: every call succeeds (no "database is locked"), and the
//! build's derived status is consistent with its tasks at the end.

use futures::future::join_all;
use serde_json::json;

use crate::utils::TestApp;

#[tokio::test]
async fn twenty_concurrent_task_updates_leave_a_consistent_build() {
    let app = TestApp::spawn().await;
    let repo = app.create_repository("busy").await;
    let names: Vec<String> = (0..20).map(|i| format!("task-{i}")).collect();
    let specs: Vec<(&str, bool)> = names.iter().map(|n| (n.as_str(), false)).collect();
    let (build, tasks) = app.create_build(&repo, &specs, false).await;

    for round in ["TRIGGERED", "EXECUTING", "COMPLETED"] {
        let calls = tasks.iter().map(|t| app.set_task(t, round));
        for resp in join_all(calls).await {
            assert!(resp.get("errors").is_none(), "{round}: {resp}");
            assert!(
                !resp.to_string().to_lowercase().contains("locked"),
                "{resp}"
            );
        }
        let b = app.build(&build).await;
        let expected = match round {
            "TRIGGERED" => "TRIGGERED",
            "EXECUTING" => "EXECUTING",
            _ => "COMPLETED",
        };
        assert_eq!(b["status"], expected, "after {round}: {b}");
        assert!(b["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .all(|t| t["status"] == round));
    }
    // Exactly one build event per build status change, whatever the interleaving.
    let events = app
        .ok(
            "query($id: ID!) { build(id: $id) { status } }",
            json!({ "id": build }),
        )
        .await;
    assert_eq!(events["build"]["status"], "COMPLETED");
}
