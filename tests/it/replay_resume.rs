//! A replay survives a restart: its cursor is in the database, so a server stopped in the
//! middle of one (after draining what it had sent) and started again goes on from the next
//! page, and every delivery of the replay arrives once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use buildhooks_server::{Config, Role};
use serde_json::json;

use crate::utils::database::TestDatabase;
use crate::utils::{gql_at, save_endpoints, Receiver, Reply, TestApp};

const BUILDS: usize = 10;
const PAGE: u64 = 4;

fn config(url: &str) -> Config {
    let mut config = crate::utils::database::config(url);
    config.allow_private_targets = true;
    config.retry_delay_ms = 50;
    config.delivery_timeout_ms = 2_000;
    config.replay_page = PAGE;
    config
}

#[tokio::test]
async fn a_replay_stopped_by_a_restart_goes_on_from_its_cursor() {
    let db = TestDatabase::new().await;
    let url = db.url.clone();
    let mut app = TestApp::start(db, config(&url), Role::All).await;
    let org = app.org.clone();
    let receiver = Receiver::start(vec![]).await;
    receiver.set_default(Reply::status(500));
    save_endpoints(&app, &org, json!([{ "webhookURL": receiver.url() }])).await;
    let repo = app.create_repository("resumed").await;
    let since = buildhooks_schema::clock::now_ms();
    for _ in 0..BUILDS {
        app.create_build(&repo, &[("a", false)], false).await;
    }
    let failed = BUILDS * 2;
    receiver.wait_for(failed * 2, Duration::from_secs(30)).await;
    let filter = json!({ "since": since, "until": buildhooks_schema::clock::now_ms() + 1,
        "states": ["FAILED"] });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut dry = filter.clone();
        dry["dryRun"] = json!(true);
        let data = app
            .ok(
                "mutation($i: WebhookReplayInput!) { webhookReplay(input: $i) { matched } }",
                json!({ "i": dry }),
            )
            .await;
        if data["webhookReplay"]["matched"] == failed as i64 {
            break;
        }
        assert!(Instant::now() < deadline, "{data}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Slow answers: the replay is stopped after its first page.
    receiver.set_default(Reply::slow(200, Duration::from_millis(100)));
    let before = receiver.received().len();
    let made = app
        .ok(
            "mutation($i: WebhookReplayInput!) { webhookReplay(input: $i) { replay { id } } }",
            json!({ "i": filter }),
        )
        .await;
    let id = made["webhookReplay"]["replay"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let progress = "query($id: ID!) { webhookReplay(id: $id) { state queued delivered pending } }";
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let p = app.ok(progress, json!({ "id": id })).await["webhookReplay"].clone();
        if p["queued"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{p}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let db = std::mem::replace(&mut app.db, TestDatabase::sqlite());
    app.stop().await;
    let client = reqwest::Client::new();
    let stopped = receiver.received().len() - before;
    assert!(
        stopped < failed,
        "stopped in the middle: {stopped} of {failed} sent"
    );

    let again = TestApp::start(db, config(&url), Role::All).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let p = gql_at(
            &client,
            again.addr,
            &org.token,
            progress,
            json!({ "id": id }),
        )
        .await["webhookReplay"]
            .clone();
        if p["state"] == "DONE" && p["pending"] == 0 {
            break p;
        }
        assert!(Instant::now() < deadline, "{p}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done["queued"], failed as i64, "{done}");
    assert_eq!(done["delivered"], failed as i64, "{done}");
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in receiver.received().split_off(before) {
        *seen
            .entry(r.header("x-cirrus-delivery").expect("id"))
            .or_default() += 1;
    }
    assert_eq!(seen.len(), failed, "every delivery of the replay arrived");
    assert!(seen.values().all(|n| *n == 1), "once each: {seen:?}");
    again.stop().await;
}
