//! Test harness: `TestApp::spawn()` starts the real server (`buildhooks_server::run`) on
//! 127.0.0.1:0 over a fresh database, and offers a GraphQL client; `Receiver` is a real HTTP
//! receiver that records what it gets and answers as scripted.

#![allow(dead_code)]

pub mod brokers;
pub mod browser;
pub mod database;
pub mod faults;
pub mod inbound;
pub mod logs;
pub mod proxy;
pub mod receiver;
pub mod robots;

use std::net::SocketAddr;
use std::sync::Arc;

use buildhooks_server::{AppState, Config, Role};
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub use receiver::{Receiver, Reply};

/// An organization made for one test.
#[derive(Clone, Debug)]
pub struct Org {
    pub uid: String,
    pub name: String,
    pub token: String,
}

/// A running server over its own database.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub state: AppState,
    /// Faults the test can switch on (in the server's commit hooks).
    pub faults: Arc<faults::Faults>,
    pub org: Org,
    pub db: database::TestDatabase,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// A server with private targets allowed (receivers live on 127.0.0.1) and fast retries.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A server whose configuration `adjust` may change first.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let db = database::TestDatabase::new().await;
        let mut config = crate::utils::database::config(&db.url);
        config.allow_private_targets = true;
        config.retry_delay_ms = 50;
        config.delivery_timeout_ms = 2_000;
        adjust(&mut config);
        Self::start(db, config, Role::All).await
    }

    /// An API-only server (no dispatcher: outbox rows stay until the test delivers them) over a
    /// fresh database, with private targets allowed, and a receiver that one endpoint of the
    /// organization points at for `build.created`.
    pub async fn api_only_with_receiver() -> (Self, Receiver) {
        let db = database::TestDatabase::new().await;
        let mut config = crate::utils::database::config(&db.url);
        config.allow_private_targets = true;
        let app = Self::start(db, config, Role::Api).await;
        let receiver = Receiver::start(vec![]).await;
        save_endpoints(
            &app,
            &app.org,
            json!([{ "webhookURL": receiver.url(), "events": ["build.created"] }]),
        )
        .await;
        (app, receiver)
    }

    /// Starts a server over an existing test database.
    pub async fn start(db: database::TestDatabase, config: Config, role: Role) -> Self {
        logs::capture();
        let faults = Arc::new(faults::Faults::default());
        let state = AppState::connect_with(config, faults.clone())
            .await
            .expect("server state");
        let mut app = Self::start_state(db, state, role).await;
        app.faults = faults;
        app
    }

    /// Starts a server with a state made by the test (e.g. with a commit observer).
    pub async fn start_state(db: database::TestDatabase, state: AppState, role: Role) -> Self {
        logs::capture();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(buildhooks_server::run(
            listener,
            state.clone(),
            role,
            async {
                let _ = rx.await;
            },
        ));
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let mut app = TestApp {
            addr,
            client,
            state,
            faults: Arc::default(),
            org: Org {
                uid: String::new(),
                name: String::new(),
                token: String::new(),
            },
            db,
            shutdown: Some(tx),
            server: Some(server),
        };
        app.org = app.new_org("main").await;
        app
    }

    /// Stops the server and waits for it to drain.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    /// Creates another organization with a unique name.
    pub async fn new_org(&self, prefix: &str) -> Org {
        let name = format!(
            "{prefix}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let (org, token) =
            buildhooks_schema::auth::create_organization(self.state.store.conn(), &name, "github")
                .await
                .expect("create organization");
        Org {
            uid: org.id.to_string(),
            name: org.name,
            token,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POSTs a raw body to /graphql; returns the status and the JSON body.
    pub async fn post_raw(&self, token: Option<&str>, body: &str) -> (u16, Value) {
        let mut req = self
            .client
            .post(self.url("/graphql"))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
        (status, json)
    }

    /// Runs a GraphQL operation as `token`; returns the whole response JSON.
    pub async fn gql_as(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = json!({ "query": query, "variables": variables }).to_string();
        let (status, json) = self.post_raw(Some(token), &body).await;
        assert_ne!(status, 500, "server error: {json}");
        json
    }

    /// Runs a GraphQL operation as the test's organization.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.gql_as(&self.org.token.clone(), query, variables).await
    }

    /// Runs an operation that must succeed; returns `data`.
    pub async fn ok(&self, query: &str, variables: Value) -> Value {
        let resp = self.gql(query, variables).await;
        assert!(resp.get("errors").is_none(), "unexpected errors: {resp}");
        resp["data"].clone()
    }

    /// Creates a repository; returns its id.
    pub async fn create_repository(&self, name: &str) -> String {
        let data = self
            .ok(
                "mutation($n: String!) { createRepository(input: {name: $n}) { repository { id } } }",
                json!({ "n": name }),
            )
            .await;
        data["createRepository"]["repository"]["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    /// Creates a build with tasks `(name, optional)`; returns (build id, task ids).
    pub async fn create_build(
        &self,
        repository_id: &str,
        tasks: &[(&str, bool)],
        needs_approval: bool,
    ) -> (String, Vec<String>) {
        let tasks: Vec<Value> = tasks
            .iter()
            .map(|(name, optional)| json!({ "name": name, "optional": optional }))
            .collect();
        let data = self
            .ok(
                "mutation($i: RepositoryCreateBuildInput!) { createBuild(input: $i) { build { id tasks { id } } } }",
                json!({ "i": { "repositoryId": repository_id, "branch": "main", "sha": "abc123",
                    "message": "Fix the flux capacitor\n\nLong text", "needsApproval": needs_approval,
                    "tasks": tasks, "clientMutationId": "m1" } }),
            )
            .await;
        let build = &data["createBuild"]["build"];
        let ids = build["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .map(|t| t["id"].as_str().expect("task id").to_owned())
            .collect();
        (build["id"].as_str().expect("build id").to_owned(), ids)
    }

    /// `updateTaskStatus`; returns the whole response.
    pub async fn set_task(&self, task_id: &str, status: &str) -> Value {
        self.gql(
            "mutation($i: UpdateTaskStatusInput!) { updateTaskStatus(input: $i) { task { id status } } }",
            json!({ "i": { "taskId": task_id, "status": status } }),
        )
        .await
    }

    /// `updateTaskStatus` that must succeed.
    pub async fn move_task(&self, task_id: &str, statuses: &[&str]) {
        for status in statuses {
            let resp = self.set_task(task_id, status).await;
            assert!(
                resp.get("errors").is_none(),
                "{task_id} -> {status}: {resp}"
            );
        }
    }

    /// A build's status and timestamps.
    pub async fn build(&self, build_id: &str) -> Value {
        self.ok(
            "query($id: ID!) { build(id: $id) { id status changeMessageTitle buildCreatedTimestamp durationInSeconds
               tasks { id name status optional statusTimestamp creationTimestamp scheduledTimestamp
                       executingTimestamp finalStatusTimestamp durationInSeconds manualRerunCount } } }",
            json!({ "id": build_id }),
        )
        .await["build"]
            .clone()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The `extensions.code` of the first error of a response.
/// One GraphQL operation against the server at `addr` as `token` (another instance, or an
/// organization of this one); panics on errors, returns `data`.
pub async fn gql_at(
    client: &reqwest::Client,
    addr: SocketAddr,
    token: &str,
    query: &str,
    variables: Value,
) -> Value {
    let resp: Value = client
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert!(resp.get("errors").is_none(), "{query}: {resp}");
    resp["data"].clone()
}

/// The Prometheus exposition of the server at `addr`.
pub async fn metrics_at(client: &reqwest::Client, addr: SocketAddr) -> String {
    client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

pub fn error_code(resp: &Value) -> Option<&str> {
    resp["errors"][0]["extensions"]["code"].as_str()
}

/// Saves `endpoints` as the organization's webhook settings; returns the whole response.
pub async fn save_endpoints(app: &TestApp, org: &Org, endpoints: Value) -> Value {
    app.gql_as(
        &org.token,
        "mutation($i: SaveWebHookSettingsInput!) { saveWebHookSettings(input: $i) { settings { endpoints {
            id webhookURL maskedSecretToken events repositoryId query enabled generatedSecretToken } } } }",
        json!({ "i": { "ownerUid": org.uid, "deliveryEndpoints": endpoints } }),
    )
    .await
}

/// The newest 100 deliveries of the app's organization, oldest first (the connection's order),
/// with attempts.
pub async fn deliveries(app: &TestApp) -> Vec<Value> {
    let data = app
        .ok(
            "{ ownerInfo { webhookDeliveries(last: 100) { edges { node { id state webhookURL attemptCount
                payload { event action data } response { status } attempts { number status error durationMs } } } } } }",
            json!({}),
        )
        .await;
    data["ownerInfo"]["webhookDeliveries"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// Waits until every delivery of the organization reached a final state; returns them.
pub async fn settled_deliveries(app: &TestApp, expected: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let all = deliveries(app).await;
        let done = all.len() >= expected
            && all
                .iter()
                .all(|d| d["state"] == "DELIVERED" || d["state"] == "FAILED");
        if done || std::time::Instant::now() > deadline {
            return all;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Endpoint rows of the app's organization for `build.created`, written directly as if saved
/// while their names pointed elsewhere (DNS rebinding): the save-time check is bypassed on
/// purpose, so the connect-time guard must hold on its own. Returns their ids, in order.
pub async fn insert_unchecked_endpoints(app: &TestApp, urls: &[String]) -> Vec<i32> {
    use sea_orm::{ActiveModelTrait, Set};
    let org_id: i32 = app.org.uid.parse().expect("uid");
    let mut ids = Vec::with_capacity(urls.len());
    for (i, url) in urls.iter().enumerate() {
        let row = buildhooks_entity::webhook_endpoint::ActiveModel {
            org_id: Set(org_id),
            position: Set(i as i32),
            url: Set(url.clone()),
            secret: Set(None),
            events: Set("[\"build.created\"]".into()),
            repository_id: Set(None),
            query: Set(None),
            enabled: Set(true),
            deleted: Set(false),
            created_at: Set(0),
            ..Default::default()
        }
        .insert(app.state.store.conn())
        .await
        .expect("endpoint");
        ids.push(row.id);
    }
    ids
}
