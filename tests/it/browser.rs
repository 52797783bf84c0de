//! The settings page in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
//! driven over WebDriver): sign in, add an endpoint, generate a secret, ping, watch a build's
//! deliveries arrive, open one, redeliver; a wrong token and a blocked URL are refused. Saves
//! screenshots under `target/screenshots/`. Without Chromium and outside CI it is skipped with a
//! message; under `CI=true` it always runs.

use std::time::{Duration, Instant};

use fantoccini::Locator;
use serde_json::json;

use crate::utils::browser::{
    browser_paths, click, fill, screenshot, sign_in, start_browser, wait_text, wait_value,
};
use crate::utils::{Receiver, TestApp};

#[tokio::test]
async fn settings_page_end_to_end_in_chromium() {
    let Some((chromium, driver)) = browser_paths() else {
        return;
    };
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let repo = app.create_repository("web").await;
    let profile = tempfile::tempdir().expect("profile");
    let (_driver, c) = start_browser(&chromium, &driver, profile.path()).await;

    // A wrong token is refused.
    sign_in(&c, &app, "bh_not-a-real-token").await;
    wait_text(&c, "#signin-error", "not valid").await;

    // Sign in, add an endpoint with a generated secret.
    sign_in(&c, &app, &app.org.token).await;
    wait_text(&c, "#org-name", &app.org.name).await;
    click(&c, "#add-endpoint").await;
    fill(&c, "#ep-url", &receiver.url()).await;
    click(&c, "#ep-generate").await;
    click(&c, "#ep-save").await;
    // The dialog is in the page from the start: wait until the save has filled it.
    let secret = wait_value(&c, "#secret-value", "whsec_").await;
    assert!(
        secret.starts_with("whsec_"),
        "generated secret shown once: {secret:?}"
    );
    click(&c, "#secret-done").await;
    wait_text(&c, "#endpoint-list", &receiver.url()).await;
    let page = c.source().await.expect("source");
    assert!(
        !page.contains(&secret),
        "the secret is gone from the page after Done"
    );

    // Ping succeeds.
    click(&c, "#endpoint-0 .ep-ping").await;
    wait_text(&c, "#endpoint-0 .ping-result", "200").await;
    screenshot(&c, "settings-endpoints-desktop").await;
    assert_eq!(
        receiver.received()[0].header("x-cirrus-event").as_deref(),
        Some("ping")
    );
    assert_eq!(
        buildhooks_receiver::verify_cirrus(
            secret.as_bytes(),
            &receiver.received()[0].body,
            &receiver.received()[0]
                .header("x-cirrus-signature")
                .expect("signed")
        ),
        Ok(())
    );

    // Drive a build through the API; its deliveries appear.
    let (_, tasks) = app.create_build(&repo, &[("test", false)], false).await;
    app.move_task(&tasks[0], &["TRIGGERED", "EXECUTING", "COMPLETED"])
        .await;
    receiver.wait_for(1 + 8, Duration::from_secs(10)).await;
    // Refresh until the table shows them (the first look may still be the earlier page).
    let deadline = Instant::now() + Duration::from_secs(15);
    let rows = loop {
        click(&c, "#deliveries-refresh").await;
        wait_text(&c, "#deliveries-body", "DELIVERED").await;
        let rows = c
            .find_all(Locator::Css("#deliveries-body tr[data-id]"))
            .await
            .expect("rows");
        if rows.len() >= 9 || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(rows.len() >= 9, "ping + 8 events, got {}", rows.len());

    // Open one, redeliver, see a second attempt.
    click(&c, "#deliveries-body tr[data-id] .delivery-details").await;
    wait_text(&c, "#delivery-headers", "x-cirrus-signature").await;
    let attempts = c
        .find_all(Locator::Css("#delivery-attempts .attempt-row"))
        .await
        .expect("attempts");
    assert_eq!(attempts.len(), 1);
    screenshot(&c, "settings-delivery-detail-desktop").await;
    click(&c, "#delivery-redeliver").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let n = c
            .find_all(Locator::Css("#delivery-attempts .attempt-row"))
            .await
            .map(|v| v.len())
            .unwrap_or(0);
        if n == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no second attempt shown ({n})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Phone width.
    c.set_window_size(375, 812).await.expect("resize");
    screenshot(&c, "settings-delivery-detail-375").await;
    c.execute("document.getElementById('delivery-close').click()", vec![])
        .await
        .expect("close");
    let overflow = c
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(overflow, json!(true), "no horizontal scrolling at 375 px");
    screenshot(&c, "settings-endpoints-375").await;
    c.close().await.expect("close browser");
}

#[tokio::test]
async fn a_blocked_url_shows_its_error_beside_the_field_and_keeps_the_input() {
    let Some((chromium, driver)) = browser_paths() else {
        return;
    };
    let app = TestApp::spawn_with(|c| c.allow_private_targets = false).await;
    let profile = tempfile::tempdir().expect("profile");
    let (_driver, c) = start_browser(&chromium, &driver, profile.path()).await;
    sign_in(&c, &app, &app.org.token).await;
    wait_text(&c, "#org-name", &app.org.name).await;
    click(&c, "#add-endpoint").await;
    let url = "http://169.254.169.254/latest/meta-data/";
    fill(&c, "#ep-url", url).await;
    fill(&c, "#ep-events", "task.failed").await;
    click(&c, "#ep-save").await;
    let message = wait_text(&c, "#ep-url-error", "metadata").await;
    assert!(!message.contains("deliveryEndpoints"), "{message}");
    let kept = c
        .find(Locator::Css("#ep-url"))
        .await
        .expect("url")
        .prop("value")
        .await
        .expect("value");
    assert_eq!(kept.as_deref(), Some(url), "what the user typed is kept");
    let invalid = c
        .find(Locator::Css("#ep-url"))
        .await
        .expect("url")
        .attr("aria-invalid")
        .await
        .expect("attr");
    assert_eq!(invalid.as_deref(), Some("true"));
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
    c.close().await.expect("close browser");
}
