//! Generic JSON senders: a source with a mapping (JSON paths and a map of the sender's status
//! words) turns a sender's JSON, with the token as `?token=` or `Authorization: Bearer`, into a
//! build that moves to COMPLETED, with deliveries; an unmapped word is ignored (202); a repeated
//! `Idempotency-Key` is a duplicate; a wrong token is 401, `text/plain` 415, a body without the
//! mapped id 400; a source with a `repositoryId` needs no repository path.

use serde_json::{json, Value};

use super::{
    applied, build_of, create_source, endpoint, ignored, post, received, refused, repository_names,
    rows, said, says, Source, JSON,
};
use crate::utils::{Receiver, TestApp};

/// The mapping of the sender these tests play.
fn mapping() -> Value {
    json!({
        "externalId": "$.run.id",
        "status": "$.run.state",
        "statuses": [
            { "word": "started", "status": "EXECUTING" },
            { "word": "passed", "status": "COMPLETED" },
            { "word": "broken", "status": "FAILED" }
        ],
        "repository": "$.repo",
        "branch": "$.branch",
        "commit": "$.commit.sha",
        "title": "$.commit.message"
    })
}

async fn generic_source(app: &TestApp) -> Source {
    create_source(
        app,
        &app.org,
        json!({ "kind": "GENERIC", "name": "jenkins", "mapping": mapping() }),
    )
    .await
}

/// What the sender posts about run `id` in `state`.
fn report(id: u64, state: &str) -> Vec<u8> {
    json!({
        "run": { "id": id, "state": state, "url": "https://ci.example.com/runs/1" },
        "repo": "acme/web",
        "branch": "feature/login",
        "commit": { "sha": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b", "message": "Log in with a passkey\n\nLong text" }
    })
    .to_string()
    .into_bytes()
}

/// Posts `body` with the token in the URL.
async fn with_query_token(
    app: &TestApp,
    source: &Source,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    post(
        app,
        &format!("{}?token={}", source.path(), source.secret),
        headers,
        body,
    )
    .await
}

#[tokio::test]
async fn a_mapped_senders_json_becomes_a_build_that_completes_with_deliveries() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    endpoint(&app, &app.org, &receiver, "generic-out").await;
    let source = generic_source(&app).await;
    assert_eq!(
        source.fields["mapping"]["externalId"], "$.run.id",
        "{}",
        source.fields
    );

    let started = with_query_token(&app, &source, &[JSON], &report(42, "started")).await;
    let (build, task) = applied(&started);
    assert!(task.is_none(), "a generic report is a build: {}", started.1);
    assert_eq!(
        build_of(&app, &app.org, &build).await["status"],
        "EXECUTING"
    );

    let bearer = format!("Bearer {}", source.secret);
    let passed = post(
        &app,
        &source.path(),
        &[JSON, ("authorization", &bearer)],
        &report(42, "passed"),
    )
    .await;
    assert_eq!(
        applied(&passed).0,
        build,
        "the same external id is the same build"
    );

    let seen = build_of(&app, &app.org, &build).await;
    assert_eq!(seen["status"], "COMPLETED", "{seen}");
    assert_eq!(seen["repository"]["name"], "acme/web", "{seen}");
    assert_eq!(seen["branch"], "feature/login", "{seen}");
    assert_eq!(
        seen["changeIdInRepo"], "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
        "{seen}"
    );
    assert_eq!(
        seen["changeMessageTitle"], "Log in with a passkey",
        "{seen}"
    );
    assert_eq!(repository_names(&app, &app.org).await, ["acme/web"]);

    let got = received(&receiver, 2).await;
    let mut want = vec![
        says("build", "created", None, "EXECUTING"),
        says("build", "updated", Some("EXECUTING"), "COMPLETED"),
    ];
    want.sort();
    assert_eq!(said(&got, "generic-out"), want);

    // A JSON content type with a suffix is JSON too.
    let suffixed = with_query_token(
        &app,
        &source,
        &[("content-type", "application/vnd.acme.run+json")],
        &report(43, "started"),
    )
    .await;
    applied(&suffixed);
    let charset = with_query_token(
        &app,
        &source,
        &[("content-type", "application/json; charset=utf-8")],
        &report(44, "started"),
    )
    .await;
    applied(&charset);
}

#[tokio::test]
async fn generic_refusals_unmapped_words_and_repeated_keys_write_nothing() {
    let app = TestApp::spawn().await;
    let source = generic_source(&app).await;
    applied(&with_query_token(&app, &source, &[JSON], &report(7, "started")).await);
    let before = rows(&app, None).await;
    let body = report(7, "passed");

    let wrong = format!("{}?token=not-{}", source.path(), source.secret);
    refused(
        &post(&app, &wrong, &[JSON], &body).await,
        401,
        "UNAUTHENTICATED",
        "a wrong token",
    );
    refused(
        &post(&app, &source.path(), &[JSON], &body).await,
        401,
        "UNAUTHENTICATED",
        "no token",
    );
    let wrong_bearer = format!("Bearer not-{}", source.secret);
    refused(
        &post(
            &app,
            &source.path(),
            &[JSON, ("authorization", &wrong_bearer)],
            &body,
        )
        .await,
        401,
        "UNAUTHENTICATED",
        "a wrong bearer token",
    );
    refused(
        &with_query_token(&app, &source, &[("content-type", "text/plain")], &body).await,
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        "text/plain",
    );
    refused(
        &with_query_token(&app, &source, &[JSON], b"run=7&state=passed").await,
        400,
        "MALFORMED",
        "not JSON",
    );
    let no_id = json!({ "run": { "state": "passed" }, "repo": "acme/web" }).to_string();
    refused(
        &with_query_token(&app, &source, &[JSON], no_id.as_bytes()).await,
        400,
        "MALFORMED",
        "no value at the external id's path",
    );
    ignored(
        &with_query_token(&app, &source, &[JSON], &report(7, "sleeping")).await,
        "a word with no mapping",
    );
    assert_eq!(
        rows(&app, None).await,
        before,
        "none of these wrote anything"
    );

    // A repeated Idempotency-Key: the first is applied, the second changes nothing.
    let key = [JSON, ("idempotency-key", "sender-key-1")];
    applied(&with_query_token(&app, &source, &key, &report(8, "started")).await);
    let once = rows(&app, None).await;
    let again = with_query_token(&app, &source, &key, &report(8, "broken")).await;
    assert_eq!(again, (200, json!({ "result": "duplicate" })));
    assert_eq!(rows(&app, None).await, once, "a duplicate writes nothing");
}

#[tokio::test]
async fn a_source_with_a_repository_id_needs_no_repository_path() {
    let app = TestApp::spawn().await;
    let repo = app.create_repository("pinned").await;
    let mut mapping = mapping();
    mapping
        .as_object_mut()
        .expect("object")
        .remove("repository");
    mapping["eventTime"] = json!("$.at");
    let source = create_source(
        &app,
        &app.org,
        json!({ "kind": "GENERIC", "name": "pinned", "repositoryId": repo, "mapping": mapping }),
    )
    .await;
    assert_eq!(source.fields["repositoryId"], repo.as_str());

    let mut body: Value = serde_json::from_slice(&report(9, "passed")).expect("JSON");
    body["at"] = json!("2026-01-02T03:04:05Z");
    let answer = with_query_token(
        &app,
        &source,
        &[JSON],
        &serde_json::to_vec(&body).expect("JSON"),
    )
    .await;
    let (build, _) = applied(&answer);
    let seen = build_of(&app, &app.org, &build).await;
    assert_eq!(seen["repository"]["id"], repo.as_str(), "{seen}");
    assert_eq!(seen["status"], "COMPLETED", "{seen}");
    assert_eq!(
        repository_names(&app, &app.org).await,
        ["pinned"],
        "no repository made from the body"
    );
}
