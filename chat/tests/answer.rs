//! `answer()` and `discord_bucket_wait()`: what each vendor's reply means.

use std::time::Duration;

use buildhooks_chat::{answer, discord_bucket_wait, Answer, Kind};

fn failed(message: &str) -> Answer {
    Answer::Failed {
        message: message.into(),
    }
}

fn wait_of(answer: Answer) -> Duration {
    match answer {
        Answer::RateLimited { wait, .. } => wait,
        other => panic!("not a rate limit: {other:?}"),
    }
}

#[test]
fn dingtalk_reports_in_errcode() {
    let refused = br#"{"errcode":310000,"errmsg":"keywords not in content"}"#;
    assert_eq!(
        answer(Kind::DingTalk, 200, None, refused),
        failed("keywords not in content")
    );
    assert_eq!(
        answer(Kind::DingTalk, 200, None, br#"{"errcode":0}"#),
        Answer::Delivered
    );
    assert_eq!(
        answer(Kind::DingTalk, 200, None, br#"{"errcode":0,"errmsg":"ok"}"#),
        Answer::Delivered
    );
    // Over 20 a minute: throttled for 10 minutes.
    let fast = br#"{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}"#;
    let limited = answer(Kind::DingTalk, 200, None, fast);
    assert_eq!(
        limited,
        Answer::RateLimited {
            wait: Duration::from_secs(600),
            message: "send too fast, exceed 20 times per minute".into()
        }
    );
    let busy = answer(
        Kind::DingTalk,
        200,
        None,
        br#"{"errcode":-1,"errmsg":"busy"}"#,
    );
    assert_eq!(
        busy,
        Answer::Retry {
            message: "busy".into()
        }
    );
    // A 200 without the code it always sends is not a success.
    assert!(matches!(
        answer(Kind::DingTalk, 200, None, b"<html>"),
        Answer::Failed { .. }
    ));
}

#[test]
fn wecom_reports_in_errcode_and_45009_is_its_rate_limit() {
    let limited = answer(
        Kind::WeCom,
        200,
        None,
        br#"{"errcode":45009,"errmsg":"api freq out of limit"}"#,
    );
    assert_eq!(wait_of(limited), Duration::from_secs(60));
    assert_eq!(
        answer(Kind::WeCom, 200, None, br#"{"errcode":0,"errmsg":"ok"}"#),
        Answer::Delivered
    );
    let too_long = br#"{"errcode":40058,"errmsg":"markdown.content exceed max length 4096"}"#;
    assert_eq!(
        answer(Kind::WeCom, 200, None, too_long),
        failed("markdown.content exceed max length 4096")
    );
}

#[test]
fn feishu_reports_in_code_or_the_older_status_code() {
    let sign = br#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}"#;
    assert_eq!(
        answer(Kind::Feishu, 200, None, sign),
        failed("sign match fail or timestamp is not within one hour from current time")
    );
    assert_eq!(
        answer(
            Kind::Feishu,
            200,
            None,
            br#"{"code":0,"msg":"success","data":{}}"#
        ),
        Answer::Delivered
    );
    let older = br#"{"Extra":null,"StatusCode":0,"StatusMessage":"success"}"#;
    assert_eq!(answer(Kind::Feishu, 200, None, older), Answer::Delivered);
    let older_bad = br#"{"StatusCode":19001,"StatusMessage":"param invalid"}"#;
    assert_eq!(
        answer(Kind::Feishu, 200, None, older_bad),
        failed("param invalid")
    );
    // Rate limits: 11232, 99991400, and 9499 only when it says "too many".
    assert_eq!(
        wait_of(answer(
            Kind::Feishu,
            200,
            Some("5"),
            br#"{"code":11232,"msg":"frequency limited"}"#
        )),
        Duration::from_secs(5)
    );
    let platform = br#"{"code":99991400,"msg":"request trigger frequency limit"}"#;
    assert_eq!(
        wait_of(answer(Kind::Feishu, 400, None, platform)),
        Duration::from_secs(60)
    );
    let too_many = br#"{"code":9499,"msg":"too many request","data":{}}"#;
    assert!(matches!(
        answer(Kind::Feishu, 200, None, too_many),
        Answer::RateLimited { .. }
    ));
    let bad = br#"{"code":9499,"msg":"Bad Request","data":{}}"#;
    assert_eq!(answer(Kind::Feishu, 200, None, bad), failed("Bad Request"));
}

#[test]
fn a_429_waits_as_long_as_it_says_capped_at_fifteen_minutes() {
    for kind in Kind::ALL {
        assert_eq!(
            wait_of(answer(kind, 429, Some("7"), b"")),
            Duration::from_secs(7),
            "{kind}"
        );
        assert_eq!(
            wait_of(answer(kind, 429, Some("100000"), b"")),
            Duration::from_secs(900)
        );
        assert_eq!(
            wait_of(answer(kind, 429, None, b"")),
            Duration::from_secs(60)
        );
        assert_eq!(
            wait_of(answer(
                kind,
                429,
                Some("Wed, 21 Oct 2015 07:28:00 GMT"),
                b""
            )),
            Duration::from_secs(60)
        );
    }
    // Discord's JSON retry_after (seconds, float) is more precise than its header.
    let body = br#"{"message":"You are being rate limited.","retry_after":1.5,"global":false}"#;
    let limited = answer(Kind::Discord, 429, Some("2"), body);
    assert_eq!(
        limited,
        Answer::RateLimited {
            wait: Duration::from_millis(1500),
            message: "You are being rate limited.".into()
        }
    );
}

#[test]
fn server_errors_are_worth_the_retry() {
    for kind in Kind::ALL {
        for status in [500, 502, 503, 504] {
            assert!(
                matches!(answer(kind, status, None, b"oops"), Answer::Retry { .. }),
                "{kind} {status}"
            );
        }
    }
}

#[test]
fn slack_discord_and_teams_answer_with_http_statuses() {
    assert_eq!(answer(Kind::Slack, 200, None, b"ok"), Answer::Delivered);
    assert_eq!(
        answer(Kind::Slack, 404, None, b"channel_not_found"),
        failed("channel_not_found")
    );
    assert_eq!(
        answer(Kind::Slack, 400, None, b"invalid_payload"),
        failed("invalid_payload")
    );
    assert_eq!(answer(Kind::Discord, 204, None, b""), Answer::Delivered);
    assert_eq!(
        answer(Kind::Discord, 200, None, br#"{"id":"1"}"#),
        Answer::Delivered
    );
    let form = br#"{"code":50035,"errors":{},"message":"Invalid Form Body"}"#;
    assert_eq!(
        answer(Kind::Discord, 400, None, form),
        failed("Invalid Form Body")
    );
    assert_eq!(answer(Kind::Teams, 202, None, b""), Answer::Delivered);
    assert_eq!(answer(Kind::Teams, 200, None, b"1"), Answer::Delivered);
    assert_eq!(answer(Kind::Teams, 413, None, b""), failed("HTTP 413"));
}

#[test]
fn the_vendor_message_is_held_to_one_kib() {
    let long = "é".repeat(5_000);
    let Answer::Failed { message } = answer(Kind::Slack, 400, None, long.as_bytes()) else {
        panic!("refused");
    };
    assert!(message.len() <= 1024, "{}", message.len());
    assert!(message.starts_with("éé") && message.ends_with('…'));
}

#[test]
fn discord_buckets_wait_only_when_empty() {
    assert_eq!(
        discord_bucket_wait(Some("0"), Some("1.25")),
        Some(Duration::from_millis(1250))
    );
    assert_eq!(
        discord_bucket_wait(Some("0"), None),
        Some(Duration::from_secs(1))
    );
    assert_eq!(
        discord_bucket_wait(Some("0"), Some("99999")),
        Some(Duration::from_secs(900))
    );
    assert_eq!(discord_bucket_wait(Some("4"), Some("1.25")), None);
    assert_eq!(discord_bucket_wait(None, Some("1.25")), None);
    assert_eq!(discord_bucket_wait(Some("x"), Some("1")), None);
}
