//! Two organizations: organization B's source, posting the very same repository, run, job and
//! delivery ids as organization A's, never touches A's repositories, builds, tasks, events,
//! deliveries or inbound log (B gets its own repository and build, and A's delivery ids do not
//! make B's duplicates); A gets NOT_FOUND for B's source on every operation that names it,
//! exactly as for a source that does not exist, and B's source keeps working.

use serde_json::{json, Value};

use super::sources::{delete, regenerate};
use super::{
    applied, build_of, create_source_as, endpoint, fixture, github_as, github_source, head,
    inbound_requests, received, refused, repository_names, rows, sources, REQUEST_FIELDS,
};
use crate::utils::{error_code, Receiver, TestApp};

#[tokio::test]
async fn another_organizations_source_never_touches_our_repositories_or_builds() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.org.clone(), app.new_org("other").await);
    let (receiver_a, receiver_b) = (Receiver::start(vec![]).await, Receiver::start(vec![]).await);
    endpoint(&app, &a, &receiver_a, "a-secret").await;
    endpoint(&app, &b, &receiver_b, "b-secret").await;
    let (source_a, source_b) = (github_source(&app, &a).await, github_source(&app, &b).await);
    let run = fixture("github/workflow_run.requested.json");
    let job = fixture("github/workflow_job.queued.json");

    let (build_a, _) = applied(
        &github_as(
            &app,
            &source_a.id,
            &source_a.secret,
            "workflow_run",
            "delivery-1",
            &run,
        )
        .await,
    );
    let (_, task_a) = applied(
        &github_as(
            &app,
            &source_a.id,
            &source_a.secret,
            "workflow_job",
            "delivery-2",
            &job,
        )
        .await,
    );
    let a_rows = rows(&app, Some(&a)).await;
    let a_build = build_of(&app, &a, &build_a).await;
    let a_repositories = repository_names(&app, &a).await;

    // B's secret does not open A's source.
    let crossed = github_as(
        &app,
        &source_a.id,
        &source_b.secret,
        "workflow_run",
        "delivery-3",
        &fixture("github/workflow_run.completed.json"),
    )
    .await;
    refused(
        &crossed,
        401,
        "UNAUTHENTICATED",
        "A's source with B's secret",
    );

    // B reports the same run and job, under the same delivery ids, then completes the run.
    let (build_b, _) = applied(
        &github_as(
            &app,
            &source_b.id,
            &source_b.secret,
            "workflow_run",
            "delivery-1",
            &run,
        )
        .await,
    );
    let (_, task_b) = applied(
        &github_as(
            &app,
            &source_b.id,
            &source_b.secret,
            "workflow_job",
            "delivery-2",
            &job,
        )
        .await,
    );
    applied(
        &github_as(
            &app,
            &source_b.id,
            &source_b.secret,
            "workflow_run",
            "delivery-3",
            &fixture("github/workflow_run.completed.json"),
        )
        .await,
    );
    assert_ne!(build_b, build_a, "B's run is B's own build");
    assert_ne!(task_b, task_a, "B's job is B's own task");

    assert_eq!(rows(&app, Some(&a)).await, a_rows, "A's rows are unchanged");
    assert_eq!(
        build_of(&app, &a, &build_a).await,
        a_build,
        "A's build is unchanged"
    );
    assert_eq!(repository_names(&app, &a).await, a_repositories);
    let b_build = build_of(&app, &b, &build_b).await;
    assert_eq!(b_build["status"], "COMPLETED", "{b_build}");
    assert_ne!(
        b_build["repository"]["id"], a_build["repository"]["id"],
        "B has its own repository"
    );
    assert_eq!(
        b_build["repository"]["name"], a_build["repository"]["name"],
        "of the same name"
    );
    assert_eq!(repository_names(&app, &b).await, a_repositories);
    let none = app
        .gql_as(
            &a.token,
            "query($id: ID!) { build(id: $id) { id } }",
            json!({ "id": build_b }),
        )
        .await;
    assert_eq!(
        error_code(&none),
        Some("NOT_FOUND"),
        "A cannot read B's build: {none}"
    );

    // Each organization's log holds its own requests only.
    let log_a = inbound_requests(&app, &a, None).await;
    assert_eq!(log_a.len(), 3, "{log_a:?}");
    assert!(
        log_a.iter().all(|e| e["sourceId"] == source_a.id.as_str()),
        "{log_a:?}"
    );
    let log_b = inbound_requests(&app, &b, None).await;
    assert_eq!(
        super::results(&log_b),
        ["APPLIED", "APPLIED", "APPLIED"],
        "{log_b:?}"
    );

    // Each endpoint got its own organization's deliveries only.
    let b_rows = rows(&app, Some(&b)).await;
    let got_a = received(&receiver_a, a_rows.deliveries as usize).await;
    let got_b = received(&receiver_b, b_rows.deliveries as usize).await;
    assert_eq!(got_a.len() as u64, a_rows.deliveries);
    assert_eq!(got_b.len() as u64, b_rows.deliveries);
    for r in &got_a {
        assert_eq!(
            r.json()["data"]["build"]["id"],
            build_a.as_str(),
            "A's endpoint saw another build"
        );
    }
    for r in &got_b {
        assert_eq!(
            r.json()["data"]["build"]["id"],
            build_b.as_str(),
            "B's endpoint saw another build"
        );
    }
}

/// `ownerInfo.inboundRequests` of one source as `token`; returns the whole response.
async fn requests(app: &TestApp, token: &str, source: &str) -> Value {
    app.gql_as(
        token,
        &format!("query($s: ID) {{ ownerInfo {{ inboundRequests(sourceId: $s) {{ {REQUEST_FIELDS} }} }} }}"),
        json!({ "s": source }),
    )
    .await
}

/// The first error's extensions: what two errors are compared by.
fn extensions(resp: &Value) -> Value {
    resp["errors"][0]["extensions"].clone()
}

#[tokio::test]
async fn another_organizations_source_is_not_found_and_keeps_working() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.org.clone(), app.new_org("other").await);
    let source_b = github_source(&app, &b).await;
    let repo_b = crate::utils::gql_at(
        &app.client,
        app.addr,
        &b.token,
        "mutation { createRepository(input: {name: \"b-only\"}) { repository { id } } }",
        json!({}),
    )
    .await["createRepository"]["repository"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let missing = uuid::Uuid::new_v4().simple().to_string();

    for (what, theirs, nowhere) in [
        (
            "regenerateInboundSecret",
            regenerate(&app, &a.token, &source_b.id).await,
            regenerate(&app, &a.token, &missing).await,
        ),
        (
            "deleteInboundSource",
            delete(&app, &a.token, &source_b.id).await,
            delete(&app, &a.token, &missing).await,
        ),
        (
            "inboundRequests",
            requests(&app, &a.token, &source_b.id).await,
            requests(&app, &a.token, &missing).await,
        ),
        (
            "createInboundSource with B's repository",
            create_source_as(
                &app,
                &a,
                json!({ "kind": "GITHUB", "name": "x", "repositoryId": repo_b }),
            )
            .await,
            create_source_as(
                &app,
                &a,
                json!({ "kind": "GITHUB", "name": "x", "repositoryId": "999999" }),
            )
            .await,
        ),
    ] {
        assert_eq!(error_code(&theirs), Some("NOT_FOUND"), "{what}: {theirs}");
        assert_eq!(
            extensions(&theirs),
            extensions(&nowhere),
            "{what}: B's source must look like a missing one"
        );
        assert!(
            !theirs.to_string().contains(&source_b.secret),
            "{what} leaked B's secret"
        );
    }
    assert!(
        sources(&app, &a).await.is_empty(),
        "A lists none of B's sources"
    );
    assert_eq!(sources(&app, &b).await.len(), 1);

    // B's source was neither deleted nor given a new secret.
    assert_eq!(head(&app, &source_b.id).await, 200);
    let ping = json!({ "zen": "Approachable is better than simple.", "hook_id": 1 }).to_string();
    let pong = github_as(
        &app,
        &source_b.id,
        &source_b.secret,
        "ping",
        "p-1",
        ping.as_bytes(),
    )
    .await;
    assert_eq!(
        pong,
        (200, json!({ "result": "pong" })),
        "B's original secret still works"
    );
}
