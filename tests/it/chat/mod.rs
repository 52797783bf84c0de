//! Chat robots as endpoint kinds (issue 15), end to end against the fake robots of
//! `utils::robots`: each kind's format, signature and answers (`kinds`), vendor pacing without
//! loss or head-of-line blocking (`throttle`), order per build (`ordering`), the derived
//! `build.fixed` / `build.still_failing` events (`derived`) and templates and size limits
//! (`templates`). The GraphQL shapes follow the lead's contract (`/work/notes/chat-contract.md`).
//! Shared here: settings with the new fields, builds on a branch, and every delivery of an
//! organization, paged.

mod derived;
mod kinds;
mod links;
mod ordering;
mod rate_limit;
mod templates;
mod throttle;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::utils::{Org, TestApp};

/// Every field of an endpoint as the contract returns it.
pub const ENDPOINT_FIELDS: &str = "id kind webhookURL maskedSecretToken events ordering digest
    template atMobiles isAtAll mentionedList maxInFlight enabled";

/// Saves `endpoints` for `org`; returns the whole response (errors included).
pub async fn save(app: &TestApp, org: &Org, endpoints: Value) -> Value {
    app.gql_as(
        &org.token,
        &format!(
            "mutation($i: SaveWebHookSettingsInput!) {{ saveWebHookSettings(input: $i) {{
                settings {{ endpoints {{ {ENDPOINT_FIELDS} }} }} }} }}"
        ),
        json!({ "i": { "ownerUid": org.uid, "deliveryEndpoints": endpoints } }),
    )
    .await
}

/// Saves `endpoints` for `org`, which must succeed; returns the saved endpoints.
pub async fn save_ok(app: &TestApp, org: &Org, endpoints: Value) -> Vec<Value> {
    let resp = save(app, org, endpoints).await;
    assert!(resp.get("errors").is_none(), "save refused: {resp}");
    resp["data"]["saveWebHookSettings"]["settings"]["endpoints"]
        .as_array()
        .expect("endpoints")
        .clone()
}

/// The organization's endpoints as `webhookSettings` shows them.
pub async fn settings(app: &TestApp, org: &Org) -> Value {
    let resp = app
        .gql_as(
            &org.token,
            &format!(
                "{{ ownerInfo {{ webhookSettings {{ endpoints {{ {ENDPOINT_FIELDS} }} }} }} }}"
            ),
            json!({}),
        )
        .await;
    assert!(resp.get("errors").is_none(), "{resp}");
    resp["data"]["ownerInfo"]["webhookSettings"]["endpoints"].clone()
}

/// One GraphQL call to the server at `api` as `token`; panics on errors, returns `data`.
pub async fn call(
    app: &TestApp,
    api: SocketAddr,
    token: &str,
    query: &str,
    variables: Value,
) -> Value {
    crate::utils::gql_at(&app.client, api, token, query, variables).await
}

/// Creates a repository of `org`; returns its id.
pub async fn repository(app: &TestApp, org: &Org, name: &str) -> String {
    call(
        app,
        app.addr,
        &org.token,
        "mutation($n: String!) { createRepository(input: {name: $n}) { repository { id } } }",
        json!({ "n": name }),
    )
    .await["createRepository"]["repository"]["id"]
        .as_str()
        .expect("repository id")
        .to_owned()
}

/// Creates a build of `org` on `branch` with tasks `(name, optional)` through the API at `api`;
/// returns (build id, task ids in order).
pub async fn build_at(
    app: &TestApp,
    api: SocketAddr,
    org: &Org,
    repo: &str,
    branch: &str,
    tasks: &[(&str, bool)],
) -> (String, Vec<String>) {
    let tasks: Vec<Value> = tasks
        .iter()
        .map(|(name, optional)| json!({ "name": name, "optional": optional }))
        .collect();
    let data = call(
        app,
        api,
        &org.token,
        "mutation($i: RepositoryCreateBuildInput!) { createBuild(input: $i) { build { id tasks { id } } } }",
        json!({ "i": { "repositoryId": repo, "branch": branch, "sha": "c0ffee",
            "message": "Chat robots", "tasks": tasks } }),
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

/// `build_at` through the app's own API.
pub async fn build_on(
    app: &TestApp,
    org: &Org,
    repo: &str,
    branch: &str,
    tasks: &[(&str, bool)],
) -> (String, Vec<String>) {
    build_at(app, app.addr, org, repo, branch, tasks).await
}

/// Moves a task of `org` through `statuses` (each must be allowed) through the API at `api`.
pub async fn move_at(app: &TestApp, api: SocketAddr, org: &Org, task: &str, statuses: &[&str]) {
    for status in statuses {
        call(
            app,
            api,
            &org.token,
            "mutation($i: UpdateTaskStatusInput!) { updateTaskStatus(input: $i) { task { id } } }",
            json!({ "i": { "taskId": task, "status": status } }),
        )
        .await;
    }
}

/// `move_at` through the app's own API.
pub async fn move_as(app: &TestApp, org: &Org, task: &str, statuses: &[&str]) {
    move_at(app, app.addr, org, task, statuses).await
}

const DELIVERY_FIELDS: &str = "id state endpointId timestamp attemptCount webhookURL
    payload { event action data } attempts { number at status error responseExcerpt durationMs }";

/// Every delivery of `org` with `fields`, oldest first (the outbox's order), every page.
async fn deliveries_with(app: &TestApp, org: &Org, fields: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = Value::Null;
    loop {
        let data = call(
            app,
            app.addr,
            &org.token,
            &format!(
                "query($after: String) {{ ownerInfo {{ webhookDeliveries(first: 100, after: $after) {{
                    pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {fields} }} }} }} }} }}"
            ),
            json!({ "after": after }),
        )
        .await;
        let page = &data["ownerInfo"]["webhookDeliveries"];
        out.extend(
            page["edges"]
                .as_array()
                .expect("edges")
                .iter()
                .map(|e| e["node"].clone()),
        );
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    out
}

/// Every delivery of `org` with its attempts, oldest first (the outbox's order).
pub async fn all_deliveries(app: &TestApp, org: &Org) -> Vec<Value> {
    deliveries_with(app, org, DELIVERY_FIELDS).await
}

/// Is a delivery in a final state?
pub fn is_final(d: &Value) -> bool {
    d["state"] == "DELIVERED" || d["state"] == "FAILED"
}

/// Waits until `org` has at least `expected` deliveries and all are final (or `timeout`),
/// polling their states only (light on the server while it paces); returns them all with their
/// attempts, oldest first.
pub async fn settle(app: &TestApp, org: &Org, expected: usize, timeout: Duration) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let states = deliveries_with(app, org, "id state").await;
        if (states.len() >= expected && states.iter().all(is_final)) || Instant::now() > deadline {
            return all_deliveries(app, org).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A delivery by its id, with its attempts (`webhookDelivery`).
pub async fn delivery(app: &TestApp, org: &Org, id: &str) -> Value {
    call(
        app,
        app.addr,
        &org.token,
        &format!("query($id: String!) {{ webhookDelivery(id: $id) {{ {DELIVERY_FIELDS} }} }}"),
        json!({ "id": id }),
    )
    .await["webhookDelivery"]
        .clone()
}

/// `webhookPing` of endpoint `endpoint_id`; returns the delivery.
pub async fn ping(app: &TestApp, org: &Org, endpoint_id: &Value) -> Value {
    call(
        app,
        app.addr,
        &org.token,
        &format!(
            "mutation($i: WebhookPingInput!) {{ webhookPing(input: $i) {{ delivery {{ {DELIVERY_FIELDS} }} }} }}"
        ),
        json!({ "i": { "ownerUid": org.uid, "endpointId": endpoint_id } }),
    )
    .await["webhookPing"]["delivery"]
        .clone()
}

/// A small deterministic random generator (xorshift64*), so a failing run can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The most arrivals in any window `[t, t + window)` that starts at an arrival, over sorted
/// `times`.
pub fn most_in_window(times: &[Instant], window: Duration) -> usize {
    let mut most = 0;
    let mut end = 0;
    for (i, t) in times.iter().enumerate() {
        while end < times.len() && times[end] < *t + window {
            end += 1;
        }
        most = most.max(end - i);
    }
    most
}
