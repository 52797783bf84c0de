//! Redelivered and late reports change nothing: the same `X-GitHub-Delivery` sent three times
//! makes one transition and one set of outbound deliveries, and answers 200 `duplicate` (even
//! with another body: the key is the delivery, not the bytes); a job or run that reports
//! `in_progress` after `completed` (GitHub documents this order) leaves the status final, is
//! answered 202 and is logged IGNORED.

use serde_json::json;

use super::{
    applied, build_of, endpoint, fixture, github, github_as, github_source, ignored,
    inbound_requests, metric, metrics, received, results, rows, said, says, task_status, unique,
};
use crate::utils::{settled_deliveries, Receiver, TestApp};

#[tokio::test]
async fn the_same_github_delivery_three_times_is_one_transition_and_one_set_of_deliveries() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    endpoint(&app, &app.org, &receiver, "redelivery").await;
    let source = github_source(&app, &app.org).await;
    let (build, _) = applied(
        &github(
            &app,
            &source,
            "workflow_run",
            &fixture("github/workflow_run.requested.json"),
        )
        .await,
    );
    let first = rows(&app, Some(&app.org)).await;

    let delivery = unique();
    let body = fixture("github/workflow_run.in_progress.json");
    let answers = [
        github_as(
            &app,
            &source.id,
            &source.secret,
            "workflow_run",
            &delivery,
            &body,
        )
        .await,
        github_as(
            &app,
            &source.id,
            &source.secret,
            "workflow_run",
            &delivery,
            &body,
        )
        .await,
        github_as(
            &app,
            &source.id,
            &source.secret,
            "workflow_run",
            &delivery,
            &body,
        )
        .await,
    ];
    applied(&answers[0]);
    let once = rows(&app, Some(&app.org)).await;
    assert_eq!(
        (once.builds, once.events, once.deliveries),
        (first.builds, first.events + 1, first.deliveries + 1),
        "the first one is one transition with one delivery"
    );
    for again in &answers[1..] {
        assert_eq!(again.0, 200, "{}", again.1);
        assert_eq!(again.1, json!({ "result": "duplicate" }));
    }
    // The same key with another body (the run completed) is still the same delivery.
    let other = github_as(
        &app,
        &source.id,
        &source.secret,
        "workflow_run",
        &delivery,
        &fixture("github/workflow_run.completed.json"),
    )
    .await;
    assert_eq!(
        other.1,
        json!({ "result": "duplicate" }),
        "the key decides, not the bytes"
    );
    assert_eq!(
        rows(&app, Some(&app.org)).await,
        once,
        "duplicates write nothing"
    );
    assert_eq!(
        build_of(&app, &app.org, &build).await["status"],
        "EXECUTING"
    );

    // One set of outbound deliveries: the created one and the one transition.
    let settled = settled_deliveries(&app, 2).await;
    assert_eq!(settled.len(), 2, "{settled:?}");
    assert!(
        settled.iter().all(|d| d["state"] == "DELIVERED"),
        "{settled:?}"
    );
    let got = received(&receiver, 2).await;
    let said = said(&got, "redelivery");
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(
        said.contains(&says(
            "build",
            "updated",
            Some(said_created(&said)),
            "EXECUTING"
        )),
        "{said:?}"
    );

    let log = inbound_requests(&app, &app.org, Some(&source.id)).await;
    assert_eq!(
        results(&log),
        ["DUPLICATE", "DUPLICATE", "DUPLICATE", "APPLIED", "APPLIED"]
    );
    for entry in &log[..4] {
        assert_eq!(entry["deliveryId"], delivery.as_str(), "{entry}");
        assert_eq!(entry["httpStatus"], 200, "{entry}");
    }
    let text = metrics(&app).await;
    assert_eq!(
        metric(
            &text,
            "buildhooks_inbound_requests_total{kind=\"github\",result=\"duplicate\"}"
        ),
        3.0,
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "buildhooks_inbound_requests_total{kind=\"github\",result=\"applied\"}"
        ),
        2.0,
        "{text}"
    );
}

/// The status the build was created in, as its `created` delivery said.
fn said_created(said: &[super::Said]) -> &str {
    said.iter()
        .find(|s| s.0 == "build" && s.1 == "created")
        .map(|s| s.3.as_str())
        .expect("a build created delivery")
}

#[tokio::test]
async fn a_late_in_progress_after_completed_leaves_the_task_and_the_build_final() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    endpoint(&app, &app.org, &receiver, "late").await;
    let source = github_source(&app, &app.org).await;

    // The job: completed first (its run unseen yet), then in_progress.
    let done = github(
        &app,
        &source,
        "workflow_job",
        &fixture("github/workflow_job.completed.json"),
    )
    .await;
    let (build, task) = applied(&done);
    let task = task.expect("a job is a task");
    let final_status = task_status(&app, &app.org, &task).await;
    assert_eq!(final_status, "COMPLETED", "the documented job succeeded");
    let before = rows(&app, None).await;
    let late = github(
        &app,
        &source,
        "workflow_job",
        &fixture("github/workflow_job.in_progress.json"),
    )
    .await;
    ignored(&late, "a job in_progress after completed");
    let queued = github(
        &app,
        &source,
        "workflow_job",
        &fixture("github/workflow_job.queued.json"),
    )
    .await;
    ignored(&queued, "a job queued after completed");
    assert_eq!(task_status(&app, &app.org, &task).await, "COMPLETED");
    assert_eq!(
        rows(&app, None).await,
        before,
        "a late report writes nothing"
    );

    // The run: completed, then the late requested and in_progress.
    let run_done = github(
        &app,
        &source,
        "workflow_run",
        &fixture("github/workflow_run.completed.json"),
    )
    .await;
    let (same_build, _) = applied(&run_done);
    assert_eq!(same_build, build, "the run is the build its job created");
    let run_final = build_of(&app, &app.org, &build).await["status"].clone();
    assert_eq!(run_final, "COMPLETED", "the documented run succeeded");
    let before = rows(&app, None).await;
    for action in ["in_progress", "requested"] {
        let late = github(
            &app,
            &source,
            "workflow_run",
            &fixture(&format!("github/workflow_run.{action}.json")),
        )
        .await;
        ignored(&late, &format!("a run {action} after completed"));
    }
    assert_eq!(build_of(&app, &app.org, &build).await["status"], run_final);
    assert_eq!(
        rows(&app, None).await,
        before,
        "late run reports write nothing"
    );

    let log = inbound_requests(&app, &app.org, Some(&source.id)).await;
    assert_eq!(
        results(&log),
        ["IGNORED", "IGNORED", "APPLIED", "IGNORED", "IGNORED", "APPLIED"],
        "{log:?}"
    );
    for entry in log.iter().filter(|e| e["result"] == "IGNORED") {
        assert_eq!(entry["httpStatus"], 202, "{entry}");
        assert!(
            entry["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{entry}"
        );
    }

    // No delivery ever says the task went back.
    let deliveries = rows(&app, None).await.deliveries as usize;
    let got = received(&receiver, deliveries).await;
    let said = said(&got, "late");
    assert_eq!(said.len(), deliveries, "{said:?}");
    assert!(
        !said.iter().any(|s| s.0 == "task" && s.3 == "EXECUTING"),
        "{said:?}"
    );
}
