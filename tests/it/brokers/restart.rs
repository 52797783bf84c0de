//! A broker restarted mid-load loses nothing. NATS: a private `nats-server -js` on its own port
//! and store directory, killed with SIGKILL while transitions flow and started again on the
//! same directory; every delivery ends DELIVERED and the stream holds exactly one message per
//! delivery id (JetStream's duplicate window drops the repeats published under the same
//! `Nats-Msg-Id`). RabbitMQ: `rabbitmqctl stop_app` / `start_app` on the shared broker (holding
//! [`super::RESTART`] for write; `start_app` runs from a guard whatever happens); a durable
//! queue receives every delivery id, repeats no more than were in flight. In both, the retry
//! delay outlasts the outage, so one retry is enough.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{id_of, save_ok, spawn, AMQP_BROKER, NATS_BROKER, RESTART};
use crate::chat::settle;
use crate::utils::brokers::{
    amqp_url, nats_url, unique, AmqpQueue, JetStream, Received, DEFAULT_EXCHANGE,
};
use crate::utils::TestApp;

/// The load's builds, at least; it goes on until the broker is back.
const MIN_BUILDS: usize = 10;
/// The load's builds, at most (should the broker not come back).
const MAX_BUILDS: usize = 45;
const TASKS: [(&str, bool); 4] = [("a", false), ("b", false), ("c", true), ("d", false)];
/// Events of a build: 4 task creations and 4 x 4 status changes.
const EVENTS_PER_BUILD: usize = 20;
/// The stop comes once this many messages reached the broker.
const STOP_AT: u64 = 40;
/// Deliveries in flight at once (the dispatcher's slots): the most that can be repeated.
const IN_FLIGHT: usize = 8;

/// Whether `program` runs; if not, says so (or fails under CI).
fn installed(program: &str, hint: &str) -> bool {
    let found = Command::new("which")
        .arg(program)
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "CI=true but {program} is not on PATH: {hint}"
        );
        eprintln!("skipped: {program} is not on PATH ({hint})");
    }
    found
}

/// Drives one build: its tasks created, then each moved through every status in turn.
async fn drive(app: &TestApp, repo: &str) {
    let (_, tasks) = app.create_build(repo, &TASKS, false).await;
    for status in ["TRIGGERED", "SCHEDULED", "EXECUTING", "COMPLETED"] {
        for task in &tasks {
            app.move_task(task, &[status]).await;
        }
    }
}

/// The load: builds three at a time, at least `MIN_BUILDS` and until `back` is set (the broker
/// was restarted), so that transitions keep coming through the outage; returns the number of
/// events.
async fn load(app: &TestApp, repo: &str, back: &AtomicBool) -> usize {
    let mut builds = 0;
    while builds < MIN_BUILDS || (!back.load(Ordering::SeqCst) && builds < MAX_BUILDS) {
        futures::future::join_all((0..3).map(|_| drive(app, repo))).await;
        builds += 3;
    }
    builds * EVENTS_PER_BUILD
}

/// Every delivery of the app's organization (`events` of them), once all are final; each must
/// be DELIVERED, and some attempt must have met the outage.
async fn all_delivered(app: &TestApp, events: usize) -> Vec<Value> {
    let rows = settle(app, &app.org, events, Duration::from_secs(120)).await;
    assert_eq!(rows.len(), events, "one row per event");
    let mut errors: HashMap<String, usize> = HashMap::new();
    for d in &rows {
        for a in d["attempts"].as_array().expect("attempts") {
            if let Some(e) = a["error"].as_str() {
                *errors.entry(e.to_owned()).or_default() += 1;
            }
        }
    }
    let lost: Vec<&Value> = rows.iter().filter(|d| d["state"] != "DELIVERED").collect();
    assert!(lost.is_empty(), "not delivered: {lost:?}");
    assert!(
        !errors.is_empty(),
        "no attempt failed: the restart did not happen while deliveries were being made"
    );
    println!("restart: {events} delivered; failed attempts by error: {errors:?}");
    rows
}

/// Asserts the messages a consumer got hold every delivery id, repeats at most `IN_FLIGHT`;
/// returns the number of repeats.
fn assert_each_once_or_in_flight(rows: &[Value], got: &[Received]) -> usize {
    let want: HashSet<&str> = rows.iter().map(id_of).collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for m in got {
        *seen.entry(m.delivery()).or_default() += 1;
    }
    let lost: Vec<&&str> = want.iter().filter(|id| !seen.contains_key(**id)).collect();
    assert!(lost.is_empty(), "lost at the broker: {lost:?}");
    let strangers: Vec<&&str> = seen.keys().filter(|id| !want.contains(**id)).collect();
    assert!(
        strangers.is_empty(),
        "messages of no delivery: {strangers:?}"
    );
    let repeats = got.len() - want.len();
    assert!(
        repeats <= IN_FLIGHT,
        "{repeats} repeats, more than the {IN_FLIGHT} deliveries that can be in flight"
    );
    repeats
}

/// A private `nats-server -js` on a port and store directory of its own.
struct NatsServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl NatsServer {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = NatsServer {
            port,
            dir: tempfile::tempdir().expect("a store directory"),
            child: None,
        };
        server.run();
        server
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server on its port and store directory; returns once the port accepts.
    fn run(&mut self) {
        let store: &Path = self.dir.path();
        let child = Command::new("nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(store)
            .arg("-l")
            .arg(store.join("nats.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not accept on port {} within 10 s (log: {})",
                self.port,
                std::fs::read_to_string(store.join("nats.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no chance to flush or say goodbye.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_killed_mid_load_loses_nothing_and_its_duplicate_window_drops_repeats() {
    // The shared server is not used, but the variable says the broker tests are on.
    if nats_url().is_none() || !installed("nats-server", "apt-get install nats-server") {
        return;
    }
    const OUTAGE: Duration = Duration::from_millis(1_000);
    const RETRY_MS: u64 = 4_000;
    let mut server = NatsServer::start();
    let url = server.url();
    let app = spawn(Some(&url), None, |c| {
        c.retry_delay_ms = RETRY_MS;
        c.delivery_concurrency = IN_FLIGHT;
    })
    .await;
    let prefix = unique("bh");
    let mut stream = JetStream::create(&url, &[format!("{prefix}.>")]).await;
    save_ok(
        &app,
        json!([{ "kind": "NATS", "broker": NATS_BROKER, "events": ["task.*"],
                 "subject": format!("{prefix}.{{org}}.{{build}}.{{event}}.{{status}}") }]),
    )
    .await;
    let repo = app.create_repository("restart").await;

    let back = AtomicBool::new(false);
    let chaos = async {
        let deadline = Instant::now() + Duration::from_secs(60);
        let at_kill = loop {
            let n = stream.messages().await;
            if n >= STOP_AT {
                break n;
            }
            assert!(Instant::now() < deadline, "only {n} messages in 60 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        server.kill();
        let killed = Instant::now();
        tokio::time::sleep(OUTAGE).await;
        server.run();
        back.store(true, Ordering::SeqCst);
        (at_kill, killed.elapsed())
    };
    let (events, (at_kill, outage)) = tokio::join!(load(&app, &repo, &back), chaos);
    assert!(
        outage < Duration::from_millis(RETRY_MS),
        "the outage ({outage:?}) outlasted the retry delay"
    );

    let rows = all_delivered(&app, events).await;
    assert_eq!(
        stream.messages().await,
        events as u64,
        "the stream holds one message per delivery"
    );
    let got = stream.rest(Duration::from_secs(1)).await;
    let ids: HashSet<Option<&str>> = got.iter().map(|m| m.message_id.as_deref()).collect();
    assert_eq!(ids.len(), events, "one Nats-Msg-Id per delivery");
    for m in &got {
        assert_eq!(m.message_id.as_deref(), Some(m.delivery()), "{m:?}");
    }
    let repeats = assert_each_once_or_in_flight(&rows, &got);
    assert_eq!(repeats, 0, "the duplicate window dropped every repeat");
    // The window outlives the kill: a repeat of a message stored before it is dropped too.
    let stored_before: Vec<&Received> = got
        .iter()
        .filter(|m| m.sequence.is_some_and(|s| s <= at_kill))
        .collect();
    assert!(!stored_before.is_empty(), "messages stored before the kill");
    for m in &stored_before {
        assert!(
            stream.republish(m).await,
            "a repeat of {} (stored before the kill) was not taken as a duplicate",
            m.delivery()
        );
    }
    assert_eq!(
        stream.messages().await,
        events as u64,
        "repeats add nothing"
    );
    let retried = rows
        .iter()
        .filter(|d| d["attempts"].as_array().is_some_and(|a| a.len() > 1))
        .count();
    // A retry whose first publish had been stored is acknowledged as a duplicate.
    let dropped = rows
        .iter()
        .flat_map(|d| d["attempts"].as_array().cloned().unwrap_or_default())
        .filter(|a| {
            a["responseExcerpt"]
                .as_str()
                .is_some_and(|e| e.starts_with("duplicate"))
        })
        .count();
    println!(
        "nats restart: killed at {at_kill} of {events} messages, down {outage:?}; \
         {retried} deliveries retried, {dropped} of their repeats dropped by the duplicate \
         window, {} messages on the stream; {} repeats of messages stored before the kill \
         dropped",
        got.len(),
        stored_before.len()
    );
    stream.delete().await;
    drop(server);
}

/// `rabbitmqctl <command>`, which must succeed.
async fn rabbitmqctl(command: &str) {
    let out = tokio::process::Command::new("rabbitmqctl")
        .arg(command)
        .output()
        .await
        .unwrap_or_else(|e| panic!("rabbitmqctl {command}: {e}"));
    assert!(
        out.status.success(),
        "rabbitmqctl {command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// RabbitMQ's application stopped; dropping this starts it again, whatever happened.
struct Stopped {
    started: bool,
}

impl Stopped {
    async fn stop() -> Self {
        let guard = Stopped { started: false };
        rabbitmqctl("stop_app").await;
        guard
    }

    async fn start(mut self) {
        self.started = true;
        rabbitmqctl("start_app").await;
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if !self.started {
            let _ = Command::new("rabbitmqctl").arg("start_app").status();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_restarted_mid_load_loses_nothing() {
    let Some(url) = amqp_url() else { return };
    if !installed("rabbitmqctl", "apt-get install rabbitmq-server") {
        return;
    }
    // Stopping the app takes seconds and starting it more (5 to 10 s here, all told, on a
    // loaded machine): the retry waits longer than that.
    const RETRY_MS: u64 = 20_000;
    const OUTAGE: Duration = Duration::from_millis(1_000);
    let _alone = RESTART.write().await;
    let prefix = unique("bh");
    let queue = AmqpQueue::durable(&url, DEFAULT_EXCHANGE, &format!("{prefix}.#")).await;
    let app = spawn(None, Some(&url), |c| {
        c.retry_delay_ms = RETRY_MS;
        c.delivery_concurrency = IN_FLIGHT;
    })
    .await;
    save_ok(
        &app,
        json!([{ "kind": "AMQP", "broker": AMQP_BROKER, "events": ["task.*"],
                 "subject": format!("{prefix}.{{org}}.{{build}}.{{event}}.{{status}}") }]),
    )
    .await;
    let repo = app.create_repository("restart").await;

    let back = AtomicBool::new(false);
    let chaos = async {
        let deadline = Instant::now() + Duration::from_secs(60);
        let at_stop = loop {
            let n = AmqpQueue::count(&url, &queue.name).await.unwrap_or(0);
            if u64::from(n) >= STOP_AT {
                break n;
            }
            assert!(Instant::now() < deadline, "only {n} messages in 60 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let stopping = Instant::now();
        let stopped = Stopped::stop().await;
        tokio::time::sleep(OUTAGE).await;
        stopped.start().await;
        let up_by = Instant::now() + Duration::from_secs(60);
        while AmqpQueue::count(&url, &queue.name).await.is_none() {
            assert!(
                Instant::now() < up_by,
                "RabbitMQ is not back 60 s after start_app"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        back.store(true, Ordering::SeqCst);
        (at_stop, stopping.elapsed())
    };
    let (events, (at_stop, outage)) = tokio::join!(load(&app, &repo, &back), chaos);
    assert!(
        outage < Duration::from_millis(RETRY_MS),
        "the outage ({outage:?}) outlasted the retry delay: raise RETRY_MS"
    );

    let rows = all_delivered(&app, events).await;
    let got = AmqpQueue::drain(&url, &queue.name).await;
    for m in &got {
        assert_eq!(m.message_id.as_deref(), Some(m.delivery()), "{m:?}");
    }
    let repeats = assert_each_once_or_in_flight(&rows, &got);
    println!(
        "rabbitmq restart: stopped at {at_stop} of {events} messages, down {outage:?}; \
         {} messages in the queue, {repeats} repeats",
        got.len()
    );
    queue.delete().await;
}
