//! `--mode inbound`: signed GitHub `workflow_job` requests to `POST /hooks/in/{id}` at
//! saturation (`--concurrency` in flight, `--events` requests), each turned by the server into a
//! task transition whose `task.*` delivery reaches the benchmark's receiver.
//!
//! Each job is reported three times, in order: `queued` (first sight: the task is created in
//! TRIGGERED), `in_progress` (EXECUTING), `completed` with `success` (COMPLETED). One worker
//! sends all of a job's requests, one after the other, so they never overtake each other (the
//! server would answer a late one 202, ignored); workers take jobs from a shared counter, and jobs
//! are dealt round-robin over many workflow runs, so concurrent requests touch different builds.
//! Every body is built and signed (`X-Hub-Signature-256`, computed here from the secret that
//! `createInboundSource` showed once) before the clock starts.
//!
//! What issue 16's inbound contract makes the server send to an endpoint for
//! `task.*` and `build.*`: one task event per request (`created` for a job's first request,
//! `updated` for the others), and one `build.created` (CREATED) per workflow run, when its first
//! job creates the build. A delivery is matched to its request by the task's name, which carries
//! the job's index, and its new status; latency runs from the request's send to the receiver
//! holding that delivery's body.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::body::Bytes;
use buildhooks_schema::NoHooks;
use buildhooks_server::config::{Config, Role};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::receiver::{self, Arrivals, Bodies, Body};
use crate::server::{Org, Server};
use crate::{base_report, stats, wait_for, BenchArgs, BenchDb, Mode, Progress};

/// A job's reports in the order GitHub sends them: (action and status, conclusion, the task
/// status the contract's table maps it to).
const STEPS: [(&str, Option<&str>, &str); 3] = [
    ("queued", None, "TRIGGERED"),
    ("in_progress", None, "EXECUTING"),
    ("completed", Some("success"), "COMPLETED"),
];
/// Jobs per workflow run (each run one build).
const JOBS_PER_RUN: usize = 10;
/// The task names' prefix; the job's index follows.
const JOB_NAME: &str = "bench-job-";
/// GitHub-sized ids: job `j` is `JOB_IDS + j`, run `r` is `RUN_IDS + r`.
const JOB_IDS: u64 = 20_000_000_000;
const RUN_IDS: u64 = 9_000_000_000;
/// The repository every request names (created in the organization on first sight).
const REPOSITORY: &str = "bench/inbound";

/// One request, ready to send.
struct Request {
    body: Bytes,
    signature: String,
    delivery: String,
}

/// Every request of the run, by job, each job's in order.
struct Plan {
    jobs: Vec<Vec<Request>>,
    runs: usize,
    requests: usize,
}

/// `sha256=` + hex HMAC-SHA256 of the raw body with the webhook secret.
// GitHub: https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
fn sign(secret: &str, body: &[u8]) -> anyhow::Result<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())?;
    mac.update(body);
    Ok(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

/// A compact `workflow_job` body: job `job` of run `run` at step `step` of [`STEPS`].
// GitHub: https://docs.github.com/en/webhooks/webhook-events-and-payloads#workflow_job
fn body(job: usize, run: usize, step: usize) -> Value {
    let (status, conclusion, _) = STEPS[step];
    json!({
        "action": status,
        "workflow_job": {
            "id": JOB_IDS + job as u64,
            "run_id": RUN_IDS + run as u64,
            "name": format!("{JOB_NAME}{job}"),
            "status": status,
            "conclusion": conclusion,
            "labels": ["ubuntu-latest"],
            "head_branch": "main",
            "head_sha": format!("{:040x}", RUN_IDS + run as u64),
            "workflow_name": "bench",
            "started_at": "2026-01-01T00:00:00Z",
            "completed_at": conclusion.map(|_| "2026-01-01T00:01:00Z"),
        },
        "repository": { "full_name": REPOSITORY },
    })
}

impl Plan {
    /// `requests` requests: `ceil(requests / 3)` jobs of three (the last one may be shorter),
    /// job `j` in run `j % runs`, signed with `secret`.
    fn build(requests: usize, secret: &str) -> anyhow::Result<Plan> {
        let jobs = requests.div_ceil(STEPS.len());
        let runs = jobs.div_ceil(JOBS_PER_RUN).max(1);
        let mut planned = Vec::with_capacity(jobs);
        for job in 0..jobs {
            let steps = (requests - job * STEPS.len()).min(STEPS.len());
            let mut list = Vec::with_capacity(steps);
            for step in 0..steps {
                let body = serde_json::to_vec(&body(job, job % runs, step))?;
                list.push(Request {
                    signature: sign(secret, &body)?,
                    body: Bytes::from(body),
                    delivery: uuid::Uuid::new_v4().to_string(),
                });
            }
            planned.push(list);
        }
        Ok(Plan {
            runs: runs.min(jobs),
            jobs: planned,
            requests,
        })
    }
}

/// The request a task delivery answers: index `job * 3 + step`, from the task's name and status.
fn request_of(task: &Value) -> Option<usize> {
    let (_, index) = task["name"].as_str()?.rsplit_once(JOB_NAME)?;
    let job: usize = index.parse().ok()?;
    let status = task["status"].as_str()?;
    let step = STEPS.iter().position(|(_, _, ours)| *ours == status)?;
    Some(job * STEPS.len() + step)
}

/// How the inbound requests were answered.
#[derive(Default)]
struct Answers {
    /// 200 `{"result": "applied"}`.
    applied: usize,
    /// 202: ignored (late, or not handled).
    ignored: usize,
    /// Another 2xx (a duplicate: the bench never repeats a delivery id).
    other_2xx: usize,
    /// Answered outside 2xx.
    non_2xx: usize,
    /// No answer (connection error or timeout).
    errors: usize,
    /// The first answer that was not `applied`, for the report.
    first_unexpected: Option<String>,
}

impl Answers {
    fn note_unexpected(&mut self, what: String) {
        if self.first_unexpected.is_none() {
            self.first_unexpected = Some(what);
        }
    }

    async fn note(&mut self, sent: reqwest::Result<reqwest::Response>) {
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                self.errors += 1;
                self.note_unexpected(format!("no answer: {e}"));
                return;
            }
        };
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let result = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["result"].as_str().map(str::to_owned));
        match (status.as_u16(), result.as_deref()) {
            (200, Some("applied")) => {
                self.applied += 1;
                return;
            }
            (202, _) => self.ignored += 1,
            (s, _) if (200..300).contains(&s) => self.other_2xx += 1,
            _ => self.non_2xx += 1,
        }
        let text: String = text.chars().take(300).collect();
        self.note_unexpected(format!("{status}: {text}"));
    }

    fn add(&mut self, other: Answers) {
        self.applied += other.applied;
        self.ignored += other.ignored;
        self.other_2xx += other.other_2xx;
        self.non_2xx += other.non_2xx;
        self.errors += other.errors;
        if let Some(what) = other.first_unexpected {
            self.note_unexpected(what);
        }
    }
}

/// The organization's endpoint (every repository, `task.*` and `build.*`, at `receiver_url`)
/// and a GITHUB inbound source; returns the source's URL and its secret.
async fn setup(
    org: &Org,
    args: &BenchArgs,
    receiver_url: &str,
) -> anyhow::Result<(String, String)> {
    org.api.call(
        "mutation($i: SaveWebHookSettingsInput!) { saveWebHookSettings(input: $i) { settings { ownerUid } } }",
        json!({ "i": { "ownerUid": org.uid, "deliveryEndpoints": [{ "webhookURL": receiver_url, "events": ["task.*", "build.*"], "secretToken": "bench-secret", "maxInFlight": 64, "ordering": args.ordering.graphql() }] } }),
    )
    .await?;
    let created = org
        .api
        .call(
            "mutation($i: CreateInboundSourceInput!) { createInboundSource(input: $i) { secret source { id url } } }",
            json!({ "i": { "kind": "GITHUB", "name": "bench" } }),
        )
        .await?;
    let payload = &created["createInboundSource"];
    let secret = payload["secret"].as_str().context("the source's secret")?;
    let url = payload["source"]["url"]
        .as_str()
        .context("the source's URL")?;
    let url = if url.starts_with("http") {
        url.to_owned()
    } else {
        // Relative unless BUILDHOOKS_PUBLIC_URL is set: beside the API's `/graphql`.
        format!("{}{url}", org.api.url.trim_end_matches("/graphql"))
    };
    Ok((url, secret.to_owned()))
}

/// What the receiver got, matched to the plan.
#[derive(Default)]
struct Received {
    /// Task deliveries matched to a request, with their latency in ms.
    tasks: usize,
    latencies: Vec<f64>,
    /// Distinct `build.created` deliveries.
    builds: usize,
    /// Deliveries that match no planned event, or one already matched.
    unexpected: usize,
}

/// Matches every distinct delivery's body to the request that caused it.
fn match_bodies(bodies: Vec<(Instant, Bytes)>, sent: &[Option<Instant>]) -> Received {
    let mut seen = vec![false; sent.len()];
    let mut builds = HashSet::new();
    let mut out = Received::default();
    for (at, body) in bodies {
        let Ok(body) = serde_json::from_slice::<Value>(&body) else {
            out.unexpected += 1;
            continue;
        };
        let task = &body["data"]["task"];
        if task.is_null() {
            let build = body["data"]["build"]["id"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            if body["action"] == "created" && !build.is_empty() && builds.insert(build) {
                out.builds += 1;
            } else {
                out.unexpected += 1;
            }
            continue;
        }
        match request_of(task).filter(|i| *i < sent.len() && !seen[*i]) {
            Some(i) => {
                seen[i] = true;
                out.tasks += 1;
                if let Some(sent) = sent[i] {
                    out.latencies
                        .push(at.saturating_duration_since(sent).as_secs_f64() * 1000.0);
                }
            }
            None => out.unexpected += 1,
        }
    }
    out
}

/// The first body of each delivery id: a redelivery counts as a duplicate, never as a second
/// match.
fn first_of_each(bodies: Vec<Body>) -> Vec<(Instant, Bytes)> {
    let mut ids = HashSet::new();
    bodies
        .into_iter()
        .filter(|(_, id, _)| ids.insert(id.clone()))
        .map(|(at, _, body)| (at, body))
        .collect()
}

pub async fn run(config: &Config, args: &BenchArgs, db: &BenchDb) -> anyhow::Result<Value> {
    if args.rate.is_some() || args.hanging_endpoints > 0 {
        bail!("--mode inbound runs at saturation (--concurrency); --rate and --hanging-endpoints are for e2e");
    }
    let arrivals = Arrivals::default();
    let bodies = Bodies::default();
    let receiver_url = receiver::start_keeping_bodies(arrivals.clone(), bodies.clone()).await?;
    let (org, server) = Server::start(config, args, db, Role::All, Arc::new(NoHooks)).await?;
    let (url, secret) = setup(&org, args, &receiver_url).await?;
    let plan = Arc::new(Plan::build(args.events.max(1), &secret)?);
    let expected = plan.requests + plan.runs;
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(args.concurrency.max(1))
        .timeout(Duration::from_secs(30))
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let answers = Arc::new(Mutex::new(Answers::default()));
    let progress = Progress::start("inbound", arrivals.clone(), expected);
    let cpu = stats::CpuMeter::start();
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.max(1) {
        let (client, url, plan, next, answers) = (
            client.clone(),
            url.clone(),
            plan.clone(),
            next.clone(),
            answers.clone(),
        );
        workers.spawn(async move {
            let mut mine = Answers::default();
            let mut sent = Vec::new();
            loop {
                let job = next.fetch_add(1, Ordering::Relaxed);
                let Some(requests) = plan.jobs.get(job) else {
                    break;
                };
                for (step, request) in requests.iter().enumerate() {
                    let post = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("user-agent", "GitHub-Hookshot/bench")
                        .header("x-github-event", "workflow_job")
                        .header("x-github-delivery", &request.delivery)
                        .header("x-hub-signature-256", &request.signature)
                        .body(request.body.clone());
                    sent.push((job * STEPS.len() + step, Instant::now()));
                    mine.note(post.send().await).await;
                }
            }
            if let Ok(mut all) = answers.lock() {
                all.add(mine);
            }
            sent
        });
    }
    let mut sent = vec![None; plan.jobs.len() * STEPS.len()];
    while let Some(times) = workers.join_next().await {
        for (i, at) in times? {
            sent[i] = Some(at);
        }
    }
    let requests_done = started.elapsed().as_secs_f64().max(1e-9);
    wait_for(&arrivals, expected, Duration::from_secs(15)).await;
    let cpu = cpu.stop();
    drop(progress);
    let firsts = arrivals.first_arrivals();
    let last_arrival = firsts.values().max().copied().unwrap_or_else(Instant::now);
    let seconds = last_arrival
        .saturating_duration_since(started)
        .as_secs_f64()
        .max(1e-9);
    let (distinct, total) = arrivals.counts();
    let received = match_bodies(first_of_each(bodies.take()), &sent);
    let answers = std::mem::take(&mut *answers.lock().map_err(|_| anyhow::anyhow!("answers"))?);

    let database = if args.target.is_some() {
        "target"
    } else {
        db.label
    };
    let mut report = base_report(Mode::Inbound, database, plan.requests);
    report["concurrency"] = json!(args.concurrency.max(1));
    report["jobs"] = json!(plan.jobs.len());
    report["runs_of_jobs"] = json!(plan.runs);
    report["seconds"] = json!(stats::round(seconds));
    report["inbound_requests_per_s"] = json!(stats::round(plan.requests as f64 / requests_done));
    report["applied"] = json!(answers.applied);
    report["ignored"] = json!(answers.ignored);
    report["other_2xx"] = json!(answers.other_2xx);
    report["non_2xx"] = json!(answers.non_2xx);
    report["request_errors"] = json!(answers.errors);
    report["first_unexpected_answer"] = json!(answers.first_unexpected);
    report["expected_deliveries"] = json!(expected);
    report["deliveries"] = json!(distinct);
    report["task_deliveries"] = json!(received.tasks);
    report["build_deliveries"] = json!(received.builds);
    report["deliveries_per_s"] = json!(stats::round(distinct as f64 / seconds));
    report["latency_ms"] = stats::percentiles(&received.latencies);
    report["latency_measured"] =
        json!("inbound request sent -> receiver holds the task delivery's body");
    report["lost"] = json!(expected.saturating_sub(received.tasks + received.builds));
    report["duplicates"] = json!(total - distinct);
    report["unexpected_deliveries"] = json!(received.unexpected);
    report["ordering"] = json!(args.ordering.graphql());
    cpu.report(&mut report, plan.requests);
    drop(org);
    server.stop().await;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_githubs_documented_example() {
        // The example of GitHub's "Validating webhook deliveries" page.
        assert_eq!(
            sign("It's a Secret to Everybody", b"Hello, World!").expect("sign"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn each_job_is_queued_then_in_progress_then_completed_and_jobs_spread_over_runs() {
        let plan = Plan::build(64, "s3cret").expect("plan");
        assert_eq!(plan.jobs.len(), 22);
        assert_eq!(plan.runs, 3);
        assert_eq!(plan.jobs[21].len(), 1, "the last job takes what is left");
        let bodies: Vec<Value> = plan.jobs[4]
            .iter()
            .map(|r| serde_json::from_slice(&r.body).expect("JSON"))
            .collect();
        let statuses: Vec<&str> = bodies
            .iter()
            .map(|b| b["workflow_job"]["status"].as_str().expect("status"))
            .collect();
        assert_eq!(statuses, ["queued", "in_progress", "completed"]);
        assert_eq!(bodies[2]["workflow_job"]["conclusion"], "success");
        assert_eq!(bodies[0]["workflow_job"]["run_id"], RUN_IDS + 1);
        assert_eq!(bodies[0]["repository"]["full_name"], REPOSITORY);
        let request = &plan.jobs[4][1];
        assert_eq!(
            request.signature,
            sign("s3cret", &request.body).expect("sign")
        );
        let ids: HashSet<&str> = plan
            .jobs
            .iter()
            .flatten()
            .map(|r| r.delivery.as_str())
            .collect();
        assert_eq!(ids.len(), 64, "a delivery id per request");
    }

    #[test]
    fn deliveries_match_their_request_once_and_builds_count_once() {
        let start = Instant::now();
        let sent = vec![Some(start); 6];
        let later = start + Duration::from_millis(7);
        let task = |name: &str, status: &str| {
            Bytes::from(
                json!({ "action": "updated", "data": { "build": { "id": "3" }, "task": { "name": name, "status": status } } })
                    .to_string(),
            )
        };
        let build = Bytes::from(
            json!({ "action": "created", "data": { "build": { "id": "3" }, "task": null } })
                .to_string(),
        );
        let received = match_bodies(
            vec![
                (later, task("bench-job-1", "EXECUTING")),
                (later, task("bench-job-1", "EXECUTING")),
                (later, task("bench-job-0", "TRIGGERED")),
                (later, task("bench-job-9", "TRIGGERED")),
                (later, build.clone()),
                (later, build),
            ],
            &sent,
        );
        assert_eq!(received.tasks, 2);
        assert_eq!(received.builds, 1);
        assert_eq!(received.unexpected, 3);
        assert_eq!(received.latencies, vec![7.0, 7.0]);
    }
}
