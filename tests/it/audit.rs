//! Audit events as Cirrus sends them: one `X-Cirrus-Event: audit_event` delivery per GraphQL
//! mutation to the endpoints that name `audit_event.*` (never to `*`), in both payload formats,
//! signed like any delivery, and never carrying a secret or a URL of the settings it audits.

use std::time::Duration;

use serde_json::{json, Value};

use crate::utils::{error_code, save_endpoints, Receiver, TestApp};

const AUDIT_SECRET: &str = "audit-endpoint-secret-0123456789";
const OTHER_SECRET: &str = "other-endpoint-secret-9876543210";

/// The audit deliveries `receiver` got within a few seconds, as (headers' event, body).
async fn audits(receiver: &Receiver, n: usize) -> Vec<(String, Value, Vec<u8>)> {
    receiver
        .wait_for(n, Duration::from_secs(10))
        .await
        .into_iter()
        .map(|r| {
            (
                r.header("x-cirrus-event").unwrap_or_default(),
                r.json(),
                r.body.to_vec(),
            )
        })
        .collect()
}

#[tokio::test]
async fn save_web_hook_settings_is_audited_without_a_secret_in_both_formats() {
    let app = TestApp::spawn().await;
    let documented = Receiver::start(vec![]).await;
    let cirrus = Receiver::start(vec![]).await;
    let everything = Receiver::start(vec![]).await;
    let other_url = format!("{}/private/path-with-token-abc", everything.url());
    let saved = save_endpoints(
        &app,
        &app.org,
        json!([
            { "webhookURL": documented.url(), "secretToken": AUDIT_SECRET, "events": ["audit_event.*"] },
            { "webhookURL": cirrus.url(), "secretToken": AUDIT_SECRET, "events": ["audit_event.*"],
              "payloadFormat": "CIRRUS" },
            { "webhookURL": other_url, "secretToken": OTHER_SECRET, "events": ["*"] },
        ]),
    )
    .await;
    assert!(saved.get("errors").is_none(), "{saved}");

    // The save's own audit event reaches both audit endpoints (saved in its transaction).
    let got = audits(&documented, 1).await;
    assert_eq!(got.len(), 1, "one audit event for one mutation");
    let (event, body, raw) = &got[0];
    assert_eq!(event, "audit_event");
    let sig = documented.received()[0]
        .header("x-cirrus-signature")
        .expect("signed");
    assert_eq!(
        buildhooks_receiver::verify_cirrus(AUDIT_SECRET.as_bytes(), raw, &sig),
        Ok(())
    );
    assert_eq!(body["action"], "created");
    let data = &body["data"];
    assert_eq!(data["type"], "graphql.mutation");
    assert!(data["timestamp"]
        .as_i64()
        .is_some_and(|t| t > 1_600_000_000_000));
    assert!(
        data["id"].as_str().is_some_and(|id| id.len() == 36),
        "{data}"
    );
    assert!(
        data["actor"]["id"].is_string(),
        "the API token that acted: {data}"
    );
    assert_eq!(data["actorLocationIP"], "127.0.0.1");
    assert_eq!(data["repository"], Value::Null);
    let inner: Value = serde_json::from_str(data["data"].as_str().expect("data is a string"))
        .expect("data holds JSON");
    assert_eq!(inner["mutationName"], "SaveWebHookSettings");
    assert_eq!(inner["ownerUid"], app.org.uid);

    let got = audits(&cirrus, 1).await;
    let (event, body, raw) = &got[0];
    assert_eq!(event, "audit_event");
    // Cirrus's flat body (cirrus-webhooks-server's audit_event.json): numeric actor id, `{}`
    // for the entities it has none of, `actorLocationIp`.
    let keys: Vec<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "type",
            "timestamp",
            "data",
            "actor",
            "actorLocationIp",
            "action",
            "repository",
            "build",
            "task"
        ]
    );
    assert!(body["actor"]["id"].is_i64(), "{body}");
    assert_eq!(body["action"], "created");
    for entity in ["repository", "build", "task"] {
        assert_eq!(body[entity], json!({}), "{body}");
    }
    assert!(body["data"]
        .as_str()
        .expect("string")
        .starts_with("{\n  \"mutationName\": \"SaveWebHookSettings\""));

    for raw in [raw, &got[0].2] {
        let text = String::from_utf8_lossy(raw);
        for secret in [AUDIT_SECRET, OTHER_SECRET, "path-with-token-abc"] {
            assert!(
                !text.contains(secret),
                "an audit body leaks {secret}: {text}"
            );
        }
    }
    // `*` does not select audit events.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        everything
            .received()
            .iter()
            .all(|r| r.header("x-cirrus-event").as_deref() != Some("audit_event")),
        "an endpoint for * got an audit event"
    );
}

#[tokio::test]
async fn a_transition_is_audited_with_its_repository() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let saved = save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": receiver.url(), "events": ["audit_event.*"], "payloadFormat": "CIRRUS" }]),
    )
    .await;
    assert!(saved.get("errors").is_none(), "{saved}");
    audits(&receiver, 1).await;
    let repo = app.create_repository("audited").await;
    let (_, tasks) = app.create_build(&repo, &[("a", false)], false).await;
    app.move_task(&tasks[0], &["TRIGGERED"]).await;
    let got = audits(&receiver, 4).await;
    let names: Vec<String> = got
        .iter()
        .map(|(_, b, _)| {
            let inner: Value =
                serde_json::from_str(b["data"].as_str().expect("data")).expect("json");
            inner["mutationName"].as_str().expect("name").to_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "SaveWebHookSettings",
            "CreateRepository",
            "RepositoryCreateBuild",
            "UpdateTaskStatus"
        ]
    );
    let (_, build, _) = &got[2];
    assert_eq!(build["repository"]["id"].as_i64(), repo.parse::<i64>().ok());
    assert_eq!(build["repository"]["name"], "audited");
    let inner: Value = serde_json::from_str(build["data"].as_str().expect("data")).expect("json");
    assert_eq!(inner["repositoryId"], repo.as_str());
    assert_eq!(inner["branch"], "main");
    assert!(
        inner.get("tasks").is_none(),
        "only the listed input fields: {inner}"
    );
}

#[tokio::test]
async fn chat_robots_take_no_audit_events() {
    let app = TestApp::spawn().await;
    let resp = save_endpoints(
        &app,
        &app.org,
        json!([{ "kind": "SLACK", "webhookURL": "https://hooks.slack.com/services/T0/B0/abc",
                 "events": ["audit_event.*"] }]),
    )
    .await;
    assert_eq!(error_code(&resp), Some("VALIDATION"), "{resp}");
    assert!(
        resp.to_string().contains("deliveryEndpoints[0].events"),
        "{resp}"
    );
}
