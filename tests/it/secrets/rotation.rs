//! `rotateWebhookSecret`: the new secret is returned once; while the overlap lasts a delivery's
//! `webhook-signature` carries `v1,<new> v1,<old>` and a receiver holding either secret verifies
//! it with the Standard Webhooks recipe computed here, `X-Cirrus-Signature` uses the new secret,
//! and the settings say when the overlap ends; after it, only the new secret verifies. The
//! receiver crate, given both secrets, accepts either signature.

use std::time::Duration;

use serde_json::{json, Value};

use super::{cirrus_verifies, standard_verifies};
use crate::utils::receiver::Received;
use crate::utils::robots::{Robot, Vendor};
use crate::utils::{error_code, save_endpoints, Receiver, TestApp};

const ROTATE: &str = "mutation($i: RotateWebhookSecretInput!) { rotateWebhookSecret(input: $i) {
    secret secretOverlapEndsAt clientMutationId endpoint { id maskedSecretToken secretOverlapEndsAt } } }";

/// The overlap of the rotation under test: long enough for one delivery on a loaded machine.
const OVERLAP_SECONDS: i64 = 5;

fn epoch_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

async fn rotate(app: &TestApp, endpoint: &str, overlap: Option<i64>) -> Value {
    let mut input = json!({ "endpointId": endpoint, "clientMutationId": "r1" });
    if let Some(seconds) = overlap {
        input["overlapSeconds"] = json!(seconds);
    }
    app.gql(ROTATE, json!({ "i": input })).await
}

/// The headers a receiver crate check reads, from a recorded request.
fn verified_by(secrets: &[&str], hit: &Received) -> bool {
    let header = |name: &str| hit.headers.get(name).and_then(|v| v.to_str().ok());
    let now = epoch_ms() / 1000;
    buildhooks_receiver::verify_message_any(secrets, header, &hit.body, now).is_ok()
}

async fn next_delivery(app: &TestApp, receiver: &Receiver, repo: &str, n: usize) -> Received {
    app.create_build(repo, &[("test", false)], false).await;
    let got = receiver.wait_for(n, Duration::from_secs(10)).await;
    assert_eq!(got.len(), n, "delivery {n} arrived");
    got[n - 1].clone()
}

#[tokio::test]
async fn both_secrets_verify_during_the_overlap_and_only_the_new_one_after_it() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let saved = save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": receiver.url(), "generateSecret": true, "events": ["build.created"] }]),
    )
    .await;
    let endpoint = &saved["data"]["saveWebHookSettings"]["settings"]["endpoints"][0];
    let id = endpoint["id"].as_str().expect("id").to_owned();
    let old = endpoint["generatedSecretToken"]
        .as_str()
        .expect("secret")
        .to_owned();
    let repo = app.create_repository("rotating").await;

    let before = next_delivery(&app, &receiver, &repo, 1).await;
    assert!(standard_verifies(&old, &before));

    let rotated = rotate(&app, &id, Some(OVERLAP_SECONDS)).await;
    let payload = &rotated["data"]["rotateWebhookSecret"];
    let new = payload["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("{rotated}"))
        .to_owned();
    assert!(new.starts_with("whsec_") && new != old);
    assert_eq!(payload["clientMutationId"], "r1");
    let ends = payload["secretOverlapEndsAt"]
        .as_i64()
        .expect("overlap end");
    assert_eq!(payload["endpoint"]["secretOverlapEndsAt"], json!(ends));
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let overlap_ms = OVERLAP_SECONDS * 1000;
    assert!(
        (now_ms + overlap_ms - 2_000..=now_ms + overlap_ms).contains(&ends),
        "{ends} vs {now_ms}"
    );
    // The settings show when the overlap ends, and never a secret.
    let settings = app
        .ok(
            "{ ownerInfo { webhookSettings { endpoints { id maskedSecretToken secretOverlapEndsAt } } } }",
            json!({}),
        )
        .await;
    let listed = &settings["ownerInfo"]["webhookSettings"]["endpoints"][0];
    assert_eq!(listed["secretOverlapEndsAt"], json!(ends));
    assert_eq!(
        listed["maskedSecretToken"],
        payload["endpoint"]["maskedSecretToken"]
    );
    assert!(!settings.to_string().contains(&new[6..]) && !settings.to_string().contains(&old[6..]));

    // During the overlap: two entries, each secret verifies; the Cirrus signature is the new
    // secret's.
    let during = next_delivery(&app, &receiver, &repo, 2).await;
    let signed_at: i64 = during
        .header("webhook-timestamp")
        .expect("timestamp")
        .parse()
        .expect("seconds");
    assert!(signed_at * 1000 < ends, "signed during the overlap");
    let header = during.header("webhook-signature").expect("signature");
    assert_eq!(header.split(' ').count(), 2, "{header}");
    assert!(header.split(' ').all(|e| e.starts_with("v1,")), "{header}");
    assert!(standard_verifies(&new, &during), "the new secret verifies");
    assert!(standard_verifies(&old, &during), "the old secret verifies");
    assert!(cirrus_verifies(&new, &during));
    assert!(!cirrus_verifies(&old, &during));
    // The receiver crate with either or both secrets.
    assert!(verified_by(&[&old], &during) && verified_by(&[&new], &during));
    assert!(verified_by(&[&old, &new], &during));

    // After the overlap: only the new secret.
    let left = ends - epoch_ms();
    tokio::time::sleep(Duration::from_millis(left.max(0) as u64 + 300)).await;
    let after = next_delivery(&app, &receiver, &repo, 3).await;
    let header = after.header("webhook-signature").expect("signature");
    assert_eq!(header.split(' ').count(), 1, "{header}");
    assert!(standard_verifies(&new, &after));
    assert!(
        !standard_verifies(&old, &after),
        "the old secret no longer verifies"
    );
    assert!(!verified_by(&[&old], &after) && verified_by(&[&old, &new], &after));
    assert_eq!(overlap_ends_at(&app).await, Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn rotation_is_bounded_for_webhooks_only_and_within_the_organization() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let slack = Robot::start(Vendor::Slack, None).await;
    let saved = save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": receiver.url(), "secretToken": "a-plain-secret" }, slack.endpoint(&["build.*"])]),
    )
    .await;
    let endpoints = &saved["data"]["saveWebHookSettings"]["settings"]["endpoints"];
    let (webhook, robot) = (
        endpoints[0]["id"].as_str().expect("id").to_owned(),
        endpoints[1]["id"].as_str().expect("id").to_owned(),
    );
    for overlap in [-1, 30 * 86_400 + 1] {
        let refused = rotate(&app, &webhook, Some(overlap)).await;
        assert_eq!(error_code(&refused), Some("VALIDATION"), "{refused}");
    }
    let refused = rotate(&app, &robot, None).await;
    assert_eq!(error_code(&refused), Some("VALIDATION"), "{refused}");
    let other = app.new_org("other").await;
    let foreign = app
        .gql_as(
            &other.token,
            ROTATE,
            json!({ "i": { "endpointId": webhook } }),
        )
        .await;
    assert_eq!(error_code(&foreign), Some("NOT_FOUND"), "{foreign}");
    // The default overlap is a day.
    let rotated = rotate(&app, &webhook, None).await;
    let ends = rotated["data"]["rotateWebhookSecret"]["secretOverlapEndsAt"]
        .as_i64()
        .unwrap_or_else(|| panic!("{rotated}"));
    let now_ms = epoch_ms();
    assert!((ends - now_ms - 86_400_000).abs() < 60_000, "{ends}");
    // Saving a secret by hand ends the overlap.
    let resaved = save_endpoints(
        &app,
        &app.org,
        json!([{ "id": webhook, "webhookURL": receiver.url(), "secretToken": "another-plain-secret" }]),
    )
    .await;
    assert!(resaved.get("errors").is_none(), "{resaved}");
    assert_eq!(overlap_ends_at(&app).await, Value::Null);
    app.stop().await;
}

/// The first endpoint's `secretOverlapEndsAt` as the settings show it.
async fn overlap_ends_at(app: &TestApp) -> Value {
    let settings = app
        .ok(
            "{ ownerInfo { webhookSettings { endpoints { secretOverlapEndsAt } } } }",
            json!({}),
        )
        .await;
    settings["ownerInfo"]["webhookSettings"]["endpoints"][0]["secretOverlapEndsAt"].clone()
}
