//! Durability with the real binary as a child process: a `kill -9` mid-flight loses nothing, and
//! two instances on one PostgreSQL database share the outbox without duplicates.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cli::binary;
use crate::utils::database::TestDatabase;
use crate::utils::{gql_at, metrics_at, Receiver, Reply};

/// A `buildhooks serve` child process.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(db_url: &str, env: &[(&str, &str)]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut cmd = Command::new(binary());
        cmd.arg("serve")
            .env("BUILDHOOKS_DATABASE_URL", db_url)
            .env("BUILDHOOKS_LISTEN", format!("127.0.0.1:{port}"))
            .env("BUILDHOOKS_ALLOW_PRIVATE_TARGETS", "true")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .envs(crate::utils::database::key_env(db_url));
        for (k, v) in env {
            cmd.env(k, v);
        }
        Server {
            child: cmd.spawn().expect("start buildhooks serve"),
            port,
        }
    }

    async fn wait_ready(&self, client: &reqwest::Client) {
        for _ in 0..200 {
            if client
                .get(format!("http://127.0.0.1:{}/healthz", self.port))
                .send()
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server did not start");
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    async fn gql(&self, client: &reqwest::Client, token: &str, query: &str, vars: Value) -> Value {
        gql_at(client, self.addr(), token, query, vars).await
    }

    async fn delivered_metric(&self, client: &reqwest::Client) -> u64 {
        let text = metrics_at(client, self.addr()).await;
        text.lines()
            .find_map(|l| {
                l.strip_prefix("buildhooks_delivery_attempts_total{outcome=\"delivered\"} ")
            })
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    fn kill(mut self) {
        let _ = self.child.kill(); // SIGKILL: no drain, no goodbye
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn create_org(db_url: &str) -> (String, String) {
    let out = Command::new(binary())
        .args([
            "org",
            "create",
            &format!("durable-{}", uuid::Uuid::new_v4().simple()),
        ])
        .env("BUILDHOOKS_DATABASE_URL", db_url)
        .envs(crate::utils::database::key_env(db_url))
        .env("RUST_LOG", "error")
        .output()
        .expect("org create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    (
        v["uid"].as_str().expect("uid").to_owned(),
        v["token"].as_str().expect("token").to_owned(),
    )
}

/// Creates `builds` builds of 10 tasks each through `servers` in turn (as a load balancer
/// would); the endpoint listens to `task.created`, so every build makes 10 deliveries.
async fn make_events(
    servers: &[&Server],
    client: &reqwest::Client,
    uid: &str,
    token: &str,
    receiver: &Receiver,
    builds: usize,
) {
    let server = servers[0];
    let repo = server
        .gql(
            client,
            token,
            "mutation { createRepository(input: {name: \"durable\"}) { repository { id } } }",
            json!({}),
        )
        .await["createRepository"]["repository"]["id"]
        .as_str()
        .expect("repo")
        .to_owned();
    server
        .gql(
            client,
            token,
            "mutation($i: SaveWebHookSettingsInput!) { saveWebHookSettings(input: $i) { settings { ownerUid } } }",
            json!({ "i": { "ownerUid": uid, "deliveryEndpoints": [{ "webhookURL": receiver.url(), "events": ["task.created"] }] } }),
        )
        .await;
    let tasks: Vec<Value> = (0..10)
        .map(|i| json!({ "name": format!("t{i}") }))
        .collect();
    for i in 0..builds {
        servers[i % servers.len()]
            .gql(
                client,
                token,
                "mutation($i: RepositoryCreateBuildInput!) { createBuild(input: $i) { build { id } } }",
                json!({ "i": { "repositoryId": repo, "branch": "main", "tasks": tasks } }),
            )
            .await;
    }
}

/// (distinct delivery ids, total requests) seen by the receiver.
fn tally(receiver: &Receiver) -> (usize, usize) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let got = receiver.received();
    for r in &got {
        *seen
            .entry(r.header("x-cirrus-delivery").unwrap_or_default())
            .or_default() += 1;
    }
    (seen.len(), got.len())
}

/// Waits until no outbox row is pending or in flight (every lease resolved).
async fn wait_settled(db_url: &str) {
    use buildhooks_entity::webhook_delivery;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let conn = buildhooks_server::db::open(db_url).await.expect("open");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let open = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::State.is_in(["PENDING", "IN_FLIGHT"]))
            .count(&conn)
            .await
            .expect("count");
        if open == 0 || Instant::now() > deadline {
            assert_eq!(open, 0, "outbox rows still open");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_distinct(receiver: &Receiver, n: usize, timeout: Duration) -> (usize, usize) {
    let deadline = Instant::now() + timeout;
    loop {
        let t = tally(receiver);
        if t.0 >= n || Instant::now() > deadline {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn kill_9_mid_flight_loses_nothing() {
    const CONCURRENCY: usize = 16;
    let db = TestDatabase::new().await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let (uid, token) = create_org(&db.url);
    let receiver = Receiver::start(vec![]).await;
    receiver.set_default(Reply::slow(200, Duration::from_millis(150)));
    let env = [
        ("BUILDHOOKS_DELIVERY_CONCURRENCY", "16"),
        ("BUILDHOOKS_DELIVERY_TIMEOUT_MS", "1500"),
        ("BUILDHOOKS_RETRY_DELAY_MS", "100"),
    ];
    let first = Server::start(&db.url, &env);
    first.wait_ready(&client).await;
    make_events(&[&first], &client, &uid, &token, &receiver, 100).await;
    wait_distinct(&receiver, 300, Duration::from_secs(60)).await;
    first.kill();
    let (at_kill, _) = tally(&receiver);
    assert!(
        at_kill < 1000,
        "the kill must come mid-flight ({at_kill} delivered)"
    );

    let second = Server::start(&db.url, &env);
    second.wait_ready(&client).await;
    let (distinct, total) = wait_distinct(&receiver, 1000, Duration::from_secs(90)).await;
    assert_eq!(
        distinct,
        1000,
        "every event delivered at least once (lost = {})",
        1000 - distinct
    );
    wait_settled(&db.url).await;
    let (distinct, total_after) = tally(&receiver);
    assert_eq!(distinct, 1000);
    let duplicates = total_after - distinct;
    assert!(
        duplicates <= CONCURRENCY,
        "duplicates {duplicates} exceed what was in flight ({CONCURRENCY})"
    );
    println!("kill -9 test: {at_kill} delivered before the kill, 0 lost, {duplicates} duplicates ({total} requests)");
}

#[tokio::test]
async fn two_instances_on_one_postgres_share_the_outbox_without_duplicates() {
    let db = TestDatabase::new().await;
    if !db.is_postgres() {
        println!("skipped on SQLite: two instances need PostgreSQL; set BUILDHOOKS_TEST_DATABASE_URL (.ci/run does)");
        return;
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let (uid, token) = create_org(&db.url);
    let receiver = Receiver::start(vec![]).await;
    receiver.set_default(Reply::slow(200, Duration::from_millis(2)));
    let env = [("BUILDHOOKS_DELIVERY_CONCURRENCY", "8")];
    let a = Server::start(&db.url, &env);
    let b = Server::start(&db.url, &env);
    a.wait_ready(&client).await;
    b.wait_ready(&client).await;
    make_events(&[&a, &b], &client, &uid, &token, &receiver, 200).await;
    let (distinct, _) = wait_distinct(&receiver, 2000, Duration::from_secs(90)).await;
    wait_settled(&db.url).await;
    let (distinct_after, total) = tally(&receiver);
    assert_eq!(distinct, 2000, "lost {}", 2000 - distinct);
    assert_eq!(
        total,
        distinct_after,
        "duplicates: {}",
        total - distinct_after
    );
    let (by_a, by_b) = (
        a.delivered_metric(&client).await,
        b.delivered_metric(&client).await,
    );
    assert_eq!(by_a + by_b, 2000);
    assert!(
        by_a > 0 && by_b > 0,
        "both instances delivered some: {by_a} + {by_b}"
    );
    println!("two instances: {by_a} + {by_b} deliveries, 0 lost, 0 duplicates");
}
