//! Filtered replay (`webhookReplay`, issue 19), end to end: 1,000 deliveries fail for real
//! against a receiver answering 500 (made by 250 builds across 3 repositories and 2 branches);
//! a dry run counts exactly the deliveries each filter selects (endpoint, repository, branch,
//! build, time window, state), checked against what the receiver got; a real replay then
//! delivers all 1,000 to the now-healthy receiver with their original delivery ids, each once,
//! while a live stream of transitions runs beside it, its p99 commit-to-receipt measured and
//! printed next to a baseline without replay; a cancelled replay stops queuing. On PostgreSQL a
//! second instance runs beside the first, and the replay still queues each delivery once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use buildhooks_schema::CommitHooks;
use buildhooks_server::{AppState, Config, Role};
use futures::StreamExt;
use serde_json::{json, Value};

use crate::utils::database::TestDatabase;
use crate::utils::{gql_at, save_endpoints, Receiver, Reply, TestApp};

/// Builds made while the receiver fails: each one's build.created and 3 task.created events
/// reach the `*` endpoint, 1,000 deliveries in all.
const BUILDS: usize = 250;
const FAILED: usize = BUILDS * 4;
/// Transitions of the live stream (2 deliveries each), one every `LIVE_GAP`.
const LIVE: usize = 120;
const LIVE_GAP: Duration = Duration::from_millis(25);

pub(crate) const REPLAY: &str = "mutation($i: WebhookReplayInput!) { webhookReplay(input: $i) {
    matched dryRun replay { id state matched queued delivered failed pending } } }";
pub(crate) const PROGRESS: &str =
    "query($id: ID!) { webhookReplay(id: $id) { id state matched queued delivered failed pending } }";

/// When each delivery's transition committed (the server's commit hook).
#[derive(Default)]
struct CommitClock {
    at: Mutex<HashMap<String, Instant>>,
}

impl CommitHooks for CommitClock {
    fn committed(&self, delivery_ids: &[String]) {
        let now = Instant::now();
        let mut at = self.at.lock().expect("lock");
        for id in delivery_ids {
            at.insert(id.clone(), now);
        }
    }
}

fn config(url: &str) -> Config {
    let mut config = crate::utils::database::config(url);
    config.allow_private_targets = true;
    config.retry_delay_ms = 50;
    config.delivery_timeout_ms = 2_000;
    config
}

/// A dry run of `filter`: how many deliveries it matches.
pub(crate) async fn dry(app: &TestApp, mut filter: Value) -> i64 {
    filter["dryRun"] = json!(true);
    let data = app.ok(REPLAY, json!({ "i": filter })).await;
    assert_eq!(data["webhookReplay"]["dryRun"], true);
    assert!(data["webhookReplay"]["replay"].is_null());
    data["webhookReplay"]["matched"].as_i64().expect("matched")
}

/// A replay's progress.
async fn progress(app: &TestApp, id: &str) -> Value {
    app.ok(PROGRESS, json!({ "id": id })).await["webhookReplay"].clone()
}

/// Waits until replay `id` is no longer RUNNING and nothing of it is in the outbox.
async fn finished(app: &TestApp, id: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let p = progress(app, id).await;
        if p["state"] != "RUNNING" && p["pending"] == 0 {
            return p;
        }
        assert!(Instant::now() < deadline, "replay still running: {p}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `q`th percentile of `samples`.
fn percentile(samples: &[Duration], q: usize) -> Duration {
    assert!(!samples.is_empty());
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[(sorted.len() * q).div_ceil(100).max(1) - 1]
}

/// Runs `LIVE` transitions of repository `repo`, one every `LIVE_GAP`; returns each of their
/// deliveries' commit-to-receipt time at `receiver` (which must get them all).
async fn live_stream(
    app: &TestApp,
    clock: &CommitClock,
    receiver: &Receiver,
    repo: &str,
) -> Vec<Duration> {
    let before: HashSet<String> = clock.at.lock().expect("lock").keys().cloned().collect();
    for _ in 0..LIVE {
        app.create_build(repo, &[("live", false)], false).await;
        tokio::time::sleep(LIVE_GAP).await;
    }
    let committed: HashMap<String, Instant> = clock
        .at
        .lock()
        .expect("lock")
        .iter()
        .filter(|(id, _)| !before.contains(*id))
        .map(|(id, at)| (id.clone(), *at))
        .collect();
    assert_eq!(committed.len(), LIVE * 2, "two deliveries per transition");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut first: HashMap<String, Instant> = HashMap::new();
        for r in receiver.received() {
            if let Some(id) = r.header("x-cirrus-delivery") {
                if committed.contains_key(&id) {
                    first.entry(id).or_insert(r.at);
                }
            }
        }
        if first.len() == committed.len() {
            return first
                .iter()
                .map(|(id, at)| at.saturating_duration_since(committed[id]))
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "live deliveries missing: {} of {}",
            first.len(),
            committed.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A second server (dispatcher and replay runner only) on the same database.
async fn second_instance(
    url: &str,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let state = AppState::connect(config(url))
        .await
        .expect("second instance");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        let _ = buildhooks_server::run(listener, state, Role::Dispatcher, async {
            let _ = rx.await;
        })
        .await;
    });
    (tx, running)
}

// Two workers, as the machine has cores: on one thread the live stream's deliveries would wait
// for the replay's sends and receipts on the same thread, measuring the test, not the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_replay_redelivers_a_thousand_failures_once_each_while_live_deliveries_keep_their_p99(
) {
    let db = TestDatabase::new().await;
    let url = db.url.clone();
    let postgres = db.is_postgres();
    let clock = Arc::new(CommitClock::default());
    let state = AppState::connect_with(config(&url), clock.clone())
        .await
        .expect("state");
    let app = TestApp::start_state(db, state, Role::All).await;
    let failing = Receiver::start(vec![]).await;
    failing.set_default(Reply::status(500));
    let ok = Receiver::start(vec![]).await;
    let mut repos = Vec::new();
    for name in ["replay-0", "replay-1", "replay-2"] {
        repos.push(app.create_repository(name).await);
    }
    let live_repo = app.create_repository("replay-live").await;
    let saved = save_endpoints(
        &app,
        &app.org,
        json!([
            { "webhookURL": failing.url(), "events": ["*"], "maxInFlight": 16 },
            { "webhookURL": ok.url(), "events": ["build.*"], "repositoryId": repos[0] },
        ]),
    )
    .await;
    assert!(saved.get("errors").is_none(), "{saved}");
    let endpoints = &saved["data"]["saveWebHookSettings"]["settings"]["endpoints"];
    let (e1, e2) = (
        endpoints[0]["id"].as_str().expect("id").to_owned(),
        endpoints[1]["id"].as_str().expect("id").to_owned(),
    );

    // 250 builds through the API, four at a time: repository i % 3, branch main or dev, the
    // first half before `t_mid`, the second after.
    let t0 = buildhooks_schema::clock::now_ms();
    let mut builds: HashMap<String, (usize, &str, usize)> = HashMap::new();
    let mut t_mid = 0;
    for half in 0..2 {
        let made: Vec<(String, usize, &str)> = futures::stream::iter(0..BUILDS / 2)
            .map(|j| {
                let i = half * BUILDS / 2 + j;
                let repo = repos[i % 3].clone();
                let branch = if (i / 3).is_multiple_of(2) { "main" } else { "dev" };
                let (client, addr, token) = (app.client.clone(), app.addr, app.org.token.clone());
                async move {
                    let data = gql_at(&client, addr, &token,
                        "mutation($i: RepositoryCreateBuildInput!) { createBuild(input: $i) { build { id } } }",
                        json!({ "i": { "repositoryId": repo, "branch": branch, "sha": format!("{i:040x}"),
                            "tasks": [{ "name": "a" }, { "name": "b" }, { "name": "c" }] } }),
                    )
                    .await;
                    (data["createBuild"]["build"]["id"].as_str().expect("id").to_owned(), i % 3, branch)
                }
            })
            .buffer_unordered(4)
            .collect()
            .await;
        for (id, repo, branch) in made {
            builds.insert(id, (repo, branch, half));
        }
        if half == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            t_mid = buildhooks_schema::clock::now_ms();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let t_end = buildhooks_schema::clock::now_ms() + 1;

    // Every delivery to the failing receiver is tried twice and fails.
    let got = failing.wait_for(FAILED * 2, Duration::from_secs(120)).await;
    assert_eq!(
        got.len(),
        FAILED * 2,
        "each failed delivery was tried twice"
    );
    // What the receiver saw is the truth the dry runs are checked against: each delivery id
    // with its build.
    let mut failed_ids: HashMap<String, String> = HashMap::new();
    for r in &got {
        let build = r.json()["data"]["build"]["id"]
            .as_str()
            .expect("build id")
            .to_owned();
        failed_ids.insert(r.header("x-cirrus-delivery").expect("id"), build);
    }
    assert_eq!(failed_ids.len(), FAILED);
    let window = json!({ "since": t0, "until": t_end, "states": ["FAILED"] });
    let deadline = Instant::now() + Duration::from_secs(30);
    while dry(&app, window.clone()).await != FAILED as i64 {
        assert!(
            Instant::now() < deadline,
            "the failures are not all recorded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let expect = |pick: &dyn Fn(&(usize, &str, usize)) -> bool| {
        failed_ids
            .values()
            .filter(|b| pick(&builds[b.as_str()]))
            .count() as i64
    };
    let with = |extra: Value| {
        let mut f = window.clone();
        for (k, v) in extra.as_object().expect("object") {
            f[k] = v.clone();
        }
        f
    };

    // Dry runs, exact for each filter.
    let delivered_to_ok = (0..BUILDS).filter(|i| i % 3 == 0).count() as i64;
    assert_eq!(
        dry(&app, with(json!({ "endpointId": e1 }))).await,
        FAILED as i64
    );
    assert_eq!(dry(&app, with(json!({ "endpointId": e2 }))).await, 0);
    assert_eq!(
        dry(
            &app,
            with(json!({ "endpointId": e2, "states": ["DELIVERED"] }))
        )
        .await,
        delivered_to_ok
    );
    assert_eq!(
        dry(&app, with(json!({ "states": ["FAILED", "DELIVERED"] }))).await,
        FAILED as i64 + delivered_to_ok
    );
    for (i, repo) in repos.iter().enumerate() {
        let n = dry(&app, with(json!({ "repositoryId": repo }))).await;
        assert_eq!(n, expect(&|b| b.0 == i), "repository {i}");
    }
    for branch in ["main", "dev"] {
        let n = dry(&app, with(json!({ "branch": branch }))).await;
        assert_eq!(n, expect(&|b| b.1 == branch), "branch {branch}");
    }
    let some_build = builds.keys().next().expect("a build").clone();
    assert_eq!(dry(&app, with(json!({ "buildId": some_build }))).await, 4);
    let first_half = dry(&app, with(json!({ "until": t_mid }))).await;
    assert_eq!(first_half, expect(&|b| b.2 == 0));
    assert_eq!(
        dry(&app, with(json!({ "since": t_mid }))).await,
        expect(&|b| b.2 == 1)
    );
    let combined = dry(
        &app,
        with(
            json!({ "repositoryId": repos[1], "branch": "dev", "until": t_mid, "endpointId": e1 }),
        ),
    )
    .await;
    assert_eq!(combined, expect(&|b| b.0 == 1 && b.1 == "dev" && b.2 == 0));
    assert!(first_half > 0 && combined > 0);

    // The receiver recovers. Baseline: the live stream without a replay.
    failing.set_default(Reply::status(200));
    let quiet = live_stream(&app, &clock, &failing, &live_repo).await;
    let baseline = percentile(&quiet, 99);

    // On PostgreSQL a second instance shares the work (and the pages).
    let second = match postgres {
        true => Some(second_instance(&url).await),
        false => None,
    };
    let replay_started = Instant::now();
    let received_before = failing.received().len();
    let made = app
        .ok(
            REPLAY,
            json!({ "i": with(json!({ "endpointId": e1, "clientMutationId": "r1" })) }),
        )
        .await;
    let replay = &made["webhookReplay"]["replay"];
    assert_eq!(made["webhookReplay"]["matched"], FAILED as i64);
    assert_eq!(replay["state"], "RUNNING");
    let replay_id = replay["id"].as_str().expect("replay id").to_owned();
    let live_started = Instant::now();
    let during = live_stream(&app, &clock, &failing, &live_repo).await;
    let live_ended = Instant::now();
    let with_replay = percentile(&during, 99);
    let done = finished(&app, &replay_id, Duration::from_secs(120)).await;
    let replay_took = replay_started.elapsed();
    assert_eq!(done["state"], "DONE", "{done}");
    assert_eq!(done["matched"], FAILED as i64, "{done}");
    assert_eq!(
        done["queued"], FAILED as i64,
        "each delivery queued once: {done}"
    );
    assert_eq!(done["delivered"], FAILED as i64, "{done}");
    assert_eq!(done["failed"], 0, "{done}");

    // Each original delivery id arrived once, and nothing else but the live stream.
    let after: Vec<_> = failing.received().split_off(received_before);
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut overlapping = 0;
    for r in &after {
        let id = r.header("x-cirrus-delivery").expect("id");
        if failed_ids.contains_key(&id) {
            *seen.entry(id).or_default() += 1;
            if r.at >= live_started && r.at <= live_ended {
                overlapping += 1;
            }
        }
    }
    assert_eq!(
        seen.len(),
        FAILED,
        "every failed delivery arrives again with its own id"
    );
    assert!(seen.values().all(|n| *n == 1), "once each");
    assert_eq!(after.len(), FAILED + LIVE * 2, "no other request");
    println!(
        "replay of {FAILED} deliveries took {:?} ({overlapping} of them arrived during the live \
         stream); live commit->receipt p50/p99/max: {:?}/{:?}/{:?} without replay, \
         {:?}/{:?}/{:?} during it (bound on p99: {:?}){}",
        replay_took,
        percentile(&quiet, 50),
        baseline,
        percentile(&quiet, 100),
        percentile(&during, 50),
        with_replay,
        percentile(&during, 100),
        (baseline * 5).max(Duration::from_millis(500)),
        if postgres { ", two instances" } else { "" }
    );
    assert!(
        overlapping > 0,
        "the live stream ran while the replay delivered"
    );
    assert!(
        with_replay <= (baseline * 5).max(Duration::from_millis(500)),
        "live p99 {with_replay:?} against {baseline:?} without replay"
    );

    // A replay cancelled at once queues nothing more; what it queued finishes.
    let received_before = failing.received().len();
    let made = app
        .ok(
            REPLAY,
            json!({ "i": with(json!({ "endpointId": e1, "states": ["DELIVERED"],
            "until": buildhooks_schema::clock::now_ms() })) }),
        )
        .await;
    let matched = made["webhookReplay"]["matched"].as_i64().expect("matched");
    assert!(matched > FAILED as i64, "{made}");
    let id = made["webhookReplay"]["replay"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let cancelled = app
        .ok(
            "mutation($i: CancelWebhookReplayInput!) { cancelWebhookReplay(input: $i) { replay { state queued } clientMutationId } }",
            json!({ "i": { "id": id, "clientMutationId": "c1" } }),
        )
        .await;
    assert_eq!(
        cancelled["cancelWebhookReplay"]["replay"]["state"],
        "CANCELLED"
    );
    assert_eq!(cancelled["cancelWebhookReplay"]["clientMutationId"], "c1");
    let stopped = finished(&app, &id, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let later = progress(&app, &id).await;
    assert_eq!(later["state"], "CANCELLED");
    assert_eq!(
        later["queued"], stopped["queued"],
        "nothing queued after the cancel"
    );
    let queued = later["queued"].as_i64().expect("queued");
    assert!(queued < matched, "{later}");
    assert_eq!(
        later["delivered"], queued,
        "what it had queued was delivered: {later}"
    );
    assert_eq!(
        failing.received().len() - received_before,
        queued as usize,
        "the receiver got exactly what was queued"
    );

    if let Some((stop, running)) = second {
        let _ = stop.send(());
        let _ = running.await;
    }
    app.stop().await;
}
