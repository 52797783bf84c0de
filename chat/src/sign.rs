//! The request a composed message becomes: the URL and body bytes, signed the way DingTalk and
//! Feishu document when the robot has a signing secret. The other kinds carry their secret in the
//! URL and are sent as they are.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use url::form_urlencoded;

use crate::event::Message;
use crate::kind::Kind;

type HmacSha256 = Hmac<Sha256>;

/// base64 of HMAC-SHA256 of `message` under `key`.
fn hmac_base64(key: &[u8], message: &[u8]) -> String {
    // HMAC takes a key of any length; the error case cannot happen.
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return String::new();
    };
    mac.update(message);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// DingTalk's `sign`, before URL encoding: "把timestamp+"\n"+密钥当做签名字符串，使用HmacSHA256算法计算
/// 签名，然后进行Base64 encode，最后再把签名参数再进行urlEncode" — the key is the secret, the
/// message is `timestamp + "\n" + secret`, timestamp in milliseconds (within an hour of DingTalk's
/// clock). https://open.dingtalk.com/document/robots/customize-robot-security-settings
pub(crate) fn dingtalk_sign(timestamp_ms: i64, secret: &str) -> String {
    let string_to_sign = format!("{timestamp_ms}\n{secret}");
    hmac_base64(secret.as_bytes(), string_to_sign.as_bytes())
}

/// Feishu's `sign`: "将 timestamp + "\n" + 密钥 当做签名字符串，使用 HmacSHA256 算法计算签名，再进行
/// Base64 编码" — the vendor's samples (Go, Java, Python) use that string as the HMAC *key* over
/// an empty message; timestamp in seconds, within an hour of Feishu's clock. (Keying it with the
/// secret instead, as some third-party code does, fails with code 19021.)
/// https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot
pub(crate) fn feishu_sign(timestamp_s: i64, secret: &str) -> String {
    let string_to_sign = format!("{timestamp_s}\n{secret}");
    hmac_base64(string_to_sign.as_bytes(), b"")
}

/// `url` with `name=value` pairs appended to its query (form-encoded, so base64's `+`, `/` and
/// `=` become `%2B`, `%2F`, `%3D`), before any fragment.
fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (url, None),
    };
    let mut out = base.to_owned();
    let mut separator = match (
        base.contains('?'),
        base.ends_with('?') || base.ends_with('&'),
    ) {
        (false, _) => "?",
        (true, true) => "",
        (true, false) => "&",
    };
    for (name, value) in pairs {
        out.push_str(separator);
        out.extend(form_urlencoded::byte_serialize(name.as_bytes()));
        out.push('=');
        out.extend(form_urlencoded::byte_serialize(value.as_bytes()));
        separator = "&";
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// The URL and body to POST for `message` (as `application/json`). DingTalk with a secret: the
/// URL gains `timestamp` (ms) and `sign`. Feishu with a secret: the body gains `"timestamp"`
/// (seconds, as a string) and `"sign"`. Every other case: the URL and body unchanged. An empty
/// secret counts as none. `now_ms` is the current time in milliseconds.
pub fn request(
    kind: Kind,
    url: &str,
    secret: Option<&str>,
    message: &Message,
    now_ms: i64,
) -> (String, Vec<u8>) {
    let secret = secret.filter(|s| !s.is_empty());
    match (kind, secret) {
        (Kind::DingTalk, Some(secret)) => {
            let timestamp = now_ms.to_string();
            let sign = dingtalk_sign(now_ms, secret);
            let url = with_query(url, &[("timestamp", &timestamp), ("sign", &sign)]);
            (url, to_bytes(&message.body))
        }
        (Kind::Feishu, Some(secret)) => {
            let timestamp = now_ms.div_euclid(1000);
            let mut body = message.body.clone();
            if let Some(fields) = body.as_object_mut() {
                fields.insert("timestamp".into(), timestamp.to_string().into());
                fields.insert("sign".into(), feishu_sign(timestamp, secret).into());
            }
            (url.to_owned(), to_bytes(&body))
        }
        _ => (url.to_owned(), to_bytes(&message.body)),
    }
}

fn to_bytes(body: &serde_json::Value) -> Vec<u8> {
    // Serialising a `Value` cannot fail (its map keys are strings).
    serde_json::to_vec(body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_join_any_url() {
        let pairs = [("timestamp", "1"), ("sign", "a+b/c=")];
        assert_eq!(
            with_query(
                "https://oapi.dingtalk.com/robot/send?access_token=T",
                &pairs
            ),
            "https://oapi.dingtalk.com/robot/send?access_token=T&timestamp=1&sign=a%2Bb%2Fc%3D"
        );
        assert_eq!(
            with_query("https://h/p", &pairs),
            "https://h/p?timestamp=1&sign=a%2Bb%2Fc%3D"
        );
        assert_eq!(
            with_query("https://h/p?", &pairs[..1]),
            "https://h/p?timestamp=1"
        );
        assert_eq!(
            with_query("https://h/p?a=1#f", &pairs[..1]),
            "https://h/p?a=1&timestamp=1#f"
        );
    }
}
