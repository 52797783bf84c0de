//! The settings page's payload format and audit events, in a real headless Chromium: a webhook
//! endpoint is added with the Cirrus format and `*, audit_event.*`; the editor offers Cirrus's
//! default query (and previews with it); after a reload the list tags it "Cirrus body" and the
//! editor shows the saved format; the API says `CIRRUS` with both patterns; a save from the list
//! keeps the format; a chat kind hides the select; and a mutation made afterwards reaches the
//! receiver as a flat Cirrus audit event. Screenshots `payload-format-*.png` under
//! `target/screenshots/`. Driver startup and skipping as in `browser.rs`.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use buildhooks_schema::webhook::format::{CIRRUS_QUERY, DEFAULT_QUERY};
use fantoccini::{Client, Locator};
use futures::FutureExt;
use serde_json::{json, Value};

use crate::utils::browser::{
    browser_paths, click, displayed, fill, screenshot, sign_in, start_browser, value, wait_text,
};
use crate::utils::{Receiver, TestApp};

const SAVED: &str = "query($uid: ID){ ownerInfo(uid: $uid) { webhookSettings { endpoints {
    kind webhookURL events payloadFormat enabled } } } }";

async fn endpoints(app: &TestApp) -> Vec<Value> {
    let data = app.ok(SAVED, json!({ "uid": app.org.uid })).await;
    data["ownerInfo"]["webhookSettings"]["endpoints"]
        .as_array()
        .expect("endpoints")
        .clone()
}

async fn choose(c: &Client, css: &str, value: &str) {
    c.find(Locator::Css(css))
        .await
        .expect(css)
        .select_by_value(value)
        .await
        .expect(value);
}

/// Waits until select or input `css` holds exactly `expected` (the editor fills after a click).
async fn wait_exact(c: &Client, css: &str, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = value(c, css).await;
        if now == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{css} is {now:?}, not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_cirrus_format_endpoint_with_audit_events_is_added_from_the_page_and_kept() {
    let Some((chromium, driver)) = browser_paths() else {
        return;
    };
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    // The payload preview renders the latest build of a repository.
    let repo = app.create_repository("web").await;
    app.create_build(&repo, &[("test", false)], false).await;
    let profile = tempfile::tempdir().expect("profile");
    let (_driver, c) = start_browser(&chromium, &driver, profile.path()).await;
    // Chromium outlives chromedriver unless its session is closed: close it on failure too.
    let outcome = AssertUnwindSafe(drive(&app, &receiver, &c))
        .catch_unwind()
        .await;
    c.close().await.expect("close the browser");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// The test proper, in the browser `c`.
async fn drive(app: &TestApp, receiver: &Receiver, c: &Client) {
    sign_in(c, app, &app.org.token).await;
    wait_text(c, "#org-name", &app.org.name).await;

    // A new webhook endpoint: the format is offered, documented by default.
    click(c, "#add-endpoint").await;
    assert!(
        displayed(c, "#ep-payload-format").await,
        "shown for WEBHOOK"
    );
    assert_eq!(value(c, "#ep-payload-format").await, "DOCUMENTED");
    let help = wait_text(c, "#ep-events-help", "audit_event.*").await;
    assert!(help.contains("not part of *"), "{help}");
    assert!(!displayed(c, "#preview-format-note").await);

    // Cirrus: its default query is the one the editor offers and previews with.
    choose(c, "#ep-payload-format", "CIRRUS").await;
    assert!(displayed(c, "#preview-format-note").await);
    click(c, "#ep-custom-query").await;
    assert_eq!(value(c, "#ep-query").await, CIRRUS_QUERY);
    choose(c, "#ep-payload-format", "DOCUMENTED").await;
    assert_eq!(
        value(c, "#ep-query").await,
        DEFAULT_QUERY,
        "follows the format"
    );
    choose(c, "#ep-payload-format", "CIRRUS").await;
    assert_eq!(value(c, "#ep-query").await, CIRRUS_QUERY);
    click(c, "#ep-custom-query").await;
    click(c, "#ep-preview").await;
    // The Cirrus body: the query's fields (changeMessageTitle, instanceType are asked by
    // Cirrus's query only) at the top level, no `data` wrapper.
    let preview = wait_text(c, "#preview-output", "changeMessageTitle").await;
    assert!(preview.contains("instanceType"), "{preview}");
    assert!(
        !preview.contains("\"data\""),
        "flat, as Cirrus sends it: {preview}"
    );

    fill(c, "#ep-url", &receiver.url()).await;
    fill(c, "#ep-events", "*, audit_event.*").await;
    click(c, "#ep-none").await;
    click(c, "#ep-save").await;
    wait_text(c, "#status", "Endpoint added").await;
    wait_text(c, "#endpoint-0 .badge.format", "Cirrus body").await;

    let saved = endpoints(app).await;
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert_eq!(saved[0]["kind"], "WEBHOOK");
    assert_eq!(saved[0]["payloadFormat"], "CIRRUS");
    assert_eq!(saved[0]["events"], json!(["*", "audit_event.*"]));

    // After a reload (the session is kept for the tab): tagged in the list, kept in the editor.
    c.refresh().await.expect("reload");
    wait_text(c, "#endpoint-0 .badge.format", "Cirrus body").await;
    click(c, "#endpoint-0 .ep-edit").await;
    wait_exact(c, "#ep-payload-format", "CIRRUS").await;
    assert_eq!(value(c, "#ep-events").await, "*, audit_event.*");
    assert_eq!(value(c, "#ep-query").await, CIRRUS_QUERY);
    assert!(
        !c.find(Locator::Css("#ep-custom-query"))
            .await
            .expect("checkbox")
            .is_selected()
            .await
            .expect("checked"),
        "no custom query: the format's default runs"
    );
    c.execute(
        "document.getElementById('ep-payload-format').scrollIntoView({block: 'center'})",
        vec![],
    )
    .await
    .expect("scroll");
    screenshot(c, "payload-format-editor-desktop").await;

    // A chat kind takes no format: the select hides, and so does the preview's note.
    choose(c, "#ep-kind", "SLACK").await;
    wait_text(c, "#ep-url-label", "Incoming webhook URL").await;
    assert!(
        !displayed(c, "#ep-payload-format").await,
        "hidden for SLACK"
    );
    assert!(!displayed(c, "#preview-format-note").await);
    choose(c, "#ep-kind", "WEBHOOK").await;
    assert!(displayed(c, "#ep-payload-format").await, "shown again");
    assert_eq!(value(c, "#ep-payload-format").await, "CIRRUS");

    // Phone width: the editor and the list fit.
    c.set_window_size(375, 812).await.expect("resize");
    let fits = c
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(fits, json!(true), "no horizontal scrolling at 375 px");
    c.execute(
        "document.getElementById('ep-payload-format').scrollIntoView({block: 'center'})",
        vec![],
    )
    .await
    .expect("scroll");
    screenshot(c, "payload-format-editor-375").await;
    click(c, "#ep-cancel").await;
    c.execute(
        "document.getElementById('endpoints').scrollIntoView()",
        vec![],
    )
    .await
    .expect("scroll");
    screenshot(c, "payload-format-list-375").await;
    c.set_window_size(1280, 900).await.expect("resize");

    // A save from the list (disable, enable) sends the endpoint back without a format: kept.
    click(c, "#endpoint-0 .ep-toggle").await;
    wait_text(c, "#status", "is now disabled").await;
    click(c, "#endpoint-0 .ep-toggle").await;
    wait_text(c, "#status", "is now enabled").await;
    let after = endpoints(app).await;
    assert_eq!(after, saved, "unchanged by saves from the list");

    // Mutations made since (the list's saves, a new repository) reach the endpoint as Cirrus's
    // flat audit events.
    app.create_repository("later").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let audit = loop {
        let found = receiver
            .received()
            .into_iter()
            .find(|r| r.header("x-cirrus-event").as_deref() == Some("audit_event"));
        if let Some(r) = found {
            break r.json();
        }
        assert!(Instant::now() < deadline, "no audit event delivered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(audit["type"], "graphql.mutation", "flat: {audit}");
    assert_eq!(audit["action"], "created", "{audit}");
    assert!(
        audit["data"].is_string(),
        "Cirrus's data is a JSON text: {audit}"
    );
}
