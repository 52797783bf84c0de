//! A robot's rate-limit answer (Discord's 429 with `retry_after`) waits the time it names and
//! is sent again without spending the delivery's single retry, up to `MAX_RATE_LIMITED` (8) such
//! waits: three rate limits then a success is DELIVERED after four attempts; rate limits without
//! end are FAILED after the 8 waits and the ordinary round of two attempts, ten in all.

use std::time::Duration;

use serde_json::Value;

use super::{build_on, delivery, move_as, repository, save_ok, settle};
use crate::utils::robots::{Answer, Robot, Vendor};
use crate::utils::TestApp;

fn attempts(d: &Value) -> Vec<(Value, Value)> {
    d["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| (a["status"].clone(), a["error"].clone()))
        .collect()
}

#[tokio::test]
async fn a_rate_limit_waits_without_spending_the_retry_and_is_bounded() {
    let app = TestApp::spawn_with(|c| c.throttle_scale = 0.01).await;
    let org = app.org.clone();
    let robot = Robot::start(Vendor::Discord, None).await;
    save_ok(
        &app,
        &org,
        serde_json::json!([robot.endpoint(&["task.failed"])]),
    )
    .await;
    let repo = repository(&app, &org, "limited").await;

    robot.script(vec![Answer::RateLimited; 3]);
    let (_, tasks) = build_on(&app, &org, &repo, "main", &[("first", false)]).await;
    move_as(&app, &org, &tasks[0], &["TRIGGERED", "EXECUTING", "FAILED"]).await;
    let all = settle(&app, &org, 1, Duration::from_secs(30)).await;
    let first = delivery(&app, &org, all[0]["id"].as_str().expect("id")).await;
    assert_eq!(first["state"], "DELIVERED", "{first}");
    let seen = attempts(&first);
    assert_eq!(seen.len(), 4, "three waits, then the message: {first}");
    for (status, error) in &seen[..3] {
        assert_eq!(status, 429, "{first}");
        assert_eq!(error, "rate_limited", "{first}");
    }
    assert_eq!(seen[3].0, Vendor::Discord.success_status(), "{first}");

    robot.script(vec![Answer::RateLimited; 20]);
    let (_, tasks) = build_on(&app, &org, &repo, "main", &[("second", false)]).await;
    move_as(&app, &org, &tasks[0], &["TRIGGERED", "EXECUTING", "FAILED"]).await;
    let all = settle(&app, &org, 2, Duration::from_secs(60)).await;
    let second = delivery(&app, &org, all[1]["id"].as_str().expect("id")).await;
    robot.clear_script();
    assert_eq!(second["state"], "FAILED", "{second}");
    assert_eq!(
        attempts(&second).len(),
        10,
        "8 waits and a round of two: {second}"
    );
}
