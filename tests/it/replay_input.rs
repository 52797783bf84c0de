//! Replay input (`webhookReplay`, issue 19): a window backwards or over 31 days, no states or a
//! live one, a blank branch, and an endpoint, repository or build that is not the caller's are
//! refused with VALIDATION or NOT_FOUND and write nothing, nor does a dry run; another
//! organization's replay is NOT_FOUND to read and to cancel; a replay with nothing to do is DONE.

use std::time::{Duration, Instant};

use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{json, Value};

use crate::replay::{dry, PROGRESS, REPLAY};
use crate::utils::{error_code, gql_at, save_endpoints, Receiver, TestApp};

/// How many replays the database holds, of every organization.
async fn replays(app: &TestApp) -> u64 {
    buildhooks_entity::webhook_replay::Entity::find()
        .count(app.state.store.conn())
        .await
        .expect("count")
}

#[tokio::test]
async fn replay_input_is_checked_and_bad_input_writes_nothing() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let other = app.new_org("replay-other").await;
    let mine = save_endpoints(&app, &app.org, json!([{ "webhookURL": receiver.url() }])).await;
    let mine = mine["data"]["saveWebHookSettings"]["settings"]["endpoints"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let theirs = save_endpoints(&app, &other, json!([{ "webhookURL": receiver.url() }])).await;
    let theirs = theirs["data"]["saveWebHookSettings"]["settings"]["endpoints"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let their_repo = gql_at(
        &app.client,
        app.addr,
        &other.token,
        "mutation { createRepository(input: {name: \"theirs\"}) { repository { id } } }",
        json!({}),
    )
    .await["createRepository"]["repository"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let now = buildhooks_schema::clock::now_ms();
    let day = 24 * 3600 * 1000;
    let base = json!({ "since": now - day, "until": now, "states": ["FAILED"] });
    let with = |extra: Value| {
        let mut f = base.clone();
        for (k, v) in extra.as_object().expect("object") {
            f[k] = v.clone();
        }
        f
    };
    for (input, code) in [
        (
            with(json!({ "since": now, "until": now - 1 })),
            "VALIDATION",
        ),
        (with(json!({ "since": now - 32 * day })), "VALIDATION"),
        (with(json!({ "states": [] })), "VALIDATION"),
        (with(json!({ "states": ["PENDING"] })), "VALIDATION"),
        (with(json!({ "branch": " " })), "VALIDATION"),
        (with(json!({ "endpointId": "999999" })), "NOT_FOUND"),
        (with(json!({ "endpointId": theirs })), "NOT_FOUND"),
        (with(json!({ "repositoryId": their_repo })), "NOT_FOUND"),
        (with(json!({ "buildId": "999999" })), "NOT_FOUND"),
    ] {
        for dry_run in [true, false] {
            let mut input = input.clone();
            input["dryRun"] = json!(dry_run);
            let resp = app.gql(REPLAY, json!({ "i": input })).await;
            assert_eq!(error_code(&resp), Some(code), "{input}: {resp}");
        }
    }
    // Nor does a dry run.
    assert_eq!(dry(&app, with(json!({ "endpointId": mine }))).await, 0);
    assert_eq!(
        replays(&app).await,
        0,
        "bad input and dry runs write no replay"
    );

    // Another organization's replay is not found, to read or to cancel; with nothing to do,
    // a replay is DONE at once.
    let made = gql_at(
        &app.client,
        app.addr,
        &other.token,
        REPLAY,
        json!({ "i": base }),
    )
    .await;
    let id = made["webhookReplay"]["replay"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(made["webhookReplay"]["matched"], 0);
    let resp = app.gql(PROGRESS, json!({ "id": id })).await;
    assert_eq!(error_code(&resp), Some("NOT_FOUND"), "{resp}");
    let resp = app
        .gql(
            "mutation($i: CancelWebhookReplayInput!) { cancelWebhookReplay(input: $i) { replay { state } } }",
            json!({ "i": { "id": id } }),
        )
        .await;
    assert_eq!(error_code(&resp), Some("NOT_FOUND"), "{resp}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let p = gql_at(
            &app.client,
            app.addr,
            &other.token,
            PROGRESS,
            json!({ "id": id }),
        )
        .await;
        if p["webhookReplay"]["state"] == "DONE" {
            break;
        }
        assert!(Instant::now() < deadline, "{p}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(replays(&app).await, 1);
}
