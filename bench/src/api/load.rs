//! The load `--mode api` offers: GraphQL calls over HTTP from this (the client) process, closed
//! loop (`--concurrency` callers, each sending its next call when the last one is answered) or
//! open loop (`--rate`: call i is due at start + i/rate whatever the answers do, and its latency
//! counts from that due time, so a server that falls behind cannot hide it).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::Bytes;
use serde_json::{json, Value};

use super::receive::now_ns;

/// The call each request makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Call {
    /// `createBuild` with one task; the endpoint selects `build.created`.
    CreateBuild,
    /// `updateTaskStatus` to TRIGGERED of a task made before the clock starts; the endpoint
    /// selects `task.triggered`.
    UpdateTaskStatus,
}

impl Call {
    pub fn name(self) -> &'static str {
        match self {
            Call::CreateBuild => "createBuild",
            Call::UpdateTaskStatus => "updateTaskStatus",
        }
    }

    /// The event the run's endpoint selects: one delivery per call.
    pub fn event(self) -> &'static str {
        match self {
            Call::CreateBuild => "build.created",
            Call::UpdateTaskStatus => "task.triggered",
        }
    }
}

const CREATE: &str =
    "mutation($i: RepositoryCreateBuildInput!) { createBuild(input: $i) { build { id } } }";
const UPDATE: &str = "mutation($t: ID!) { updateTaskStatus(input: {taskId: $t, status: TRIGGERED}) { clientMutationId } }";

/// One call as sent: what its delivery will be about (the build's or the task's id; "" when the
/// call failed), when it was sent (open loop: when it was due), began to go out and was
/// answered, in ns since the epoch.
pub(crate) struct Sent {
    pub subject: String,
    pub sent_ns: u64,
    /// When the request began to go out (open loop: its due time plus the client's own delay).
    pub started_ns: u64,
    pub acked_ns: u64,
}

/// Where and how calls go.
pub(crate) struct Target {
    pub client: reqwest::Client,
    pub url: String,
    pub token: String,
    pub call: Call,
    pub repository: String,
}

impl Target {
    /// The request body of call `i` (`tasks`: the tasks made for `updateTaskStatus`).
    fn body(&self, tasks: &[String], i: usize) -> Bytes {
        let body = match self.call {
            Call::CreateBuild => json!({ "query": CREATE, "variables": { "i": {
                "repositoryId": self.repository, "branch": "main", "tasks": [{ "name": "bench" }]
            } } }),
            Call::UpdateTaskStatus => json!({ "query": UPDATE, "variables": { "t": tasks[i] } }),
        };
        Bytes::from(body.to_string())
    }

    /// Sends one call; returns its subject ("" when it failed: no data, or GraphQL errors).
    async fn send(&self, body: Bytes, task: Option<&str>) -> String {
        let answer = self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        let Ok(answer) = answer else {
            return String::new();
        };
        let Ok(value) = answer.json::<Value>().await else {
            return String::new();
        };
        if value.get("errors").is_some() {
            return String::new();
        }
        match task {
            Some(task) => task.to_owned(),
            None => value["data"]["createBuild"]["build"]["id"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        }
    }
}

/// Makes `n` tasks for `updateTaskStatus` (untimed), in builds of up to 50, listed round-robin
/// over the builds: concurrent calls move tasks of different builds, as concurrent CI agents do
/// (a transition locks its build).
pub(crate) async fn tasks(target: &Target, n: usize) -> anyhow::Result<Vec<String>> {
    const QUERY: &str = "mutation($i: RepositoryCreateBuildInput!) { createBuild(input: $i) { build { tasks { id } } } }";
    let mut builds: Vec<Vec<String>> = Vec::new();
    let mut made = 0;
    while made < n {
        let mut ids = Vec::new();
        let tasks: Vec<Value> = (0..(n - made).min(50))
            .map(|i| json!({ "name": format!("task-{i}") }))
            .collect();
        let body = json!({ "query": QUERY, "variables": { "i": {
            "repositoryId": target.repository, "branch": "main", "tasks": tasks } } });
        let value: Value = target
            .client
            .post(&target.url)
            .bearer_auth(&target.token)
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        for task in value["data"]["createBuild"]["build"]["tasks"]
            .as_array()
            .with_context(|| format!("createBuild answered {value}"))?
        {
            ids.push(task["id"].as_str().context("task id")?.to_owned());
        }
        made += ids.len();
        builds.push(ids);
    }
    let longest = builds.iter().map(Vec::len).max().unwrap_or(0);
    Ok((0..longest)
        .flat_map(|i| builds.iter().filter_map(move |b| b.get(i).cloned()))
        .collect())
}

/// Sends `n` calls with `concurrency` callers, each call after the previous one's answer.
pub(crate) async fn closed(
    target: Arc<Target>,
    tasks: Arc<Vec<String>>,
    n: usize,
    concurrency: usize,
) -> Vec<Sent> {
    let next = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (target, tasks, next) = (target.clone(), tasks.clone(), next.clone());
            tokio::spawn(async move {
                let mut sent = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return sent;
                    }
                    let body = target.body(&tasks, i);
                    let sent_ns = now_ns();
                    let subject = target.send(body, tasks.get(i).map(String::as_str)).await;
                    sent.push(Sent {
                        subject,
                        sent_ns,
                        started_ns: sent_ns,
                        acked_ns: now_ns(),
                    });
                }
            })
        })
        .collect();
    let mut all = Vec::with_capacity(n);
    for caller in callers {
        all.extend(caller.await.unwrap_or_default());
    }
    all
}

/// Sends `n` calls at `rate` per second, each at its due time whatever the earlier ones do;
/// a call's `sent_ns` is its due time. A thread of its own keeps the times: it builds call i's
/// body, sleeps until i is due (`nanosleep`: tens of microseconds late, where the runtime's
/// timer wheel fires up to a millisecond late, which the latencies would count against the
/// server) and hands the call to the runtime. Nothing runs ahead of its time, so the client
/// does not burst at the start.
pub(crate) async fn open(
    target: Arc<Target>,
    tasks: Arc<Vec<String>>,
    n: usize,
    rate: u32,
) -> Vec<Sent> {
    let runtime = tokio::runtime::Handle::current();
    let (calls, mut spawned) = tokio::sync::mpsc::unbounded_channel();
    let interval = 1e9 / f64::from(rate.max(1));
    let timer = std::thread::spawn(move || {
        let start = std::time::Instant::now() + Duration::from_millis(10);
        let start_ns = now_ns() + 10_000_000;
        for i in 0..n {
            let offset = (i as f64 * interval) as u64;
            let body = target.body(&tasks, i);
            let due = start + Duration::from_nanos(offset);
            std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
            let (target, tasks) = (target.clone(), tasks.clone());
            let call = runtime.spawn(async move {
                let started_ns = now_ns();
                let subject = target.send(body, tasks.get(i).map(String::as_str)).await;
                Sent {
                    subject,
                    sent_ns: start_ns + offset,
                    started_ns,
                    acked_ns: now_ns(),
                }
            });
            if calls.send(call).is_err() {
                return;
            }
        }
    });
    let mut all = Vec::with_capacity(n);
    while let Some(call) = spawned.recv().await {
        if let Ok(sent) = call.await {
            all.push(sent);
        }
    }
    let _ = timer.join();
    all
}
