//! A backlog larger than the dispatcher's concurrency: the recorder claims the next rows in the
//! transaction that records the last ones and passes its permits on, and the drain at shutdown
//! delivers what it had claimed. Every row arrives once, with one attempt on record.

use std::collections::HashSet;
use std::time::Duration;

use buildhooks_server::delivery::dispatcher::{self, DispatchConfig};
use tokio::sync::watch;

use crate::utils::{deliveries, TestApp};

const ROWS: usize = 40;

#[tokio::test]
async fn a_backlog_is_refilled_as_it_is_recorded_and_each_row_arrives_once() {
    // API only: the outbox fills up before any dispatcher runs.
    let (app, receiver) = TestApp::api_only_with_receiver().await;
    let url = app.db.url.clone();
    let repo = app.create_repository("backlog").await;
    for _ in 0..ROWS {
        app.create_build(&repo, &[("a", false)], false).await;
    }
    assert!(
        receiver.received().is_empty(),
        "nothing is sent without a dispatcher"
    );

    // Three permits for forty rows: most rows are claimed by the recorder, three at a time.
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(dispatcher::run(
        app.state.sender.clone(),
        DispatchConfig {
            concurrency: 3,
            lease_ms: 60_000,
            database_url: url,
        },
        stopped,
    ));
    let got = receiver.wait_for(ROWS, Duration::from_secs(20)).await;
    let _ = stop.send(true);
    running.await.expect("the dispatcher drains and stops");

    let ids: HashSet<String> = got
        .iter()
        .filter_map(|r| r.header("x-cirrus-delivery"))
        .collect();
    assert_eq!(ids.len(), ROWS, "every row arrives");
    assert_eq!(receiver.received().len(), ROWS, "and only once");
    let all = deliveries(&app).await;
    assert_eq!(all.len(), ROWS);
    for d in &all {
        assert_eq!(d["state"], "DELIVERED", "{d}");
        assert_eq!(d["attempts"].as_array().map(Vec::len), Some(1), "{d}");
    }
    app.stop().await;
}
