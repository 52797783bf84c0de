//! `request()` signs as DingTalk and Feishu document: each signature is recomputed here from the
//! vendor's recipe (HMAC-SHA256, base64, and for DingTalk URL encoding done by hand), and checked
//! against fixed vectors made with the vendors' own Python samples (their pages give the recipe
//! and code, not a worked example with values).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use buildhooks_chat::{compose, request, sample_events, Kind, Message, Settings};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const NOW_MS: i64 = 1_700_000_000_999;

fn message(kind: Kind) -> Message {
    compose(kind, &Settings::default(), &sample_events()[..1]).expect("composes")
}

fn hmac_b64(key: &[u8], msg: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(msg);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Percent-encoding of a base64 string, by hand: only `+`, `/` and `=` need it.
fn url_encode_base64(b64: &str) -> String {
    b64.chars()
        .map(|c| match c {
            '+' => "%2B".to_owned(),
            '/' => "%2F".to_owned(),
            '=' => "%3D".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[test]
fn dingtalk_signs_the_url_with_the_secret_as_key() {
    let secret = "SEC0123456789abcdef+/=";
    let url = "https://oapi.dingtalk.com/robot/send?access_token=abc";
    let msg = message(Kind::DingTalk);
    let (signed, body) = request(Kind::DingTalk, url, Some(secret), &msg, NOW_MS);

    // "timestamp + "\n" + secret" under the secret, base64, then URL-encoded.
    let expected = url_encode_base64(&hmac_b64(
        secret.as_bytes(),
        format!("{NOW_MS}\n{secret}").as_bytes(),
    ));
    assert!(signed.starts_with("https://oapi.dingtalk.com/robot/send?access_token=abc&"));
    assert_eq!(query_param(&signed, "access_token"), Some("abc"));
    assert_eq!(query_param(&signed, "timestamp"), Some("1700000000999"));
    assert_eq!(query_param(&signed, "sign"), Some(expected.as_str()));
    // The body is the composed message, unchanged.
    assert_eq!(body, serde_json::to_vec(&msg.body).expect("serialises"));
}

#[test]
fn dingtalk_matches_its_fixed_vector() {
    // Python (DingTalk's sample): quote_plus(b64encode(hmac.new(b"secret",
    // b"1700000000000\nsecret", sha256).digest())).
    let (signed, _) = request(
        Kind::DingTalk,
        "https://oapi.dingtalk.com/robot/send?access_token=t",
        Some("secret"),
        &message(Kind::DingTalk),
        1_700_000_000_000,
    );
    assert_eq!(
        query_param(&signed, "sign"),
        Some("OuzzJR5%2BxZ4%2FEYwqtNt6sMYZQMTa%2FHEGvc9miJe7XzY%3D")
    );
}

#[test]
fn feishu_signs_the_body_with_timestamp_and_secret_as_key() {
    let secret = "feishu-secret";
    let url = "https://open.feishu.cn/open-apis/bot/v2/hook/uuid";
    let msg = message(Kind::Feishu);
    let (same_url, body) = request(Kind::Feishu, url, Some(secret), &msg, NOW_MS);
    assert_eq!(same_url, url);

    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    // Seconds, as a string.
    assert_eq!(body["timestamp"], "1700000000");
    // The key is "timestamp\nsecret"; the message is empty.
    let expected = hmac_b64(format!("1700000000\n{secret}").as_bytes(), b"");
    assert_eq!(body["sign"], expected.as_str());
    // Keying with the secret instead (as some third-party code does) differs.
    assert_ne!(
        body["sign"],
        hmac_b64(
            secret.as_bytes(),
            format!("1700000000\n{secret}").as_bytes()
        )
        .as_str()
    );
    // Everything else is the composed message.
    assert_eq!(body["msg_type"], msg.body["msg_type"]);
    assert_eq!(body["card"], msg.body["card"]);
}

#[test]
fn feishu_matches_its_fixed_vector() {
    // Python (Feishu's sample): b64encode(hmac.new(b"1700000000\nsecret", digestmod=sha256)
    // .digest()).
    let (_, body) = request(
        Kind::Feishu,
        "https://open.feishu.cn/open-apis/bot/v2/hook/x",
        Some("secret"),
        &message(Kind::Feishu),
        1_700_000_000_000,
    );
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["sign"], "fiWS2+gh28DOydAv7hzONH/mDn9+b1Y4Y5ivXWXy8vA=");
}

#[test]
fn without_a_secret_or_for_other_kinds_nothing_changes() {
    for kind in Kind::ALL {
        let msg = message(kind);
        let url = "https://hooks.example.com/abc?x=1";
        let plain = serde_json::to_vec(&msg.body).expect("serialises");
        for secret in [None, Some("")] {
            assert_eq!(
                request(kind, url, secret, &msg, NOW_MS),
                (url.to_owned(), plain.clone())
            );
        }
        if !kind.signs_with_secret() {
            assert_eq!(
                request(kind, url, Some("s3cret"), &msg, NOW_MS),
                (url.to_owned(), plain.clone()),
                "{kind}"
            );
        }
    }
}

#[test]
fn a_signed_feishu_body_stays_within_its_limit() {
    let mut events = sample_events()[..1].to_vec();
    events[0].data["task"]["name"] = serde_json::json!("é🎉".repeat(20_000));
    let msg = compose(Kind::Feishu, &Settings::default(), &events).expect("composes");
    let (_, body) = request(Kind::Feishu, "https://x/", Some("secret"), &msg, NOW_MS);
    assert!(body.len() <= Kind::Feishu.body_limit(), "{}", body.len());
}
