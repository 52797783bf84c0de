//! Webhook settings: validation all or nothing with the field named, secrets write-only (masked,
//! generated once, never in a result, an error or a log line), and Cirrus's replace semantics.

use serde_json::json;

use crate::utils::{error_code, logs, save_endpoints, settled_deliveries, Receiver, TestApp};

#[tokio::test]
async fn refused_urls_and_patterns_name_the_endpoint_and_field() {
    let app = TestApp::spawn_with(|c| c.allow_private_targets = false).await;
    let ok = json!({ "webhookURL": "https://8.8.8.8/hook" });
    let cases = [
        (
            json!({ "webhookURL": "http://127.0.0.1:9000/" }),
            "webhookURL",
            "private",
        ),
        (
            json!({ "webhookURL": "http://10.0.0.1/" }),
            "webhookURL",
            "private",
        ),
        (
            json!({ "webhookURL": "http://169.254.169.254/latest/meta-data" }),
            "webhookURL",
            "metadata",
        ),
        (
            json!({ "webhookURL": "http://[::1]/" }),
            "webhookURL",
            "private",
        ),
        (
            json!({ "webhookURL": "http://[::ffff:169.254.169.254]/" }),
            "webhookURL",
            "private",
        ),
        (
            json!({ "webhookURL": "http://localhost:8080/" }),
            "webhookURL",
            "resolves to",
        ),
        (
            json!({ "webhookURL": "ftp://example.com/" }),
            "webhookURL",
            "http",
        ),
        (
            json!({ "webhookURL": "https://user:pw@example.com/" }),
            "webhookURL",
            "credentials",
        ),
        (
            json!({ "webhookURL": "https://8.8.8.8/", "events": ["task.exploded"] }),
            "events",
            "unknown task status",
        ),
        (
            json!({ "webhookURL": "https://8.8.8.8/", "events": ["deploy.*"] }),
            "events",
            "unknown event kind",
        ),
        (
            json!({ "webhookURL": "https://8.8.8.8/", "repositoryId": "424242" }),
            "repositoryId",
            "no such repository",
        ),
    ];
    for (bad, field, needle) in cases {
        let resp = save_endpoints(&app, &app.org, json!([ok, bad])).await;
        assert_eq!(error_code(&resp), Some("VALIDATION"), "{bad}: {resp}");
        assert_eq!(
            resp["errors"][0]["extensions"]["field"],
            format!("deliveryEndpoints[1].{field}"),
            "{bad}"
        );
        let message = resp["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .to_lowercase();
        assert!(message.contains(needle), "{bad}: {message}");
        let now = app
            .ok(
                "{ ownerInfo { webhookSettings { endpoints { id } } } }",
                json!({}),
            )
            .await;
        assert_eq!(
            now["ownerInfo"]["webhookSettings"]["endpoints"],
            json!([]),
            "all or nothing"
        );
    }
}

#[tokio::test]
async fn secrets_are_write_only_masked_and_never_logged() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let chosen = format!("my-own-secret-{}", uuid::Uuid::new_v4().simple());
    let resp = save_endpoints(
        &app,
        &app.org,
        json!([
            { "webhookURL": receiver.url(), "secretToken": chosen },
            { "webhookURL": format!("{}?second", receiver.url()), "generateSecret": true },
        ]),
    )
    .await;
    assert!(resp.get("errors").is_none(), "{resp}");
    let endpoints = resp["data"]["saveWebHookSettings"]["settings"]["endpoints"].clone();
    let generated = endpoints[1]["generatedSecretToken"]
        .as_str()
        .expect("generated once")
        .to_owned();
    assert!(generated.starts_with("whsec_"));
    assert!(endpoints[0]["generatedSecretToken"].is_null());
    let mask0 = endpoints[0]["maskedSecretToken"]
        .as_str()
        .expect("mask")
        .to_owned();
    assert!(
        !resp.to_string().contains(&chosen),
        "the chosen secret came back: {resp}"
    );

    // Sending the masks back keeps both secrets; a delivery is still signed with them.
    let again = save_endpoints(&app, &app.org, json!([
        { "id": endpoints[0]["id"], "webhookURL": receiver.url(), "secretToken": mask0 },
        { "id": endpoints[1]["id"], "webhookURL": format!("{}?second", receiver.url()), "secretToken": endpoints[1]["maskedSecretToken"] },
    ])).await;
    assert!(again.get("errors").is_none(), "{again}");
    assert_eq!(
        again["data"]["saveWebHookSettings"]["settings"]["endpoints"][0]["maskedSecretToken"],
        mask0.as_str()
    );
    assert!(
        again["data"]["saveWebHookSettings"]["settings"]["endpoints"][1]["generatedSecretToken"]
            .is_null()
    );

    let repo = app.create_repository("signed").await;
    app.create_build(&repo, &[("a", false)], false).await;
    let got = receiver
        .wait_for(4, std::time::Duration::from_secs(10))
        .await;
    let first = got
        .iter()
        .find(|r| r.path == "/hook" && !r.headers.contains_key("webhook-signature"))
        .expect("first endpoint");
    let expected = buildhooks_receiver::cirrus_signature(chosen.as_bytes(), &first.body);
    assert_eq!(first.header("x-cirrus-signature"), Some(expected));
    settled_deliveries(&app, 4).await;

    // A wrong mask is refused with a clear error that does not echo any secret.
    let wrong = save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": receiver.url(), "secretToken": "********000000" }]),
    )
    .await;
    assert_eq!(error_code(&wrong), Some("VALIDATION"));

    let read = app
        .ok("{ ownerInfo { webhookSettings { endpoints { webhookURL maskedSecretToken generatedSecretToken } } webhookDeliveries(first: 50) { edges { node { requestHeaders { name value } payload { data } } } } } }", json!({}))
        .await;
    let text = read.to_string();
    assert!(
        !text.contains(&chosen) && !text.contains(&generated),
        "a secret was returned: {text}"
    );
    assert!(!wrong.to_string().contains(&chosen));
    let logged = logs::captured();
    assert!(!logged.is_empty(), "logs were captured");
    assert!(
        !logged.contains(&chosen) && !logged.contains(&generated[6..]),
        "a secret reached the logs"
    );
}

#[tokio::test]
async fn saving_replaces_the_list_and_keeps_ids_of_unchanged_urls() {
    let app = TestApp::spawn().await;
    let r = Receiver::start(vec![]).await;
    let first = save_endpoints(
        &app,
        &app.org,
        json!([
            { "webhookURL": format!("{}?a", r.url()) },
            { "webhookURL": format!("{}?b", r.url()) },
        ]),
    )
    .await;
    let ids: Vec<String> = first["data"]["saveWebHookSettings"]["settings"]["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_owned())
        .collect();
    let second = save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": format!("{}?b", r.url()), "events": ["build.*"] }]),
    )
    .await;
    let endpoints = second["data"]["saveWebHookSettings"]["settings"]["endpoints"].clone();
    assert_eq!(endpoints.as_array().map(Vec::len), Some(1));
    assert_eq!(
        endpoints[0]["id"],
        ids[1].as_str(),
        "same URL, same endpoint"
    );
    assert_eq!(endpoints[0]["events"], json!(["build.*"]));
}
