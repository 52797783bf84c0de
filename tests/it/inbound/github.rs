//! GitHub Actions: GitHub's documented `workflow_run` and `workflow_job` example payloads
//! (`tests/fixtures/inbound/github/`), signed in the test with GitHub's recipe, drive a build and
//! its task through their statuses, and an endpoint for `build.*` and `task.*` receives the
//! matching signed deliveries; every documented status and conclusion lands on the contract's
//! status; `ping` answers pong; `HEAD` tells a live URL from an unknown one.

use serde_json::{json, Value};

use super::{
    applied, build_of, endpoint, events_of, fixture, fixture_json, github, github_source, head,
    ignored, inbound_requests, received, repository_names, rows, said, says, task_status, Said,
};
use crate::utils::{Receiver, TestApp};

/// The contract's table for a workflow run: GitHub's `status` and `conclusion` to our status.
/// Written here from the contract, not read from the server's table.
fn run_status(run: &Value) -> &'static str {
    match (run["status"].as_str(), run["conclusion"].as_str()) {
        (Some("requested"), _) => "CREATED",
        (Some("queued" | "waiting" | "pending"), _) => "TRIGGERED",
        (Some("in_progress"), _) => "EXECUTING",
        (Some("completed"), Some("success" | "neutral" | "skipped")) => "COMPLETED",
        (Some("completed"), Some("failure" | "timed_out")) => "FAILED",
        (Some("completed"), Some("cancelled" | "stale")) => "ABORTED",
        (Some("completed"), Some("startup_failure")) => "ERRORED",
        (Some("completed"), Some("action_required")) => "NEEDS_APPROVAL",
        other => panic!("no status in the contract's run table for {other:?}"),
    }
}

/// The contract's table for a workflow job; `None` for `action_required` (no task change).
fn job_status(job: &Value) -> Option<&'static str> {
    Some(match (job["status"].as_str(), job["conclusion"].as_str()) {
        (Some("queued" | "waiting" | "pending" | "requested"), _) => "TRIGGERED",
        (Some("in_progress"), _) => "EXECUTING",
        (Some("completed"), Some("success" | "neutral")) => "COMPLETED",
        (Some("completed"), Some("failure" | "timed_out" | "startup_failure")) => "FAILED",
        (Some("completed"), Some("cancelled" | "stale")) => "ABORTED",
        (Some("completed"), Some("skipped")) => "SKIPPED",
        (Some("completed"), Some("action_required")) => return None,
        other => panic!("no status in the contract's job table for {other:?}"),
    })
}

/// The six documented payloads, in the order GitHub sends them for one run with one job.
const STEPS: [(&str, &str); 6] = [
    ("workflow_run", "requested"),
    ("workflow_job", "queued"),
    ("workflow_run", "in_progress"),
    ("workflow_job", "in_progress"),
    ("workflow_job", "completed"),
    ("workflow_run", "completed"),
];

#[tokio::test]
async fn documented_payloads_drive_a_build_and_its_task_with_signed_deliveries() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    endpoint(&app, &app.org, &receiver, "outbound-secret").await;
    let source = github_source(&app, &app.org).await;
    let run = fixture_json("github/workflow_run.completed.json");
    let job = fixture_json("github/workflow_job.completed.json");
    assert_eq!(
        job["workflow_job"]["run_id"], run["workflow_run"]["id"],
        "fixtures: the job belongs to the run"
    );

    let (mut build_id, mut task_id) = (None::<String>, None::<String>);
    let (mut last_build, mut last_task) = (None::<&str>, None::<&str>);
    let mut expected: Vec<Said> = Vec::new();
    let mut events = 0;
    for (event, action) in STEPS {
        let path = format!("github/{event}.{action}.json");
        let body = fixture(&path);
        let parsed: Value = serde_json::from_slice(&body).expect("JSON");
        let answer = github(&app, &source, event, &body).await;
        assert_eq!(answer.0, 200, "{path}: {}", answer.1);
        let (build, task) = applied(&answer);
        events += events_of(&answer);
        assert_eq!(
            build_id.get_or_insert_with(|| build.clone()),
            &build,
            "{path}: every payload of the run reports the same build"
        );
        if event == "workflow_run" {
            assert!(task.is_none(), "{path}: a run is no task: {}", answer.1);
            let want = run_status(&parsed["workflow_run"]);
            expected.push(match last_build {
                None => says("build", "created", None, want),
                Some(old) => says("build", "updated", Some(old), want),
            });
            last_build = Some(want);
            assert_eq!(
                build_of(&app, &app.org, &build).await["status"],
                want,
                "{path}"
            );
        } else {
            let task = task.unwrap_or_else(|| panic!("{path}: a job is a task: {}", answer.1));
            assert_eq!(
                task_id.get_or_insert_with(|| task.clone()),
                &task,
                "{path}: the same job is the same task"
            );
            let want = job_status(&parsed["workflow_job"]).expect("a documented job status");
            expected.push(match last_task {
                None => says("task", "created", None, want),
                Some(old) => says("task", "updated", Some(old), want),
            });
            last_task = Some(want);
            assert_eq!(task_status(&app, &app.org, &task).await, want, "{path}");
        }
    }
    assert_eq!(events, 6, "one event per transition: {expected:?}");

    // The build and its task as GraphQL shows them, from the payloads' fields.
    let build = build_of(&app, &app.org, build_id.as_deref().expect("build")).await;
    let full_name = run["repository"]["full_name"].as_str().expect("full_name");
    assert_eq!(build["repository"]["name"], full_name, "{build}");
    assert_eq!(
        build["branch"], run["workflow_run"]["head_branch"],
        "{build}"
    );
    assert_eq!(
        build["changeIdInRepo"], run["workflow_run"]["head_sha"],
        "{build}"
    );
    assert_eq!(build["tasks"].as_array().map(Vec::len), Some(1), "{build}");
    assert_eq!(build["tasks"][0]["id"], task_id.as_deref().expect("task"));
    // GitHub's three job examples name job 289782451 differently (`update`, `Analyze
    // (javascript)`, `linters`); the contract does not say whether a later name replaces the
    // first, so the task bears one of them.
    let names: Vec<Value> = ["queued", "in_progress", "completed"]
        .iter()
        .map(|a| {
            fixture_json(&format!("github/workflow_job.{a}.json"))["workflow_job"]["name"].clone()
        })
        .collect();
    assert!(names.contains(&build["tasks"][0]["name"]), "{build}");
    // The job examples name another repository (`Codertocat/Hello-World`): a job of a known
    // build belongs to that build's repository and creates none.
    assert_eq!(
        repository_names(&app, &app.org).await,
        [full_name],
        "the repository was created on first sight, once, from the run"
    );

    // The endpoint got exactly the transitions, signed.
    let got = received(&receiver, 6).await;
    let mut want = expected.clone();
    want.sort();
    assert_eq!(said(&got, "outbound-secret"), want);
    assert_eq!(rows(&app, Some(&app.org)).await.deliveries, 6);

    // Every request is in the inbound log, newest first.
    let log = inbound_requests(&app, &app.org, Some(&source.id)).await;
    let events_logged: Vec<&str> = log
        .iter()
        .rev()
        .map(|r| r["event"].as_str().unwrap_or("?"))
        .collect();
    let events_sent: Vec<&str> = STEPS.iter().map(|(e, _)| *e).collect();
    assert_eq!(events_logged, events_sent, "{log:?}");
    for entry in &log {
        assert_eq!(entry["result"], "APPLIED", "{entry}");
        assert_eq!(entry["httpStatus"], 200, "{entry}");
        assert_eq!(entry["sourceId"], source.id.as_str(), "{entry}");
        assert_eq!(entry["buildId"], build["id"], "{entry}");
        assert!(
            entry["deliveryId"].is_string(),
            "the delivery id is kept: {entry}"
        );
    }
}

/// A run or job fixture with its status, conclusion and action set, under a fresh id and name.
fn edited(path: &str, key: &str, n: u64, status: &str, conclusion: Option<&str>) -> Vec<u8> {
    let mut body = fixture_json(path);
    let object = &mut body[key];
    let base = object["id"].as_u64().expect("numeric id");
    object["id"] = json!(base + 1_000 + n);
    object["name"] = json!(format!("{key} {n}"));
    object["status"] = json!(status);
    object["conclusion"] = json!(conclusion);
    if key == "workflow_job" {
        // A fresh run too, so that each job is alone in its build.
        object["run_id"] = json!(base + 5_000 + n);
    }
    body["action"] = json!(match (key, status) {
        (_, "completed") => "completed",
        (_, "in_progress") => "in_progress",
        ("workflow_job", "waiting") => "waiting",
        ("workflow_job", _) => "queued",
        _ => "requested",
    });
    serde_json::to_vec(&body).expect("JSON")
}

#[tokio::test]
async fn every_documented_status_and_conclusion_lands_on_the_contracts_status() {
    let app = TestApp::spawn().await;
    let source = github_source(&app, &app.org).await;
    let runs: Vec<(&str, Option<&str>)> = vec![
        ("requested", None),
        ("queued", None),
        ("waiting", None),
        ("pending", None),
        ("in_progress", None),
        ("completed", Some("success")),
        ("completed", Some("neutral")),
        ("completed", Some("skipped")),
        ("completed", Some("failure")),
        ("completed", Some("timed_out")),
        ("completed", Some("cancelled")),
        ("completed", Some("stale")),
        ("completed", Some("startup_failure")),
        ("completed", Some("action_required")),
    ];
    for (n, (status, conclusion)) in runs.into_iter().enumerate() {
        let body = edited(
            "github/workflow_run.completed.json",
            "workflow_run",
            n as u64,
            status,
            conclusion,
        );
        let want = run_status(&json!({ "status": status, "conclusion": conclusion }));
        let answer = github(&app, &source, "workflow_run", &body).await;
        let (build, _) = applied(&answer);
        assert_eq!(
            build_of(&app, &app.org, &build).await["status"],
            want,
            "run {status} {conclusion:?}"
        );
    }
    let jobs: Vec<(&str, Option<&str>)> = vec![
        ("queued", None),
        ("waiting", None),
        ("pending", None),
        ("requested", None),
        ("in_progress", None),
        ("completed", Some("success")),
        ("completed", Some("neutral")),
        ("completed", Some("failure")),
        ("completed", Some("timed_out")),
        ("completed", Some("startup_failure")),
        ("completed", Some("cancelled")),
        ("completed", Some("stale")),
        ("completed", Some("skipped")),
        ("completed", Some("action_required")),
    ];
    for (n, (status, conclusion)) in jobs.into_iter().enumerate() {
        let body = edited(
            "github/workflow_job.completed.json",
            "workflow_job",
            n as u64,
            status,
            conclusion,
        );
        let answer = github(&app, &source, "workflow_job", &body).await;
        match job_status(&json!({ "status": status, "conclusion": conclusion })) {
            Some(want) => {
                let (_, task) = applied(&answer);
                let task = task.expect("a job is a task");
                assert_eq!(
                    task_status(&app, &app.org, &task).await,
                    want,
                    "job {status} {conclusion:?}"
                );
            }
            None => ignored(&answer, "a job waiting for approval changes no task"),
        }
    }
}

#[tokio::test]
async fn ping_answers_pong_and_head_tells_a_live_url_from_an_unknown_one() {
    let app = TestApp::spawn().await;
    let source = github_source(&app, &app.org).await;
    let before = rows(&app, None).await;
    // GitHub's ping: https://docs.github.com/en/webhooks/webhook-events-and-payloads#ping
    let ping = json!({
        "zen": "Keep it logically awesome.",
        "hook_id": 30,
        "hook": { "type": "Repository", "id": 30, "name": "web", "active": true,
                  "events": ["workflow_run", "workflow_job"],
                  "config": { "content_type": "json", "insecure_ssl": "0", "url": app.url(&source.path()) } },
        "repository": { "id": 1296269, "full_name": "octocat/Hello-World" },
        "sender": { "login": "octocat", "id": 1 }
    })
    .to_string();
    let answer = github(&app, &source, "ping", ping.as_bytes()).await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_eq!(answer.1, json!({ "result": "pong" }));

    // A ping is verified like any delivery.
    let forged = super::github_as(
        &app,
        &source.id,
        "not-the-secret",
        "ping",
        &super::unique(),
        ping.as_bytes(),
    )
    .await;
    super::refused(
        &forged,
        401,
        "UNAUTHENTICATED",
        "a ping signed with another secret",
    );
    assert_eq!(rows(&app, None).await, before, "a ping writes nothing");
    assert!(
        repository_names(&app, &app.org).await.is_empty(),
        "a ping's repository is not created"
    );

    assert_eq!(head(&app, &source.id).await, 200, "a live source");
    let unknown = uuid::Uuid::new_v4().simple().to_string();
    assert_eq!(head(&app, &unknown).await, 404, "an unknown id");
    assert_eq!(head(&app, "not-even-hex").await, 404, "a malformed id");
}
