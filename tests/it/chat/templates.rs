//! Templates and size limits: a template with a syntax error is refused at save with
//! `VALIDATION`, the field and its line, and nothing is saved (the preview names the line too);
//! a template chooses the words of a Slack message exactly, and the preview renders the
//! organization's latest event the same way; the masked robot URL sent back keeps the saved
//! one; an oversized message (60 KB task names of multi-byte characters, at three byte
//! alignments) reaches every kind cut within its vendor's limit, as valid JSON and whole
//! characters.

use std::time::Duration;

use serde_json::{json, Value};

use super::{build_on, move_as, repository, save, save_ok, settings, settle};
use crate::utils::error_code;
use crate::utils::robots::{Robot, Vendor};
use crate::utils::TestApp;

/// Line 2 has a stray `)`.
const BAD: &str = "Build {{ data.build.id }}\n{{ new_status ) }}\nend";
const WORDS: &str = "{{ data.repository.name }}: {{ old_status }} -> {{ new_status }}";

async fn preview(app: &TestApp, template: &str) -> Value {
    app.ok(
        "query($i: WebhookMessagePreviewInput!) { webhookMessagePreview(input: $i) { body text eventKey fromEvent errors } }",
        json!({ "i": { "ownerUid": app.org.uid, "kind": "SLACK", "template": template } }),
    )
    .await["webhookMessagePreview"]
        .clone()
}

#[tokio::test]
async fn a_template_with_a_syntax_error_is_refused_naming_its_line_and_nothing_is_saved() {
    let app = TestApp::spawn().await;
    let org = app.org.clone();
    let robot = Robot::start(Vendor::Slack, None).await;
    let mut good = robot.endpoint(&["task.failed"]);
    good["template"] = json!("{{ event }}");
    let saved = save_ok(&app, &org, json!([good])).await;
    let before = settings(&app, &org).await;

    // The saved endpoint given a bad template, alone and as the second of two.
    let mut bad = robot.endpoint(&["task.failed"]);
    bad["id"] = saved[0]["id"].clone();
    bad["template"] = json!(BAD);
    let plain = json!({ "webhookURL": "http://127.0.0.1:9/plain", "events": ["build.created"] });
    for (endpoints, index) in [(json!([bad.clone()]), 0), (json!([plain, bad.clone()]), 1)] {
        let resp = save(&app, &org, endpoints).await;
        assert_eq!(error_code(&resp), Some("VALIDATION"), "{resp}");
        let error = &resp["errors"][0];
        assert_eq!(
            error["extensions"]["field"],
            format!("deliveryEndpoints[{index}].template"),
            "{resp}"
        );
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("line 2"),
            "the message names the line: {message:?}"
        );
        assert_eq!(settings(&app, &org).await, before, "nothing saved");
    }

    // The preview reports the same problem without saving anything.
    let p = preview(&app, BAD).await;
    let errors = p["errors"].as_array().expect("errors");
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().is_some_and(|e| e.contains("line 2"))),
        "{p}"
    );
    assert!(preview(&app, WORDS).await["errors"]
        .as_array()
        .is_some_and(Vec::is_empty));
}

#[tokio::test]
async fn a_template_chooses_the_words_of_a_slack_message() {
    let app = TestApp::spawn().await;
    let org = app.org.clone();
    let robot = Robot::start(Vendor::Slack, None).await;
    let mut e = robot.endpoint(&["task.failed"]);
    e["template"] = json!(WORDS);
    let saved = save_ok(&app, &org, json!([e])).await;
    assert_eq!(saved[0]["template"], WORDS);
    let repo = repository(&app, &org, "tmpl-repo").await;
    let (_, tasks) = build_on(&app, &org, &repo, "main", &[("unit", false)]).await;
    move_as(&app, &org, &tasks[0], &["TRIGGERED", "EXECUTING", "FAILED"]).await;

    let hits = robot.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(hits.len(), 1);
    assert_eq!(
        robot.problems(),
        Vec::<String>::new(),
        "valid Block Kit with a fallback"
    );
    let body = hits[0].json.clone().expect("json");
    assert_eq!(
        body["text"].as_str().map(str::trim),
        Some("tmpl-repo: EXECUTING -> FAILED"),
        "{body}"
    );

    // The preview renders the latest real event (task or build failed: the same words).
    let p = preview(&app, WORDS).await;
    assert_eq!(p["fromEvent"], true, "{p}");
    assert_eq!(
        p["text"].as_str().map(str::trim),
        Some("tmpl-repo: EXECUTING -> FAILED"),
        "{p}"
    );
    let previewed: Value =
        serde_json::from_str(p["body"].as_str().unwrap_or("")).expect("a JSON body");
    assert!(
        previewed["blocks"].is_array(),
        "the body Slack would get: {previewed}"
    );

    // The masked URL sent back with the endpoint's id keeps the saved URL.
    let shown = settings(&app, &org).await;
    let again = json!([{ "id": shown[0]["id"], "kind": "SLACK", "webhookURL": shown[0]["webhookURL"],
                         "events": ["task.failed"], "template": "{{ new_status }} again" }]);
    save_ok(&app, &org, again).await;
    let (_, tasks) = build_on(&app, &org, &repo, "main", &[("unit", false)]).await;
    move_as(&app, &org, &tasks[0], &["TRIGGERED", "EXECUTING", "FAILED"]).await;
    let hits = robot.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(hits.len(), 2, "the robot's URL was kept");
    assert_eq!(robot.problems(), Vec::<String>::new());
    assert_eq!(
        hits[1]
            .json
            .as_ref()
            .and_then(|b| b["text"].as_str())
            .map(str::trim),
        Some("FAILED again")
    );
}

#[tokio::test]
async fn an_oversized_message_is_cut_within_each_vendors_limit_and_stays_valid() {
    let app = TestApp::spawn().await;
    let org = app.org.clone();
    let mut robots = Vec::new();
    for vendor in Vendor::ALL {
        robots.push(Robot::start(vendor, vendor.signs().then_some("SECoversized42")).await);
    }
    // A task name is at most 255 characters: the template repeats it into a message of tens
    // of KB, past every vendor's limit.
    let endpoints: Vec<Value> = robots
        .iter()
        .map(|r| {
            let mut e = r.endpoint(&["task.failed"]);
            e["template"] = json!("{% for i in range(400) %}{{ data.task.name }}{% endfor %}");
            e
        })
        .collect();
    save_ok(&app, &org, json!(endpoints)).await;

    // Names of 2- and 4-byte characters, shifted by 0, 1 and 2 bytes, so that a cut at a byte
    // count lands inside a character whatever the limit.
    let huge = "é🎉".repeat(40);
    let names: Vec<String> = ["", "x", "xx"]
        .iter()
        .map(|p| format!("{p}{huge}"))
        .collect();
    let tasks: Vec<(&str, bool)> = names.iter().map(|n| (n.as_str(), false)).collect();
    let repo = repository(&app, &org, "oversized").await;
    let (_, ids) = build_on(&app, &org, &repo, "main", &tasks).await;
    for id in &ids {
        move_as(&app, &org, id, &["TRIGGERED", "EXECUTING", "FAILED"]).await;
    }
    let rows = settle(
        &app,
        &org,
        robots.len() * names.len(),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(rows.len(), robots.len() * names.len());
    for d in &rows {
        assert_eq!(
            d["state"], "DELIVERED",
            "{} {}",
            d["webhookURL"], d["attempts"]
        );
    }

    for robot in &robots {
        let vendor = robot.vendor;
        let hits = robot.received();
        assert!(!hits.is_empty(), "{vendor:?} got the failures");
        assert_eq!(
            robot.problems(),
            Vec::<String>::new(),
            "{vendor:?} within its limits"
        );
        for hit in &hits {
            let body = hit
                .json
                .as_ref()
                .unwrap_or_else(|| panic!("{vendor:?}: not JSON"));
            let text = hit.strings();
            assert!(
                !text.contains('\u{fffd}'),
                "{vendor:?}: a character was cut in half"
            );
            assert!(
                text.contains("é🎉"),
                "{vendor:?}: some of the name is still there"
            );
            match vendor {
                Vendor::WeCom => {
                    let c = body["markdown"]["content"].as_str().expect("content");
                    assert!(
                        c.len() <= 4096,
                        "WeCom markdown.content has {} bytes",
                        c.len()
                    );
                }
                Vendor::DingTalk => {
                    let t = body["markdown"]["text"].as_str().expect("text");
                    assert!(
                        t.len() <= 20_000,
                        "DingTalk markdown.text has {} bytes",
                        t.len()
                    );
                }
                _ => {}
            }
        }
    }
}
