//! The settings page shows a secret rotation's overlap, in a real headless Chromium: after
//! `rotateWebhookSecret` with an hour of overlap, the rotated endpoint's card says "Previous
//! secret" with the time the overlap ends (`settings-secrets.js`), the other endpoint's card
//! says nothing of it, and the page shows no secret. Screenshot `secret-overlap.png` under
//! `target/screenshots/`. Driver startup and skipping as in `browser.rs`.

use std::panic::AssertUnwindSafe;

use fantoccini::{Client, Locator};
use futures::FutureExt;
use serde_json::json;

use crate::utils::browser::{browser_paths, screenshot, sign_in, start_browser, wait_text};
use crate::utils::{save_endpoints, Receiver, TestApp};

#[tokio::test]
async fn the_settings_page_shows_when_a_rotations_overlap_ends() {
    let Some((chromium, driver)) = browser_paths() else {
        return;
    };
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let saved = save_endpoints(
        &app,
        &app.org,
        json!([
            { "webhookURL": receiver.url(), "generateSecret": true },
            { "webhookURL": format!("{}/other", receiver.url()), "secretToken": "not-rotated" },
        ]),
    )
    .await;
    let id = saved["data"]["saveWebHookSettings"]["settings"]["endpoints"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let rotated = app
        .ok(
            "mutation($i: RotateWebhookSecretInput!) { rotateWebhookSecret(input: $i) { secret secretOverlapEndsAt } }",
            json!({ "i": { "endpointId": id, "overlapSeconds": 3600 } }),
        )
        .await;
    let ends = rotated["rotateWebhookSecret"]["secretOverlapEndsAt"]
        .as_i64()
        .expect("overlap end");
    let secret = rotated["rotateWebhookSecret"]["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let profile = tempfile::tempdir().expect("profile");
    let (_driver, c) = start_browser(&chromium, &driver, profile.path()).await;
    let outcome = AssertUnwindSafe(drive(&app, &c, ends, &secret))
        .catch_unwind()
        .await;
    c.close().await.expect("close the browser");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn drive(app: &TestApp, c: &Client, ends: i64, secret: &str) {
    sign_in(c, app, &app.org.token).await;
    let text = wait_text(
        c,
        "#endpoint-list li:first-child .secret-overlap",
        "still signs until",
    )
    .await;
    // The term is shown in capitals by the page's style.
    assert!(text.to_lowercase().contains("previous secret"), "{text}");
    // The time element names the overlap's end to the millisecond.
    let shown = c
        .execute(
            "return new Date(document.querySelector('#endpoint-list li:first-child .secret-overlap time').dateTime).getTime()",
            vec![],
        )
        .await
        .expect("the time element's datetime");
    assert_eq!(shown.as_i64(), Some(ends), "{shown}");
    let marked = c
        .find_all(Locator::Css("#endpoint-list .secret-overlap"))
        .await
        .expect("cards");
    assert_eq!(marked.len(), 1, "only the rotated endpoint says so");
    let page = c.source().await.expect("page");
    assert!(
        !page.contains(&secret[6..]),
        "the page shows the new secret"
    );
    screenshot(c, "secret-overlap").await;
}
