//! Fair delivery: one organization's endpoint that never answers, with a hundred builds of
//! events for it, does not delay another organization's deliveries, on one instance and on two
//! instances sharing PostgreSQL; the hanging endpoint never holds more than its `maxInFlight`;
//! and one organization's backlog does not hold back another's newer rows.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use buildhooks_server::{AppState, Config, Role};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

use crate::utils::database::TestDatabase;
use buildhooks_server::delivery::dispatcher::{self, DispatchConfig};
use buildhooks_server::delivery::fair::FairConfig;

use crate::utils::{gql_at, Receiver, Reply, TestApp};

/// A receiver that accepts connections, reads and never answers; it counts connections open at
/// once (each attempt to it is one) and in all.
#[derive(Clone, Default)]
struct Hanging {
    open: Arc<AtomicUsize>,
    most_open: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
}

impl Hanging {
    async fn start(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let me = self.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let me = me.clone();
                me.accepted.fetch_add(1, Ordering::SeqCst);
                let now = me.open.fetch_add(1, Ordering::SeqCst) + 1;
                me.most_open.fetch_max(now, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
                    me.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        addr
    }
}

const REPO: &str = "mutation { createRepository(input: {name: \"fair\"}) { repository { id } } }";
const SAVE: &str = "mutation($i: SaveWebHookSettingsInput!) { saveWebHookSettings(input: $i) { settings { endpoints { maxInFlight } } } }";
const BUILD: &str =
    "mutation($i: RepositoryCreateBuildInput!) { createBuild(input: $i) { build { id } } }";

/// An organization with a repository and one endpoint; returns (token, repository id).
async fn tenant(app: &TestApp, prefix: &str, url: &str, events: Value) -> (String, String) {
    let org = app.new_org(prefix).await;
    let repo = gql_at(&app.client, app.addr, &org.token, REPO, json!({})).await["createRepository"]
        ["repository"]["id"]
        .as_str()
        .expect("repo")
        .to_owned();
    let saved = gql_at(
        &app.client,
        app.addr,
        &org.token,
        SAVE,
        json!({ "i": { "ownerUid": org.uid, "deliveryEndpoints": [{ "webhookURL": url, "events": events }] } }),
    )
    .await;
    assert_eq!(
        saved["saveWebHookSettings"]["settings"]["endpoints"][0]["maxInFlight"], 4,
        "the default cap"
    );
    (org.token, repo)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// When each delivery's transaction committed, by delivery id (the servers' commit observer).
type Commits = Arc<Mutex<HashMap<String, Instant>>>;

/// Notes when each delivery's transition committed (the servers' commit hooks).
struct CommitTimes(Commits);

impl buildhooks_schema::CommitHooks for CommitTimes {
    fn committed(&self, ids: &[String]) {
        let now = Instant::now();
        let mut map = self.0.lock().expect("commits");
        for id in ids {
            map.insert(id.clone(), now);
        }
    }
}

fn observer(commits: &Commits) -> Arc<CommitTimes> {
    Arc::new(CommitTimes(commits.clone()))
}

/// Creates `n` builds for the healthy organization one after another (through `apis` in turn)
/// and returns each delivery's latency in ms, from its transaction's commit to the receiver
/// holding the body, sorted.
async fn healthy_latencies(
    app: &TestApp,
    commits: &Commits,
    apis: &[SocketAddr],
    (token, repo): &(String, String),
    receiver: &Receiver,
    n: usize,
) -> Vec<f64> {
    let before = receiver.received().len();
    for i in 0..n {
        gql_at(
            &app.client,
            apis[i % apis.len()],
            token,
            BUILD,
            json!({ "i": { "repositoryId": repo, "branch": "main", "tasks": [{ "name": "t" }] } }),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let got = receiver.wait_for(before + n, Duration::from_secs(30)).await;
    assert_eq!(got.len(), before + n, "every healthy delivery arrived");
    let commits = commits.lock().expect("commits").clone();
    let mut latencies: Vec<f64> = got[before..]
        .iter()
        .map(|r| {
            let id = r.header("x-cirrus-delivery").expect("delivery id");
            let committed = commits.get(&id).expect("a commit for every delivery");
            r.at.saturating_duration_since(*committed).as_secs_f64() * 1000.0
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    latencies
}

/// The scenario on `app` (and, when given, a second instance's API at `second`): the healthy
/// endpoint's latency unloaded, then while the hostile organization's hundred builds go to a
/// hanging endpoint. Returns the hanging receiver's counts.
async fn scenario(
    app: &TestApp,
    commits: &Commits,
    second: Option<SocketAddr>,
    label: &str,
) -> Hanging {
    let hanging = Hanging::default();
    let hanging_addr = hanging.start().await;
    let hostile = tenant(
        app,
        "hostile",
        &format!("http://{hanging_addr}/hang"),
        json!(["*"]),
    )
    .await;
    let receiver = Receiver::start(vec![]).await;
    let healthy = tenant(app, "healthy", &receiver.url(), json!(["build.created"])).await;
    let apis: Vec<SocketAddr> = std::iter::once(app.addr).chain(second).collect();

    let unloaded = healthy_latencies(app, commits, &apis, &healthy, &receiver, 30).await;

    // A hundred builds of events (each: build.created, task.created twice) to the hanging
    // endpoint, eight requests at a time, while the healthy organization's builds go on.
    let load = {
        let (client, apis, (token, repo)) = (app.client.clone(), apis.clone(), hostile.clone());
        tokio::spawn(async move {
            let next = Arc::new(AtomicUsize::new(0));
            let mut workers = tokio::task::JoinSet::new();
            for _ in 0..8 {
                let (client, apis, token, repo, next) = (
                    client.clone(),
                    apis.clone(),
                    token.clone(),
                    repo.clone(),
                    next.clone(),
                );
                workers.spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= 100 {
                            break;
                        }
                        gql_at(
                            &client,
                            apis[i % apis.len()],
                            &token,
                            BUILD,
                            json!({ "i": {
                            "repositoryId": repo, "branch": "main",
                            "tasks": [{ "name": "a" }, { "name": "b" }] } }),
                        )
                        .await;
                    }
                });
            }
            while workers.join_next().await.is_some() {}
        })
    };
    // Let the hanging endpoint's slots fill first.
    for _ in 0..100 {
        if hanging.accepted.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let loaded = healthy_latencies(app, commits, &apis, &healthy, &receiver, 120).await;
    load.await.expect("hostile builds created");

    let (u50, u99) = (percentile(&unloaded, 0.5), percentile(&unloaded, 0.99));
    let (l50, l99) = (percentile(&loaded, 0.5), percentile(&loaded, 0.99));
    println!(
        "{label}: healthy endpoint p50/p99 {u50:.1}/{u99:.1} ms unloaded, {l50:.1}/{l99:.1} ms \
         with a hanging endpoint ({} attempts to it, at most {} at once)",
        hanging.accepted.load(Ordering::SeqCst),
        hanging.most_open.load(Ordering::SeqCst)
    );
    assert!(
        hanging.accepted.load(Ordering::SeqCst) > 0,
        "the hanging endpoint was tried"
    );
    assert!(
        l99 < 50.0,
        "{label}: the healthy endpoint's p99 stays under 50 ms (was {l99:.1} ms; unloaded {u99:.1} ms)"
    );
    hanging
}

/// A server's settings: loopback receivers allowed, attempts time out after 2 s.
fn config(url: &str) -> Config {
    let mut config = crate::utils::database::config(url);
    config.allow_private_targets = true;
    config.delivery_timeout_ms = 2_000;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hanging_endpoint_does_not_delay_another_organizations_deliveries() {
    let commits = Commits::default();
    let db = TestDatabase::new().await;
    let state = AppState::connect_with(config(&db.url), observer(&commits))
        .await
        .expect("state");
    let app = TestApp::start_state(db, state, Role::All).await;
    let hanging = scenario(&app, &commits, None, "one instance").await;
    assert!(
        hanging.most_open.load(Ordering::SeqCst) <= 4,
        "at most maxInFlight (4) attempts to the hanging endpoint at once"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_postgres_keep_a_hanging_endpoint_to_its_share() {
    let db = TestDatabase::new().await;
    if !db.is_postgres() {
        println!("skipped on SQLite: two instances need PostgreSQL; set BUILDHOOKS_TEST_DATABASE_URL (.ci/run does)");
        return;
    }
    let commits = Commits::default();
    let url = db.url.clone();
    let state = AppState::connect_with(config(&url), observer(&commits))
        .await
        .expect("state");
    let app = TestApp::start_state(db, state, Role::All).await;
    // The second instance: its own pools, dispatcher and shares over the same database.
    let state = AppState::connect_with(config(&url), observer(&commits))
        .await
        .expect("second state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let second = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(buildhooks_server::run(listener, state, Role::All, async {
        let _ = stopped.await;
    }));
    let hanging = scenario(&app, &commits, Some(second), "two instances").await;
    assert!(
        hanging.most_open.load(Ordering::SeqCst) <= 8,
        "at most maxInFlight (4) attempts per instance to the hanging endpoint at once"
    );
    let _ = stop.send(());
    let _ = server.await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backlog_of_one_organization_does_not_hold_back_another() {
    // API only: the outbox fills up before the dispatcher starts.
    let db = TestDatabase::new().await;
    let url = db.url.clone();
    let app = TestApp::start(db, config(&url), Role::Api).await;
    let slow = Receiver::start(vec![]).await;
    slow.set_default(Reply::slow(200, Duration::from_millis(20)));
    let fast = Receiver::start(vec![]).await;
    let flood = tenant(&app, "flood", &slow.url(), json!(["build.created"])).await;
    let small = tenant(&app, "small", &fast.url(), json!(["build.created"])).await;
    let build = |(token, repo): &(String, String)| {
        let (client, addr, token, repo) =
            (app.client.clone(), app.addr, token.clone(), repo.clone());
        async move {
            gql_at(
                &client,
                addr,
                &token,
                BUILD,
                json!({ "i": {
                "repositoryId": repo, "branch": "main", "tasks": [{ "name": "t" }] } }),
            )
            .await;
        }
    };
    // The flood's rows are all older than the small organization's.
    for _ in 0..120 {
        build(&flood).await;
    }
    for _ in 0..5 {
        build(&small).await;
    }
    // Eight slots, so an organization may hold four.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(dispatcher::run(
        app.state.sender.clone(),
        app.state.store.clone(),
        DispatchConfig {
            concurrency: 8,
            lease_ms: 60_000,
            database_url: buildhooks_server::db::without_loopback_tls(&url),
            fair: FairConfig::for_concurrency(8),
        },
        stopped,
    ));
    let got = fast.wait_for(5, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 5, "the small organization's deliveries arrived");
    let flood_so_far = slow.received().len();
    let flood_all = slow.wait_for(120, Duration::from_secs(60)).await.len();
    let _ = stop.send(true);
    running.await.expect("the dispatcher drains and stops");
    println!(
        "backlog: the small organization's 5 deliveries arrived after {flood_so_far} of the \
         flood's {flood_all}"
    );
    assert_eq!(flood_all, 120, "every flood delivery arrived");
    assert!(
        flood_so_far <= 30,
        "oldest-first across everyone would have sent the flood's 120 first; {flood_so_far} were"
    );
    app.stop().await;
}
