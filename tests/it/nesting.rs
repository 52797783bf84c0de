//! Deeply nested GraphQL values (issue 13): a list or object value, a variable default or a
//! directive argument nested 1,000, 10,000 and 100,000 deep once overflowed the recursive
//! parser's stack and aborted the process. Sent to the real server as the API's operation, as
//! JSON variables and as a stored query, each is refused with `VALIDATION` before any parser
//! sees it, the message does not quote it, and the server answers the next request.

use buildhooks_schema::webhook::query_check::MAX_QUERY_BYTES;
use buildhooks_schema::MAX_OPERATION_BYTES;
use serde_json::{json, Value};

use crate::utils::{error_code, save_endpoints, TestApp};

const DEPTHS: [usize; 3] = [1_000, 10_000, 100_000];

/// The shapes, as `(name, prefix, open, leaf, close, suffix)`; `$taskId` is a variable stored
/// queries may declare.
const SHAPES: [(&str, &str, &str, &str, &str, &str); 4] = [
    (
        "list value",
        "query { build(id: ",
        "[",
        "1",
        "]",
        ") { id } }",
    ),
    (
        "object value",
        "query { build(id: ",
        "{a:",
        "1",
        "}",
        ") { id } }",
    ),
    (
        "variable default",
        "query($taskId: ID = ",
        "[",
        "1",
        "]",
        ") { task(id: $taskId) { id } }",
    ),
    (
        "directive argument",
        "query { build(id: \"1\") @include(if: ",
        "[",
        "true",
        "]",
        ") { id } }",
    ),
];

/// Every shape at every depth, with a name for messages.
fn nested_texts() -> Vec<(String, String)> {
    let mut texts = Vec::new();
    for (name, prefix, open, leaf, close, suffix) in SHAPES {
        for depth in DEPTHS {
            let text = [
                prefix,
                &open.repeat(depth),
                leaf,
                &close.repeat(depth),
                suffix,
            ]
            .concat();
            texts.push((format!("{name} {depth} deep"), text));
        }
    }
    texts
}

/// A refusal: code `VALIDATION`, a short message that does not quote the text and, for a
/// GraphQL text of `len` bytes, names the limit it broke (`max_bytes`, else the nesting).
fn assert_refused(name: &str, resp: &Value, text: Option<(usize, usize)>) {
    assert_eq!(error_code(resp), Some("VALIDATION"), "{name}: {resp:.300}");
    let message = resp["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.len() < 200,
        "{name}: the message is {} bytes",
        message.len()
    );
    if let Some((len, max_bytes)) = text {
        let limit = if len > max_bytes {
            "bytes; at most"
        } else {
            "more than 64 deep"
        };
        assert!(message.contains(limit), "{name}: {message}");
    }
}

/// The server still answers a normal query.
async fn assert_alive(app: &TestApp, name: &str) {
    let resp = app.gql("{ ownerInfo { uid } }", json!({})).await;
    assert_eq!(
        resp["data"]["ownerInfo"]["uid"],
        app.org.uid.as_str(),
        "after {name}: {resp}"
    );
}

#[tokio::test]
async fn deeply_nested_operations_are_refused_with_400_and_the_server_lives_on() {
    let app = TestApp::spawn().await;
    for (name, text) in nested_texts() {
        let body = json!({ "query": text }).to_string();
        let (status, resp) = app.post_raw(Some(&app.org.token), &body).await;
        assert_eq!(status, 400, "{name}: {resp:.300}");
        assert_refused(&name, &resp, Some((text.len(), MAX_OPERATION_BYTES)));
        assert_alive(&app, &name).await;
    }
}

#[tokio::test]
async fn deeply_nested_json_variables_are_refused_with_400_and_the_server_lives_on() {
    let app = TestApp::spawn().await;
    let query = "query($a: ID) { build(id: $a) { id } }";
    for depth in DEPTHS {
        for (kind, open, close) in [("array", "[", "]"), ("object", "{\"a\":", "}")] {
            let value = [open.repeat(depth), "1".into(), close.repeat(depth)].concat();
            let body = format!(
                "{{\"query\": {}, \"variables\": {{\"a\": {value}}}}}",
                json!(query)
            );
            let name = format!("variables: {kind} {depth} deep");
            let (status, resp) = app.post_raw(Some(&app.org.token), &body).await;
            assert_eq!(status, 400, "{name}: {resp:.300}");
            assert_refused(&name, &resp, None);
            assert_alive(&app, &name).await;
        }
    }
}

#[tokio::test]
async fn deeply_nested_stored_queries_are_refused_at_save_and_the_server_lives_on() {
    let app = TestApp::spawn().await;
    let url = "http://127.0.0.1:9/hook";
    for (name, text) in nested_texts() {
        let resp = save_endpoints(
            &app,
            &app.org,
            json!([{ "webhookURL": url, "query": text }]),
        )
        .await;
        let name = format!("stored query: {name}");
        assert_refused(&name, &resp, Some((text.len(), MAX_QUERY_BYTES)));
        assert_eq!(
            resp["errors"][0]["extensions"]["field"], "deliveryEndpoints[0].query",
            "{name}: {resp:.300}"
        );
        assert_alive(&app, &name).await;
    }
    // The same stored queries written into the operation's text as block strings: the API's
    // scan skips strings (400 only when the operation is over its size limit), the save refuses.
    for (name, text) in nested_texts() {
        let operation = format!(
            "mutation {{ saveWebHookSettings(input: {{ownerUid: \"{}\", deliveryEndpoints: \
             [{{webhookURL: \"{url}\", query: \"\"\"{text}\"\"\"}}]}}) {{ settings {{ endpoints {{ id }} }} }} }}",
            app.org.uid
        );
        let name = format!("inline stored query: {name}");
        let (status, resp) = app
            .post_raw(
                Some(&app.org.token),
                &json!({ "query": operation }).to_string(),
            )
            .await;
        let (expected, refused) = if operation.len() > MAX_OPERATION_BYTES {
            (400, (operation.len(), MAX_OPERATION_BYTES))
        } else {
            (200, (text.len(), MAX_QUERY_BYTES))
        };
        assert_eq!(status, expected, "{name}: {resp:.300}");
        assert_refused(&name, &resp, Some(refused));
        assert_alive(&app, &name).await;
    }
    let saved = app
        .ok(
            "{ ownerInfo { webhookSettings { endpoints { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        saved["ownerInfo"]["webhookSettings"]["endpoints"],
        json!([])
    );
}
