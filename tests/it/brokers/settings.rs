//! Broker endpoint settings, which need the operator's configuration but no running broker (the
//! brokers here point at a closed port): an unknown broker name, one of the other kind or none
//! is refused with `VALIDATION` on `deliveryEndpoints[i].broker`; subject templates that render
//! an invalid subject on `deliveryEndpoints[i].subject`; nothing is saved after a refusal; the
//! read side shows broker, subject and exchange but no secret; `brokers` lists names and kinds
//! and never a URL or a credential.

use serde_json::{json, Value};

use super::{save, save_ok, settings, AMQP_BROKER, NATS_BROKER};
use crate::utils::{error_code, TestApp};

/// Brokers at a closed port, with a credential the API must never show.
const NATS_URL: &str = "nats://127.0.0.1:1";
const AMQP_URL: &str = "amqp://bhuser:pw-never-shown@127.0.0.1:1/%2f";

async fn app() -> TestApp {
    super::spawn(Some(NATS_URL), Some(AMQP_URL), |_| {}).await
}

/// A valid endpoint saved first: every refusal after it must leave it as it is.
async fn saved_before(app: &TestApp) -> Value {
    save_ok(
        app,
        json!([{ "kind": "NATS", "broker": NATS_BROKER, "events": ["build.created"] }]),
    )
    .await;
    settings(app, &app.org).await
}

/// Saving `endpoints` is refused with VALIDATION on `field`, and nothing changes.
async fn assert_refused(app: &TestApp, before: &Value, endpoints: Value, field: Option<&str>) {
    let resp = save(app, &app.org, endpoints.clone()).await;
    assert_eq!(error_code(&resp), Some("VALIDATION"), "{endpoints}: {resp}");
    if let Some(field) = field {
        assert_eq!(
            resp["errors"][0]["extensions"]["field"], field,
            "{endpoints}: {resp}"
        );
    }
    assert_eq!(
        &settings(app, &app.org).await,
        before,
        "nothing saved after {endpoints}"
    );
}

#[tokio::test]
async fn an_unknown_broker_or_one_of_the_other_kind_is_refused() {
    let app = app().await;
    let before = saved_before(&app).await;
    let broker = Some("deliveryEndpoints[0].broker");
    for bad in [
        json!({ "kind": "NATS", "broker": "nope" }),
        json!({ "kind": "AMQP", "broker": "nope" }),
        json!({ "kind": "NATS", "broker": AMQP_BROKER }),
        json!({ "kind": "AMQP", "broker": NATS_BROKER }),
        json!({ "kind": "NATS" }),
    ] {
        assert_refused(&app, &before, json!([bad]), broker).await;
    }
    // The index names the endpoint at fault.
    let good = json!({ "kind": "AMQP", "broker": AMQP_BROKER });
    assert_refused(
        &app,
        &before,
        json!([good, { "kind": "NATS", "broker": "nope" }]),
        Some("deliveryEndpoints[1].broker"),
    )
    .await;
    // Exchanges are AMQP's, and `amq.` names are the broker's own.
    for bad in [
        json!({ "kind": "NATS", "broker": NATS_BROKER, "exchange": "buildhooks" }),
        json!({ "kind": "AMQP", "broker": AMQP_BROKER, "exchange": "amq.topic" }),
        json!({ "kind": "AMQP", "broker": AMQP_BROKER, "exchange": "no spaces" }),
    ] {
        assert_refused(&app, &before, json!([bad]), None).await;
    }
}

#[tokio::test]
async fn templates_that_render_an_invalid_subject_are_refused() {
    let app = app().await;
    let before = saved_before(&app).await;
    let long = format!("{}.{{org}}", "x".repeat(295));
    assert!(long.len() >= 300);
    let templates = [
        "buildhooks.{nope}",
        "a..b",
        "a.*.b",
        "a.>",
        "{org}.",
        ".{org}",
        "a b.{org}",
        "a.{org",
        "a.org}",
        long.as_str(),
    ];
    for kind in [("NATS", NATS_BROKER), ("AMQP", AMQP_BROKER)] {
        for template in templates {
            let bad = json!({ "kind": kind.0, "broker": kind.1, "subject": template });
            assert_refused(
                &app,
                &before,
                json!([bad]),
                Some("deliveryEndpoints[0].subject"),
            )
            .await;
        }
    }
    let good = json!({ "kind": "NATS", "broker": NATS_BROKER });
    let bad = json!({ "kind": "NATS", "broker": NATS_BROKER, "subject": "a..b" });
    assert_refused(
        &app,
        &before,
        json!([good, bad]),
        Some("deliveryEndpoints[1].subject"),
    )
    .await;
}

#[tokio::test]
async fn the_read_side_shows_broker_subject_and_exchange_and_no_secret() {
    let app = app().await;
    let secret = format!("nats-secret-{}", uuid::Uuid::new_v4().simple());
    let saved = save_ok(
        &app,
        json!([
            { "kind": "NATS", "broker": NATS_BROKER, "secretToken": secret },
            { "kind": "AMQP", "broker": AMQP_BROKER, "subject": "ci.{org}.{build}.{action}",
              "generateSecret": true },
            { "kind": "AMQP", "broker": AMQP_BROKER, "exchange": "ci-events" },
            { "webhookURL": "http://127.0.0.1:9/hook" },
        ]),
    )
    .await;
    let generated = saved[1]["generatedSecretToken"]
        .as_str()
        .expect("generated once")
        .to_owned();
    let read = settings(&app, &app.org).await;
    let text = read.to_string();
    assert!(
        !text.contains(&secret),
        "the chosen secret is not shown: {text}"
    );
    assert!(!text.contains(&generated), "nor the generated one: {text}");
    let fields = |e: &Value| {
        (
            e["kind"].clone(),
            e["broker"].clone(),
            e["subject"].clone(),
            e["exchange"].clone(),
            e["webhookURL"].clone(),
        )
    };
    let default = "buildhooks.{org}.{event}.{status}";
    assert_eq!(
        read.as_array()
            .expect("endpoints")
            .iter()
            .map(fields)
            .collect::<Vec<_>>(),
        [
            (
                json!("NATS"),
                json!(NATS_BROKER),
                json!(default),
                Value::Null,
                json!(format!("nats://{NATS_BROKER}/{default}")),
            ),
            (
                json!("AMQP"),
                json!(AMQP_BROKER),
                json!("ci.{org}.{build}.{action}"),
                json!("buildhooks"),
                json!(format!(
                    "amqp://{AMQP_BROKER}/buildhooks/ci.{{org}}.{{build}}.{{action}}"
                )),
            ),
            (
                json!("AMQP"),
                json!(AMQP_BROKER),
                json!(default),
                json!("ci-events"),
                json!(format!("amqp://{AMQP_BROKER}/ci-events/{default}")),
            ),
            (
                json!("WEBHOOK"),
                Value::Null,
                Value::Null,
                Value::Null,
                json!("http://127.0.0.1:9/hook"),
            ),
        ]
    );
    for e in read.as_array().expect("endpoints").iter().take(2) {
        assert!(e["maskedSecretToken"].is_string(), "a secret is set: {e}");
        assert!(e["generatedSecretToken"].is_null(), "{e}");
    }
    assert!(read[2]["maskedSecretToken"].is_null(), "no secret: {read}");
}

#[tokio::test]
async fn the_brokers_query_lists_names_and_kinds_and_no_url() {
    let app = app().await;
    let resp = app.gql("{ brokers { name kind } }", json!({})).await;
    assert!(resp.get("errors").is_none(), "{resp}");
    let mut brokers = resp["data"]["brokers"].as_array().expect("brokers").clone();
    brokers.sort_by_key(|b| b["name"].as_str().unwrap_or_default().to_owned());
    assert_eq!(
        brokers,
        [
            json!({ "name": NATS_BROKER, "kind": "NATS" }),
            json!({ "name": AMQP_BROKER, "kind": "AMQP" }),
        ]
    );
    let text = resp.to_string();
    for leak in [
        "127.0.0.1",
        "bhuser",
        "pw-never-shown",
        "nats://",
        "amqp://",
    ] {
        assert!(!text.contains(leak), "brokers shows {leak:?}: {text}");
    }
    let anonymous = app
        .post_raw(
            None,
            &json!({ "query": "{ brokers { name } }" }).to_string(),
        )
        .await
        .1;
    assert!(
        anonymous.get("errors").is_some() && !anonymous.to_string().contains(NATS_BROKER),
        "brokers is for signed-in viewers: {anonymous}"
    );
}
