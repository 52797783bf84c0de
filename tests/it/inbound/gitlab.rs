//! GitLab CI: GitLab's documented Pipeline and Job hook examples
//! (`tests/fixtures/inbound/gitlab/`), their status fields edited in the test, drive a build and
//! its task with `X-Gitlab-Token`, and an endpoint receives the matching signed deliveries; every
//! documented status lands on the contract's status; a wrong or missing token is 401; the
//! `Idempotency-Key`, else `X-Gitlab-Event-UUID`, else `webhook-id` makes a redelivery a
//! duplicate; a source with a signing secret takes Standard Webhooks signatures computed in the
//! test and refuses a stale timestamp.

use serde_json::{json, Value};

use super::{
    applied, build_of, endpoint, events_of, fixture_json, gitlab, gitlab_source, ignored,
    now_seconds, post, received, refused, repository_names, rows, said, says, standard_signature,
    task_status, unique, Source, JSON,
};
use crate::utils::{Receiver, TestApp};

/// The pipeline fixture with `object_attributes.status` and (when given) its id set.
fn pipeline(status: &str, id: Option<u64>) -> Value {
    let mut body = fixture_json("gitlab/pipeline.json");
    body["object_attributes"]["status"] = json!(status);
    if let Some(id) = id {
        body["object_attributes"]["id"] = json!(id);
    }
    body
}

/// The job fixture as a job of `pipeline_id`, with `build_status` and (when given) its id set.
fn job(status: &str, pipeline_id: &Value, id: Option<u64>) -> Value {
    let mut body = fixture_json("gitlab/job.json");
    body["build_status"] = json!(status);
    body["pipeline_id"] = pipeline_id.clone();
    // GitLab's job hook names its pipeline in `commit.id` too.
    if body["commit"]["id"].is_number() {
        body["commit"]["id"] = pipeline_id.clone();
    }
    if let Some(id) = id {
        body["build_id"] = json!(id);
        body["build_name"] = json!(format!("job {id}"));
    }
    body
}

#[tokio::test]
async fn documented_pipeline_and_job_hooks_drive_a_build_with_signed_deliveries() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    endpoint(&app, &app.org, &receiver, "gitlab-out").await;
    let source = gitlab_source(&app, &app.org, false).await;
    let pipeline_id = pipeline("pending", None)["object_attributes"]["id"].clone();

    let mut events = 0;
    let step = |answer: &(u16, Value), events: &mut u64| {
        *events += events_of(answer);
        applied(answer)
    };
    let (build, _) = step(
        &gitlab(&app, &source, "Pipeline Hook", &pipeline("pending", None)).await,
        &mut events,
    );
    assert_eq!(
        build_of(&app, &app.org, &build).await["status"],
        "TRIGGERED"
    );
    let (same, task) = step(
        &gitlab(
            &app,
            &source,
            "Job Hook",
            &job("running", &pipeline_id, None),
        )
        .await,
        &mut events,
    );
    assert_eq!(same, build, "the job is a task of the pipeline's build");
    let task = task.expect("a job is a task");
    assert_eq!(task_status(&app, &app.org, &task).await, "EXECUTING");
    step(
        &gitlab(&app, &source, "Pipeline Hook", &pipeline("running", None)).await,
        &mut events,
    );
    assert_eq!(
        build_of(&app, &app.org, &build).await["status"],
        "EXECUTING"
    );
    step(
        &gitlab(
            &app,
            &source,
            "Job Hook",
            &job("success", &pipeline_id, None),
        )
        .await,
        &mut events,
    );
    assert_eq!(task_status(&app, &app.org, &task).await, "COMPLETED");
    step(
        &gitlab(&app, &source, "Pipeline Hook", &pipeline("success", None)).await,
        &mut events,
    );

    let seen = build_of(&app, &app.org, &build).await;
    let fixture = pipeline("success", None);
    let project = fixture["project"]["path_with_namespace"]
        .as_str()
        .expect("project");
    assert_eq!(seen["status"], "COMPLETED", "{seen}");
    assert_eq!(seen["repository"]["name"], project, "{seen}");
    assert_eq!(
        seen["branch"], fixture["object_attributes"]["ref"],
        "{seen}"
    );
    assert_eq!(
        seen["changeIdInRepo"], fixture["object_attributes"]["sha"],
        "{seen}"
    );
    // The pipeline example lists five jobs in `builds`; per the contract a Pipeline Hook is the
    // build only, and its jobs become tasks when their Job Hooks arrive.
    assert_eq!(seen["tasks"].as_array().map(Vec::len), Some(1), "{seen}");
    assert_eq!(seen["tasks"][0]["id"], task.as_str(), "{seen}");
    assert_eq!(
        seen["tasks"][0]["name"],
        fixture_json("gitlab/job.json")["build_name"],
        "{seen}"
    );
    assert_eq!(repository_names(&app, &app.org).await, [project]);

    assert_eq!(events, 5, "one event per transition");
    let got = received(&receiver, 5).await;
    let mut want = vec![
        says("build", "created", None, "TRIGGERED"),
        says("build", "updated", Some("TRIGGERED"), "EXECUTING"),
        says("build", "updated", Some("EXECUTING"), "COMPLETED"),
        says("task", "created", None, "EXECUTING"),
        says("task", "updated", Some("EXECUTING"), "COMPLETED"),
    ];
    want.sort();
    assert_eq!(said(&got, "gitlab-out"), want);
}

#[tokio::test]
async fn every_documented_gitlab_status_lands_on_the_contracts_status() {
    let app = TestApp::spawn().await;
    let source = gitlab_source(&app, &app.org, false).await;
    let pipelines = [
        ("created", "CREATED"),
        ("waiting_for_resource", "TRIGGERED"),
        ("preparing", "TRIGGERED"),
        ("pending", "TRIGGERED"),
        ("scheduled", "TRIGGERED"),
        ("running", "EXECUTING"),
        ("success", "COMPLETED"),
        ("skipped", "COMPLETED"),
        ("failed", "FAILED"),
        ("canceled", "ABORTED"),
        ("manual", "NEEDS_APPROVAL"),
    ];
    for (n, (status, want)) in pipelines.into_iter().enumerate() {
        let body = pipeline(status, Some(900_000 + n as u64));
        let (build, _) = applied(&gitlab(&app, &source, "Pipeline Hook", &body).await);
        assert_eq!(
            build_of(&app, &app.org, &build).await["status"],
            want,
            "pipeline {status}"
        );
    }
    let jobs = [
        ("created", "CREATED"),
        ("waiting_for_resource", "TRIGGERED"),
        ("preparing", "TRIGGERED"),
        ("pending", "TRIGGERED"),
        ("scheduled", "TRIGGERED"),
        ("running", "EXECUTING"),
        ("success", "COMPLETED"),
        ("failed", "FAILED"),
        ("canceled", "ABORTED"),
        ("skipped", "SKIPPED"),
        ("manual", "PAUSED"),
    ];
    for (n, (status, want)) in jobs.into_iter().enumerate() {
        // Each job in a pipeline of its own, not seen before: the job creates its build.
        let body = job(status, &json!(800_000 + n as u64), Some(700_000 + n as u64));
        let (_, task) = applied(&gitlab(&app, &source, "Job Hook", &body).await);
        let task = task.expect("a job is a task");
        assert_eq!(
            task_status(&app, &app.org, &task).await,
            want,
            "job {status}"
        );
    }
}

#[tokio::test]
async fn a_wrong_or_missing_gitlab_token_is_401_and_other_hooks_are_ignored() {
    let app = TestApp::spawn().await;
    let source = gitlab_source(&app, &app.org, false).await;
    let body = serde_json::to_vec(&pipeline("running", None)).expect("JSON");
    let before = rows(&app, None).await;
    let wrong = format!("{}x", source.secret);
    for (what, token) in [
        ("a wrong token", Some(wrong.as_str())),
        ("no token", None),
        ("an empty token", Some("")),
    ] {
        let mut headers = vec![
            JSON,
            ("x-gitlab-event", "Pipeline Hook"),
            ("idempotency-key", "k-1"),
        ];
        if let Some(token) = token {
            headers.push(("x-gitlab-token", token));
        }
        refused(
            &post(&app, &source.path(), &headers, &body).await,
            401,
            "UNAUTHENTICATED",
            what,
        );
    }
    // GitHub's header on a GitLab source proves nothing.
    let github_style = super::github_signature(&source.secret, &body);
    let headers = [
        JSON,
        ("x-gitlab-event", "Pipeline Hook"),
        ("x-hub-signature-256", github_style.as_str()),
    ];
    refused(
        &post(&app, &source.path(), &headers, &body).await,
        401,
        "UNAUTHENTICATED",
        "a GitHub signature",
    );
    assert_eq!(rows(&app, None).await, before, "refusals write nothing");

    let push = json!({ "object_kind": "push", "ref": "refs/heads/main" });
    ignored(
        &gitlab(&app, &source, "Push Hook", &push).await,
        "a Push Hook",
    );
    assert_eq!(
        rows(&app, None).await,
        before,
        "an ignored hook writes nothing"
    );
}

/// Posts `body` as a `Pipeline Hook` with `source`'s token and the given extra headers.
async fn pipeline_with(
    app: &TestApp,
    source: &Source,
    extra: &[(&str, &str)],
    body: &Value,
) -> (u16, Value) {
    let mut headers = vec![
        JSON,
        ("x-gitlab-event", "Pipeline Hook"),
        ("x-gitlab-token", source.secret.as_str()),
    ];
    headers.extend_from_slice(extra);
    post(
        app,
        &source.path(),
        &headers,
        &serde_json::to_vec(body).expect("JSON"),
    )
    .await
}

#[tokio::test]
async fn gitlab_redeliveries_are_duplicates_by_idempotency_key_then_event_uuid() {
    let app = TestApp::spawn().await;
    let source = gitlab_source(&app, &app.org, false).await;
    let first = pipeline("pending", Some(31_001));
    let later = pipeline("running", Some(31_001));

    applied(&pipeline_with(&app, &source, &[("idempotency-key", "idem-1")], &first).await);
    let once = rows(&app, None).await;
    let again = pipeline_with(&app, &source, &[("idempotency-key", "idem-1")], &later).await;
    assert_eq!(
        again,
        (200, json!({ "result": "duplicate" })),
        "the same Idempotency-Key"
    );

    applied(&pipeline_with(&app, &source, &[("x-gitlab-event-uuid", "uuid-1")], &later).await);
    let twice = rows(&app, None).await;
    assert_eq!(twice.events, once.events + 1);
    let done = pipeline("success", Some(31_001));
    let again = pipeline_with(&app, &source, &[("x-gitlab-event-uuid", "uuid-1")], &done).await;
    assert_eq!(
        again,
        (200, json!({ "result": "duplicate" })),
        "the same X-Gitlab-Event-UUID"
    );
    assert_eq!(rows(&app, None).await, twice, "duplicates write nothing");
}

#[tokio::test]
async fn a_signing_secret_takes_fresh_standard_webhooks_signatures_only() {
    let app = TestApp::spawn().await;
    let source = gitlab_source(&app, &app.org, true).await;
    assert_eq!(source.fields["hasSigningSecret"], true);
    let whsec = source
        .signing_secret
        .clone()
        .expect("the signing secret is shown once");
    assert!(whsec.starts_with("whsec_"), "{whsec}");

    let mut n = 0u64;
    let mut body = || {
        n += 1;
        serde_json::to_vec(&pipeline("running", Some(41_000 + n))).expect("JSON")
    };
    let send = |body: Vec<u8>, id: String, ts: i64, signature: String, token: Option<String>| {
        let app = &app;
        let path = source.path();
        async move {
            let ts = ts.to_string();
            let mut headers = vec![
                JSON,
                ("x-gitlab-event", "Pipeline Hook"),
                ("webhook-id", id.as_str()),
                ("webhook-timestamp", ts.as_str()),
                ("webhook-signature", signature.as_str()),
            ];
            if let Some(token) = token.as_deref() {
                headers.push(("x-gitlab-token", token));
            }
            post(app, &path, &headers, &body).await
        }
    };
    let token = Some(source.secret.clone());

    // Signed now, with the token: applied. Signed now, without the token: applied too (the
    // contract checks X-Gitlab-Token only when present once a signing secret is set).
    let (b, id, now) = (body(), unique(), now_seconds());
    let sig = standard_signature(&whsec, &id, now, &b);
    applied(&send(b, id, now, sig, token.clone()).await);
    let (b, id) = (body(), unique());
    let sig = standard_signature(&whsec, &id, now, &b);
    applied(&send(b.clone(), id.clone(), now, sig.clone(), None).await);
    // The same message again (a redelivery keeps its webhook-id, the only key sent): duplicate.
    assert_eq!(
        send(b, id, now, sig, None).await,
        (200, json!({ "result": "duplicate" })),
        "the same webhook-id"
    );

    // Four minutes old is inside the five-minute window.
    let (b, id) = (body(), unique());
    let sig = standard_signature(&whsec, &id, now - 240, &b);
    applied(&send(b, id, now - 240, sig, token.clone()).await);

    let before = rows(&app, None).await;
    let cases: Vec<(&str, i64, Option<String>, bool)> = vec![
        ("ten minutes old", now - 600, token.clone(), true),
        ("ten minutes ahead", now + 600, token.clone(), true),
        ("signed with another key", now, token.clone(), false),
        (
            "the right signature but a wrong token",
            now,
            Some("wrong".into()),
            true,
        ),
    ];
    for (what, ts, token, right_key) in cases {
        let (b, id) = (body(), unique());
        let key = if right_key {
            whsec.clone()
        } else {
            "whsec_c2VjcmV0LWJ1dC1ub3QtdGhpcy1vbmU=".to_owned()
        };
        let sig = standard_signature(&key, &id, ts, &b);
        refused(
            &send(b, id, ts, sig, token).await,
            401,
            "UNAUTHENTICATED",
            what,
        );
    }
    // The token alone is not enough once the source has a signing secret.
    let b = pipeline("running", Some(49_999));
    refused(
        &pipeline_with(&app, &source, &[("idempotency-key", &unique())], &b).await,
        401,
        "UNAUTHENTICATED",
        "no signature",
    );
    assert_eq!(rows(&app, None).await, before, "refusals write nothing");
}
