//! The settings page with the operator's brokers (issue 17), in a real headless Chromium: NATS
//! and AMQP are offered only when the `brokers` query lists a broker of the kind; a NATS and an
//! AMQP endpoint are added through the editor's broker fields (no URL), their broker, subject and
//! exchange reach the saved settings, a webhook saved beside them carries none of those, and a
//! subject the server refuses shows at the subject field with nothing saved. Saving needs no
//! running broker: the brokers named here are never connected to. Driver startup, skipping and
//! screenshots as in `browser.rs`.

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use serde_json::{json, Value};

use crate::utils::browser::{
    browser_paths, click, displayed, fill, screenshot, sign_in, start_browser, value, wait_text,
    wait_value,
};
use crate::utils::TestApp;

const BROKERS: &str = "bus=nats://127.0.0.1:4222,rabbit=amqp://guest:guest@127.0.0.1:5672/%2f";
const DEFAULT_SUBJECT: &str = "buildhooks.{org}.{event}.{status}";

const SAVED: &str = "query($uid: ID){ ownerInfo(uid: $uid) { webhookSettings { endpoints {
    kind webhookURL broker subject exchange maskedSecretToken } } } }";

async fn endpoints(app: &TestApp) -> Vec<Value> {
    let data = app.ok(SAVED, json!({ "uid": app.org.uid })).await;
    data["ownerInfo"]["webhookSettings"]["endpoints"]
        .as_array()
        .expect("endpoints")
        .clone()
}

async fn attr(c: &Client, css: &str, name: &str) -> Option<String> {
    c.find(Locator::Css(css))
        .await
        .expect(css)
        .attr(name)
        .await
        .expect(name)
}

/// The values of the options of select `css`.
async fn options(c: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for o in c
        .find_all(Locator::Css(&format!("{css} option")))
        .await
        .expect(css)
    {
        out.push(o.attr("value").await.expect("value").unwrap_or_default());
    }
    out
}

/// Whether the kind selector's option `kind` can be chosen, once the page has asked for the
/// brokers (the answer comes after sign-in: wait until the hint or the option says it came).
async fn kind_offered(c: &Client, kind: &str, expected: bool) {
    let script =
        format!("return !document.querySelector('#ep-kind option[value=\"{kind}\"]').disabled");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let offered = c.execute(&script, vec![]).await.expect("script");
        if offered == json!(expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{kind} offered: {offered}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn choose(c: &Client, css: &str, value: &str) {
    c.find(Locator::Css(css))
        .await
        .expect(css)
        .select_by_value(value)
        .await
        .expect(value);
}

#[tokio::test]
async fn nats_and_amqp_endpoints_are_added_from_the_page_and_a_bad_subject_shows_at_its_field() {
    let Some((chromium, driver)) = browser_paths() else {
        return;
    };
    let app = TestApp::spawn_with(|config| config.brokers = Some(BROKERS.into())).await;
    let profile = tempfile::tempdir().expect("profile");
    let (_driver, c) = start_browser(&chromium, &driver, profile.path()).await;
    sign_in(&c, &app, &app.org.token).await;
    wait_text(&c, "#org-name", &app.org.name).await;
    kind_offered(&c, "NATS", true).await;
    kind_offered(&c, "AMQP", true).await;

    // A NATS endpoint: the broker fields replace the URL, the secret is generated.
    click(&c, "#add-endpoint").await;
    assert!(
        !displayed(&c, "#ep-kind-brokers").await,
        "no hint: both kinds have brokers"
    );
    choose(&c, "#ep-kind", "NATS").await;
    wait_text(&c, "#ep-subject-label", "Subject").await;
    for (css, shown) in [
        ("#ep-url", false),
        ("#ep-broker", true),
        ("#ep-subject", true),
        ("#ep-exchange", false),
        ("#ep-generate", true),
        ("#ep-template", false),
        ("#ep-digest", false),
        ("#ep-max-in-flight", true),
        ("#ep-ordering", true),
        ("#ep-events", true),
    ] {
        assert_eq!(displayed(&c, css).await, shown, "{css} shown for NATS");
    }
    assert_eq!(
        options(&c, "#ep-broker").await,
        ["bus"],
        "NATS brokers only"
    );
    assert_eq!(value(&c, "#ep-subject").await, DEFAULT_SUBJECT);
    assert_eq!(
        attr(&c, "#ep-subject", "placeholder").await.as_deref(),
        Some(DEFAULT_SUBJECT)
    );
    let help = wait_text(&c, "#ep-subject-help", "{repository}").await;
    for placeholder in ["{org}", "{event}", "{status}", "{action}", "{build}"] {
        assert!(help.contains(placeholder), "{placeholder} in {help:?}");
    }
    choose(&c, "#ep-broker", "bus").await;
    fill(&c, "#ep-subject", "ci.{org}.{event}.{status}").await;
    click(&c, "#ep-save").await;
    let secret = wait_value(&c, "#secret-value", "whsec_").await;
    assert!(secret.starts_with("whsec_"), "a generated secret: {secret}");
    click(&c, "#secret-done").await;
    wait_text(
        &c,
        "#endpoint-0 .url",
        "NATS · bus · ci.{org}.{event}.{status}",
    )
    .await;

    // An AMQP endpoint with its own exchange and secret; the NATS one goes back unchanged.
    click(&c, "#add-endpoint").await;
    choose(&c, "#ep-kind", "AMQP").await;
    wait_text(&c, "#ep-subject-label", "Routing key").await;
    assert!(
        displayed(&c, "#ep-exchange").await,
        "AMQP names an exchange"
    );
    assert_eq!(
        options(&c, "#ep-broker").await,
        ["rabbit"],
        "AMQP brokers only"
    );
    assert_eq!(value(&c, "#ep-exchange").await, "buildhooks");
    fill(&c, "#ep-exchange", "ci-events").await;
    click(&c, "#ep-own").await;
    fill(&c, "#ep-secret", "amqp-signing-secret").await;
    click(&c, "#ep-save").await;
    wait_text(&c, "#status", "Endpoint added").await;
    wait_text(
        &c,
        "#endpoint-1 .url",
        "AMQP · rabbit · ci-events · buildhooks.{org}.{event}.{status}",
    )
    .await;

    // A webhook beside them, after looking at NATS first: its input carries no broker fields
    // (the server would refuse them), and the broker endpoints survive the save.
    click(&c, "#add-endpoint").await;
    choose(&c, "#ep-kind", "NATS").await;
    choose(&c, "#ep-kind", "WEBHOOK").await;
    assert!(displayed(&c, "#ep-url").await, "a webhook has a URL");
    assert!(!displayed(&c, "#ep-broker").await, "and no broker");
    fill(&c, "#ep-url", "http://127.0.0.1:9/hooks").await;
    click(&c, "#ep-none").await;
    click(&c, "#ep-save").await;
    wait_text(&c, "#endpoint-2 .url", "http://127.0.0.1:9/hooks").await;

    let saved = endpoints(&app).await;
    assert_eq!(saved.len(), 3, "{saved:?}");
    assert_eq!(saved[0]["kind"], "NATS");
    assert_eq!(saved[0]["broker"], "bus");
    assert_eq!(saved[0]["subject"], "ci.{org}.{event}.{status}");
    assert_eq!(saved[0]["exchange"], Value::Null);
    assert_eq!(
        saved[0]["webhookURL"],
        "nats://bus/ci.{org}.{event}.{status}"
    );
    assert!(saved[0]["maskedSecretToken"].is_string(), "{saved:?}");
    assert_eq!(saved[1]["kind"], "AMQP");
    assert_eq!(saved[1]["broker"], "rabbit");
    assert_eq!(saved[1]["subject"], DEFAULT_SUBJECT);
    assert_eq!(saved[1]["exchange"], "ci-events");
    assert!(saved[1]["maskedSecretToken"].is_string(), "{saved:?}");
    assert_eq!(saved[2]["kind"], "WEBHOOK");
    assert_eq!(saved[2]["broker"], Value::Null);
    assert_eq!(saved[2]["subject"], Value::Null);
    c.execute(
        "document.getElementById('endpoints').scrollIntoView()",
        vec![],
    )
    .await
    .expect("scroll");
    screenshot(&c, "brokers-list-desktop").await;

    // Editing shows the saved broker settings.
    click(&c, "#endpoint-1 .ep-edit").await;
    wait_value(&c, "#ep-exchange", "ci-events").await;
    assert_eq!(value(&c, "#ep-kind").await, "AMQP");
    assert_eq!(value(&c, "#ep-broker").await, "rabbit");
    assert_eq!(value(&c, "#ep-subject").await, DEFAULT_SUBJECT);
    click(&c, "#ep-cancel").await;

    // A subject the server refuses: its message at the subject field, nothing saved.
    click(&c, "#add-endpoint").await;
    choose(&c, "#ep-kind", "NATS").await;
    fill(&c, "#ep-subject", "a..{org}").await;
    click(&c, "#ep-save").await;
    let error = wait_text(&c, "#ep-subject-error", "empty token").await;
    assert!(
        !error.starts_with("deliveryEndpoints"),
        "shown without the field path: {error}"
    );
    assert_eq!(
        attr(&c, "#ep-subject", "aria-invalid").await.as_deref(),
        Some("true")
    );
    assert!(
        !displayed(&c, "#ep-form-error").await,
        "at the field, not the form"
    );
    assert!(
        displayed(&c, "#endpoint-form").await,
        "the editor stays open"
    );
    let after = endpoints(&app).await;
    assert_eq!(after, saved, "nothing saved");
    screenshot(&c, "brokers-subject-error-desktop").await;
    click(&c, "#ep-cancel").await;
    c.close().await.expect("close browser");
}

#[tokio::test]
async fn a_broker_kind_is_offered_only_when_the_operator_configured_a_broker_of_it() {
    let Some((chromium, driver)) = browser_paths() else {
        return;
    };
    let app =
        TestApp::spawn_with(|config| config.brokers = Some("bus=nats://127.0.0.1:4222".into()))
            .await;
    let profile = tempfile::tempdir().expect("profile");
    let (_driver, c) = start_browser(&chromium, &driver, profile.path()).await;
    sign_in(&c, &app, &app.org.token).await;
    wait_text(&c, "#org-name", &app.org.name).await;
    kind_offered(&c, "NATS", true).await;
    kind_offered(&c, "AMQP", false).await;
    click(&c, "#add-endpoint").await;
    wait_text(
        &c,
        "#ep-kind-brokers",
        "the operator has configured no AMQP broker",
    )
    .await;
    let hint = wait_text(&c, "#ep-kind-brokers", "AMQP").await;
    assert!(!hint.contains("no NATS broker"), "{hint}");
    let option = c
        .find(Locator::Css("#ep-kind option[value=\"AMQP\"]"))
        .await
        .expect("AMQP option")
        .text()
        .await
        .expect("text");
    assert!(option.contains("no broker configured"), "{option}");
    screenshot(&c, "brokers-kind-unavailable-desktop").await;
    c.close().await.expect("close browser");
}
