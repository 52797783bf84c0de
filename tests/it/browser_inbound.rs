//! The settings page's inbound sources, in a real headless Chromium (issue 16): create a GitHub
//! source through the page, read its secret shown once, send it a `ping` signed with GitHub's
//! recipe (computed here, not by our code) and see the request, and a refused one, in the
//! inbound log after a reload, where the secret is gone and only its hint is shown; regenerate
//! the secret (the old one stops working); a generic source with a bad JSONPath is refused with
//! the field named next to the form; the page fits 375 px; a declined confirm keeps the source,
//! an accepted one deletes it and its URL answers 404. Driver startup, skipping and screenshots
//! as in `browser.rs`.

use fantoccini::{Client, Locator};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::utils::browser::{
    browser_paths, click, displayed, fill, screenshot, sign_in, start_browser, wait_text,
    wait_value,
};
use crate::utils::TestApp;

const SOURCES: &str = "query($uid: ID){ ownerInfo(uid: $uid) { inboundSources { id name } } }";

/// GitHub's signature of a delivery: "sha256=" + hex(HMAC-SHA256(key = secret, raw body)).
// GitHub: https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// POSTs GitHub's `ping` (sent when a webhook is added) to `url`, signed with `secret`;
/// returns the status and the answer.
// GitHub: https://docs.github.com/en/webhooks/webhook-events-and-payloads#ping
async fn ping(app: &TestApp, url: &str, secret: &str, delivery: &str) -> (u16, Value) {
    let body = json!({
        "zen": "Design for failure.",
        "hook_id": 109948940,
        "hook": { "type": "Repository", "active": true, "events": ["workflow_job", "workflow_run"],
                  "config": { "content_type": "json", "insecure_ssl": "0", "url": url } },
        "repository": { "id": 186853002, "name": "rocket", "full_name": "acme/rocket" },
        "sender": { "login": "octocat", "id": 1 },
    })
    .to_string();
    let resp = app
        .client
        .post(url)
        .header("content-type", "application/json")
        .header("user-agent", "GitHub-Hookshot/044aadd")
        .header("x-github-event", "ping")
        .header("x-github-delivery", delivery)
        .header(
            "x-hub-signature-256",
            github_signature(secret, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .expect("ping");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("answer");
    (
        status,
        serde_json::from_str(&text).unwrap_or(json!({ "raw": text })),
    )
}

async fn head(app: &TestApp, url: &str) -> u16 {
    app.client
        .head(url)
        .send()
        .await
        .expect("head")
        .status()
        .as_u16()
}

async fn value(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .expect(css)
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default()
}

async fn script(c: &Client, js: &str) -> Value {
    c.execute(js, vec![]).await.expect("script")
}

/// The inbound log as the page shows it: one `[event, result, http status]` per row.
async fn log_rows(c: &Client) -> Vec<(String, String, String)> {
    let rows = script(
        c,
        "return [...document.querySelectorAll('#in-log-body tr')].map((tr) => [
           tr.querySelector('.in-event').textContent, tr.querySelector('.in-result').textContent,
           tr.querySelector('.in-http').textContent])",
    )
    .await;
    serde_json::from_value(rows).expect("rows")
}

/// Makes the page's next confirm() answer `answer`, recording the questions in `window.asked`.
async fn answer_confirms(c: &Client, answer: bool) {
    script(
        c,
        &format!(
            "window.asked = window.asked || []; \
             window.confirm = (q) => {{ window.asked.push(q); return {answer}; }};"
        ),
    )
    .await;
}

async fn source_count(app: &TestApp) -> usize {
    let data = app.ok(SOURCES, json!({ "uid": app.org.uid })).await;
    data["ownerInfo"]["inboundSources"]
        .as_array()
        .expect("sources")
        .len()
}

#[tokio::test]
async fn a_github_source_is_created_pinged_and_deleted_from_the_page() {
    let Some((chromium, driver)) = browser_paths() else {
        return;
    };
    let app = TestApp::spawn().await;
    let profile = tempfile::tempdir().expect("profile");
    let (_driver, c) = start_browser(&chromium, &driver, profile.path()).await;

    sign_in(&c, &app, &app.org.token).await;
    wait_text(&c, "#org-name", &app.org.name).await;
    wait_text(&c, "#in-empty", "No inbound sources").await;

    // Create a GitHub source: the URL (absolute) and the secret are shown once.
    click(&c, "#in-add").await;
    assert!(
        !displayed(&c, "#in-external-id").await,
        "no mapping for GitHub"
    );
    assert!(
        !displayed(&c, "#in-signing").await,
        "no signing secret for GitHub"
    );
    fill(&c, "#in-name", "GitHub: acme/rocket").await;
    click(&c, "#in-save").await;
    wait_text(&c, "#in-reveal-note", "shown only once").await;
    let hooks = app.url("/hooks/in/");
    let url = wait_value(&c, "#in-reveal-url", &hooks).await;
    assert!(url.starts_with(&hooks), "an absolute URL: {url}");
    let secret = value(&c, "#in-reveal-secret").await;
    assert!(secret.len() >= 16, "a secret is shown: {secret:?}");
    // The hint is a fingerprint (as for endpoint secrets): no character of the secret.
    let tail = {
        use sha2::Digest;
        let digest = hex::encode(sha2::Sha256::digest(secret.as_bytes()));
        format!("********{}", &digest[..6])
    };
    wait_text(&c, "#in-source-0", "GitHub: acme/rocket").await;
    let hint = wait_text(&c, "#in-source-0 .in-hint", &tail).await;
    assert!(
        !hint.contains(&secret),
        "the list shows a hint only: {hint}"
    );
    wait_text(&c, "#in-source-0 .in-url", &url).await;
    let stored = script(
        &c,
        "return JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage } })",
    )
    .await;
    assert!(
        !stored.as_str().unwrap_or_default().contains(&secret),
        "the secret is never stored: {stored}"
    );
    screenshot(&c, "inbound-secret-shown-once-desktop").await;
    click(&c, "#in-reveal-done").await;
    assert!(!displayed(&c, "#in-reveal").await);
    assert_eq!(
        value(&c, "#in-reveal-secret").await,
        "",
        "the secret left the page"
    );

    // GitHub's ping, signed with the shown secret, at the shown URL; and a badly signed one.
    assert_eq!(head(&app, &url).await, 200, "a live source answers HEAD");
    let (status, answer) = ping(&app, &url, &secret, "d4a5a6b0-0001").await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = ping(&app, &url, "not-the-secret", "d4a5a6b0-0002").await;
    assert_eq!(status, 401, "{answer}");

    // After a reload (signed in again from the tab) the log lists both, with their results, and
    // the secret is gone: only its hint is shown.
    c.refresh().await.expect("reload");
    wait_text(&c, "#org-name", &app.org.name).await;
    wait_text(&c, "#in-log-body", "ping").await;
    let rows = log_rows(&c).await;
    let pong = rows
        .iter()
        .find(|r| r.2 == "200")
        .expect("the ping is logged");
    assert_eq!(pong.0, "ping", "{rows:?}");
    assert!(
        pong.1 == "APPLIED" || pong.1 == "IGNORED",
        "the ping's result is shown: {rows:?}"
    );
    let refused = rows
        .iter()
        .find(|r| r.2 == "401")
        .expect("the refusal is logged");
    assert_eq!(refused.1, "REFUSED", "{rows:?}");
    wait_text(&c, "#in-log-body", "GitHub: acme/rocket").await;
    wait_text(&c, "#in-source-0 .in-hint", &tail).await;
    assert!(!displayed(&c, "#in-reveal").await);
    let page = c.source().await.expect("source");
    assert!(
        !page.contains(&secret),
        "the secret is not shown after a reload"
    );
    screenshot(&c, "inbound-log-desktop").await;

    // Regenerate (after a confirm): a new secret, shown once; the old one stops working.
    answer_confirms(&c, true).await;
    click(&c, "#in-source-0 .in-regenerate").await;
    wait_text(&c, "#in-reveal-title", "New secret").await;
    let renewed = value(&c, "#in-reveal-secret").await;
    assert!(!renewed.is_empty() && renewed != secret, "a new secret");
    assert_eq!(value(&c, "#in-reveal-url").await, url, "the URL stays");
    click(&c, "#in-reveal-done").await;
    assert_eq!(ping(&app, &url, &secret, "d4a5a6b0-0003").await.0, 401);
    assert_eq!(ping(&app, &url, &renewed, "d4a5a6b0-0004").await.0, 200);

    // A generic source whose mapping has a bad path: refused, the field named by the form.
    click(&c, "#in-add").await;
    c.find(Locator::Css("#in-kind"))
        .await
        .expect("kind")
        .select_by_value("GENERIC")
        .await
        .expect("choose a generic source");
    assert!(
        !displayed(&c, "#in-signing").await,
        "no signing secret for a generic source"
    );
    fill(&c, "#in-name", "Nightly").await;
    fill(&c, "#in-external-id", "$.[").await;
    fill(&c, "#in-status", "$.state").await;
    fill(&c, "#in-map-repository", "$.repo").await;
    click(&c, "#in-save").await;
    let error = wait_text(&c, "#in-form-error", "externalId").await;
    assert!(
        displayed(&c, "#in-form").await,
        "the form stays open: {error}"
    );
    assert_eq!(source_count(&app).await, 1, "nothing was created");
    screenshot(&c, "inbound-generic-refused-desktop").await;

    // Phone width: the editor with its mapping, the list and the log fit without scrolling
    // sideways (the log's table scrolls inside its box).
    c.set_window_size(375, 812).await.expect("resize");
    let fits = script(
        &c,
        "return document.documentElement.scrollWidth <= window.innerWidth + 1",
    )
    .await;
    assert_eq!(fits, json!(true), "no horizontal scrolling at 375 px");
    screenshot(&c, "inbound-generic-refused-375").await;
    click(&c, "#in-cancel").await;
    c.set_window_size(1280, 900).await.expect("resize");

    // Delete: a declined confirm keeps the source; an accepted one deletes it.
    answer_confirms(&c, false).await;
    click(&c, "#in-source-0 .in-delete").await;
    let asked = script(&c, "return window.asked").await;
    assert!(
        asked.to_string().contains("GitHub: acme/rocket"),
        "the confirm names the source: {asked}"
    );
    assert_eq!(source_count(&app).await, 1, "declined: kept");
    wait_text(&c, "#in-source-0", "GitHub: acme/rocket").await;
    answer_confirms(&c, true).await;
    click(&c, "#in-source-0 .in-delete").await;
    wait_text(&c, "#in-empty", "No inbound sources").await;
    assert_eq!(source_count(&app).await, 0, "deleted");
    assert_eq!(head(&app, &url).await, 404, "a deleted source answers 404");
    assert_eq!(ping(&app, &url, &renewed, "d4a5a6b0-0005").await.0, 404);
    c.close().await.expect("close browser");
}

#[test]
fn the_signature_follows_githubs_recipe() {
    // GitHub's documented test values: secret "It's a Secret to Everybody", payload
    // "Hello, World!".
    assert_eq!(
        github_signature("It's a Secret to Everybody", b"Hello, World!"),
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
}
