//! Signed delivery against a real receiver with scripted replies: the retry rule, redirects,
//! timeouts, refused connections, signatures checked by Python's `hmac`, the SSRF guard at
//! connect time, fenced leases, ping, redelivery and metrics.

use std::process::Command;
use std::time::Duration;

use buildhooks_server::delivery::sink::{webhook, Outcome};
use buildhooks_server::delivery::{claim, record};
use serde_json::{json, Value};

use crate::utils::{
    insert_unchecked_endpoints, save_endpoints, settled_deliveries, Receiver, Reply, TestApp,
};

/// One endpoint (for `build.created` only) at `url`, one build: exactly one delivery.
async fn one_delivery(app: &TestApp, url: &str, secret: Option<&str>) -> Value {
    let mut endpoint = json!({ "webhookURL": url, "events": ["build.created"] });
    if let Some(secret) = secret {
        endpoint["secretToken"] = json!(secret);
    }
    let saved = save_endpoints(app, &app.org, json!([endpoint])).await;
    assert!(saved.get("errors").is_none(), "{saved}");
    let repo = app.create_repository("deliver").await;
    app.create_build(&repo, &[("a", false)], false).await;
    let all = settled_deliveries(app, 1).await;
    assert_eq!(all.len(), 1, "{all:?}");
    all[0].clone()
}

fn statuses(delivery: &Value) -> Vec<Value> {
    delivery["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| {
            if a["status"].is_null() {
                a["error"].clone()
            } else {
                a["status"].clone()
            }
        })
        .collect()
}

#[tokio::test]
async fn retries_once_after_a_503_then_delivers_with_the_same_id() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![Reply::status(503), Reply::status(200)]).await;
    let d = one_delivery(&app, &receiver.url(), Some("s3cret")).await;
    assert_eq!(d["state"], "DELIVERED");
    assert_eq!(statuses(&d), [json!(503), json!(200)]);
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    let id = d["id"].as_str().expect("id");
    for r in &got {
        assert_eq!(r.header("x-cirrus-delivery").as_deref(), Some(id));
        let sig = r.header("x-cirrus-signature").expect("signed");
        assert_eq!(
            buildhooks_receiver::verify_cirrus(b"s3cret", &r.body, &sig),
            Ok(())
        );
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/json")
        );
        assert!(r
            .header("user-agent")
            .is_some_and(|ua| ua.starts_with("buildhooks/")));
        let ts: i64 = r
            .header("x-cirrus-timestamp")
            .expect("timestamp")
            .parse()
            .expect("ms");
        assert!(ts > 1_600_000_000_000);
    }
    assert_eq!(got[0].body, got[1].body, "the same bytes on retry");
}

#[tokio::test]
async fn two_500s_fail_after_two_attempts_and_a_404_fails_at_once() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![Reply::status(500), Reply::status(500)]).await;
    let d = one_delivery(&app, &receiver.url(), None).await;
    assert_eq!(d["state"], "FAILED");
    assert_eq!(statuses(&d), [json!(500), json!(500)]);
    assert!(
        receiver.received()[0]
            .header("x-cirrus-signature")
            .is_none(),
        "no secret, no signature"
    );

    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![Reply::status(404)]).await;
    let d = one_delivery(&app, &receiver.url(), None).await;
    assert_eq!(d["state"], "FAILED");
    assert_eq!(statuses(&d), [json!(404)]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_redirect_fails_at_once_and_its_location_is_never_requested() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![Reply::status(301)]).await;
    let d = one_delivery(&app, &receiver.url(), None).await;
    assert_eq!(d["state"], "FAILED");
    assert_eq!(statuses(&d), [json!(301)]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let paths: Vec<String> = receiver.received().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/hook"], "the Location was never followed");
}

#[tokio::test]
async fn a_hanging_receiver_times_out_then_is_retried_once() {
    let app = TestApp::spawn_with(|c| c.delivery_timeout_ms = 300).await;
    let receiver = Receiver::start(vec![
        Reply::slow(200, Duration::from_secs(3)),
        Reply::status(200),
    ])
    .await;
    let d = one_delivery(&app, &receiver.url(), None).await;
    assert_eq!(statuses(&d), [json!("timeout"), json!(200)]);
    assert_eq!(d["state"], "DELIVERED");
    let first = d["attempts"][0]["durationMs"].as_i64().expect("duration");
    assert!(
        (250..2000).contains(&first),
        "timed out near 300 ms: {first}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_retried_once() {
    let app = TestApp::spawn().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let d = one_delivery(&app, &format!("http://127.0.0.1:{closed}/hook"), None).await;
    assert_eq!(statuses(&d), [json!("connect"), json!("connect")]);
    assert_eq!(d["state"], "FAILED");
}

const PYTHON_CHECK: &str = r#"
import base64, hashlib, hmac, json, sys
c = json.load(sys.stdin)
# Cirrus CI's documented check.
expected = hmac.new(c["secret"].encode(), c["body"].encode(), "sha256").hexdigest()
assert hmac.compare_digest(expected, c["cirrus"]), "cirrus signature"
# Standard Webhooks, checked first against the published vector, then against ours.
def standard(secret, msg_id, ts, body):
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body.encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()
vector = standard("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                  "1649367553", '{"email":"test@example.com","username":"test_user"}')
assert vector == "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=", vector
ours = standard(c["secret"], c["id"], c["ts"], c["body"])
assert any(hmac.compare_digest(ours, s) for s in c["standard"].split(" ")), "standard signature"
print("verified")
"#;

#[tokio::test]
async fn signatures_verify_with_pythons_hmac_and_the_standard_webhooks_vector() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let saved = save_endpoints(&app, &app.org, json!([{ "webhookURL": receiver.url(), "events": ["build.created"], "generateSecret": true }])).await;
    let secret = saved["data"]["saveWebHookSettings"]["settings"]["endpoints"][0]
        ["generatedSecretToken"]
        .as_str()
        .expect("secret")
        .to_owned();
    let repo = app.create_repository("python").await;
    app.create_build(&repo, &[("a", false)], false).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    let r = &got[0];
    let input = json!({
        "secret": secret,
        "body": String::from_utf8(r.body.to_vec()).expect("utf8"),
        "cirrus": r.header("x-cirrus-signature").expect("cirrus"),
        "id": r.header("webhook-id").expect("webhook-id"),
        "ts": r.header("webhook-timestamp").expect("webhook-timestamp"),
        "standard": r.header("webhook-signature").expect("webhook-signature"),
    });
    assert_eq!(r.header("webhook-id"), r.header("x-cirrus-delivery"));
    let mut child = Command::new("python3")
        .args(["-c", PYTHON_CHECK])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 is installed");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(input.to_string().as_bytes())
            .expect("write");
    }
    let out = child.wait_with_output().expect("python");
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "verified");
}

#[tokio::test]
async fn internal_targets_are_refused_at_connect_time_with_no_connection_made() {
    let app = TestApp::spawn_with(|c| c.allow_private_targets = false).await;
    let trap = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = trap.local_addr().expect("addr").port();
    let trap6 = tokio::net::TcpListener::bind("[::1]:0").await.ok();
    let port6 = trap6
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map_or(port, |a| a.port());
    let targets = [
        format!("http://127.0.0.1:{port}/"),
        "http://10.0.0.1/".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://[::1]:{port6}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://localhost:{port}/"),
    ];
    insert_unchecked_endpoints(&app, &targets).await;
    let repo = app.create_repository("ssrf").await;
    app.create_build(&repo, &[("a", false)], false).await;
    let all = settled_deliveries(&app, targets.len()).await;
    assert_eq!(all.len(), targets.len());
    for d in &all {
        assert_eq!(d["state"], "FAILED", "{d}");
        assert_eq!(
            statuses(d),
            [json!("blocked_target")],
            "{}: not retried, not sent",
            d["webhookURL"]
        );
    }
    let accepted = tokio::time::timeout(Duration::from_millis(300), trap.accept()).await;
    assert!(accepted.is_err(), "a connection reached 127.0.0.1");
    if let Some(trap6) = trap6 {
        assert!(
            tokio::time::timeout(Duration::from_millis(100), trap6.accept())
                .await
                .is_err()
        );
    }
}

#[tokio::test]
async fn a_worker_whose_lease_expired_cannot_overwrite_the_newer_claim() {
    // API only: no dispatcher here, the test plays both workers.
    let (app, _receiver) = TestApp::api_only_with_receiver().await;
    let repo = app.create_repository("lease").await;
    app.create_build(&repo, &[("a", false)], false).await;
    let store = app.state.store.db();
    let (first, old_token) = claim::claim(store, 10, 50).await.expect("claim");
    let mine: Vec<_> = first
        .into_iter()
        .filter(|d| d.org_id.to_string() == app.org.uid)
        .collect();
    assert_eq!(mine.len(), 1);
    tokio::time::sleep(Duration::from_millis(120)).await;
    let (second, new_token) = claim::claim(store, 10, 60_000).await.expect("reclaim");
    let again = second
        .into_iter()
        .find(|d| d.id == mine[0].id)
        .expect("the expired lease is reclaimed");
    assert_ne!(old_token, new_token);
    let outcome = |status: u16| Outcome {
        started_at: 0,
        duration_ms: 1,
        status: Some(status),
        error: None,
        excerpt: None,
        response_headers: None,
        class: webhook::classify(Some(status), None),
        pause: None,
        sink: "webhook",
    };
    let newer = record::record(
        store,
        &again,
        &new_token,
        &outcome(200),
        Duration::ZERO,
        true,
    )
    .await
    .expect("record");
    assert_eq!(newer, record::Verdict::Delivered);
    let stale = record::record(
        store,
        &mine[0],
        &old_token,
        &outcome(500),
        Duration::ZERO,
        true,
    )
    .await
    .expect("record");
    assert_eq!(stale, record::Verdict::Stale);
    let d = &crate::utils::deliveries(&app).await[0];
    assert_eq!(d["state"], "DELIVERED", "{d}");
    assert_eq!(d["response"]["status"], 200);
    assert_eq!(
        d["attempts"].as_array().map(Vec::len),
        Some(2),
        "both attempts are on record"
    );
}

#[tokio::test]
async fn ping_returns_its_attempt_and_redeliver_keeps_id_and_body() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let saved = save_endpoints(&app, &app.org, json!([{ "webhookURL": receiver.url(), "events": ["build.created"], "secretToken": "pingpong" }])).await;
    let endpoint = saved["data"]["saveWebHookSettings"]["settings"]["endpoints"][0]["id"].clone();
    let ping = app
        .ok("mutation($i: WebhookPingInput!) { webhookPing(input: $i) { delivery { id state payload { event } attempts { number status durationMs } } } }",
            json!({ "i": { "ownerUid": app.org.uid, "endpointId": endpoint } }))
        .await;
    let d = &ping["webhookPing"]["delivery"];
    assert_eq!(d["state"], "DELIVERED", "{ping}");
    assert_eq!(d["payload"]["event"], "ping");
    assert_eq!(d["attempts"][0]["status"], 200);
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("x-cirrus-event").as_deref(), Some("ping"));
    assert_eq!(
        buildhooks_receiver::verify_cirrus(
            b"pingpong",
            &got[0].body,
            &got[0].header("x-cirrus-signature").expect("sig")
        ),
        Ok(())
    );

    let repo = app.create_repository("redeliver").await;
    app.create_build(&repo, &[("a", false)], false).await;
    let first = receiver.wait_for(2, Duration::from_secs(10)).await;
    let delivery = settled_deliveries(&app, 2)
        .await
        .into_iter()
        .find(|d| d["payload"]["event"] == "build")
        .expect("build delivery");
    let redo = app
        .gql("mutation($i: WebhookRedeliverInput!) { webhookRedeliver(input: $i) { delivery { id state } } }", json!({ "i": { "deliveryId": delivery["id"] } }))
        .await;
    assert!(redo.get("errors").is_none(), "{redo}");
    let got = receiver.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 3);
    assert_eq!(
        got[2].header("x-cirrus-delivery"),
        first[1].header("x-cirrus-delivery")
    );
    assert_eq!(got[2].body, first[1].body);
    let after = settled_deliveries(&app, 2)
        .await
        .into_iter()
        .find(|d| d["id"] == delivery["id"])
        .expect("delivery");
    assert_eq!(after["attempts"].as_array().map(Vec::len), Some(2));
    assert_eq!(after["state"], "DELIVERED");

    let metrics = crate::utils::metrics_at(&app.client, app.addr).await;
    assert!(
        metrics.contains("buildhooks_delivery_attempts_total{outcome=\"delivered\"} 3"),
        "{metrics}"
    );
    assert!(metrics.contains("buildhooks_outbox_pending 0"), "{metrics}");
    assert!(metrics.contains("buildhooks_delivery_attempt_duration_seconds_count 3"));
}
