//! The derived build events, table-driven: `build.fixed` (a build COMPLETED after the previous
//! finished build of the same repository and branch FAILED) and `build.still_failing` (FAILED
//! after FAILED) fire exactly when they should, arrive as `X-Cirrus-Event: build`, and only at
//! endpoints that name them: `*` and `build.*` never receive them.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use super::{build_on, move_as, repository, save_ok, settle};
use crate::utils::{Org, Receiver, TestApp};

/// How a build of a case ends.
#[derive(Clone, Copy, Debug)]
enum End {
    Failed,
    Completed,
    /// Left EXECUTING: not finished, so it does not count as the previous build.
    Running,
    /// Its only task ABORTED: the build is FAILED (a build itself never becomes ABORTED
    /// through the API).
    Aborted,
    /// A required task COMPLETED and an optional one FAILED: the build is COMPLETED.
    OptionalFailed,
}

impl End {
    /// The build's status once driven.
    fn status(self) -> &'static str {
        match self {
            End::Failed | End::Aborted => "FAILED",
            End::Completed | End::OptionalFailed => "COMPLETED",
            End::Running => "EXECUTING",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Derived {
    Fixed,
    StillFailing,
}

struct Case {
    name: &'static str,
    /// Builds in the order they are made and finished: (branch, end).
    builds: &'static [(&'static str, End)],
    /// Derived events expected: (index of the build, event).
    expect: &'static [(usize, Derived)],
}

use Derived::*;
use End::*;

const CASES: &[Case] = &[
    Case {
        name: "failed then completed is fixed",
        builds: &[("main", Failed), ("main", Completed)],
        expect: &[(1, Fixed)],
    },
    Case {
        name: "completed then completed is nothing",
        builds: &[("main", Completed), ("main", Completed)],
        expect: &[],
    },
    Case {
        name: "failed then failed is still failing",
        builds: &[("main", Failed), ("main", Failed)],
        expect: &[(1, StillFailing)],
    },
    Case {
        name: "the first build ever failing is nothing",
        builds: &[("main", Failed)],
        expect: &[],
    },
    Case {
        name: "the first build ever completing is nothing",
        builds: &[("main", Completed)],
        expect: &[],
    },
    Case {
        name: "completed then failed is nothing derived",
        builds: &[("main", Completed), ("main", Failed)],
        expect: &[],
    },
    Case {
        name: "a failure on another branch does not count",
        builds: &[("a", Failed), ("b", Completed)],
        expect: &[],
    },
    Case {
        name: "fixed once, not again",
        builds: &[("main", Failed), ("main", Completed), ("main", Completed)],
        expect: &[(1, Fixed)],
    },
    Case {
        name: "still failing, then fixed",
        builds: &[("main", Failed), ("main", Failed), ("main", Completed)],
        expect: &[(1, StillFailing), (2, Fixed)],
    },
    Case {
        name: "an unfinished build in between does not count",
        builds: &[("main", Failed), ("main", Running), ("main", Completed)],
        expect: &[(2, Fixed)],
    },
    Case {
        name: "a failure by an aborted task counts",
        builds: &[("main", Aborted), ("main", Completed)],
        expect: &[(1, Fixed)],
    },
    Case {
        name: "an optional task's failure leaves the build completed",
        builds: &[("main", Failed), ("main", OptionalFailed), ("main", Failed)],
        expect: &[(1, Fixed)],
    },
    Case {
        name: "branches are followed apart",
        builds: &[
            ("a", Failed),
            ("b", Failed),
            ("a", Completed),
            ("b", Failed),
            ("b", Completed),
        ],
        expect: &[(2, Fixed), (3, StillFailing), (4, Fixed)],
    },
];

/// Drives a new build of `repo` on `branch` to `end`; returns its id.
async fn drive(app: &TestApp, org: &Org, repo: &str, branch: &str, end: End) -> String {
    let tasks: &[(&str, bool)] = match end {
        End::OptionalFailed => &[("test", false), ("lint", true)],
        _ => &[("test", false)],
    };
    let (build, ids) = build_on(app, org, repo, branch, tasks).await;
    match end {
        End::Failed => move_as(app, org, &ids[0], &["TRIGGERED", "EXECUTING", "FAILED"]).await,
        End::Completed => {
            move_as(app, org, &ids[0], &["TRIGGERED", "EXECUTING", "COMPLETED"]).await
        }
        End::Running => move_as(app, org, &ids[0], &["TRIGGERED", "EXECUTING"]).await,
        End::Aborted => move_as(app, org, &ids[0], &["TRIGGERED", "ABORTED"]).await,
        End::OptionalFailed => {
            move_as(app, org, &ids[0], &["TRIGGERED", "EXECUTING", "COMPLETED"]).await;
            move_as(app, org, &ids[1], &["TRIGGERED", "EXECUTING", "FAILED"]).await;
        }
    }
    let status = app.build(&build).await["status"].clone();
    assert_eq!(
        status,
        end.status(),
        "the premise: build {build} ended {end:?}"
    );
    build
}

/// The build id and status a webhook body carries.
fn build_of(body: &Value) -> (String, String) {
    let id = match &body["data"]["build"]["id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    (
        id,
        body["data"]["build"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test]
async fn build_fixed_and_still_failing_fire_exactly_when_they_should() {
    let app = TestApp::spawn().await;
    let org = app.org.clone();
    let derived = Receiver::start(vec![]).await;
    let star = Receiver::start(vec![]).await;
    let build_star = Receiver::start(vec![]).await;
    save_ok(
        &app,
        &org,
        json!([
            { "webhookURL": derived.url(), "events": ["build.fixed", "build.still_failing"] },
            { "webhookURL": star.url(), "events": ["*"] },
            { "webhookURL": build_star.url(), "events": ["build.*"] },
        ]),
    )
    .await;

    // Each case in a repository of its own; its builds one after another.
    let mut expected: Vec<(String, Derived, &str)> = Vec::new();
    let mut finished: HashMap<String, bool> = HashMap::new();
    for (i, case) in CASES.iter().enumerate() {
        let repo = repository(&app, &org, &format!("case-{i}")).await;
        let mut ids = Vec::new();
        for (branch, end) in case.builds {
            let id = drive(&app, &org, &repo, branch, *end).await;
            finished.insert(id.clone(), !matches!(end, End::Running));
            ids.push(id);
        }
        for (index, event) in case.expect {
            expected.push((ids[*index].clone(), *event, case.name));
        }
    }
    let all = settle(&app, &org, 1, Duration::from_secs(60)).await;
    assert!(all.iter().all(super::is_final), "every delivery settled");

    // The derived endpoint: exactly the expected events, as `build` events.
    let mut got: Vec<(String, Derived)> = Vec::new();
    for r in derived.received() {
        assert_eq!(
            r.header("x-cirrus-event").as_deref(),
            Some("build"),
            "{:?}",
            r.body
        );
        let (id, status) = build_of(&r.json());
        let event = match status.as_str() {
            "COMPLETED" => Fixed,
            "FAILED" => StillFailing,
            other => panic!("a derived event of a build {other}: {:?}", r.body),
        };
        got.push((id, event));
    }
    for (id, event, case) in &expected {
        let n = got.iter().filter(|(g, e)| g == id && e == event).count();
        assert_eq!(n, 1, "{case}: {event:?} of build {id} once (got {got:?})");
    }
    let names: HashMap<&str, &str> = expected
        .iter()
        .map(|(id, _, case)| (id.as_str(), *case))
        .collect();
    for (id, event) in &got {
        assert!(
            expected.iter().any(|(e, ev, _)| e == id && ev == event),
            "unexpected {event:?} of build {id} ({})",
            names
                .get(id.as_str())
                .copied()
                .unwrap_or("a build with no derived event expected")
        );
    }

    // `*` and `build.*` get each finished build's own final event once, and nothing derived.
    for (label, receiver) in [("*", &star), ("build.*", &build_star)] {
        let mut finals: HashMap<String, usize> = HashMap::new();
        for r in receiver.received() {
            if r.header("x-cirrus-event").as_deref() != Some("build") {
                continue;
            }
            let (id, status) = build_of(&r.json());
            if status == "COMPLETED" || status == "FAILED" {
                *finals.entry(id).or_default() += 1;
            }
        }
        for (id, done) in &finished {
            let want = usize::from(*done);
            assert_eq!(
                finals.get(id).copied().unwrap_or(0),
                want,
                "{label}: build {id} has {want} final build event(s) and no derived one"
            );
        }
    }
}
