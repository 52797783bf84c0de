//! Re-runs. GitHub's "Re-run jobs": a later `run_attempt` of a finished run reopens its build
//! (TRIGGERED, as `retrigger` does) and a job of it named like one of the build's tasks supersedes
//! that task (a new run, `manualRerunCount` 1); a report of the older attempt is late (202,
//! nothing changes). GitLab's "Retry": a new job with `retries_count` above 0 supersedes the task
//! of its name and reopens a finished pipeline's build.

use serde_json::{json, Value};

use super::{
    applied, build_of, fixture_json, github, github_source, gitlab, gitlab_source, ignored,
    task_status,
};
use crate::utils::TestApp;

/// The documented run example at `attempt`, reporting `status` / `conclusion`.
fn run(action: &str, status: &str, conclusion: Option<&str>, attempt: i64) -> Vec<u8> {
    let mut v = fixture_json("github/workflow_run.completed.json");
    v["action"] = json!(action);
    v["workflow_run"]["status"] = json!(status);
    v["workflow_run"]["conclusion"] = json!(conclusion);
    v["workflow_run"]["run_attempt"] = json!(attempt);
    serde_json::to_vec(&v).expect("JSON")
}

/// The documented job example (of the same run) as job `id` at `attempt`.
fn job(id: i64, status: &str, conclusion: Option<&str>, attempt: i64) -> Vec<u8> {
    let mut v = fixture_json("github/workflow_job.completed.json");
    v["action"] = json!(if status == "completed" {
        "completed"
    } else {
        status
    });
    v["workflow_job"]["id"] = json!(id);
    v["workflow_job"]["status"] = json!(status);
    v["workflow_job"]["conclusion"] = json!(conclusion);
    v["workflow_job"]["run_attempt"] = json!(attempt);
    serde_json::to_vec(&v).expect("JSON")
}

async fn rerun_count(app: &TestApp, id: &str) -> Value {
    let resp = app
        .gql(
            "query($id: ID) { task(id: $id) { manualRerunCount } }",
            json!({ "id": id }),
        )
        .await;
    resp["data"]["task"]["manualRerunCount"].clone()
}

#[tokio::test]
async fn a_later_attempt_reopens_the_build_and_its_job_supersedes_the_task() {
    let app = TestApp::spawn().await;
    let source = github_source(&app, &app.org).await;

    // Attempt 1 fails.
    let failed = run("completed", "completed", Some("failure"), 1);
    let (build, _) = applied(&github(&app, &source, "workflow_run", &failed).await);
    let first_job = job(1001, "completed", Some("failure"), 1);
    let (_, first) = applied(&github(&app, &source, "workflow_job", &first_job).await);
    let first = first.expect("task");
    assert_eq!(build_of(&app, &app.org, &build).await["status"], "FAILED");
    assert_eq!(task_status(&app, &app.org, &first).await, "FAILED");

    // "Re-run failed jobs": attempt 2 of the same run reopens the build...
    let again = run("requested", "queued", None, 2);
    let (reopened, _) = applied(&github(&app, &source, "workflow_run", &again).await);
    assert_eq!(reopened, build, "the same build");
    assert_eq!(
        build_of(&app, &app.org, &build).await["status"],
        "TRIGGERED"
    );

    // ...and its job (a new job id, the same name) is a new run of the task.
    let second_job = job(2002, "queued", None, 2);
    let (_, second) = applied(&github(&app, &source, "workflow_job", &second_job).await);
    let second = second.expect("task");
    assert_ne!(second, first);
    let tasks = build_of(&app, &app.org, &build).await["tasks"].clone();
    assert_eq!(
        tasks,
        json!([{ "id": second, "name": "linters", "status": "TRIGGERED" }]),
        "the build's tasks are the latest runs: the old one is superseded"
    );
    assert_eq!(rerun_count(&app, &second).await, 1);

    // A report of attempt 1 arriving now is late.
    let late = github(&app, &source, "workflow_job", &first_job).await;
    ignored(&late, "a report of the older attempt");
    assert_eq!(task_status(&app, &app.org, &first).await, "FAILED");

    // Attempt 2 succeeds.
    let done = job(2002, "completed", Some("success"), 2);
    applied(&github(&app, &source, "workflow_job", &done).await);
    let passed = run("completed", "completed", Some("success"), 2);
    applied(&github(&app, &source, "workflow_run", &passed).await);
    let build = build_of(&app, &app.org, &build).await;
    assert_eq!(build["status"], "COMPLETED", "{build}");
    assert_eq!(task_status(&app, &app.org, &second).await, "COMPLETED");
}

/// The documented pipeline example as pipeline 700 with `status`.
fn pipeline(status: &str) -> Value {
    let mut v = fixture_json("gitlab/pipeline.json");
    v["object_attributes"]["id"] = json!(700);
    v["object_attributes"]["status"] = json!(status);
    v
}

/// The documented job example as job `id` ("rspec") of pipeline 700, retried `retries` times.
fn gitlab_job(id: i64, status: &str, retries: i64) -> Value {
    let mut v = fixture_json("gitlab/job.json");
    v["build_id"] = json!(id);
    v["build_name"] = json!("rspec");
    v["build_status"] = json!(status);
    v["pipeline_id"] = json!(700);
    v["retries_count"] = json!(retries);
    v
}

#[tokio::test]
async fn a_retried_gitlab_job_supersedes_its_task_and_reopens_the_finished_pipeline() {
    let app = TestApp::spawn().await;
    let source = gitlab_source(&app, &app.org, false).await;
    let (build, _) = applied(&gitlab(&app, &source, "Pipeline Hook", &pipeline("running")).await);
    let (_, first) =
        applied(&gitlab(&app, &source, "Job Hook", &gitlab_job(71, "failed", 0)).await);
    let first = first.expect("task");
    applied(&gitlab(&app, &source, "Pipeline Hook", &pipeline("failed")).await);
    assert_eq!(build_of(&app, &app.org, &build).await["status"], "FAILED");

    // "Retry" on the failed job: a new job id, the same name, `retries_count` 1.
    let retried = gitlab_job(72, "pending", 1);
    let (_, second) = applied(&gitlab(&app, &source, "Job Hook", &retried).await);
    let second = second.expect("task");
    assert_ne!(second, first);
    let reopened = build_of(&app, &app.org, &build).await;
    assert_eq!(reopened["status"], "TRIGGERED", "{reopened}");
    assert_eq!(
        reopened["tasks"],
        json!([{ "id": second, "name": "rspec", "status": "TRIGGERED" }]),
        "the retried job is the task's latest run"
    );
    assert_eq!(rerun_count(&app, &second).await, 1);

    // The pipeline runs again and passes.
    applied(&gitlab(&app, &source, "Pipeline Hook", &pipeline("running")).await);
    applied(&gitlab(&app, &source, "Job Hook", &gitlab_job(72, "success", 1)).await);
    applied(&gitlab(&app, &source, "Pipeline Hook", &pipeline("success")).await);
    assert_eq!(
        build_of(&app, &app.org, &build).await["status"],
        "COMPLETED"
    );
    assert_eq!(task_status(&app, &app.org, &first).await, "FAILED");
    assert_eq!(task_status(&app, &app.org, &second).await, "COMPLETED");
}
