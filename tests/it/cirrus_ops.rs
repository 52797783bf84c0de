//! Public operations written for Cirrus CI's API (`tests/fixtures/cirrus-ops/*.graphql`, each with
//! its `# source:`), run against buildhooks as their clients send them. Every operation whose
//! `# needs:` is `none` must run unchanged (no errors); every other one may fail only on fields
//! its `needs:` line names (what only a CI runner has: logs, artifacts, commands). The test
//! prints a table (`file | source | runs unchanged | reason`) and the count that runs unchanged.
//!
//! What the test supplies, never the operation text: the placeholders of `# variables:` (`$REPO_ID`,
//! `$BUILD_ID`, `$TASK_ID`, `$OWNER_UID`, `$DELIVERY_ID`, `$OWNER`, `$NAME`, `$SHA`, `$BRANCH`),
//! a build or task in the state a mutation needs (a PAUSED task for `trigger`, a finished one for
//! `rerun`, ...), the test's repository for variables that name one (`owner`, `name`, `repo`), and
//! ids as JSON numbers where the header says the client sends numbers. Two operations had values
//! interpolated into their text by their client (their `# edited:` line names the sample values):
//! those samples, and only those, are replaced by the test's values ([`INTERPOLATED`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::utils::{deliveries, save_endpoints, Org, Receiver, TestApp};

/// One operation file.
struct Op {
    file: String,
    source: String,
    /// The header's variables, placeholders unreplaced.
    variables: Value,
    /// The identifiers of the `# needs:` line; empty for `none`.
    needs: Vec<String>,
    /// The client sends ids as JSON numbers.
    numeric_ids: bool,
    text: String,
}

/// Values a client interpolated into the operation text, by file prefix: (sample, placeholder).
const INTERPOLATED: [(&str, &str, &str); 3] = [
    ("24-", "owner: \"bitcoin\"", "$OWNER"),
    ("24-", "name: \"bitcoin\"", "$NAME"),
    ("25-", "5585849976356864", "$TASK_ID"),
];

fn header<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let prefix = format!("# {name}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(str::trim)
}

fn load_ops() -> Vec<Op> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cirrus-ops");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("cirrus-ops")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".graphql"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(dir.join(&file)).expect("read op");
            let variables_line = header(&text, "variables").unwrap_or("{}");
            let variables = serde_json::Deserializer::from_str(variables_line)
                .into_iter::<Value>()
                .next()
                .and_then(Result::ok)
                .unwrap_or_else(|| panic!("{file}: variables header"));
            let needs_line = header(&text, "needs").unwrap_or_else(|| panic!("{file}: needs"));
            let needs = match needs_line.starts_with("none") {
                true => Vec::new(),
                false => needs_line
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|w| !w.is_empty())
                    .map(str::to_owned)
                    .collect(),
            };
            let head: String = text.lines().filter(|l| l.starts_with('#')).collect();
            let numeric_ids = ["JSON number", "JSON int", "parseInt"]
                .iter()
                .any(|m| head.contains(m));
            let source = header(&text, "source")
                .map(|s| s.split(" (").next().unwrap_or(s).to_owned())
                .unwrap_or_default();
            Op {
                file,
                source,
                variables,
                needs,
                numeric_ids,
                text,
            }
        })
        .collect()
}

/// The placeholders' values for one operation.
type Values = BTreeMap<&'static str, String>;

/// Replaces the placeholders in the variables' strings; a string that is exactly an id
/// placeholder becomes a number when the client sends numbers.
fn substitute(value: &Value, values: &Values, numeric_ids: bool) -> Value {
    match value {
        Value::String(s) => {
            if numeric_ids && ["$REPO_ID", "$BUILD_ID", "$TASK_ID"].contains(&s.as_str()) {
                let id: i64 = values[s.as_str()].parse().expect("numeric id");
                return json!(id);
            }
            // Longest first: `$OWNER_UID` before `$OWNER`.
            let mut keys: Vec<&&str> = values.keys().collect();
            keys.sort_by_key(|k| std::cmp::Reverse(k.len()));
            let mut out = s.clone();
            for k in keys {
                out = out.replace(*k, &values[*k]);
            }
            Value::String(out)
        }
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), substitute(v, values, numeric_ids)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| substitute(v, values, numeric_ids))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The variables to send: placeholders replaced, and the variables that name a repository
/// (`owner`, `name`, `repo`) pointed at the test's.
fn variables_for(op: &Op, values: &Values) -> Value {
    let mut vars = substitute(&op.variables, values, op.numeric_ids);
    if let Value::Object(fields) = &mut vars {
        for (key, placeholder) in [("owner", "$OWNER"), ("name", "$NAME"), ("repo", "$NAME")] {
            if fields.contains_key(key) {
                fields.insert(key.into(), json!(values[placeholder]));
            }
        }
    }
    vars
}

fn text_for(op: &Op, values: &Values) -> String {
    let mut text = op.text.clone();
    for (prefix, sample, placeholder) in INTERPOLATED {
        if op.file.starts_with(prefix) {
            let value = &values[placeholder];
            let replaced = match sample.split_once(": ") {
                Some((field, _)) => format!("{field}: \"{value}\""),
                None => value.clone(),
            };
            assert!(text.contains(sample), "{}: {sample}", op.file);
            text = text.replace(sample, &replaced);
        }
    }
    text
}

/// The state the operations run against.
struct World {
    base: Values,
    /// Per file prefix: placeholders that differ (a task or build in the state its mutation needs).
    overrides: Vec<(&'static str, &'static str, String)>,
    /// The organization of operations that change organization-wide settings (08, 09, 11).
    settings_org: Org,
}

impl World {
    fn values(&self, op: &Op) -> Values {
        let mut values = self.base.clone();
        for (prefix, key, value) in &self.overrides {
            if op.file.starts_with(prefix) {
                values.insert(key, value.clone());
            }
        }
        if self.is_settings(op) {
            values.insert("$OWNER_UID", self.settings_org.uid.clone());
        }
        values
    }

    fn is_settings(&self, op: &Op) -> bool {
        ["08-", "09-", "11-"].iter().any(|p| op.file.starts_with(p))
    }
}

const SHA: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

/// A build on `branch` with `tasks`, each moved through `statuses`; returns (build, task ids).
async fn build_with(
    app: &TestApp,
    repo: &str,
    branch: &str,
    tasks: &[&str],
    statuses: &[&str],
    needs_approval: bool,
) -> (String, Vec<String>) {
    let tasks: Vec<Value> = tasks.iter().map(|n| json!({ "name": n })).collect();
    let data = app
        .ok(
            "mutation($i: RepositoryCreateBuildInput!) { createBuild(input: $i) { build { id tasks { id } } } }",
            json!({ "i": { "repositoryId": repo, "branch": branch, "sha": SHA,
                "message": "Update the docs\n\nDetails", "needsApproval": needs_approval, "tasks": tasks,
                "user": { "id": "42", "username": "octocat" }, "senderUserPermissions": "admin" } }),
        )
        .await;
    let build = &data["createBuild"]["build"];
    let ids: Vec<String> = build["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .collect();
    for id in &ids {
        app.move_task(id, statuses).await;
    }
    (build["id"].as_str().expect("id").to_owned(), ids)
}

async fn world(app: &TestApp) -> World {
    let receiver = Receiver::start(vec![]).await;
    let saved = save_endpoints(
        app,
        &app.org,
        json!([{ "webhookURL": receiver.url(), "events": ["*"] }]),
    )
    .await;
    assert!(saved.get("errors").is_none(), "{saved}");
    let repo = app.create_repository("cirrus-ops").await;
    let done = ["TRIGGERED", "EXECUTING", "COMPLETED"];
    let (main_build, main_tasks) =
        build_with(app, &repo, "main", &["test", "lint"], &done, false).await;
    let (_, reruns) = build_with(app, &repo, "main", &["r1", "r2", "r3"], &done, false).await;
    let (retrigger, _) = build_with(app, &repo, "main", &["again"], &done, false).await;
    let paused = ["TRIGGERED", "EXECUTING", "PAUSED"];
    let (_, manual) = build_with(app, &repo, "main", &["deploy", "publish"], &paused, false).await;
    let running = ["TRIGGERED", "EXECUTING"];
    let (_, abort) = build_with(app, &repo, "main", &["long"], &running, false).await;
    let (approve, _) = build_with(app, &repo, "main", &["gated"], &[], true).await;
    build_with(app, &repo, "pull/12345", &["pr"], &done, false).await;
    receiver.wait_for(1, Duration::from_secs(10)).await;
    let delivery = deliveries(app).await[0]["id"]
        .as_str()
        .expect("delivery id")
        .to_owned();
    let base: Values = [
        ("$REPO_ID", repo),
        ("$BUILD_ID", main_build),
        ("$TASK_ID", main_tasks[0].clone()),
        ("$OWNER_UID", app.org.uid.clone()),
        ("$DELIVERY_ID", delivery),
        ("$OWNER", app.org.name.clone()),
        ("$NAME", "cirrus-ops".to_owned()),
        ("$SHA", SHA.to_owned()),
        ("$BRANCH", "main".to_owned()),
    ]
    .into_iter()
    .collect();
    let overrides = vec![
        ("05-", "$TASK_ID", reruns[0].clone()),
        ("15-", "$TASK_ID", reruns[1].clone()),
        ("25-", "$TASK_ID", reruns[2].clone()),
        ("13-", "$TASK_ID", manual[0].clone()),
        ("19-", "$TASK_ID", manual[1].clone()),
        ("14-", "$TASK_ID", abort[0].clone()),
        ("16-", "$BUILD_ID", approve),
        ("17-", "$BUILD_ID", retrigger),
    ];
    World {
        base,
        overrides,
        settings_org: app.new_org("settings").await,
    }
}

/// How one operation fared.
struct Outcome {
    file: String,
    source: String,
    unchanged: bool,
    /// The error messages, `;`-joined ("" when it ran unchanged).
    reason: String,
    /// Whether the outcome is what the operation's `needs:` allows.
    allowed: bool,
}

/// The name an error message is about: the field it names (`Unknown field "artifacts" on type
/// "Task"`, `Invalid value for argument "input", field "tasks" ...`), else its first double-quoted
/// name, else the input field a VALIDATION message starts with (`last: must be ...`).
fn quoted(message: &str) -> Option<&str> {
    let from = message.find("field \"").map_or(0, |i| i + "field ".len());
    if let Some(start) = message[from..].find('"').map(|i| from + i + 1) {
        let len = message[start..].find('"')?;
        return Some(message[start..start + len].trim_start_matches('$'));
    }
    let (name, _) = message.split_once(": ")?;
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
        .then_some(name)
}

async fn run(app: &TestApp, world: &World, op: &Op) -> Outcome {
    let values = world.values(op);
    let token = match world.is_settings(op) {
        true => world.settings_org.token.clone(),
        false => app.org.token.clone(),
    };
    let body = json!({ "query": text_for(op, &values), "variables": variables_for(op, &values) });
    let (status, resp) = app.post_raw(Some(&token), &body.to_string()).await;
    let messages: Vec<String> = match resp.get("errors").and_then(Value::as_array) {
        Some(errors) => errors
            .iter()
            .map(|e| e["message"].as_str().unwrap_or("?").to_owned())
            .collect(),
        None if status != 200 || resp.get("data").is_none() => {
            vec![format!("HTTP {status}: {resp}")]
        }
        None => Vec::new(),
    };
    let unchanged = messages.is_empty();
    let allowed = unchanged
        || (!op.needs.is_empty()
            && messages
                .iter()
                .all(|m| quoted(m).is_some_and(|name| op.needs.iter().any(|n| n == name))));
    Outcome {
        file: op.file.trim_end_matches(".graphql").to_owned(),
        source: op.source.clone(),
        unchanged,
        reason: messages.join("; "),
        allowed,
    }
}

/// The table the README shows: `| file | source | runs unchanged | reason |`.
fn table(outcomes: &[Outcome]) -> String {
    let mut out = String::from("| file | source | runs unchanged | reason |\n|---|---|---|---|\n");
    for o in outcomes {
        let reason = o.reason.replace('|', "\\|");
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            o.file,
            o.source,
            if o.unchanged { "yes" } else { "no" },
            if o.allowed || o.unchanged {
                reason
            } else {
                format!("**not allowed**: {reason}")
            }
        ));
    }
    out
}

#[tokio::test]
async fn cirrus_public_operations_run_unchanged_unless_they_need_a_runner() {
    let ops = load_ops();
    assert!(
        ops.len() >= 15,
        "the fixtures hold {} operations",
        ops.len()
    );
    let app = TestApp::spawn().await;
    let world = world(&app).await;
    let mut outcomes = Vec::new();
    for op in &ops {
        outcomes.push(run(&app, &world, op).await);
    }
    let unchanged = outcomes.iter().filter(|o| o.unchanged).count();
    let summary = format!("{unchanged} of {} run unchanged", outcomes.len());
    println!("{summary}\n{}", table(&outcomes));
    let refused: Vec<&Outcome> = outcomes.iter().filter(|o| !o.allowed).collect();
    assert!(
        refused.is_empty(),
        "{summary}; {} fail on fields buildhooks should have (their `needs:` does not name them):\n{}",
        refused.len(),
        refused
            .iter()
            .map(|o| format!("- {}: {}", o.file, o.reason))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn needs_lines_and_placeholders_read_as_documented() {
    let ops = load_ops();
    let by = |prefix: &str| {
        ops.iter()
            .find(|o| o.file.starts_with(prefix))
            .expect(prefix)
    };
    assert!(by("01-").needs.is_empty());
    assert!(by("04-").needs.iter().any(|n| n == "firstFailedCommand"));
    assert!(by("27-").numeric_ids && !by("01-").numeric_ids);
    let values: Values = [("$TASK_ID", "7"), ("$OWNER", "acme"), ("$OWNER_UID", "3")]
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect();
    assert_eq!(
        substitute(
            &json!({"a": "rerun-$TASK_ID", "u": "$OWNER_UID", "t": "$TASK_ID"}),
            &values,
            true
        ),
        json!({"a": "rerun-7", "u": "3", "t": 7})
    );
    assert_eq!(
        quoted("Unknown field \"artifacts\" on type \"Task\"."),
        Some("artifacts")
    );
}
