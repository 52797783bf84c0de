//! No flood, no lost message, no head-of-line blocking: with the vendors' windows shortened a
//! hundredfold (`throttle_scale = 0.01`: DingTalk's 20 a minute becomes 20 in 600 ms, one per
//! 30 ms), 200 events for one DingTalk endpoint all arrive, in order per task, never more than
//! 20 in a scaled minute, while another organization's webhook gets its deliveries without
//! delay; and with `digest` the message count stays within what the throttle allows while every
//! event's outbox row is DELIVERED.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{all_deliveries, build_on, most_in_window, move_as, repository, save_ok, settle};
use crate::utils::robots::{Hit, Robot, Vendor};
use crate::utils::{Org, Receiver, TestApp};

/// DingTalk: 20 messages per minute per robot
/// (https://open.dingtalk.com/document/group/custom-robot-access, "每个机器人每分钟最多发送20条").
const LIMIT: usize = 20;
/// A minute at `throttle_scale = 0.01`.
const WINDOW: Duration = Duration::from_millis(600);
/// The pacing interval at that scale (3 s x 0.01).
const SPACING: Duration = Duration::from_millis(30);
/// How much later than its send one request may reach the robot than another (scheduling on a
/// loaded test machine): windows are checked that much shorter.
const JITTER: Duration = Duration::from_millis(40);
const BUILDS: usize = 20;
/// Per build: two tasks, each created, triggered, scheduled, executing, completed.
const EVENTS: usize = BUILDS * 10;
const MOVES: [&str; 4] = ["TRIGGERED", "SCHEDULED", "EXECUTING", "COMPLETED"];
const SECRET: &str = "SECthrottle0123456789";

async fn spawn() -> TestApp {
    TestApp::spawn_with(|c| {
        // needs the lead's Config::throttle_scale
        c.throttle_scale = 0.01;
    })
    .await
}

fn task_name(build: usize, task: char) -> String {
    format!("job-{build:02}-{task}")
}

/// Makes the 200 events: 20 builds of two tasks, each task moved to COMPLETED.
async fn produce(app: &TestApp, org: &Org, repo: &str) {
    for b in 0..BUILDS {
        let (a, z) = (task_name(b, 'a'), task_name(b, 'b'));
        let (_, tasks) = build_on(app, org, repo, "main", &[(&a, false), (&z, false)]).await;
        for task in &tasks {
            move_as(app, org, task, &MOVES).await;
        }
    }
}

/// The arrival times, sorted.
fn times(hits: &[Hit]) -> Vec<Instant> {
    let mut t: Vec<Instant> = hits.iter().map(|h| h.at).collect();
    t.sort();
    t
}

fn assert_paced(hits: &[Hit]) {
    let t = times(hits);
    let most = most_in_window(&t, WINDOW - JITTER);
    assert!(
        most <= LIMIT,
        "{most} messages reached the robot within {:?} (at most {LIMIT} per scaled minute)",
        WINDOW - JITTER
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dingtalk_backlog_is_paced_loses_nothing_and_delays_no_one_else() {
    let app = spawn().await;
    let org = app.org.clone();
    let robot = Robot::start(Vendor::DingTalk, Some(SECRET)).await;
    robot.limit(LIMIT, WINDOW - JITTER);
    let mut e = robot.endpoint(&["task.*"]);
    e["digest"] = json!(false);
    // One line per event, so each message names the event it carries.
    e["template"] = json!("event {{ data.task.name }} {{ new_status }} end");
    save_ok(&app, &org, json!([e])).await;
    let repo = repository(&app, &org, "backlog").await;

    // Another organization, with a plain webhook for its builds.
    let other = app.new_org("bystander").await;
    let receiver = Receiver::start(vec![]).await;
    save_ok(
        &app,
        &other,
        json!([{ "webhookURL": receiver.url(), "events": ["build.created"] }]),
    )
    .await;
    let other_repo = repository(&app, &other, "bystander").await;

    let started = Instant::now();
    let producer = {
        let (app_ref, org, repo) = (&app, org.clone(), repo.clone());
        async move { produce(app_ref, &org, &repo).await }
    };
    let bystander = async {
        // Once the backlog is going, ten builds of the other organization, one by one.
        robot.wait_for(1, Duration::from_secs(10)).await;
        let mut latencies = Vec::new();
        for i in 0..10 {
            let sent = Instant::now();
            build_on(&app, &other, &other_repo, "main", &[("t", false)]).await;
            let got = receiver.wait_for(i + 1, Duration::from_secs(10)).await;
            assert_eq!(got.len(), i + 1, "the bystander's build {i} was delivered");
            latencies.push(got[i].at.saturating_duration_since(sent));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (latencies, robot.received().len())
    };
    let ((), (latencies, robot_meanwhile)) = tokio::join!(producer, bystander);
    println!(
        "throttle: bystander latencies {latencies:?} while the robot had {robot_meanwhile} of {EVENTS}; events made in {:?}",
        started.elapsed()
    );
    assert!(
        robot_meanwhile < EVENTS,
        "the backlog was still waiting while the bystander was served ({robot_meanwhile} sent)"
    );
    for (i, l) in latencies.iter().enumerate() {
        assert!(
            *l < Duration::from_secs(1),
            "bystander build {i} took {l:?}"
        );
    }

    // Every event arrives once, none lost, none twice.
    let hits = robot
        .wait_for(
            EVENTS,
            SPACING * (EVENTS as u32) * 4 + Duration::from_secs(10),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hits_after = robot.received();
    assert_eq!(
        hits_after.len(),
        hits.len(),
        "no message after the last expected one"
    );
    assert_eq!(hits.len(), EVENTS, "every event arrived, once");
    assert_eq!(
        robot.problems(),
        Vec::<String>::new(),
        "as DingTalk sees them"
    );
    assert_paced(&hits);
    let span = times(&hits)[EVENTS - 1] - times(&hits)[0];
    assert!(
        span + JITTER >= WINDOW * (EVENTS / LIMIT - 1) as u32,
        "{EVENTS} messages at {LIMIT} per {WINDOW:?} need {:?} at least; took {span:?}",
        WINDOW * (EVENTS / LIMIT - 1) as u32
    );

    // Each message carries one event; together, each event once, in order per task.
    let mut seen: HashMap<String, Vec<&str>> = HashMap::new();
    for (i, hit) in hits.iter().enumerate() {
        let text = hit
            .json
            .as_ref()
            .and_then(|v| v["markdown"]["text"].as_str())
            .unwrap_or("");
        let mut found = Vec::new();
        for b in 0..BUILDS {
            for t in ['a', 'b'] {
                for status in [
                    "CREATED",
                    "TRIGGERED",
                    "SCHEDULED",
                    "EXECUTING",
                    "COMPLETED",
                ] {
                    let name = task_name(b, t);
                    if text.contains(&format!("event {name} {status} end")) {
                        found.push((name, status));
                    }
                }
            }
        }
        assert_eq!(found.len(), 1, "message {i} carries one event: {text:?}");
        let (name, status) = found.remove(0);
        seen.entry(name).or_default().push(status);
    }
    assert_eq!(seen.len(), BUILDS * 2, "every task's events arrived");
    for (name, order) in &seen {
        assert_eq!(
            order,
            &[
                "CREATED",
                "TRIGGERED",
                "SCHEDULED",
                "EXECUTING",
                "COMPLETED"
            ],
            "{name}: each event once, in order"
        );
    }

    // The outbox agrees: one row per event, each DELIVERED by one accepted attempt.
    let rows = settle(&app, &org, EVENTS, Duration::from_secs(20)).await;
    assert_eq!(rows.len(), EVENTS);
    for d in &rows {
        assert_eq!(d["state"], "DELIVERED", "{d}");
        let attempts = d["attempts"].as_array().expect("attempts");
        assert!(
            attempts.iter().all(|a| a["error"].is_null()),
            "never throttled by the robot: {d}"
        );
        assert_eq!(
            attempts.last().map(|a| a["status"].clone()),
            Some(json!(200))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_digest_fewer_messages_carry_every_event_within_the_throttle() {
    let app = spawn().await;
    let org = app.org.clone();
    let robot = Robot::start(Vendor::DingTalk, Some(SECRET)).await;
    robot.limit(LIMIT, WINDOW - JITTER);
    let mut e = robot.endpoint(&["task.*"]);
    e["digest"] = json!(true);
    let saved = save_ok(&app, &org, json!([e])).await;
    assert_eq!(saved[0]["digest"], true);
    let endpoint_id = saved[0]["id"].clone();
    let repo = repository(&app, &org, "digest").await;

    produce(&app, &org, &repo).await;
    let rows = settle(&app, &org, EVENTS, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hits = robot.received();
    let n = hits.len();
    println!("digest: {EVENTS} events went out as {n} messages");

    // Every event is accounted for: its own row, DELIVERED, with an accepted attempt.
    let rows: Vec<&Value> = rows
        .iter()
        .filter(|d| d["endpointId"] == endpoint_id)
        .collect();
    assert_eq!(rows.len(), EVENTS, "one outbox row per event");
    for d in &rows {
        assert_eq!(d["state"], "DELIVERED", "{d}");
        let attempts = d["attempts"].as_array().expect("attempts");
        assert_eq!(
            attempts.last().map(|a| a["status"].clone()),
            Some(json!(200)),
            "{d}"
        );
    }
    assert_eq!(
        robot.problems(),
        Vec::<String>::new(),
        "as DingTalk sees them"
    );

    // Fewer messages than events (one build's waiting events go as one), at least one per
    // build, and no more than the throttle allows over the time they took.
    assert!(n < EVENTS, "digest merged nothing: {n} messages");
    assert!(
        n >= BUILDS,
        "a message carries one build's events; {n} for {BUILDS} builds"
    );
    assert_paced(&hits);
    let t = times(&hits);
    let span = t[n - 1] - t[0];
    let allowed = ((span + JITTER).as_millis() / SPACING.as_millis()) as usize + 1;
    assert!(
        n <= allowed,
        "{n} messages in {span:?}: the throttle allows {allowed}"
    );

    // Each task shows up, and the last message naming it shows its latest state.
    for b in 0..BUILDS {
        for t in ['a', 'b'] {
            let name = task_name(b, t);
            let last = hits
                .iter()
                .rev()
                .map(|h| h.strings().to_lowercase())
                .find(|s| s.contains(&name))
                .unwrap_or_else(|| panic!("no message names {name}"));
            assert!(last.contains("completed"), "{name}'s last message: {last}");
        }
    }
    let all = all_deliveries(&app, &org).await;
    assert!(all.iter().all(super::is_final));
}
