//! How the fake robots answer: each vendor's success, refusal, error and rate-limit bodies and
//! statuses, as its documentation (cited at each) shows them.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::vendor::{Refusal, Vendor};
use super::Answer;

fn json_reply(status: u16, body: Value) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        body.to_string(),
    )
        .into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

fn text_reply(status: u16, body: &'static str) -> Response {
    (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response()
}

/// The vendor's answer to a request it refuses.
pub(super) fn refusal_reply(vendor: Vendor, r: &Refusal) -> Response {
    match (vendor, r) {
        // DingTalk: a wrong signature is errcode 310000 with HTTP 200.
        (Vendor::DingTalk, Refusal::Sign(_)) => json_reply(
            200,
            json!({ "errcode": 310000, "errmsg": "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]" }),
        ),
        // Feishu: https://damodev.csdn.net/68230044a5baf817cf4af7cf.html quotes the answer.
        (Vendor::Feishu, Refusal::Sign(_)) => json_reply(
            200,
            json!({ "code": 19021, "data": {}, "msg": "sign match fail or timestamp is not within one hour from current time" }),
        ),
        // Slack: https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks
        (Vendor::Slack, _) => text_reply(400, "invalid_payload"),
        (Vendor::Discord, _) => json_reply(
            400,
            json!({ "message": "Invalid Form Body", "code": 50035 }),
        ),
        (Vendor::Teams, _) => json_reply(
            400,
            json!({ "error": { "code": "InvalidRequestContent", "message": "The request content is not valid and could not be deserialized." } }),
        ),
        (Vendor::DingTalk, _) => {
            json_reply(200, json!({ "errcode": 40035, "errmsg": "缺少参数 json" }))
        }
        (Vendor::Feishu, _) => json_reply(
            200,
            json!({ "code": 19002, "data": {}, "msg": "params error" }),
        ),
        (Vendor::WeCom, _) => json_reply(
            200,
            json!({ "errcode": 40058, "errmsg": "markdown.content exceed max length 4096 or invalid" }),
        ),
    }
}

pub(super) fn answer_reply(vendor: Vendor, answer: Answer) -> Response {
    match (answer, vendor) {
        (Answer::Status(code), _) => text_reply(code, ""),
        (Answer::Success, Vendor::Slack) => text_reply(200, "ok"),
        (Answer::Success, Vendor::Discord) => text_reply(204, ""),
        (Answer::Success, Vendor::Teams) => text_reply(202, ""),
        (Answer::Success, Vendor::DingTalk | Vendor::WeCom) => {
            json_reply(200, json!({ "errcode": 0, "errmsg": "ok" }))
        }
        // Feishu answers both its legacy and its current fields.
        (Answer::Success, Vendor::Feishu) => json_reply(
            200,
            json!({ "StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success" }),
        ),
        (Answer::VendorError, Vendor::Slack) => text_reply(404, "channel_not_found"),
        (Answer::VendorError, Vendor::Discord) => {
            json_reply(404, json!({ "message": "Unknown Webhook", "code": 10015 }))
        }
        (Answer::VendorError, Vendor::Teams) => json_reply(
            400,
            json!({ "error": { "code": "TriggerInputSchemaMismatch", "message": "The input body for trigger 'manual' of type 'Request' did not match its schema definition." } }),
        ),
        (Answer::VendorError, Vendor::DingTalk) => json_reply(
            200,
            json!({ "errcode": 310000, "errmsg": "keywords not in content, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]" }),
        ),
        (Answer::VendorError, Vendor::Feishu) => json_reply(
            200,
            json!({ "code": 19024, "data": {}, "msg": "Key Words Not Found" }),
        ),
        (Answer::VendorError, Vendor::WeCom) => json_reply(
            200,
            json!({ "errcode": 93000, "errmsg": "invalid webhook url, hint: [1700000000000000000], more info at https://open.work.weixin.qq.com/devtool/query?e=93000" }),
        ),
        // Slack: 429 with Retry-After (https://api.slack.com/apis/rate-limits).
        (Answer::RateLimited, Vendor::Slack | Vendor::Teams) => {
            let mut r = text_reply(429, "rate_limited");
            r.headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            r
        }
        // Discord: https://discord.com/developers/docs/topics/rate-limits#exceeding-a-rate-limit
        (Answer::RateLimited, Vendor::Discord) => {
            let mut r = json_reply(
                429,
                json!({ "message": "You are being rate limited.", "retry_after": 0.05, "global": false }),
            );
            let h = r.headers_mut();
            h.insert("x-ratelimit-limit", HeaderValue::from_static("5"));
            h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
            h.insert("x-ratelimit-reset-after", HeaderValue::from_static("0.05"));
            h.insert("x-ratelimit-scope", HeaderValue::from_static("shared"));
            r
        }
        // DingTalk: 20 messages a minute per robot, then throttled.
        (Answer::RateLimited, Vendor::DingTalk) => json_reply(
            200,
            json!({ "errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute" }),
        ),
        (Answer::RateLimited, Vendor::Feishu) => json_reply(
            200,
            json!({ "code": 11232, "data": {}, "msg": "frequency limited psm[lark.oapi.app_platform_runtime]appID[1]" }),
        ),
        // WeCom: errcode 45009, "api freq out of limit".
        (Answer::RateLimited, Vendor::WeCom) => json_reply(
            200,
            json!({ "errcode": 45009, "errmsg": "api freq out of limit" }),
        ),
    }
}
