//! Bad input gets a clear error with a stable code and never an HTTP 500: no or a wrong token,
//! malformed JSON, batches, unknown fields and enum values, depth and page-size limits, bodies too
//! large. No database text reaches the client.

use serde_json::json;

use crate::utils::{error_code, TestApp};

#[tokio::test]
async fn no_or_wrong_token_is_401_unauthenticated() {
    let app = TestApp::spawn().await;
    let body = json!({ "query": "{ ownerInfo { uid } }" }).to_string();
    for token in [None, Some("bh_wrong"), Some("")] {
        let (status, resp) = app.post_raw(token, &body).await;
        assert_eq!(status, 401, "{token:?}: {resp}");
        assert_eq!(error_code(&resp), Some("UNAUTHENTICATED"), "{resp}");
    }
    let (status, resp) = app.post_raw(Some(&app.org.token), &body).await;
    assert_eq!(status, 200);
    assert_eq!(resp["data"]["ownerInfo"]["uid"], app.org.uid.as_str());
}

/// Valid tokens are cached for a few seconds; refusals are not: a token refused once works as
/// soon as it is stored, and it acts as its own organization.
#[tokio::test]
async fn a_refused_token_is_not_remembered() {
    use buildhooks_entity::api_token;
    use sea_orm::{ActiveModelTrait, Set};

    let app = TestApp::spawn().await;
    let other = app.new_org("tokens").await;
    let body = json!({ "query": "{ ownerInfo { uid } }" }).to_string();
    let token = "bh_not_stored_yet";
    let (status, _) = app.post_raw(Some(token), &body).await;
    assert_eq!(status, 401);
    api_token::ActiveModel {
        org_id: Set(other.uid.parse().expect("numeric uid")),
        token_hash: Set(buildhooks_schema::auth::hash_token(token)),
        created_at: Set(0),
        ..Default::default()
    }
    .insert(app.state.store.conn())
    .await
    .expect("store the token");
    for _ in 0..2 {
        let (status, resp) = app.post_raw(Some(token), &body).await;
        assert_eq!(status, 200, "{resp}");
        assert_eq!(resp["data"]["ownerInfo"]["uid"], other.uid.as_str());
    }
}

/// `{ build(id: "1") { tasks { build { tasks { ... { id } } } } } }`, `levels` pairs deep.
fn deep_query(levels: usize) -> String {
    let open = "{ tasks { build ".repeat(levels);
    let close = "} } ".repeat(levels);
    format!("{{ build(id: \"1\") {open}{{ id }} {close}}}")
}

#[tokio::test]
async fn malformed_requests_get_clear_errors_and_no_500() {
    let app = TestApp::spawn().await;
    let token = app.org.token.clone();
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("malformed JSON", "{\"query\": ".into(), 400, "not valid JSON"),
        ("batched request", json!([{ "query": "{ __typename }" }, { "query": "{ __typename }" }]).to_string(), 400, "batched"),
        ("not a GraphQL request", json!({ "nothing": 1 }).to_string(), 400, "not a GraphQL request"),
        ("syntax error", json!({ "query": "{ build(id: " }).to_string(), 200, ""),
        ("unknown field", json!({ "query": "{ ownerInfo { uid noSuchField } }" }).to_string(), 200, "noSuchField"),
        ("unknown enum value", json!({ "query": "mutation { updateTaskStatus(input: {taskId: \"1\", status: EXPLODED}) { task { id } } }" }).to_string(), 200, "EXPLODED"),
        ("unknown enum value in variables", json!({ "query": "mutation($s: TaskStatus!) { updateTaskStatus(input: {taskId: \"1\", status: $s}) { task { id } } }", "variables": { "s": "EXPLODED" } }).to_string(), 200, "EXPLODED"),
        ("past the depth limit", json!({ "query": deep_query(8) }).to_string(), 200, "deep"),
        ("page size over 100", json!({ "query": "{ ownerInfo { webhookDeliveries(first: 1000) { edges { cursor } } } }" }).to_string(), 200, "between 1 and 100"),
    ];
    for (name, body, status, needle) in cases {
        let (got, resp) = app.post_raw(Some(&token), &body).await;
        assert_eq!(got, status, "{name}: {resp}");
        assert_eq!(error_code(&resp), Some("VALIDATION"), "{name}: {resp}");
        let message = resp["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        assert!(
            message.to_lowercase().contains(&needle.to_lowercase()),
            "{name}: {message}"
        );
        for leak in ["sqlite", "postgres", "SELECT", "sqlx", "panicked"] {
            assert!(
                !resp.to_string().contains(leak),
                "{name} leaked {leak}: {resp}"
            );
        }
    }
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let app = TestApp::spawn_with(|c| c.max_body_bytes = 4096).await;
    let query = format!("{{ __typename }} # {}", "x".repeat(8192));
    let (status, resp) = app
        .post_raw(Some(&app.org.token), &json!({ "query": query }).to_string())
        .await;
    assert_eq!(status, 413, "{resp}");
    assert_eq!(error_code(&resp), Some("VALIDATION"));
}

#[tokio::test]
async fn invalid_ids_and_bad_mutation_input_are_not_found_or_validation() {
    let app = TestApp::spawn().await;
    let resp = app
        .gql("{ build(id: \"not-a-number\") { id } }", json!({}))
        .await;
    assert_eq!(error_code(&resp), Some("NOT_FOUND"), "{resp}");
    let repo = app.create_repository("inputs").await;
    let no_tasks = app
        .gql("mutation($r: ID!) { createBuild(input: {repositoryId: $r, branch: \"main\", tasks: []}) { build { id } } }", json!({ "r": repo }))
        .await;
    assert_eq!(error_code(&no_tasks), Some("VALIDATION"), "{no_tasks}");
    assert_eq!(no_tasks["errors"][0]["extensions"]["field"], "tasks");
    let dup = app
        .gql("mutation($r: ID!) { createBuild(input: {repositoryId: $r, branch: \"main\", tasks: [{name: \"a\"}, {name: \"a\"}]}) { build { id } } }", json!({ "r": repo }))
        .await;
    assert_eq!(error_code(&dup), Some("VALIDATION"), "{dup}");
    let taken = app
        .gql(
            "mutation { createRepository(input: {name: \"inputs\"}) { repository { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&taken), Some("VALIDATION"), "{taken}");
    let builds = app
        .ok(
            "query($r: ID!) { repository(id: $r) { builds(first: 10) { edges { node { id } } } } }",
            json!({ "r": repo }),
        )
        .await;
    assert_eq!(
        builds["repository"]["builds"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(0),
        "refused input created nothing"
    );
}
