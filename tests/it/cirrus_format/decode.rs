//! `CIRRUS` bodies as Cirrus's own receiver reads them: decoded with its declared types (numbers
//! stay numbers), every field it reads present, `"task": {}` on build events, and the task body's
//! keys in the order of Cirrus's `task.json`; the same decode on `DOCUMENTED` bodies finds only
//! `action` (and fails outright once their `data` is lifted to the top: string ids).

use serde_json::{json, Value};

use super::receiver_types::{decode, missing};
use super::{all_received, build, fixture_org, moves, repository, two_formats, USER_NAME};
use crate::utils::TestApp;

/// The keys of an object, in order.
fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// The keys of Cirrus's `task.json` fixture at `path` (`""` for the top level).
fn fixture_keys(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/cirrus-webhooks-server/task.json"),
    )
    .expect("task.json");
    let fixture: Value = serde_json::from_str(&text).expect("json");
    keys(if path.is_empty() {
        &fixture
    } else {
        &fixture[path]
    })
}

/// `got`'s keys against the fixture's: those they share in the same order, and the fixture's
/// keys `got` lacks are exactly `absent`, its extra keys exactly `extra`.
fn assert_order(what: &str, got: &[String], fixture: &[String], absent: &[&str], extra: &[&str]) {
    let shared: Vec<&String> = got.iter().filter(|k| fixture.contains(k)).collect();
    let expected: Vec<&String> = fixture.iter().filter(|k| got.contains(k)).collect();
    assert_eq!(shared, expected, "{what}: key order");
    let lacks: Vec<&str> = fixture
        .iter()
        .filter(|k| !got.contains(k))
        .map(String::as_str)
        .collect();
    assert_eq!(lacks, absent, "{what}: fixture keys left out");
    let more: Vec<&str> = got
        .iter()
        .filter(|k| !fixture.contains(k))
        .map(String::as_str)
        .collect();
    assert_eq!(more, extra, "{what}: keys the fixture has not");
}

#[tokio::test]
async fn cirrus_bodies_decode_with_the_receivers_types_and_carry_every_field_it_reads() {
    let app = TestApp::spawn().await;
    let org = fixture_org(&app).await;
    let (documented, cirrus) = two_formats(&app, &org, None).await;
    let repo = repository(&app, &org).await;
    // A pull request build with a user, and a branch build the API created without one.
    let (pr_build, pr_task) = build(&app, &org, &repo, true, Some(42)).await;
    moves(
        &app,
        &org,
        &pr_task,
        &["TRIGGERED", "EXECUTING", "COMPLETED"],
    )
    .await;
    let (api_build, api_task) = build(&app, &org, &repo, false, None).await;
    moves(&app, &org, &api_task, &["TRIGGERED", "EXECUTING", "FAILED"]).await;
    let ids = |build: &str, task: &str| -> (i64, i64) {
        (build.parse().expect("id"), task.parse().expect("id"))
    };
    let pr = ids(&pr_build, &pr_task);
    let api = ids(&api_build, &api_task);
    let repo_id: i64 = repo.parse().expect("id");

    let got = all_received(&app, &org, &cirrus).await;
    for r in &got {
        let kind = r.header("x-cirrus-event").expect("event");
        let body: Value = r.json();
        let payload = decode(&r.body).unwrap_or_else(|e| panic!("{e}: {body}"));
        let build_id = payload.build.id.expect("build.id");
        let of_pr = build_id == pr.0;
        assert!(of_pr || build_id == api.0, "{body}");
        assert_eq!(
            missing(&payload, kind == "task", of_pr),
            Vec::<&str>::new(),
            "fields Cirrus's receiver reads: {body}"
        );
        assert_eq!(payload.common.repository.id, Some(repo_id));
        assert_eq!(payload.common.repository.owner.as_deref(), Some(USER_NAME));
        assert_eq!(payload.build.branch.as_deref(), Some("main"));
        match of_pr {
            true => {
                assert_eq!(payload.build.user.username.as_deref(), Some(USER_NAME));
                assert_eq!(payload.build.pull_request, Some(42));
            }
            // The receiver tags such a build's initializer "api".
            false => {
                assert!(body["build"].get("user").is_none(), "{body}");
                assert!(body["build"].get("pullRequest").is_none(), "{body}");
            }
        }
        if kind == "task" {
            let task_id = if of_pr { pr.1 } else { api.1 };
            assert_eq!(payload.task.id, Some(task_id));
            assert_eq!(
                payload.task.instance_type.as_deref(),
                Some("CommunityContainer")
            );
            assert_eq!(
                payload.task.unique_labels,
                Some(vec!["container:rust:latest".to_owned()])
            );
        } else {
            assert_eq!(body["task"], json!({}), "a build event's task: {body}");
        }
        assert_eq!(payload.build.change_id_in_repo.as_deref(), Some(super::SHA));
        // Fields the newest receiver reads when present; Cirrus's fixtures, and so the default
        // CIRRUS query, leave them out (the decode above checked their types had they come).
        assert_eq!(payload.build.pull_request_draft, None);
        assert_eq!(payload.task.manual_rerun_count, None);
        assert_eq!(payload.task.local_group_id, None);
        // Build and task bodies carry no time: it comes in X-Cirrus-Timestamp.
        assert_eq!(payload.common.timestamp, None);
    }

    // The key order of Cirrus's task.json: the created task of the pull request build leaves out
    // the build's durationInSeconds (null until the build finishes) and adds its pullRequest.
    let task_body = |action: &str, status: &str| -> Value {
        got.iter()
            .map(|r| r.json())
            .find(|b| {
                b["action"] == action && b["task"]["status"] == status && b["build"]["id"] == pr.0
            })
            .unwrap_or_else(|| panic!("a {action} {status} task body"))
    };
    for (body, build_absent) in [
        (task_body("created", "CREATED"), &["durationInSeconds"][..]),
        (task_body("updated", "COMPLETED"), &[][..]),
    ] {
        let top: Vec<String> = keys(&body)
            .into_iter()
            .filter(|k| k != "old_status")
            .collect();
        assert_order("top level", &top, &fixture_keys(""), &[], &[]);
        if body.get("old_status").is_some() {
            assert_eq!(
                keys(&body)[0],
                "old_status",
                "old_status first, as build.json"
            );
        }
        assert_order(
            "repository",
            &keys(&body["repository"]),
            &fixture_keys("repository"),
            &[],
            &[],
        );
        assert_order(
            "build",
            &keys(&body["build"]),
            &fixture_keys("build"),
            build_absent,
            &["pullRequest"],
        );
        assert_order(
            "task",
            &keys(&body["task"]),
            &fixture_keys("task"),
            &[],
            &[],
        );
    }

    // The same receiver on DOCUMENTED bodies: Go decodes them, and reads nothing but `action`.
    let got = all_received(&app, &org, &documented).await;
    for r in &got {
        let kind = r.header("x-cirrus-event").expect("event");
        let payload = decode(&r.body).expect("Go ignores the unknown `data` key");
        let lacks = missing(&payload, kind == "task", true);
        assert!(
            !lacks.contains(&"action") && lacks.contains(&"build.id"),
            "{lacks:?}"
        );
        assert_eq!(lacks.len(), if kind == "task" { 13 } else { 7 });
        // Lifted to the top level, the documented data's string ids fail the decode, as in Go.
        let mut lifted = r.json()["data"].clone();
        lifted["action"] = r.json()["action"].clone();
        let error = decode(lifted.to_string().as_bytes()).expect_err("string ids");
        assert!(error.contains("invalid type: string"), "{error}");
    }
}
