//! The settings page's endpoint control (`settings-control.js`), in a real headless Chromium:
//! an endpoint disabled by a `410 Gone` shows why; "Re-enable" is refused (with the receiver's
//! status) while the test message fails, and enables the endpoint once it succeeds (the page
//! reloads and lists it enabled). Screenshot `endpoint-control.png` under `target/screenshots/`.
//! Driver startup and skipping as in `browser.rs`.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use fantoccini::Client;
use futures::FutureExt;
use serde_json::json;

use crate::control::endpoints;
use crate::utils::browser::{browser_paths, click, screenshot, sign_in, start_browser, wait_text};
use crate::utils::{save_endpoints, Receiver, Reply, TestApp};

#[tokio::test]
async fn a_disabled_endpoint_shows_why_and_is_re_enabled_after_a_test_message() {
    let Some((chromium, driver)) = browser_paths() else {
        return;
    };
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    receiver.set_default(Reply::status(410));
    save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": receiver.url(), "events": ["build.created"] }]),
    )
    .await;
    let repo = app.create_repository("page").await;
    app.create_build(&repo, &[("test", false)], false).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while endpoints(&app).await[0]["enabled"] != false {
        assert!(Instant::now() < deadline, "never disabled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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

async fn drive(app: &TestApp, receiver: &Receiver, c: &Client) {
    sign_in(c, app, &app.org.token).await;
    wait_text(c, "#org-name", &app.org.name).await;
    let note = wait_text(c, "#endpoint-list .control-note", "410 Gone").await;
    assert!(note.contains("Disabled by buildhooks"), "{note}");
    screenshot(c, "endpoint-control").await;

    // The receiver still answers 410: refused, and said so.
    click(c, ".ep-reenable").await;
    let refused = wait_text(c, ".control-result", "Not re-enabled").await;
    assert!(refused.contains("HTTP 410"), "{refused}");
    assert_eq!(endpoints(app).await[0]["enabled"], false);

    // The list's own Enable button takes the same way (a test message first), and now succeeds.
    receiver.set_default(Reply::status(200));
    click(c, "#endpoint-list .ep-toggle").await;
    wait_text(c, ".control-result", "re-enabled").await;
    assert_eq!(endpoints(app).await[0]["enabled"], true);
    // After the reload the list shows it enabled, with no note.
    wait_text(c, "#endpoint-list .badge.enabled", "Enabled").await;
    let pings = receiver
        .received()
        .iter()
        .filter(|r| r.header("x-cirrus-event").as_deref() == Some("ping"))
        .count();
    assert_eq!(pings, 2, "one test message per try");
}
