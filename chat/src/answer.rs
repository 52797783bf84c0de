//! What a vendor's answer means: delivered, refused (no retry), a server error (the single
//! retry), or a rate limit (wait and send again). DingTalk, WeCom and Feishu answer HTTP 200 with
//! an error code in the body; Slack, Discord and Teams use HTTP statuses.

use std::time::Duration;

use serde_json::Value;

use crate::cut;
use crate::kind::Kind;

/// The longest wait a rate limit may ask for; anything longer is capped.
const WAIT_MAX: Duration = Duration::from_secs(15 * 60);

/// The wait when a rate limit names none: every vendor here counts in windows of a minute or
/// less.
const WAIT_DEFAULT: Duration = Duration::from_secs(60);

/// The most of a vendor's message kept.
const MESSAGE_MAX: usize = 1024;

/// What the vendor's answer means.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The vendor took the message.
    Delivered,
    /// The vendor refused (a 4xx, or HTTP 200 with errcode/code/StatusCode != 0): not worth a
    /// retry. `message` is the vendor's message (errmsg/msg/...; else the body text), at most
    /// 1 KiB.
    Failed { message: String },
    /// A server error: worth the single retry.
    Retry { message: String },
    /// A rate limit: wait `wait` (at most 15 minutes) and send again.
    RateLimited { wait: Duration, message: String },
}

/// Seconds as a header or JSON gives them ("7", "1.5"), capped; `None` if not a number.
fn seconds(text: &str) -> Option<Duration> {
    let secs: f64 = text.trim().parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(secs.min(WAIT_MAX.as_secs_f64())))
}

/// The vendor's own words: the first of its message fields, else the body text.
fn vendor_message(json: Option<&Value>, body: &[u8]) -> String {
    let named = [
        "errmsg",
        "msg",
        "message",
        "StatusMessage",
        "error",
        "error_description",
    ]
    .iter()
    .find_map(|key| json?.get(key)?.as_str().filter(|s| !s.trim().is_empty()));
    let text = match named {
        Some(text) => text.to_owned(),
        None => String::from_utf8_lossy(body).trim().to_owned(),
    };
    cut::bytes(&text, MESSAGE_MAX)
}

/// An integer code field (`errcode`, `code`, `StatusCode`), as a number or a numeric string.
fn code(json: Option<&Value>, key: &str) -> Option<i64> {
    match json?.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn rate_limited(wait: Duration, message: String) -> Answer {
    Answer::RateLimited {
        wait: wait.min(WAIT_MAX),
        message,
    }
}

/// A vendor's error code in a body (HTTP 200 or not) that means "too fast": the wait it implies.
fn vendor_rate_limit(
    kind: Kind,
    json: Option<&Value>,
    message: &str,
    hint: Option<Duration>,
) -> Option<Duration> {
    match kind {
        // DingTalk 130101 "send too fast, exceed 20 times per minute": "如果超过20条，会限流10分钟"
        // (throttled for 10 minutes: so ten, not the minute its 20-a-minute window suggests).
        // https://open.dingtalk.com/document/robots/custom-robot-access
        Kind::DingTalk => {
            (code(json, "errcode") == Some(130_101)).then_some(Duration::from_secs(600))
        }
        // WeCom 45009 "api freq out of limit": the limit is 20 a minute, so a minute.
        // https://developer.work.weixin.qq.com/document/path/90313
        Kind::WeCom => {
            (code(json, "errcode") == Some(45_009)).then(|| hint.unwrap_or(WAIT_DEFAULT))
        }
        // Feishu 11232 is the custom bot's frequency limit ("可能出现因系统压力导致的 11232 限流错误")
        // https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot, and 99991400 the
        // platform's ("request trigger frequency limit", sometimes with HTTP 400)
        // https://open.feishu.cn/document/server-docs/api-call-guide/frequency-control. 9499 is
        // Feishu's generic code: "too many request" is a rate limit, but "Bad Request" (a body it
        // cannot read) would fail again however long we waited, so only the former counts (the
        // issue 15 contract lists 9499 as a rate limit without that distinction).
        Kind::Feishu => {
            let code = code(json, "code").or_else(|| code(json, "StatusCode"));
            let too_many = message.to_ascii_lowercase().contains("too many");
            match code {
                Some(11_232 | 99_991_400) => Some(hint.unwrap_or(WAIT_DEFAULT)),
                Some(9_499) if too_many => Some(hint.unwrap_or(WAIT_DEFAULT)),
                _ => None,
            }
        }
        Kind::Slack | Kind::Discord | Kind::Teams => None,
    }
}

/// What the vendor's answer means. `retry_after` is the `Retry-After` header, if any.
///
/// Success: Slack any 2xx (body `ok`); Discord 204/200; Teams 200/202; DingTalk and WeCom 200 with
/// `errcode` 0; Feishu 200 with `code` 0 (or `StatusCode` 0, its older format). Rate limits: 429
/// (Retry-After seconds, or Discord's JSON `retry_after`), DingTalk 130101, WeCom 45009, Feishu
/// 11232, 99991400 and 9499 "too many request". Server errors (5xx, or DingTalk/WeCom errcode -1
/// "system busy") are worth the single retry; every other refusal is final.
pub fn answer(kind: Kind, status: u16, retry_after: Option<&str>, body: &[u8]) -> Answer {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let json = json.as_ref();
    let message = vendor_message(json, body);
    let hint = retry_after.and_then(seconds);

    if status == 429 {
        // Discord: "retry_after: The number of seconds to wait before submitting another
        // request" (a float, more precise than the header).
        // https://docs.discord.com/developers/topics/rate-limits
        let discord = match kind {
            Kind::Discord => json
                .and_then(|j| j.get("retry_after"))
                .and_then(Value::as_f64)
                .and_then(|secs| seconds(&secs.to_string())),
            _ => None,
        };
        return rate_limited(discord.or(hint).unwrap_or(WAIT_DEFAULT), message);
    }
    if (500..=599).contains(&status) {
        return Answer::Retry { message };
    }
    if let Some(wait) = vendor_rate_limit(kind, json, &message, hint) {
        return rate_limited(wait, message);
    }
    if !(200..=299).contains(&status) {
        let message = match message.is_empty() {
            true => format!("HTTP {status}"),
            false => message,
        };
        return Answer::Failed { message };
    }
    let vendor_code = match kind {
        Kind::Slack | Kind::Discord | Kind::Teams => return Answer::Delivered,
        // "errcode": 0 is success. https://open.dingtalk.com/document/robots/custom-robot-access
        // https://developer.work.weixin.qq.com/document/path/91770
        Kind::DingTalk | Kind::WeCom => code(json, "errcode"),
        // "code": 0 (or "StatusCode": 0 from the older answer) is success.
        // https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot
        Kind::Feishu => code(json, "code").or_else(|| code(json, "StatusCode")),
    };
    match vendor_code {
        Some(0) => Answer::Delivered,
        // -1 "系统繁忙" (system busy), DingTalk's and WeCom's global code for a passing fault.
        Some(-1) if matches!(kind, Kind::DingTalk | Kind::WeCom) => Answer::Retry { message },
        Some(_) => Answer::Failed { message },
        None => Answer::Failed {
            message: format!("unexpected answer without an error code: {message}"),
        },
    }
}

/// Discord announces each webhook's bucket in `X-RateLimit-Remaining` and
/// `X-RateLimit-Reset-After` (seconds, with decimals): when nothing remains, how long to wait
/// before the next message (capped at 15 minutes; a second when the reset is not given).
/// https://docs.discord.com/developers/topics/rate-limits
pub fn discord_bucket_wait(remaining: Option<&str>, reset_after: Option<&str>) -> Option<Duration> {
    let remaining: u64 = remaining?.trim().parse().ok()?;
    if remaining > 0 {
        return None;
    }
    Some(
        reset_after
            .and_then(seconds)
            .unwrap_or(Duration::from_secs(1)),
    )
}
