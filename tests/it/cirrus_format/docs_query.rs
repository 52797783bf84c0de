//! Cirrus's current documented payload query (cirrus-ci-docs `docs/api.md`), saved as the stored
//! query of a `DOCUMENTED` and a `CIRRUS` endpoint, is accepted and delivered: the data carries
//! `initializer`, `notifications`, `uniqueLabels`, `automaticReRun`, `automaticallyReRunnable`,
//! `manualRerunCount` and the rest with the values the reporter gave.

use serde_json::{json, Value};

use super::{
    all_received, build, fixture_org, moves, ok, repository, two_formats, DOCS_QUERY, USER_ID,
    USER_NAME,
};
use crate::utils::TestApp;

/// The docs query's build and task fields, in its order.
const BUILD_ORDER: [&str; 8] = [
    "id",
    "branch",
    "pullRequest",
    "durationInSeconds",
    "changeIdInRepo",
    "changeTimestamp",
    "status",
    "initializer",
];
const TASK_ORDER: [&str; 12] = [
    "id",
    "name",
    "nameAlias",
    "status",
    "statusTimestamp",
    "creationTimestamp",
    "durationInSeconds",
    "uniqueLabels",
    "automaticReRun",
    "automaticallyReRunnable",
    "manualRerunCount",
    "notifications",
];

#[tokio::test]
async fn cirrus_documented_payload_query_is_saved_and_delivered_in_both_formats() {
    let app = TestApp::spawn().await;
    let org = fixture_org(&app).await;
    let (documented, cirrus) = two_formats(&app, &org, Some(DOCS_QUERY)).await;
    let settings = ok(
        &app,
        &org,
        "{ ownerInfo { webhookSettings { endpoints { query payloadFormat } } } }",
        json!({}),
    )
    .await;
    for e in settings["ownerInfo"]["webhookSettings"]["endpoints"]
        .as_array()
        .expect("endpoints")
    {
        assert_eq!(e["query"], DOCS_QUERY, "stored as given");
    }
    let repo = repository(&app, &org).await;
    let (build_id, task) = build(&app, &org, &repo, true, Some(42)).await;
    moves(&app, &org, &task, &["TRIGGERED", "EXECUTING", "FAILED"]).await;
    // A rerun: the new run's task.created carries manualRerunCount 1.
    let rerun = ok(
        &app,
        &org,
        "mutation($t: ID!) { rerun(input: {taskId: $t}) { newTask { id } } }",
        json!({ "t": task }),
    )
    .await;
    let new_task = rerun["rerun"]["newTask"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    for (format, receiver) in [("DOCUMENTED", &documented), ("CIRRUS", &cirrus)] {
        let got = all_received(&app, &org, receiver).await;
        // DOCUMENTED: the query's result under `data`, as rendered (string ids); CIRRUS: flat,
        // numeric ids (`initializer.id` too), null fields left out.
        let data = |body: &Value| match format {
            "DOCUMENTED" => body["data"].clone(),
            _ => body.clone(),
        };
        let id = |text: &str| match format {
            "DOCUMENTED" => json!(text),
            _ => json!(text.parse::<i64>().expect("numeric id")),
        };
        let bodies: Vec<Value> = got.iter().map(|r| data(&r.json())).collect();
        for d in &bodies {
            // The query's order, field for field (the body is the query's answer).
            for (entity, order) in [("build", &BUILD_ORDER[..]), ("task", &TASK_ORDER[..])] {
                let keys: Vec<&str> = d[entity]
                    .as_object()
                    .map(|o| o.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                let in_order: Vec<&str> =
                    order.iter().copied().filter(|k| keys.contains(k)).collect();
                assert_eq!(
                    keys, in_order,
                    "{format}: {entity} keys in the query's order"
                );
            }
            assert_eq!(d["repository"]["name"], "awesome-system-calls", "{d}");
            assert_eq!(d["repository"]["owner"], USER_NAME);
            assert_eq!(d["build"]["id"], id(&build_id));
            assert_eq!(d["build"]["pullRequest"], 42);
            assert_eq!(
                d["build"]["initializer"],
                json!({ "id": id(USER_ID), "username": USER_NAME }),
                "{format}: {d}"
            );
            assert_eq!(d["build"]["changeIdInRepo"], super::SHA);
        }
        let task_of = |status: &str, run: &str| -> &Value {
            bodies
                .iter()
                .find(|d| d["task"]["status"] == status && d["task"]["id"] == id(run))
                .unwrap_or_else(|| panic!("{format}: a task {status} body of {run}"))
        };
        let failed = &task_of("FAILED", &task)["task"];
        assert_eq!(failed["name"], "Lint (cargo fmt)");
        assert_eq!(failed["nameAlias"], "lint");
        assert_eq!(failed["uniqueLabels"], json!(["container:rust:latest"]));
        assert_eq!(failed["automaticReRun"], false);
        assert_eq!(failed["automaticallyReRunnable"], true);
        assert_eq!(failed["manualRerunCount"], 0);
        assert_eq!(
            failed["notifications"],
            json!([{ "level": "WARNING", "message": "cache miss",
                     "link": "https://cirrus-ci.org/guide/writing-tasks/#cache-instruction" }])
        );
        for field in ["statusTimestamp", "creationTimestamp", "durationInSeconds"] {
            assert!(failed[field].is_i64(), "{format}: task.{field}: {failed}");
        }
        let again = &task_of("TRIGGERED", &new_task)["task"];
        assert_eq!(again["manualRerunCount"], 1, "{format}: {again}");
        assert_eq!(again["uniqueLabels"], json!(["container:rust:latest"]));
        // The task's definition carries over to its new run (the reporter said it once).
        assert_eq!(
            again["automaticallyReRunnable"], true,
            "{format}: a rerun keeps the task's attributes: {again}"
        );
        // A build event has no task: null in the documented data, {} in Cirrus's body.
        let build_event = got
            .iter()
            .find(|r| r.header("x-cirrus-event").as_deref() == Some("build"))
            .map(|r| data(&r.json()))
            .expect("a build event");
        let no_task = if format == "DOCUMENTED" {
            json!(null)
        } else {
            json!({})
        };
        assert_eq!(build_event["task"], no_task, "{format}");
    }
}
