//! The sources API: `createInboundSource` shows the secret once, with an unguessable id and its
//! URL; `ownerInfo.inboundSources` shows a masked hint, never the secret; `regenerateInboundSecret`
//! retires the old secret (401) for a new one; `deleteInboundSource` makes the URL 404; bad input
//! is `VALIDATION` (or `NOT_FOUND` for an unknown repository) and creates nothing.

use serde_json::{json, Value};

use super::{
    create_source, create_source_as, fixture, github, github_as, github_source, head, refused,
    sources, unique, SOURCE_FIELDS,
};
use crate::utils::{error_code, TestApp};

/// `regenerateInboundSecret` for `id` as `token`; returns the whole response.
pub(super) async fn regenerate(app: &TestApp, token: &str, id: &str) -> Value {
    app.gql_as(
        token,
        &format!(
            "mutation($i: RegenerateInboundSecretInput!) {{ regenerateInboundSecret(input: $i) {{
                source {{ {SOURCE_FIELDS} }} secret signingSecret clientMutationId }} }}"
        ),
        json!({ "i": { "sourceId": id, "clientMutationId": "r1" } }),
    )
    .await
}

/// `deleteInboundSource` for `id` as `token`; returns the whole response.
pub(super) async fn delete(app: &TestApp, token: &str, id: &str) -> Value {
    app.gql_as(
        token,
        "mutation($i: DeleteInboundSourceInput!) { deleteInboundSource(input: $i) { deletedSourceId clientMutationId } }",
        json!({ "i": { "sourceId": id, "clientMutationId": "d1" } }),
    )
    .await
}

#[tokio::test]
async fn a_source_shows_its_secret_once_and_a_masked_hint_after() {
    let app = TestApp::spawn().await;
    let resp = create_source_as(
        &app,
        &app.org,
        json!({ "kind": "GITHUB", "name": "actions", "clientMutationId": "c1" }),
    )
    .await;
    assert!(resp.get("errors").is_none(), "{resp}");
    let payload = &resp["data"]["createInboundSource"];
    assert_eq!(payload["clientMutationId"], "c1");
    let source = &payload["source"];
    let id = source["id"].as_str().expect("id");
    assert!(
        id.len() == 32
            && id
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "an unguessable id of 32 lower-case hex characters: {id}"
    );
    assert!(
        source["url"]
            .as_str()
            .is_some_and(|u| u.ends_with(&format!("/hooks/in/{id}"))),
        "{source}"
    );
    assert_eq!(source["kind"], "GITHUB");
    assert_eq!(source["name"], "actions");
    assert_eq!(source["hasSigningSecret"], false);
    assert!(
        source["mapping"].is_null() && source["repositoryId"].is_null(),
        "{source}"
    );
    assert!(
        source["createdTimestamp"]
            .as_f64()
            .is_some_and(|t| t > 1.6e12),
        "ms since the epoch: {source}"
    );
    assert!(
        payload["signingSecret"].is_null(),
        "only GitLab sources get one"
    );
    let secret = payload["secret"].as_str().expect("secret");
    assert!(secret.len() >= 20, "a secret worth the name: {secret}");
    let hint = hint_of(secret);
    assert_eq!(source["secretHint"], hint.as_str());

    // Listed with the hint, never with the secret, and never shown again.
    let other = create_source(
        &app,
        &app.org,
        json!({ "kind": "GITLAB", "name": "gitlab", "signingSecret": true }),
    )
    .await;
    let listed = sources(&app, &app.org).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let mine = listed.iter().find(|s| s["id"] == id).expect("listed");
    assert_eq!(mine, source, "listed as created");
    let text = serde_json::to_string(&listed).expect("JSON");
    for shown_once in [
        secret,
        &other.secret,
        other.signing_secret.as_deref().expect("whsec"),
    ] {
        assert!(!text.contains(shown_once), "a secret in the list: {text}");
        assert!(
            !text.contains(&shown_once[..shown_once.len() - 4]),
            "most of a secret in the list"
        );
    }
    let gitlab = listed
        .iter()
        .find(|s| s["id"] == other.id.as_str())
        .expect("listed");
    assert_eq!(gitlab["hasSigningSecret"], true, "{gitlab}");
}

#[tokio::test]
async fn regenerating_the_secret_retires_the_old_one() {
    let app = TestApp::spawn().await;
    let source = github_source(&app, &app.org).await;
    let body = fixture("github/workflow_run.requested.json");
    let resp = regenerate(&app, &app.org.token, &source.id).await;
    assert!(resp.get("errors").is_none(), "{resp}");
    let payload = &resp["data"]["regenerateInboundSecret"];
    let fresh = payload["secret"]
        .as_str()
        .expect("the new secret, once")
        .to_owned();
    assert_ne!(fresh, source.secret);
    assert_eq!(
        payload["source"]["id"],
        source.id.as_str(),
        "the URL does not change"
    );
    assert_eq!(payload["source"]["secretHint"], hint_of(&fresh).as_str());

    let old = github(&app, &source, "workflow_run", &body).await;
    refused(&old, 401, "UNAUTHENTICATED", "signed with the old secret");
    let new = github_as(&app, &source.id, &fresh, "workflow_run", &unique(), &body).await;
    super::applied(&new);
}

#[tokio::test]
async fn a_deleted_source_answers_404_and_is_gone_from_the_list() {
    let app = TestApp::spawn().await;
    let source = github_source(&app, &app.org).await;
    let kept = github_source(&app, &app.org).await;
    assert_eq!(head(&app, &source.id).await, 200);
    let resp = delete(&app, &app.org.token, &source.id).await;
    assert!(resp.get("errors").is_none(), "{resp}");
    assert_eq!(
        resp["data"]["deleteInboundSource"]["deletedSourceId"],
        source.id.as_str()
    );
    assert_eq!(
        resp["data"]["deleteInboundSource"]["clientMutationId"],
        "d1"
    );

    assert_eq!(
        head(&app, &source.id).await,
        404,
        "HEAD on a deleted source"
    );
    let answer = github(
        &app,
        &source,
        "workflow_run",
        &fixture("github/workflow_run.requested.json"),
    )
    .await;
    refused(&answer, 404, "NOT_FOUND", "POST to a deleted source");
    let ids: Vec<Value> = sources(&app, &app.org)
        .await
        .iter()
        .map(|s| s["id"].clone())
        .collect();
    assert_eq!(ids, [json!(kept.id)]);
    assert_eq!(head(&app, &kept.id).await, 200, "the other source lives on");
    let again = delete(&app, &app.org.token, &source.id).await;
    assert_eq!(error_code(&again), Some("NOT_FOUND"), "{again}");
    assert_eq!(
        error_code(&regenerate(&app, &app.org.token, &source.id).await),
        Some("NOT_FOUND")
    );
}

#[tokio::test]
async fn bad_source_input_is_validation_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let repo = app.create_repository("bad-input").await;
    let good_mapping = json!({ "externalId": "$.run.id", "status": "$.run.state", "repository": "$.repo",
        "statuses": [{ "word": "passed", "status": "COMPLETED" }] });
    let with = |key: &str, value: Value| {
        let mut m = good_mapping.clone();
        m[key] = value;
        m
    };
    let without_repository = {
        let mut m = good_mapping.clone();
        m.as_object_mut().expect("object").remove("repository");
        m
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "GENERIC without a mapping",
            json!({ "kind": "GENERIC", "name": "g" }),
            "VALIDATION",
        ),
        (
            "a mapping on GITHUB",
            json!({ "kind": "GITHUB", "name": "g", "mapping": good_mapping }),
            "VALIDATION",
        ),
        (
            "a mapping on GITLAB",
            json!({ "kind": "GITLAB", "name": "g", "mapping": good_mapping }),
            "VALIDATION",
        ),
        (
            "a bad JSONPath in externalId",
            json!({ "kind": "GENERIC", "name": "g", "mapping": with("externalId", json!("$.[")) }),
            "VALIDATION",
        ),
        (
            "a path that is not JSONPath in status",
            json!({ "kind": "GENERIC", "name": "g", "mapping": with("status", json!("run.state")) }),
            "VALIDATION",
        ),
        (
            "a non-singular externalId",
            json!({ "kind": "GENERIC", "name": "g", "mapping": with("externalId", json!("$.runs[*].id")) }),
            "VALIDATION",
        ),
        (
            "a bad JSONPath in eventTime",
            json!({ "kind": "GENERIC", "name": "g", "mapping": with("eventTime", json!("$..[")) }),
            "VALIDATION",
        ),
        (
            "no repository path and no repositoryId",
            json!({ "kind": "GENERIC", "name": "g", "mapping": without_repository }),
            "VALIDATION",
        ),
        (
            "signingSecret on GITHUB",
            json!({ "kind": "GITHUB", "name": "g", "signingSecret": true }),
            "VALIDATION",
        ),
        (
            "signingSecret on GENERIC",
            json!({ "kind": "GENERIC", "name": "g", "mapping": good_mapping, "signingSecret": true }),
            "VALIDATION",
        ),
        (
            "an empty name",
            json!({ "kind": "GITHUB", "name": "" }),
            "VALIDATION",
        ),
        (
            "a name of 101 characters",
            json!({ "kind": "GITHUB", "name": "n".repeat(101) }),
            "VALIDATION",
        ),
        (
            "an unknown repositoryId",
            json!({ "kind": "GITHUB", "name": "g", "repositoryId": "999999" }),
            "NOT_FOUND",
        ),
    ];
    for (what, input, code) in cases {
        let resp = create_source_as(&app, &app.org, input).await;
        assert_eq!(error_code(&resp), Some(code), "{what}: {resp}");
        // Refused by the resolver for what the input says, not by GraphQL for its shape (an
        // unknown field or type is VALIDATION too, and would pass this test for nothing).
        let message = resp["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .to_lowercase();
        assert!(
            !message.contains("unknown field") && !message.contains("unknown type"),
            "{what}: {resp}"
        );
        assert!(
            resp["data"].is_null() || resp["data"]["createInboundSource"].is_null(),
            "{what}: {resp}"
        );
    }
    assert!(
        sources(&app, &app.org).await.is_empty(),
        "nothing was created"
    );

    // The same inputs, corrected, are accepted: the refusals were about what they named.
    let ok = [
        json!({ "kind": "GENERIC", "name": "g", "mapping": good_mapping }),
        json!({ "kind": "GENERIC", "name": "g", "repositoryId": repo, "mapping": without_repository }),
        json!({ "kind": "GITHUB", "name": "n".repeat(100), "repositoryId": repo }),
    ];
    for input in ok {
        create_source(&app, &app.org, input).await;
    }
    assert_eq!(sources(&app, &app.org).await.len(), 3);
}

/// The masked hint of a secret, as for endpoint secrets: a fixed prefix and the first 6 hex
/// characters of its SHA-256 (a fingerprint, no character of the secret).
fn hint_of(secret: &str) -> String {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(secret.as_bytes()));
    format!("********{}", &digest[..6])
}
