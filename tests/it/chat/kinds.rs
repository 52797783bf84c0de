//! Each chat kind end to end: saved with its robot URL (masked on read) and, for DingTalk and
//! Feishu, a signing secret; a failed task reaches the fake robot in the vendor's format with a
//! valid signature and is DELIVERED; a vendor's refusal (HTTP 200 with a code, or its 4xx) is
//! FAILED with the vendor's message on record; `webhookPing` sends a test message in the
//! vendor's format. Also: the robots' signing recipes agree with the vendors' own Python
//! samples, and DingTalk mentions reach the body while other kinds refuse them.

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use super::{build_on, delivery, move_as, ping, repository, save, save_ok, settings, settle};
use crate::utils::error_code;
use crate::utils::robots::{dingtalk_sign, feishu_sign, Answer, Robot, Vendor};
use crate::utils::TestApp;

const SECRET: &str = "SEC6a1f0c2e9b7d4a8f3e5c1b0d9a7e6f5c4b3a2";

fn statuses(d: &Value) -> Vec<Value> {
    d["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["status"].clone())
        .collect()
}

/// The whole round trip for one vendor.
async fn round_trip(vendor: Vendor) {
    let app = TestApp::spawn().await;
    let org = app.org.clone();
    let robot = Robot::start(vendor, vendor.signs().then_some(SECRET)).await;
    let saved = save(&app, &org, json!([robot.endpoint(&["task.failed"])])).await;
    assert!(saved.get("errors").is_none(), "{vendor:?}: {saved}");
    assert!(
        !saved.to_string().contains(&robot.token),
        "{vendor:?}: the save's answer shows the robot's URL token: {saved}"
    );

    // Read back: the kind, its defaults, and the URL masked like a secret.
    let shown = settings(&app, &org).await;
    let e = &shown[0];
    assert_eq!(e["kind"], vendor.kind(), "{e}");
    assert_eq!(
        e["ordering"], "PER_BUILD",
        "chat kinds default to PER_BUILD: {e}"
    );
    assert_eq!(
        e["digest"],
        vendor.digests_by_default(),
        "{vendor:?} digest default: {e}"
    );
    let url = e["webhookURL"].as_str().expect("webhookURL");
    let full = robot.url();
    assert!(
        !url.contains(&robot.token),
        "{vendor:?}: the URL is not masked: {url}"
    );
    assert!(
        url.starts_with("http://127.0.0.1"),
        "scheme and host stay: {url}"
    );
    // Masked as scheme://host:port/ and a fingerprint: not one character of the path or query.
    let origin = full.split('/').take(3).collect::<Vec<_>>().join("/");
    assert!(
        url.starts_with(&format!("{origin}/********")),
        "{vendor:?}: masked as scheme://host/********<fingerprint>: {url}"
    );
    assert!(!url.contains(&full[full.len() - 4..]), "{url}");
    match vendor.signs() {
        true => {
            let masked = e["maskedSecretToken"].as_str().expect("a masked secret");
            assert!(!masked.contains(SECRET), "{masked}");
        }
        false => assert!(e["maskedSecretToken"].is_null(), "{e}"),
    }
    assert!(!shown.to_string().contains(&robot.token));
    let endpoint_id = e["id"].clone();

    // A test message: in the vendor's format, signed, DELIVERED.
    let d = ping(&app, &org, &endpoint_id).await;
    assert_eq!(d["state"], "DELIVERED", "{vendor:?} ping: {d}");
    assert_eq!(statuses(&d), [json!(vendor.success_status())], "{d}");
    let hits = robot.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(hits.len(), 1, "{vendor:?}: one test message");
    assert_eq!(
        robot.problems(),
        Vec::<String>::new(),
        "{vendor:?} ping as the vendor sees it"
    );

    // A failed task: the robot gets the vendor's message, the delivery is DELIVERED.
    let repo = repository(&app, &org, "kinds-repo").await;
    let (_, tasks) = build_on(&app, &org, &repo, "main", &[("unit tests", false)]).await;
    move_as(&app, &org, &tasks[0], &["TRIGGERED", "EXECUTING", "FAILED"]).await;
    // Pacing at the real scale: DingTalk and WeCom wait 3 s after the ping.
    let hits = robot.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(hits.len(), 2, "{vendor:?}: task.failed arrived");
    assert_eq!(
        robot.problems(),
        Vec::<String>::new(),
        "{vendor:?} message as the vendor sees it"
    );
    let text = hits[1].strings();
    for words in ["unit tests", "kinds-repo"] {
        assert!(
            text.contains(words),
            "{vendor:?}: the message names {words:?}: {text}"
        );
    }
    let all = settle(&app, &org, 2, Duration::from_secs(30)).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0]["id"], d["id"], "the ping came first");
    let task_delivery = &all[1];
    assert_eq!(
        task_delivery["state"], "DELIVERED",
        "{vendor:?}: {task_delivery}"
    );
    assert_eq!(statuses(task_delivery), [json!(vendor.success_status())]);
    assert!(
        task_delivery["attempts"][0]["error"].is_null(),
        "{task_delivery}"
    );

    // The vendor refuses the next message (twice, in case the server retries): FAILED, with
    // the vendor's answer on record.
    robot.script(vec![Answer::VendorError, Answer::VendorError]);
    let (_, tasks) = build_on(&app, &org, &repo, "main", &[("lint", false)]).await;
    move_as(&app, &org, &tasks[0], &["TRIGGERED", "EXECUTING", "FAILED"]).await;
    let all = settle(&app, &org, 3, Duration::from_secs(30)).await;
    robot.clear_script();
    assert_eq!(all.len(), 3, "{all:?}");
    let refused = delivery(&app, &org, all[2]["id"].as_str().expect("id")).await;
    // The metrics count the kind's attempts by outcome.
    let metrics = crate::utils::metrics_at(&app.client, app.addr).await;
    let kind = vendor.kind().to_lowercase();
    for outcome in ["delivered", "failed"] {
        let line = format!(
            "buildhooks_delivery_attempts_by_kind_total{{kind=\"{kind}\",outcome=\"{outcome}\"}}"
        );
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
    // The deliveries log never shows the robot's URL (its secret) either.
    for d in all.iter().chain([&refused]) {
        let shown = d["webhookURL"].as_str().unwrap_or_default();
        assert!(
            !shown.is_empty() && !shown.contains(&robot.token),
            "{vendor:?}: the deliveries log shows the robot URL: {shown}"
        );
    }
    assert_eq!(refused["state"], "FAILED", "{vendor:?}: {refused}");
    let attempts = refused["attempts"].as_array().expect("attempts");
    assert!(!attempts.is_empty());
    for a in attempts {
        assert_eq!(a["status"], vendor.error_status(), "{vendor:?}: {a}");
        if vendor.errors_in_body() {
            assert_eq!(
                a["error"], "vendor_error",
                "{vendor:?}: HTTP 200 with a code: {a}"
            );
        }
    }
    let excerpt = attempts
        .last()
        .and_then(|a| a["responseExcerpt"].as_str())
        .unwrap_or_default();
    assert!(
        excerpt.contains(vendor.error_words()),
        "{vendor:?}: the vendor's message is recorded: {excerpt:?}"
    );
    assert_eq!(robot.problems(), Vec::<String>::new());
}

#[tokio::test]
async fn slack_messages_are_block_kit_with_a_fallback_and_its_errors_are_recorded() {
    round_trip(Vendor::Slack).await;
}

#[tokio::test]
async fn discord_messages_are_embeds_and_its_errors_are_recorded() {
    round_trip(Vendor::Discord).await;
}

#[tokio::test]
async fn teams_messages_are_adaptive_cards_and_its_errors_are_recorded() {
    round_trip(Vendor::Teams).await;
}

#[tokio::test]
async fn dingtalk_messages_are_signed_markdown_and_an_errcode_is_a_failed_attempt() {
    round_trip(Vendor::DingTalk).await;
}

#[tokio::test]
async fn feishu_messages_are_signed_cards_and_a_code_is_a_failed_attempt() {
    round_trip(Vendor::Feishu).await;
}

#[tokio::test]
async fn wecom_messages_are_markdown_and_an_errcode_is_a_failed_attempt() {
    round_trip(Vendor::WeCom).await;
}

/// The vendors' own samples: DingTalk's Python 3.8 sample (with `quote_plus`, undone here
/// since the robot compares decoded query values) and Feishu's `gen_sign`.
const PYTHON_SIGNS: &str = r#"
import base64, hashlib, hmac, json, sys, urllib.parse
c = json.load(sys.stdin)
secret, ms, s = c["secret"], c["ms"], c["s"]
# DingTalk (open.dingtalk.com, custom robot security settings)
code = hmac.new(secret.encode("utf-8"), "{}\n{}".format(ms, secret).encode("utf-8"), digestmod=hashlib.sha256).digest()
ding = urllib.parse.quote_plus(base64.b64encode(code))
# Feishu (open.feishu.cn, custom bot signature verification)
code = hmac.new("{}\n{}".format(s, secret).encode("utf-8"), digestmod=hashlib.sha256).digest()
feishu = base64.b64encode(code).decode("utf-8")
print(json.dumps({"ding": urllib.parse.unquote_plus(ding), "feishu": feishu}))
"#;

#[tokio::test]
async fn the_robots_signing_recipes_agree_with_the_vendors_python_samples() {
    let (ms, s) = (1_599_360_473_123_i64, 1_599_360_473_i64);
    let input = json!({ "secret": SECRET, "ms": ms, "s": s }).to_string();
    let mut child = Command::new("python3")
        .args(["-c", PYTHON_SIGNS])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 is installed");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input.as_bytes()).expect("write");
    }
    let out = child.wait_with_output().expect("python");
    assert!(out.status.success());
    let signs: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(signs["ding"], dingtalk_sign(SECRET, ms));
    assert_eq!(signs["feishu"], feishu_sign(SECRET, s));
    // The two recipes differ (which is the key and which the message): a swap would not pass.
    assert_ne!(dingtalk_sign(SECRET, s), feishu_sign(SECRET, s));
}

#[tokio::test]
async fn dingtalk_mentions_reach_the_body_and_other_kinds_refuse_them() {
    let app = TestApp::spawn().await;
    let org = app.org.clone();
    let robot = Robot::start(Vendor::DingTalk, Some(SECRET)).await;
    let mut e = robot.endpoint(&["task.failed"]);
    e["atMobiles"] = json!(["13800000000"]);
    e["isAtAll"] = json!(false);
    let saved = save_ok(&app, &org, json!([e])).await;
    assert_eq!(saved[0]["atMobiles"], json!(["13800000000"]));
    assert_eq!(saved[0]["isAtAll"], false);

    let repo = repository(&app, &org, "mentions").await;
    let (_, tasks) = build_on(&app, &org, &repo, "main", &[("deploy", false)]).await;
    move_as(&app, &org, &tasks[0], &["TRIGGERED", "EXECUTING", "FAILED"]).await;
    let hits = robot.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(hits.len(), 1);
    assert_eq!(robot.problems(), Vec::<String>::new());
    let body = hits[0].json.clone().expect("json");
    assert_eq!(body["at"]["atMobiles"], json!(["13800000000"]), "{body}");
    assert_ne!(body["at"]["isAtAll"], true, "{body}");
    // DingTalk only notifies a mobile that also appears as @mobile in the text.
    let text = body["markdown"]["text"].as_str().unwrap_or_default();
    assert!(text.contains("@13800000000"), "{text}");

    // Mentions of another kind are refused, and nothing is saved.
    let before = super::settings(&app, &org).await;
    let slack = Robot::start(Vendor::Slack, None).await;
    for (field, value) in [
        ("atMobiles", json!(["13800000000"])),
        ("isAtAll", json!(true)),
        ("mentionedList", json!(["wangqing"])),
    ] {
        let mut e = slack.endpoint(&["task.failed"]);
        e[field] = value;
        let resp = save(&app, &org, json!([e])).await;
        assert_eq!(
            error_code(&resp),
            Some("VALIDATION"),
            "{field} on SLACK: {resp}"
        );
    }
    assert_eq!(super::settings(&app, &org).await, before);

    // WeCom's mentions: by user id, in the markdown (`<@userid>`) or its mentioned_list.
    let wecom = Robot::start(Vendor::WeCom, None).await;
    let mut e = wecom.endpoint(&["task.failed"]);
    e["mentionedList"] = json!(["wangqing"]);
    save_ok(&app, &org, json!([e])).await;
    let (_, tasks) = build_on(&app, &org, &repo, "main", &[("deploy", false)]).await;
    move_as(&app, &org, &tasks[0], &["TRIGGERED", "EXECUTING", "FAILED"]).await;
    let hits = wecom.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(hits.len(), 1);
    assert_eq!(wecom.problems(), Vec::<String>::new());
    let body = hits[0].json.clone().expect("json");
    let content = body["markdown"]["content"].as_str().unwrap_or_default();
    assert!(
        content.contains("<@wangqing>")
            || body["markdown"]["mentioned_list"] == json!(["wangqing"]),
        "{body}"
    );
}
