//! The organization's build URL template: saved with the settings (checked like a template),
//! read back, and each chat message links to the build as it renders; a changed template is
//! what the next message uses (it is never read from a cache that could hold the old one).

use std::time::Duration;

use serde_json::json;

use super::{build_on, move_as, repository, save_ok};
use crate::utils::robots::{Robot, Vendor};
use crate::utils::{error_code, TestApp};

const SAVE: &str = "mutation($i: SaveWebHookSettingsInput!) { saveWebHookSettings(input: $i) {
    settings { buildUrlTemplate } } }";

#[tokio::test]
async fn messages_link_to_the_build_by_the_current_template() {
    let app = TestApp::spawn_with(|c| c.throttle_scale = 0.01).await;
    let org = app.org.clone();
    let robot = Robot::start(Vendor::Slack, None).await;
    let endpoint = robot.endpoint(&["task.failed"]);
    save_ok(&app, &org, json!([endpoint.clone()])).await;
    let set = |template: &str| {
        json!({ "i": { "ownerUid": org.uid, "deliveryEndpoints": [endpoint.clone()],
                       "buildUrlTemplate": template } })
    };

    let bad = app
        .gql(SAVE, set("https://ci.example.com/{{ build.id "))
        .await;
    assert_eq!(error_code(&bad), Some("VALIDATION"), "{bad}");
    let saved = app
        .ok(SAVE, set("https://ci.example.com/build/{{ build.id }}"))
        .await;
    assert_eq!(
        saved["saveWebHookSettings"]["settings"]["buildUrlTemplate"],
        "https://ci.example.com/build/{{ build.id }}"
    );

    let repo = repository(&app, &org, "linked").await;
    let (build, tasks) = build_on(&app, &org, &repo, "main", &[("unit", false)]).await;
    move_as(&app, &org, &tasks[0], &["TRIGGERED", "EXECUTING", "FAILED"]).await;
    let hits = robot.wait_for(1, Duration::from_secs(15)).await;
    let first = hits[0].strings();
    assert!(
        first.contains(&format!("https://ci.example.com/build/{build}")),
        "the message links to the build: {first}"
    );

    app.ok(SAVE, set("https://ci2.example.com/b/{{ build.id }}"))
        .await;
    let (build, tasks) = build_on(&app, &org, &repo, "main", &[("unit", false)]).await;
    move_as(&app, &org, &tasks[0], &["TRIGGERED", "EXECUTING", "FAILED"]).await;
    let hits = robot.wait_for(2, Duration::from_secs(15)).await;
    let second = hits[1].strings();
    assert!(
        second.contains(&format!("https://ci2.example.com/b/{build}")),
        "the changed template is the one used: {second}"
    );
}
