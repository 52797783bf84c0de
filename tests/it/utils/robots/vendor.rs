//! What the fake robots know of each vendor: its kind and defaults, where its robot lives, the
//! body shape and size limits it documents, and its signing recipe (DingTalk, Feishu), computed
//! here with `hmac`/`sha2`/`base64` from the vendor's page, never with buildhooks code.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// A chat vendor whose incoming-webhook robot is faked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    Slack,
    Discord,
    Teams,
    DingTalk,
    Feishu,
    WeCom,
}

impl Vendor {
    pub const ALL: [Vendor; 6] = [
        Vendor::Slack,
        Vendor::Discord,
        Vendor::Teams,
        Vendor::DingTalk,
        Vendor::Feishu,
        Vendor::WeCom,
    ];

    /// The GraphQL `EndpointKind`.
    pub fn kind(self) -> &'static str {
        match self {
            Vendor::Slack => "SLACK",
            Vendor::Discord => "DISCORD",
            Vendor::Teams => "TEAMS",
            Vendor::DingTalk => "DINGTALK",
            Vendor::Feishu => "FEISHU",
            Vendor::WeCom => "WECOM",
        }
    }

    /// The vendor signs with a secret of its own (DingTalk, Feishu); the others carry their
    /// secret in the URL.
    pub fn signs(self) -> bool {
        matches!(self, Vendor::DingTalk | Vendor::Feishu)
    }

    /// The vendor answers a refused message with HTTP 200 and a code in its JSON.
    pub fn errors_in_body(self) -> bool {
        matches!(self, Vendor::DingTalk | Vendor::Feishu | Vendor::WeCom)
    }

    /// `digest` defaults to true for these (the contract).
    pub fn digests_by_default(self) -> bool {
        matches!(self, Vendor::DingTalk | Vendor::WeCom)
    }

    /// The HTTP status of an accepted message.
    pub fn success_status(self) -> u16 {
        match self {
            // Discord: 204 No Content unless `?wait=true`.
            Vendor::Discord => 204,
            // Teams Workflows: 202 Accepted.
            Vendor::Teams => 202,
            _ => 200,
        }
    }

    /// The HTTP status of `Answer::VendorError`.
    pub fn error_status(self) -> u16 {
        match self {
            Vendor::Slack | Vendor::Discord => 404,
            Vendor::Teams => 400,
            _ => 200,
        }
    }

    /// Words of the vendor's error message (`Answer::VendorError`) that the attempt log keeps.
    pub fn error_words(self) -> &'static str {
        match self {
            Vendor::Slack => "channel_not_found",
            Vendor::Discord => "Unknown Webhook",
            Vendor::Teams => "TriggerInputSchemaMismatch",
            Vendor::DingTalk => "keywords not in content",
            Vendor::Feishu => "Key Words Not Found",
            Vendor::WeCom => "invalid webhook url",
        }
    }
}

/// Where each vendor's robot lives; the token is where the vendor puts it.
pub(super) fn url_path(vendor: Vendor, token: &str) -> String {
    match vendor {
        Vendor::Slack => format!("/services/T0BH00001/B0BH00002/{token}"),
        Vendor::Discord => format!("/api/webhooks/1200000000000000001/{token}"),
        Vendor::Teams => format!(
            "/workflows/5f1c/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={token}"
        ),
        Vendor::DingTalk => format!("/robot/send?access_token={token}"),
        Vendor::Feishu => format!("/open-apis/bot/v2/hook/{token}"),
        Vendor::WeCom => format!("/cgi-bin/webhook/send?key={token}"),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// DingTalk's `sign` before URL encoding: base64(HMAC-SHA256(key = secret,
/// message = timestamp + "\n" + secret)).
// DingTalk: https://open.dingtalk.com/document/robots/customize-robot-security-settings
// (mirrored at https://apifox.com/apidoc/docs-site/467052/doc-3550006: "把timestamp+"\n"+密钥当做
// 签名字符串,使用HmacSHA256算法计算签名,然后进行Base64 encode,最后再把签名参数再进行urlEncode").
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    let message = format!("{timestamp_ms}\n{secret}");
    base64::engine::general_purpose::STANDARD
        .encode(hmac_sha256(secret.as_bytes(), message.as_bytes()))
}

/// Feishu's `sign`: base64(HMAC-SHA256(key = timestamp + "\n" + secret, message = empty)).
// Feishu: https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot (signature
// verification; its Go/Python samples key the HMAC with the string to sign and hash no data,
// as in https://juejin.cn/post/7391005009667293199).
pub fn feishu_sign(secret: &str, timestamp_s: i64) -> String {
    let key = format!("{timestamp_s}\n{secret}");
    base64::engine::general_purpose::STANDARD.encode(hmac_sha256(key.as_bytes(), b""))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(*k))?.as_str()
}

/// What the vendor would refuse in this request; `Err` of a problem names the class of refusal.
pub(super) enum Refusal {
    /// URL, method, content type or body shape.
    BadRequest(String),
    /// DingTalk's or Feishu's signature or timestamp.
    Sign(String),
}

impl Refusal {
    pub(super) fn text(&self) -> String {
        match self {
            Refusal::BadRequest(s) => s.clone(),
            Refusal::Sign(s) => format!("signature: {s}"),
        }
    }
}

/// The body shape and size limits each vendor documents.
pub(super) fn shape(vendor: Vendor, v: &Value, len: usize, out: &mut Vec<Refusal>) {
    let mut bad = |m: String| out.push(Refusal::BadRequest(m));
    match vendor {
        // Slack: https://api.slack.com/messaging/webhooks (`text` is the notification fallback
        // when `blocks` are sent); a section's text is at most 3000 characters
        // (https://api.slack.com/reference/block-kit/blocks#section), at most 50 blocks.
        Vendor::Slack => {
            if str_at(v, &["text"]).is_none_or(str::is_empty) {
                bad("Slack: no fallback `text`".into());
            }
            match v["blocks"].as_array() {
                Some(blocks) if !blocks.is_empty() && blocks.len() <= 50 => {
                    for b in blocks {
                        if b["type"].as_str().is_none() {
                            bad("Slack: a block without `type`".into());
                        }
                        if let Some(t) = str_at(b, &["text", "text"]) {
                            if t.chars().count() > 3000 {
                                bad("Slack: a block's text is over 3000 characters".into());
                            }
                        }
                    }
                }
                _ => bad("Slack: `blocks` is not an array of 1 to 50 blocks".into()),
            }
        }
        // Discord: https://discord.com/developers/docs/resources/webhook#execute-webhook
        // (content <= 2000 characters, <= 10 embeds; embed title <= 256, description <= 4096,
        // all embeds' text <= 6000: https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
        Vendor::Discord => {
            let content = v["content"].as_str().unwrap_or("");
            if content.chars().count() > 2000 {
                bad("Discord: content over 2000 characters".into());
            }
            let embeds = v["embeds"].as_array().cloned().unwrap_or_default();
            if content.is_empty() && embeds.is_empty() {
                bad("Discord: neither content nor embeds".into());
            }
            if embeds.len() > 10 {
                bad("Discord: more than 10 embeds".into());
            }
            let mut total = 0;
            for e in &embeds {
                let title = e["title"].as_str().unwrap_or("").chars().count();
                let description = e["description"].as_str().unwrap_or("").chars().count();
                if title == 0 && description == 0 {
                    bad("Discord: an embed without title or description".into());
                }
                if title > 256 || description > 4096 {
                    bad("Discord: an embed's title or description is too long".into());
                }
                total += title + description;
            }
            if total > 6000 {
                bad("Discord: embeds over 6000 characters".into());
            }
        }
        // Teams Workflows: https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using
        // (an Adaptive Card in a `message` envelope; messages are limited to 28 KB).
        Vendor::Teams => {
            if v["type"] != "message" {
                bad("Teams: `type` is not \"message\"".into());
            }
            match v["attachments"].as_array() {
                Some(a) if !a.is_empty() => {
                    for att in a {
                        if att["contentType"] != "application/vnd.microsoft.card.adaptive" {
                            bad("Teams: an attachment is not an Adaptive Card".into());
                        }
                        if att["content"]["type"] != "AdaptiveCard"
                            || !att["content"]["body"].is_array()
                        {
                            bad(
                                "Teams: the card's content is not an AdaptiveCard with a body"
                                    .into(),
                            );
                        }
                    }
                }
                _ => bad("Teams: no attachments".into()),
            }
            if len > 28 * 1024 {
                bad("Teams: body over 28 KB".into());
            }
        }
        // DingTalk: https://open.dingtalk.com/document/orgapp/custom-robot-access (msgtype
        // markdown with markdown.title and markdown.text; `at.atMobiles`, `at.isAtAll`). The
        // page found gives no byte limit for markdown; 20000 bytes is the limit commonly
        // reported for the robot's text (an open question for the lead).
        Vendor::DingTalk => {
            if v["msgtype"] != "markdown" {
                bad("DingTalk: msgtype is not markdown".into());
            }
            if str_at(v, &["markdown", "title"]).is_none_or(str::is_empty) {
                bad("DingTalk: no markdown.title".into());
            }
            match str_at(v, &["markdown", "text"]) {
                Some(t) if !t.is_empty() && t.len() <= 20_000 => {}
                Some(t) if !t.is_empty() => {
                    bad(format!("DingTalk: markdown.text has {} bytes", t.len()))
                }
                _ => bad("DingTalk: no markdown.text".into()),
            }
        }
        // Feishu: https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot
        // (msg_type interactive with `card`; the request body is at most 20 KB).
        Vendor::Feishu => {
            if v["msg_type"] != "interactive" {
                bad("Feishu: msg_type is not interactive".into());
            }
            if !v["card"].is_object() {
                bad("Feishu: no card object".into());
            }
            if len > 20 * 1024 {
                bad(format!("Feishu: body of {len} bytes is over 20 KB"));
            }
        }
        // WeCom: https://developer.work.weixin.qq.com/document/path/91770 (markdown.content at
        // most 4096 bytes, UTF-8).
        Vendor::WeCom => {
            if v["msgtype"] != "markdown" {
                bad("WeCom: msgtype is not markdown".into());
            }
            match str_at(v, &["markdown", "content"]) {
                Some(c) if !c.is_empty() && c.len() <= 4096 => {}
                Some(c) if !c.is_empty() => {
                    bad(format!("WeCom: markdown.content has {} bytes", c.len()))
                }
                _ => bad("WeCom: no markdown.content".into()),
            }
        }
    }
}

/// DingTalk's `timestamp`/`sign` query parameters or Feishu's body fields, checked with the
/// recipes above; the timestamp must be within an hour of now (both vendors say so).
pub(super) fn signature(
    vendor: Vendor,
    secret: &str,
    v: &Value,
    timestamp: Option<&str>,
    sign: Option<&str>,
    out: &mut Vec<Refusal>,
) {
    let mut refuse = |m: &str| out.push(Refusal::Sign(m.to_owned()));
    match vendor {
        Vendor::DingTalk => {
            let (Some(ts), Some(sign)) = (timestamp.and_then(|t| t.parse::<i64>().ok()), sign)
            else {
                return refuse("DingTalk: no timestamp (ms) and sign in the query");
            };
            if (now_ms() - ts).abs() > 3_600_000 {
                return refuse("DingTalk: timestamp not within an hour (is it in ms?)");
            }
            // The query was URL-decoded by the extractor: what is left is the base64 value.
            if sign != dingtalk_sign(secret, ts) {
                refuse("DingTalk: sign does not match");
            }
        }
        Vendor::Feishu => {
            let ts = match &v["timestamp"] {
                Value::String(s) => s.parse::<i64>().ok(),
                Value::Number(n) => n.as_i64(),
                _ => None,
            };
            let (Some(ts), Some(sign)) = (ts, v["sign"].as_str()) else {
                return refuse("Feishu: no timestamp (s) and sign in the body");
            };
            if (now_ms() / 1000 - ts).abs() > 3600 {
                return refuse("Feishu: timestamp not within an hour (is it in seconds?)");
            }
            if sign != feishu_sign(secret, ts) {
                refuse("Feishu: sign does not match");
            }
        }
        _ => {}
    }
}
