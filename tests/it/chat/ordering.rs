//! Order per build (`ordering: PER_BUILD`) on a webhook endpoint with `maxInFlight: 8`: 50
//! builds x 10 events, a receiver answering after random delays (0-20 ms) and a 503 to the first
//! attempt of every 7th delivery (retried once by the server). Each build's deliveries arrive in
//! the order the outbox holds them, never two of one build at once, while builds go in parallel;
//! and the same with two instances sharing PostgreSQL, both of which deliver.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use buildhooks_server::{AppState, Config, Role};
use futures::StreamExt;
use serde_json::{json, Value};

use super::{build_at, move_at, repository, save_ok, settle, Rng};
use crate::utils::database::postgres_server;
use crate::utils::faults::Faults;
use crate::utils::{Org, TestApp};

const BUILDS: usize = 50;
/// Per build: tasks a and b created, then each TRIGGERED, SCHEDULED, EXECUTING, COMPLETED.
const EVENTS: usize = BUILDS * 10;
const MAX_IN_FLIGHT: usize = 8;

/// One request the receiver answered.
#[derive(Clone, Debug)]
struct Arrival {
    delivery: String,
    build: String,
    task: String,
    status: String,
    answered: u16,
}

#[derive(Default)]
struct Book {
    rng: Option<Rng>,
    attempts: HashMap<String, u32>,
    new_deliveries: usize,
    /// Requests in flight per build.
    in_flight: HashMap<String, usize>,
    most_in_flight: usize,
    most_builds_in_flight: usize,
    /// A build's request arrived while another of the same build was in flight.
    overlaps: Vec<String>,
    log: Vec<Arrival>,
}

/// A receiver with random delays and a 503 to the first attempt of every 7th delivery.
#[derive(Clone)]
struct Flaky {
    addr: SocketAddr,
    book: Arc<Mutex<Book>>,
}

fn id_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn answer(
    State(book): State<Arc<Mutex<Book>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let delivery = headers
        .get("x-cirrus-delivery")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let build = id_of(&v["data"]["build"]["id"]);
    let (fail, delay) = {
        let mut b = book.lock().expect("book");
        let n = b.attempts.entry(delivery.clone()).or_default();
        *n += 1;
        let first = *n == 1;
        if first {
            b.new_deliveries += 1;
        }
        let fail = first && b.new_deliveries % 7 == 0;
        let open = b.in_flight.entry(build.clone()).or_default();
        *open += 1;
        if *open > 1 {
            b.overlaps.push(format!(
                "build {build}: {delivery} while another was in flight"
            ));
        }
        let total: usize = b.in_flight.values().sum();
        let builds = b.in_flight.values().filter(|n| **n > 0).count();
        b.most_in_flight = b.most_in_flight.max(total);
        b.most_builds_in_flight = b.most_builds_in_flight.max(builds);
        let delay = b.rng.get_or_insert_with(|| Rng::new(0x5eed)).below(21);
        (fail, Duration::from_millis(delay))
    };
    tokio::time::sleep(delay).await;
    let status = if fail {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let mut b = book.lock().expect("book");
    if let Some(open) = b.in_flight.get_mut(&build) {
        *open -= 1;
    }
    b.log.push(Arrival {
        delivery,
        build,
        task: v["data"]["task"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        status: v["data"]["task"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        answered: status.as_u16(),
    });
    status
}

impl Flaky {
    async fn start() -> Self {
        let book = Arc::new(Mutex::new(Book::default()));
        let app = Router::new().fallback(answer).with_state(book.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Flaky { addr, book }
    }

    fn url(&self) -> String {
        format!("http://{}/ordered", self.addr)
    }
}

/// Drives one build through the API at `api`: two tasks, each moved in turn.
async fn drive(app: &TestApp, api: SocketAddr, org: &Org, repo: &str) {
    let (_, tasks) = build_at(app, api, org, repo, "main", &[("a", false), ("b", false)]).await;
    for status in ["TRIGGERED", "SCHEDULED", "EXECUTING", "COMPLETED"] {
        for task in &tasks {
            move_at(app, api, org, task, &[status]).await;
        }
    }
}

const ORDER: [&str; 5] = [
    "CREATED",
    "TRIGGERED",
    "SCHEDULED",
    "EXECUTING",
    "COMPLETED",
];

/// The scenario on `app`, its API calls spread over `apis`; returns the receiver's book.
async fn scenario(app: &TestApp, apis: &[SocketAddr]) -> Book {
    let org = app.org.clone();
    let receiver = Flaky::start().await;
    let saved = save_ok(
        app,
        &org,
        json!([{ "kind": "WEBHOOK", "webhookURL": receiver.url(), "events": ["task.*"],
                 "ordering": "PER_BUILD", "maxInFlight": MAX_IN_FLIGHT }]),
    )
    .await;
    assert_eq!(saved[0]["ordering"], "PER_BUILD");
    assert_eq!(saved[0]["kind"], "WEBHOOK");
    let repo = repository(app, &org, "ordered").await;

    // Ten builds move at once, so their events interleave in the outbox.
    futures::stream::iter(0..BUILDS)
        .map(|n| {
            let (org, repo) = (org.clone(), repo.clone());
            async move { drive(app, apis[n % apis.len()], &org, &repo).await }
        })
        .buffer_unordered(10)
        .collect::<Vec<()>>()
        .await;

    let rows = settle(app, &org, EVENTS, Duration::from_secs(90)).await;
    assert_eq!(rows.len(), EVENTS, "one row per event");
    for d in &rows {
        assert_eq!(
            d["state"], "DELIVERED",
            "every delivery got through (one 503 at most): {d}"
        );
    }
    let book = std::mem::take(&mut *receiver.book.lock().expect("book"));

    // Never two requests of one build at once.
    assert_eq!(book.overlaps, Vec::<String>::new());

    // Each build's accepted deliveries in the outbox's order (rows are oldest first).
    let ok: Vec<&Arrival> = book.log.iter().filter(|a| a.answered == 200).collect();
    assert_eq!(ok.len(), EVENTS, "each delivery accepted once");
    let build_of: HashMap<&str, &str> = ok
        .iter()
        .map(|a| (a.delivery.as_str(), a.build.as_str()))
        .collect();
    let mut expected: HashMap<&str, Vec<&str>> = HashMap::new();
    for d in &rows {
        let id = d["id"].as_str().expect("id");
        let build = build_of
            .get(id)
            .unwrap_or_else(|| panic!("delivery {id} never accepted"));
        expected.entry(build).or_default().push(id);
    }
    let mut arrived: HashMap<&str, Vec<&str>> = HashMap::new();
    for a in &ok {
        arrived
            .entry(a.build.as_str())
            .or_default()
            .push(a.delivery.as_str());
    }
    assert_eq!(arrived.len(), BUILDS);
    for (build, ids) in &expected {
        assert_eq!(
            arrived.get(build),
            Some(ids),
            "build {build}: arrivals not in outbox order"
        );
    }
    // And in the order the statuses were made, task by task.
    for a in ["a", "b"] {
        let mut last: HashMap<&str, usize> = HashMap::new();
        for arrival in ok.iter().filter(|x| x.task == a) {
            let rank = ORDER
                .iter()
                .position(|s| *s == arrival.status)
                .expect("a known status");
            let before = last.insert(arrival.build.as_str(), rank);
            assert!(
                before.is_none_or(|b| b < rank),
                "build {} task {a}: {} after {:?}",
                arrival.build,
                arrival.status,
                before.map(|b| ORDER[b])
            );
        }
    }

    // Builds go in parallel: several in flight at once, arrivals not grouped by build.
    let switches = ok.windows(2).filter(|w| w[0].build != w[1].build).count();
    assert!(
        book.most_builds_in_flight >= 2,
        "builds were in flight together"
    );
    assert!(
        switches > BUILDS,
        "arrivals interleave across builds ({switches} switches)"
    );
    let retried = book.attempts.values().filter(|n| **n > 1).count();
    assert!(
        retried >= EVENTS / 7 - 1,
        "every 7th delivery was refused once ({retried} retried)"
    );
    println!(
        "ordering: {} builds at most in flight at once, {} requests at most, {switches} switches, {retried} retried",
        book.most_builds_in_flight, book.most_in_flight
    );
    book
}

fn config(url: &str) -> Config {
    let mut config = crate::utils::database::config(url);
    config.allow_private_targets = true;
    config.retry_delay_ms = 50;
    config.delivery_timeout_ms = 2_000;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn per_build_order_holds_with_random_delays_and_503s_while_builds_interleave() {
    let app = TestApp::spawn().await;
    let book = scenario(&app, &[app.addr]).await;
    assert!(
        book.most_in_flight <= MAX_IN_FLIGHT,
        "maxInFlight {MAX_IN_FLIGHT}; {} were in flight at once",
        book.most_in_flight
    );
}

/// Delivered attempts the instance at `addr` recorded (its own `/metrics`).
async fn delivered_by(app: &TestApp, addr: SocketAddr) -> u64 {
    let text = crate::utils::metrics_at(&app.client, addr).await;
    text.lines()
        .filter(|l| {
            l.starts_with("buildhooks_delivery_attempts_total{")
                && l.contains("outcome=\"delivered\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn per_build_order_holds_across_two_instances_on_postgres() {
    if postgres_server().is_none() {
        println!("skipped on SQLite: two instances need PostgreSQL; set BUILDHOOKS_TEST_DATABASE_URL (.ci/run does)");
        return;
    }
    let app = TestApp::spawn().await;
    // The second instance: its own pools, dispatcher and API over the same database.
    let state = AppState::connect_with(config(&app.db.url), Arc::new(Faults::default()))
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
    let started = Instant::now();
    let book = scenario(&app, &[app.addr, second]).await;
    let (first_count, second_count) = (
        delivered_by(&app, app.addr).await,
        delivered_by(&app, second).await,
    );
    println!(
        "two instances: {first_count} and {second_count} delivered in {:?}",
        started.elapsed()
    );
    assert!(
        first_count > 0 && second_count > 0,
        "both instances delivered ({first_count}, {second_count})"
    );
    assert!(first_count + second_count >= EVENTS as u64);
    assert!(
        book.most_in_flight <= 2 * MAX_IN_FLIGHT,
        "maxInFlight {MAX_IN_FLIGHT} per instance; {} at once",
        book.most_in_flight
    );
    let _ = stop.send(());
    let _ = server.await;
}
