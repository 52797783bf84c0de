//! What an operator meets (issue 20): the real binary with `BUILDHOOKS_LOG_FORMAT=json` writes
//! one JSON line per failed attempt naming the delivery, endpoint, organization, kind, attempt,
//! answer, duration and verdict; request lines carry the request id the response returns;
//! `/metrics` shows the delivery, request, outbox, endpoint and process families in a text
//! every line of which parses; `/readyz` says what is not ready, `/healthz` stays liveness.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cli::binary;
use crate::utils::database::TestDatabase;
use crate::utils::{gql_at, metrics_at, Receiver, Reply};

use exposition::{assert_parses, sample};

mod exposition;
mod readiness;

/// A `buildhooks serve` child writing JSON logs into a file.
struct Server {
    child: Child,
    addr: std::net::SocketAddr,
    log: tempfile::NamedTempFile,
}

impl Server {
    fn start(db_url: &str) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let log = tempfile::NamedTempFile::new().expect("log file");
        let child = Command::new(binary())
            .arg("serve")
            .env("BUILDHOOKS_DATABASE_URL", db_url)
            .env("BUILDHOOKS_LISTEN", format!("127.0.0.1:{port}"))
            .env("BUILDHOOKS_ALLOW_PRIVATE_TARGETS", "true")
            .env("BUILDHOOKS_RETRY_DELAY_MS", "100")
            .env("BUILDHOOKS_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .envs(crate::utils::database::key_env(db_url))
            .stdout(Stdio::null())
            .stderr(Stdio::from(log.reopen().expect("log file")))
            .spawn()
            .expect("start buildhooks serve");
        Server {
            child,
            addr: ([127, 0, 0, 1], port).into(),
            log,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn wait_ready(&self, client: &reqwest::Client) {
        for _ in 0..400 {
            if client.get(self.url("/healthz")).send().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server did not start: {}", self.text());
    }

    fn text(&self) -> String {
        let mut text = String::new();
        let _ = self
            .log
            .reopen()
            .expect("log file")
            .read_to_string(&mut text);
        text
    }

    /// Every log line, each of which must be one JSON object.
    fn lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// Waits for a line `pick` accepts.
    async fn wait_line(&self, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(line) = self.lines().into_iter().find(|l| pick(l)) {
                return line;
            }
            assert!(Instant::now() < deadline, "no {what} in {}", self.text());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
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
            &format!("obs-{}", uuid::Uuid::new_v4().simple()),
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

#[tokio::test]
async fn json_logs_request_ids_and_metrics_of_the_real_binary() {
    let db = TestDatabase::new().await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let (uid, token) = create_org(&db.url);
    let receiver = Receiver::start(vec![]).await;
    receiver.set_default(Reply::status(500));
    let server = Server::start(&db.url);
    server.wait_ready(&client).await;
    let gql = |query: &'static str, vars: Value| gql_at(&client, server.addr, &token, query, vars);

    // A delivery that fails twice (Cirrus's rule: one retry) and ends FAILED.
    let repo = gql(
        "mutation { createRepository(input: {name: \"obs\"}) { repository { id } } }",
        json!({}),
    )
    .await["createRepository"]["repository"]["id"]
        .as_str()
        .expect("repository")
        .to_owned();
    gql(
        "mutation($i: SaveWebHookSettingsInput!) { saveWebHookSettings(input: $i) { settings { ownerUid } } }",
        json!({ "i": { "ownerUid": uid, "deliveryEndpoints": [{ "webhookURL": receiver.url(), "events": ["build.created"] }] } }),
    )
    .await;
    let build =
        "mutation($i: RepositoryCreateBuildInput!) { createBuild(input: $i) { build { id } } }";
    let build_vars =
        json!({ "i": { "repositoryId": repo, "branch": "main", "tasks": [{ "name": "t" }] } });
    gql(build, build_vars.clone()).await;
    let got = receiver.wait_for(2, Duration::from_secs(30)).await;
    let delivery_id = got[0].header("x-cirrus-delivery").expect("delivery id");

    let failed = |attempt: i64| {
        let delivery_id = delivery_id.clone();
        move |l: &Value| {
            l["message"] == "delivery attempt failed"
                && l["delivery_id"] == delivery_id.as_str()
                && l["attempt"] == attempt
        }
    };
    let first = server.wait_line("first failed attempt", failed(1)).await;
    println!("the failed attempt's line: {first}");
    assert_eq!(first["level"], "WARN", "{first}");
    assert!(
        first["endpoint_id"].as_i64().is_some_and(|id| id > 0),
        "{first}"
    );
    assert_eq!(first["org_id"].as_i64(), uid.parse::<i64>().ok(), "{first}");
    assert_eq!(first["kind"], "webhook", "{first}");
    assert_eq!(first["event"], "build.created", "{first}");
    assert_eq!(first["status"], 500, "{first}");
    assert!(
        first["duration_ms"].as_i64().is_some_and(|d| d >= 0),
        "{first}"
    );
    assert_eq!(first["verdict"], "retry", "{first}");
    let second = server.wait_line("second failed attempt", failed(2)).await;
    assert_eq!(second["verdict"], "failed", "{second}");
    let endpoint_id = first["endpoint_id"].as_i64().expect("endpoint id");

    // The failing endpoint is named (its spell is written off the recorder's loop).
    let series =
        format!("buildhooks_endpoint_consecutive_failures{{endpoint_id=\"{endpoint_id}\"}}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = metrics_at(&client, server.addr).await;
        if sample(&text, &series) == Some(1.0) || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(sample(&text, &series), Some(1.0), "{text}");
    assert_eq!(
        sample(&text, "buildhooks_endpoints_failing"),
        Some(1.0),
        "{text}"
    );

    // Then one that is delivered.
    receiver.set_default(Reply::status(200));
    gql(build, build_vars).await;
    receiver.wait_for(3, Duration::from_secs(30)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let delivered = "buildhooks_deliveries_finished_total{kind=\"webhook\",state=\"delivered\"}";
    let text = loop {
        let text = metrics_at(&client, server.addr).await;
        if sample(&text, delivered) >= Some(1.0) || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!("{text}");
    assert_parses(&text, false);
    crate::retention::promtool_accepts(&text);
    // What Prometheus asks for: OpenMetrics, the same samples.
    let open = client
        .get(server.url("/metrics"))
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        )
        .send()
        .await
        .expect("metrics");
    assert!(
        open.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("application/openmetrics-text")),
        "{:?}",
        open.headers()
    );
    let open = open.text().await.expect("text");
    assert_parses(&open, true);
    assert!(
        open.contains("# TYPE buildhooks_deliveries_finished counter"),
        "{open}"
    );
    let at_least = |series: &str, min: f64| {
        let value = sample(&text, series);
        assert!(value >= Some(min), "{series} = {value:?} in {text}");
    };
    at_least(delivered, 1.0);
    at_least(
        "buildhooks_deliveries_finished_total{kind=\"webhook\",state=\"failed\"}",
        1.0,
    );
    at_least(
        "buildhooks_delivery_commit_to_success_seconds_count{kind=\"webhook\"}",
        1.0,
    );
    at_least(
        "buildhooks_delivery_attempts_by_kind_total{kind=\"webhook\",outcome=\"retry\"}",
        1.0,
    );
    at_least(
        "buildhooks_delivery_attempts_total{outcome=\"delivered\"}",
        1.0,
    );
    at_least(
        "buildhooks_api_requests_total{operation=\"createBuild\",outcome=\"ok\"}",
        2.0,
    );
    at_least(
        "buildhooks_api_requests_total{operation=\"saveWebHookSettings\",outcome=\"ok\"}",
        1.0,
    );
    at_least(
        "buildhooks_api_request_duration_seconds_count{operation=\"createBuild\"}",
        2.0,
    );
    at_least(
        "buildhooks_http_requests_total{route=\"/graphql\",method=\"POST\",status=\"2xx\"}",
        4.0,
    );
    at_least("process_resident_memory_bytes", 1.0);
    at_least("process_cpu_seconds_total", 0.0);
    at_least("process_open_fds", 3.0);
    at_least("process_threads", 1.0);
    at_least("process_start_time_seconds", 1.6e9);
    // SQLite's write gate: the builds were written through it, and the dispatcher's claims and
    // records (in the writer thread's batches, ordinary turns); PostgreSQL has none (nor a
    // checkpointer of ours).
    let gate = "buildhooks_write_gate_held_seconds_total{writer=\"ordinary\"}";
    if db.url.starts_with("sqlite:") {
        assert!(sample(&text, gate) > Some(0.0), "{text}");
        at_least(
            "buildhooks_write_gate_turns_total{writer=\"ordinary\"}",
            3.0,
        );
        at_least("buildhooks_write_gate_commits_total", 2.0);
        assert!(
            sample(&text, "buildhooks_write_gate_commit_seconds_total") > Some(0.0),
            "{text}"
        );
        at_least("buildhooks_write_gate_waited_seconds_total", 0.0);
        // The WAL's checkpointer runs beside the writer from the start.
        at_least("buildhooks_checkpoint_runs_total", 1.0);
        at_least("buildhooks_checkpoint_pages_total", 0.0);
        at_least("buildhooks_checkpoint_seconds_total", 0.0);
        at_least("buildhooks_checkpoint_wal_pages", 0.0);
        at_least("buildhooks_checkpoint_writer_runs_total", 0.0);
        assert_eq!(sample(&text, "buildhooks_new_build_builds_total"), None);
    } else {
        assert_eq!(sample(&text, gate), None, "{text}");
        assert_eq!(sample(&text, "buildhooks_checkpoint_runs_total"), None);
        // PostgreSQL writes concurrent calls' new builds together: at most one statement each.
        at_least("buildhooks_new_build_builds_total", 2.0);
        at_least("buildhooks_new_build_statements_total", 1.0);
        assert!(
            sample(&text, "buildhooks_new_build_statements_total")
                <= sample(&text, "buildhooks_new_build_builds_total"),
            "{text}"
        );
    }
    // The endpoint's spell ended with the success (written off the recorder's loop too).
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = metrics_at(&client, server.addr).await;
        if sample(&text, "buildhooks_endpoints_failing") == Some(0.0) || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        sample(&text, "buildhooks_endpoints_failing"),
        Some(0.0),
        "{text}"
    );
    assert!(
        !text.contains("buildhooks_endpoint_consecutive_failures{"),
        "{text}"
    );

    // Request ids: the caller's is kept and returned, a missing or unfit one is replaced.
    let sent = "obs-test-7f3a";
    let answer = client
        .get(server.url("/healthz?token=do-not-log-me"))
        .header("x-request-id", sent)
        .send()
        .await
        .expect("healthz");
    assert_eq!(answer.headers()["x-request-id"], sent);
    for unfit in [None, Some("x".repeat(129)), Some("with space".to_owned())] {
        let mut request = client.get(server.url("/healthz"));
        if let Some(id) = &unfit {
            request = request.header("x-request-id", id);
        }
        let answer = request.send().await.expect("healthz");
        let id = answer.headers()["x-request-id"].to_str().expect("ascii");
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{unfit:?} -> {id}");
    }
    let line = server
        .wait_line("the request line", |l| {
            l["message"] == "request" && l["span"]["request_id"] == sent
        })
        .await;
    println!("the request line: {line}");
    assert_eq!(line["method"], "GET", "{line}");
    assert_eq!(line["path"], "/healthz", "{line}");
    assert_eq!(line["route"], "/healthz", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert!(line["duration_ms"].as_f64().is_some(), "{line}");
    assert!(
        !server.text().contains("do-not-log-me"),
        "the query string is never logged"
    );
    // Every line inside a GraphQL request carries its id too.
    let inside = server
        .lines()
        .into_iter()
        .filter(|l| l["message"] == "request" && l["path"] == "/graphql")
        .count();
    assert!(inside >= 4, "one line per API request");
}

#[tokio::test]
async fn a_log_format_other_than_json_or_text_is_refused_naming_both() {
    let out = Command::new(binary())
        .arg("schema")
        .env("BUILDHOOKS_LOG_FORMAT", "yaml")
        .output()
        .expect("buildhooks schema");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    for word in ["yaml", "json", "text"] {
        assert!(said.contains(word), "{word} in {said}");
    }
}
