//! The settings page with a DingTalk robot, in a real headless Chromium (issue 15): add a
//! DingTalk endpoint with a signing secret, preview its message (rendered from the organization's
//! build), send a test message and see it arrive with the robot's answer in the page; a wrong
//! secret shows DingTalk's refusal there and in the delivery's attempts; after a reload the robot
//! URL (the robot's secret) shows only masked. The fake robot on 127.0.0.1:0 checks each request
//! as DingTalk does, with the signature computed here from DingTalk's documented recipe, not with
//! our code. Driver startup, skipping and screenshots as in `browser.rs`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Query, RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use fantoccini::{Client, Locator};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::utils::browser::{
    browser_paths, click, fill, screenshot, sign_in, start_browser, wait_text,
};
use crate::utils::TestApp;

/// The robot's signing secret (DingTalk shows one starting with SEC under "加签").
const SECRET: &str = "SECb1e5c0ffee0ddba11deadbeef0123456789abcdef0123456789abcdef01234";
const ACCESS_TOKEN: &str = "abc";

// ---- the fake DingTalk robot ------------------------------------------------------------------

/// DingTalk's signature of a request: base64(HMAC-SHA256(key = secret, timestamp + "\n" +
/// secret)), sent URL-encoded in the `sign` query parameter beside `timestamp` (milliseconds,
/// at most an hour from DingTalk's clock).
// DingTalk: https://open.dingtalk.com/document/robots/customize-robot-security-settings
fn dingtalk_sign(secret: &str, timestamp: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{timestamp}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// One request the robot got, and what it made of it.
#[derive(Clone, Debug)]
struct RobotRequest {
    access_token: Option<String>,
    raw_query: String,
    content_type: Option<String>,
    body: Value,
    /// None: accepted; otherwise DingTalk's refusal.
    refusal: Option<Value>,
}

#[derive(Clone)]
struct Robot {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<RobotRequest>>>,
}

impl Robot {
    async fn start() -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/robot/send", post(robot_send))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind robot");
        let addr = listener.local_addr().expect("robot addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Robot { addr, seen }
    }

    /// The robot's webhook address, as DingTalk shows it in the group's robot settings.
    fn url(&self) -> String {
        format!(
            "http://{}/robot/send?access_token={ACCESS_TOKEN}",
            self.addr
        )
    }

    fn received(&self) -> Vec<RobotRequest> {
        self.seen.lock().expect("robot lock").clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<RobotRequest> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let seen = self.received();
            if seen.len() >= n {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "the robot got {} of {n} messages",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Why DingTalk would refuse the request, as the answer it gives (HTTP 200 with an errcode).
fn refusal(query: &HashMap<String, String>, headers: &HeaderMap, body: &Value) -> Option<Value> {
    if query.get("access_token").map(String::as_str) != Some(ACCESS_TOKEN) {
        return Some(json!({ "errcode": 300001, "errmsg": "token is not exist" }));
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let sign_ok = match (query.get("timestamp"), query.get("sign")) {
        (Some(ts), Some(sign)) => {
            ts.parse::<i64>()
                .is_ok_and(|t| (now_ms - t).abs() <= 3_600_000)
                && *sign == dingtalk_sign(SECRET, ts)
        }
        _ => false,
    };
    if !sign_ok {
        return Some(json!({ "errcode": 310000, "errmsg": "sign not match" }));
    }
    let json_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let markdown = body["msgtype"] == "markdown"
        && body["markdown"]["title"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
        && body["markdown"]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty());
    if !json_type || !markdown {
        // DingTalk's answer to a body it cannot read as a message.
        return Some(json!({ "errcode": 40035, "errmsg": "缺少参数 json" }));
    }
    None
}

async fn robot_send(
    State(seen): State<Arc<Mutex<Vec<RobotRequest>>>>,
    Query(query): Query<HashMap<String, String>>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Json<Value> {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let refused = refusal(&query, &headers, &body);
    seen.lock().expect("robot lock").push(RobotRequest {
        access_token: query.get("access_token").cloned(),
        raw_query: raw_query.unwrap_or_default(),
        content_type: headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body,
        refusal: refused.clone(),
    });
    Json(refused.unwrap_or_else(|| json!({ "errcode": 0, "errmsg": "ok" })))
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

/// The robot got a correctly signed markdown message through the saved URL.
fn assert_signed_markdown(r: &RobotRequest) {
    assert_eq!(r.refusal, None, "the robot accepted {r:?}");
    assert_eq!(r.access_token.as_deref(), Some(ACCESS_TOKEN));
    assert!(
        r.content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("application/json")),
        "{r:?}"
    );
    assert_eq!(r.body["msgtype"], "markdown", "{r:?}");
    // URL-encoded base64: a raw '+' would reach DingTalk as a space.
    let raw_sign = r
        .raw_query
        .split('&')
        .find_map(|p| p.strip_prefix("sign="))
        .expect("sign parameter");
    assert!(
        !raw_sign.contains(['+', '/']),
        "sign is URL-encoded: {raw_sign}"
    );
}

#[tokio::test]
async fn a_dingtalk_robot_is_added_previewed_and_sent_a_test_message_from_the_page() {
    let Some((chromium, driver)) = browser_paths() else {
        return;
    };
    let app = TestApp::spawn().await;
    let robot = Robot::start().await;
    // A real build before the robot exists: the preview renders from it, and the robot gets
    // only the test messages.
    let repo = app.create_repository("flux-capacitor").await;
    app.create_build(&repo, &[("test", false)], false).await;
    let profile = tempfile::tempdir().expect("profile");
    let (_driver, c) = start_browser(&chromium, &driver, profile.path()).await;

    // Add a DingTalk endpoint: only its fields show; the secret signs, nothing to generate.
    sign_in(&c, &app, &app.org.token).await;
    wait_text(&c, "#org-name", &app.org.name).await;
    click(&c, "#add-endpoint").await;
    let kind = c.find(Locator::Css("#ep-kind")).await.expect("kind");
    kind.select_by_value("DINGTALK")
        .await
        .expect("choose DingTalk");
    wait_text(&c, "#ep-url-label", "Robot URL").await;
    wait_text(&c, "#ep-secret-legend", "Signing secret").await;
    for (css, shown) in [
        ("#ep-template", true),
        ("#ep-at-mobiles", true),
        ("#ep-digest", true),
        ("#ep-mentioned-list", false),
        ("#ep-generate", false),
        ("#ep-max-in-flight", false),
    ] {
        let displayed = c
            .find(Locator::Css(css))
            .await
            .expect(css)
            .is_displayed()
            .await
            .expect("displayed");
        assert_eq!(displayed, shown, "{css} shown for DingTalk");
    }
    let placeholder = c
        .find(Locator::Css("#ep-url"))
        .await
        .expect("url")
        .attr("placeholder")
        .await
        .expect("placeholder");
    assert!(
        placeholder.is_some_and(|p| p.contains("oapi.dingtalk.com/robot/send?access_token=")),
        "the placeholder shows DingTalk's URL shape"
    );
    fill(&c, "#ep-url", &robot.url()).await;
    fill(&c, "#ep-secret", SECRET).await;
    click(&c, "#ep-save").await;
    wait_text(&c, "#endpoint-0", "DingTalk").await;
    let card = wait_text(&c, "#endpoint-0 .url", "****").await;
    assert!(
        !card.contains("access_token"),
        "the robot URL is masked: {card}"
    );

    // Preview: the message as the group will read it, from the organization's build.
    click(&c, "#endpoint-0 .ep-preview-message").await;
    wait_text(&c, "#endpoint-0 .chat-bubble", "flux-capacitor").await;
    wait_text(&c, "#endpoint-0 .chat-preview-source", "latest event").await;
    screenshot(&c, "chat-dingtalk-preview-desktop").await;

    // Send a test message: it arrives signed, and the page shows the robot's answer.
    click(&c, "#endpoint-0 .ep-ping").await;
    wait_text(&c, "#endpoint-0 .ping-result", "200 in").await;
    wait_text(&c, "#endpoint-0 .ping-answer", "\"errmsg\":\"ok\"").await;
    let class = c
        .find(Locator::Css("#endpoint-0 .ping-result"))
        .await
        .expect("result")
        .attr("class")
        .await
        .expect("class")
        .unwrap_or_default();
    assert!(class.contains("ok"), "shown as a success: {class}");
    let seen = robot.wait_for(1).await;
    assert_eq!(seen.len(), 1, "one test message: {seen:?}");
    assert_signed_markdown(&seen[0]);
    screenshot(&c, "chat-dingtalk-test-message-desktop").await;

    // A wrong secret: DingTalk refuses with HTTP 200 and errcode 310000; the page says so. The
    // masked URL sent back by the editor keeps the saved one.
    click(&c, "#endpoint-0 .ep-edit").await;
    let shown_url = value(&c, "#ep-url").await;
    assert!(
        shown_url.contains("****") && !shown_url.contains("access_token"),
        "the editor shows the mask: {shown_url}"
    );
    fill(&c, "#ep-secret", "SECnot-the-robots-secret").await;
    click(&c, "#ep-save").await;
    wait_text(&c, "#status", "Endpoint saved").await;
    click(&c, "#endpoint-0 .ep-ping").await;
    wait_text(&c, "#endpoint-0 .ping-result", "vendor_error").await;
    wait_text(&c, "#endpoint-0 .ping-answer", "sign not match").await;
    let seen = robot.wait_for(2).await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].access_token.as_deref(), Some(ACCESS_TOKEN));
    assert_eq!(
        seen[1].refusal.as_ref().map(|r| r["errcode"].clone()),
        Some(json!(310000))
    );

    // The deliveries log shows the attempt with the robot's answer.
    click(&c, "#deliveries-refresh").await;
    wait_text(&c, "#deliveries-body", "FAILED").await;
    click(&c, "#deliveries-body tr[data-id] .delivery-details").await;
    wait_text(&c, "#delivery-attempts", "vendor_error").await;
    wait_text(&c, "#delivery-attempts", "sign not match").await;
    screenshot(&c, "chat-dingtalk-delivery-detail-desktop").await;
    c.execute("document.getElementById('delivery-close').click()", vec![])
        .await
        .expect("close");

    // After a reload (the session signs in again from the tab), the URL is still only masked.
    c.refresh().await.expect("reload");
    wait_text(&c, "#org-name", &app.org.name).await;
    wait_text(&c, "#endpoint-0 .url", "****").await;
    let page = c.source().await.expect("source");
    assert!(
        !page.contains("access_token=abc"),
        "the robot URL never reaches the page"
    );
    click(&c, "#endpoint-0 .ep-edit").await;
    let shown_url = value(&c, "#ep-url").await;
    assert!(!shown_url.contains("access_token"), "{shown_url}");
    click(&c, "#ep-cancel").await;

    // Phone width: the card with its preview fits.
    c.set_window_size(375, 812).await.expect("resize");
    click(&c, "#endpoint-0 .ep-preview-message").await;
    wait_text(&c, "#endpoint-0 .chat-bubble", "flux-capacitor").await;
    let fits = c
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(fits, json!(true), "no horizontal scrolling at 375 px");
    screenshot(&c, "chat-dingtalk-preview-375").await;
    c.close().await.expect("close browser");
}

#[test]
fn the_robots_signature_follows_dingtalks_recipe() {
    // Fixed by hand: base64 of HMAC-SHA256("SEC1", "1700000000000\nSEC1"), computed with
    // `printf '1700000000000\nSEC1' | openssl dgst -sha256 -hmac SEC1 -binary | base64`.
    assert_eq!(
        dingtalk_sign("SEC1", "1700000000000"),
        "ukR4+WoOOBTGaOauYqugxVrMSFyr92q4hPxJxuOkiio="
    );
}
