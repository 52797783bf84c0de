//! Bad input gets a clear answer and writes nothing: a missing or wrong signature 401, an
//! unknown source 404, a body over the limit 413 (checked before the signature), a content type
//! that is not JSON 415 (after the signature), a body that is not JSON or lacks a required field
//! 400, an event kind we do not handle 202 `ignored`. Rows of repositories, builds, tasks, events
//! and deliveries are counted in the database before and after each; refusals are counted in
//! `/metrics` by reason and logged in the organization's inbound log.

use serde_json::json;

use super::{
    applied, fixture, github, github_signature, github_source, ignored, inbound_requests, metric,
    metrics, post, refused, rows, unique, JSON,
};
use crate::utils::TestApp;

/// One request and what it must get.
struct Case {
    name: &'static str,
    /// The source id in the URL (the real one unless it is the unknown-source case).
    id: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    /// The error code, or `None` for the 202 `ignored` answer.
    code: Option<&'static str>,
}

fn refusals_total(text: &str, reason: &str) -> f64 {
    metric(
        text,
        &format!("buildhooks_inbound_refusals_total{{reason=\"{reason}\"}}"),
    )
}

#[tokio::test]
async fn each_refusal_has_its_status_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let source = github_source(&app, &app.org).await;
    // Something to leave unchanged: a build from a real delivery.
    applied(
        &github(
            &app,
            &source,
            "workflow_run",
            &fixture("github/workflow_run.requested.json"),
        )
        .await,
    );
    let before = rows(&app, None).await;
    assert_eq!((before.repositories, before.builds), (1, 1), "{before:?}");
    let metrics_before = metrics(&app).await;

    let good = fixture("github/workflow_run.in_progress.json");
    let signed = |body: &[u8], event: &str| -> Vec<(&'static str, String)> {
        vec![
            ("content-type", "application/json".into()),
            ("x-github-event", event.into()),
            ("x-github-delivery", unique()),
            (
                "x-hub-signature-256",
                github_signature(&source.secret, body),
            ),
        ]
    };
    let without = |mut headers: Vec<(&'static str, String)>, name: &str| {
        headers.retain(|(n, _)| *n != name);
        headers
    };
    let with = |mut headers: Vec<(&'static str, String)>, name: &'static str, value: String| {
        headers.retain(|(n, _)| *n != name);
        headers.push((name, value));
        headers
    };
    let hex_only = github_signature(&source.secret, &good)["sha256=".len()..].to_owned();
    let unknown = uuid::Uuid::new_v4().simple().to_string();
    let not_json = b"{\"action\": \"in_progress\", \"workflow_run\": ".to_vec();
    let no_run =
        json!({ "action": "in_progress", "repository": { "full_name": "octo-org/example" } })
            .to_string()
            .into_bytes();
    let push =
        json!({ "ref": "refs/heads/main", "repository": { "full_name": "octo-org/example" } })
            .to_string()
            .into_bytes();
    let me = source.id.clone();
    let cases = vec![
        Case {
            name: "no signature",
            id: me.clone(),
            headers: without(signed(&good, "workflow_run"), "x-hub-signature-256"),
            body: good.clone(),
            status: 401,
            code: Some("UNAUTHENTICATED"),
        },
        Case {
            name: "signed with another secret",
            id: me.clone(),
            headers: with(
                signed(&good, "workflow_run"),
                "x-hub-signature-256",
                github_signature("another-secret", &good),
            ),
            body: good.clone(),
            status: 401,
            code: Some("UNAUTHENTICATED"),
        },
        Case {
            name: "the signature of another body",
            id: me.clone(),
            headers: signed(b"{}", "workflow_run"),
            body: good.clone(),
            status: 401,
            code: Some("UNAUTHENTICATED"),
        },
        Case {
            name: "hex without sha256=",
            id: me.clone(),
            headers: with(
                signed(&good, "workflow_run"),
                "x-hub-signature-256",
                hex_only,
            ),
            body: good.clone(),
            status: 401,
            code: Some("UNAUTHENTICATED"),
        },
        Case {
            name: "text/plain and unsigned: the signature first",
            id: me.clone(),
            headers: with(
                without(signed(&good, "workflow_run"), "x-hub-signature-256"),
                "content-type",
                "text/plain".into(),
            ),
            body: good.clone(),
            status: 401,
            code: Some("UNAUTHENTICATED"),
        },
        Case {
            name: "an unknown source",
            id: unknown.clone(),
            headers: signed(&good, "workflow_run"),
            body: good.clone(),
            status: 404,
            code: Some("NOT_FOUND"),
        },
        Case {
            name: "an unknown source, unsigned",
            id: unknown,
            headers: without(signed(&good, "workflow_run"), "x-hub-signature-256"),
            body: good.clone(),
            status: 404,
            code: Some("NOT_FOUND"),
        },
        Case {
            name: "text/plain",
            id: me.clone(),
            headers: with(
                signed(&good, "workflow_run"),
                "content-type",
                "text/plain".into(),
            ),
            body: good.clone(),
            status: 415,
            code: Some("UNSUPPORTED_MEDIA_TYPE"),
        },
        Case {
            name: "form-encoded (GitHub's other content type)",
            id: me.clone(),
            headers: with(
                signed(&good, "workflow_run"),
                "content-type",
                "application/x-www-form-urlencoded".into(),
            ),
            body: good.clone(),
            status: 415,
            code: Some("UNSUPPORTED_MEDIA_TYPE"),
        },
        Case {
            name: "no content type",
            id: me.clone(),
            headers: without(signed(&good, "workflow_run"), "content-type"),
            body: good.clone(),
            status: 415,
            code: Some("UNSUPPORTED_MEDIA_TYPE"),
        },
        Case {
            name: "malformed JSON",
            id: me.clone(),
            headers: signed(&not_json, "workflow_run"),
            body: not_json.clone(),
            status: 400,
            code: Some("MALFORMED"),
        },
        Case {
            name: "a workflow_run without its run",
            id: me.clone(),
            headers: signed(&no_run, "workflow_run"),
            body: no_run.clone(),
            status: 400,
            code: Some("MALFORMED"),
        },
        Case {
            name: "an event kind not handled (push)",
            id: me.clone(),
            headers: signed(&push, "push"),
            body: push.clone(),
            status: 202,
            code: None,
        },
    ];
    for case in &cases {
        let headers: Vec<(&str, &str)> =
            case.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let answer = post(
            &app,
            &format!("/hooks/in/{}", case.id),
            &headers,
            &case.body,
        )
        .await;
        match case.code {
            Some(code) => refused(&answer, case.status, code, case.name),
            None => ignored(&answer, case.name),
        }
        assert_eq!(
            rows(&app, None).await,
            before,
            "{}: the database changed",
            case.name
        );
    }

    // Counted by reason (the counters are this server's own).
    let text = metrics(&app).await;
    for (reason, n) in [
        ("unauthenticated", 5.0),
        ("not_found", 2.0),
        ("unsupported_media_type", 3.0),
        ("malformed", 2.0),
    ] {
        assert_eq!(
            refusals_total(&text, reason) - refusals_total(&metrics_before, reason),
            n,
            "buildhooks_inbound_refusals_total{{reason={reason:?}}} in {text}"
        );
    }
    assert_eq!(
        metric(
            &text,
            "buildhooks_inbound_requests_total{kind=\"github\",result=\"ignored\"}"
        ),
        1.0,
        "{text}"
    );

    // Logged for the organization, newest first: every case sent to its own source (10 refusals
    // at most per 10 s are logged; these are 10), with the status it got.
    let log = inbound_requests(&app, &app.org, Some(&source.id)).await;
    let sent: Vec<(String, u16)> = cases
        .iter()
        .filter(|c| c.id == source.id)
        .rev()
        .map(|c| {
            (
                if c.code.is_some() {
                    "REFUSED"
                } else {
                    "IGNORED"
                }
                .to_owned(),
                c.status,
            )
        })
        .chain([("APPLIED".to_owned(), 200)])
        .collect();
    let logged: Vec<(String, u16)> = log
        .iter()
        .map(|e| {
            (
                e["result"].as_str().unwrap_or("?").to_owned(),
                e["httpStatus"].as_u64().unwrap_or(0) as u16,
            )
        })
        .collect();
    assert_eq!(logged, sent, "{log:?}");
    for entry in log.iter().filter(|e| e["result"] != "APPLIED") {
        assert!(
            entry["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "a reason: {entry}"
        );
        assert!(entry["buildId"].is_null(), "{entry}");
    }
    let text = log.iter().map(|e| e.to_string()).collect::<String>();
    assert!(
        !text.contains(&source.secret),
        "the log never shows the secret"
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_before_the_signature_and_writes_nothing() {
    let app = TestApp::spawn_with(|config| {
        config.inbound_max_bytes = LIMIT;
    })
    .await;
    const LIMIT: usize = 1024;
    let source = github_source(&app, &app.org).await;
    let before = rows(&app, None).await;

    // A JSON body of exactly `len` bytes: a `push` (not handled, so answered 202 when accepted).
    let body_of = |len: usize| {
        let head = "{\"ref\":\"refs/heads/main\",\"pad\":\"";
        let tail = "\"}";
        let mut body = head.as_bytes().to_vec();
        body.resize(len - tail.len(), b'x');
        body.extend_from_slice(tail.as_bytes());
        assert_eq!(body.len(), len);
        body
    };
    let over = body_of(LIMIT + 1);
    let signature = github_signature(&source.secret, &over);
    let path = source.path();
    let signed = [
        JSON,
        ("x-github-event", "push"),
        ("x-github-delivery", "over-1"),
        ("x-hub-signature-256", signature.as_str()),
    ];
    refused(
        &post(&app, &path, &signed, &over).await,
        413,
        "PAYLOAD_TOO_LARGE",
        "signed, one byte over",
    );
    let unsigned = [
        JSON,
        ("x-github-event", "push"),
        ("x-github-delivery", "over-2"),
    ];
    refused(
        &post(&app, &path, &unsigned, &over).await,
        413,
        "PAYLOAD_TOO_LARGE",
        "unsigned: the size is checked first",
    );
    assert_eq!(
        rows(&app, None).await,
        before,
        "an oversized body writes nothing"
    );

    // At the limit the body is read, verified and answered.
    let at = body_of(LIMIT);
    let signature = github_signature(&source.secret, &at);
    let signed = [
        JSON,
        ("x-github-event", "push"),
        ("x-github-delivery", "at-limit"),
        ("x-hub-signature-256", signature.as_str()),
    ];
    ignored(
        &post(&app, &path, &signed, &at).await,
        "a body of exactly the limit",
    );

    let text = metrics(&app).await;
    assert_eq!(refusals_total(&text, "too_large"), 2.0, "{text}");
    let log = inbound_requests(&app, &app.org, Some(&source.id)).await;
    assert_eq!(
        super::results(&log),
        ["IGNORED", "REFUSED", "REFUSED"],
        "{log:?}"
    );
    assert!(log[1..].iter().all(|e| e["httpStatus"] == 413), "{log:?}");
}
