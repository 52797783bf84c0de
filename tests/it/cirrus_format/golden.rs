//! Golden bodies: a received body with its volatile values replaced by typed placeholders,
//! compared as text (so key order counts) with `tests/fixtures/golden/<format>/<name>.json`.
//!
//! The placeholders, applied at any depth (a placeholder records the JSON type it replaced, so a
//! golden still shows whether an id was a number or a string):
//! - `id` of an object held under any key but `user`/`initializer` (whose ids the test gives)
//!   becomes `"<id:<that key>:<type>>"`, e.g. `"<id:build:number>"`;
//! - any other key ending in `Id` becomes `"<id:<key>:<type>>"`;
//! - a non-null value of a key ending in `Timestamp` becomes `"<ts:<type>>"`;
//! - a non-null `durationInSeconds` becomes `"<duration:<type>>"`.
//!
//! Nulls stay null, and everything else (names, statuses, the reporter's values, the owner, which
//! the test names) is kept as it is. `BUILDHOOKS_BLESS=1` rewrites the goldens (and removes the
//! ones no event produced); without it a missing, differing or stale golden fails the test, and
//! under `CI=true` blessing is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Where the goldens of `format` (`documented`, `cirrus`) live.
pub fn dir(format: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/golden")
        .join(format)
}

/// The JSON type of `value`, as placeholders name it.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn placeholder(what: String, value: &Value) -> Value {
    Value::String(format!("<{what}:{}>", type_name(value)))
}

/// `value` with its volatile values replaced (see the module's rules); `parent` is the key that
/// holds it ("" at the top).
pub fn normalize(value: &Value, parent: &str) -> Value {
    match value {
        Value::Object(fields) => {
            let mut out = Map::new();
            for (key, v) in fields {
                let replaced = match key.as_str() {
                    _ if v.is_null() || v.is_object() || v.is_array() => None,
                    "id" if !matches!(parent, "user" | "initializer") => {
                        Some(placeholder(format!("id:{parent}"), v))
                    }
                    k if k.ends_with("Id") => Some(placeholder(format!("id:{k}"), v)),
                    k if k.ends_with("Timestamp") => Some(placeholder("ts".into(), v)),
                    "durationInSeconds" => Some(placeholder("duration".into(), v)),
                    _ => None,
                };
                out.insert(key.clone(), replaced.unwrap_or_else(|| normalize(v, key)));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| normalize(v, parent)).collect()),
        other => other.clone(),
    }
}

/// The golden text of a body: normalized, pretty-printed in the body's own key order.
pub fn text(body: &Value) -> String {
    let mut text = serde_json::to_string_pretty(&normalize(body, "")).expect("json");
    text.push('\n');
    text
}

fn env_is(name: &str, value: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == value)
}

/// Compares `produced` (golden name -> text) with the goldens in `dir`, or rewrites them under
/// `BUILDHOOKS_BLESS=1`. Returns what differs, one line each (empty: all match).
pub fn check(dir: &Path, produced: &BTreeMap<String, String>) -> Vec<String> {
    let bless = env_is("BUILDHOOKS_BLESS", "1");
    assert!(
        !(bless && env_is("CI", "true")),
        "BUILDHOOKS_BLESS=1 under CI=true: goldens are blessed by a person, never by CI"
    );
    let on_disk: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".json"))
                .map(|n| n.trim_end_matches(".json").to_owned())
                .collect()
        })
        .unwrap_or_default();
    if bless {
        std::fs::create_dir_all(dir).expect("golden dir");
        for (name, text) in produced {
            std::fs::write(dir.join(format!("{name}.json")), text).expect("write golden");
        }
        for stale in on_disk.iter().filter(|n| !produced.contains_key(*n)) {
            std::fs::remove_file(dir.join(format!("{stale}.json"))).expect("remove golden");
        }
        return Vec::new();
    }
    let mut problems = Vec::new();
    for (name, text) in produced {
        let path = dir.join(format!("{name}.json"));
        match std::fs::read_to_string(&path) {
            Err(_) => problems.push(format!("missing {}:\n{text}", path.display())),
            Ok(golden) if golden != *text => problems.push(format!(
                "{} differs\n--- golden\n{golden}--- received\n{text}",
                path.display()
            )),
            Ok(_) => {}
        }
    }
    for stale in on_disk.iter().filter(|n| !produced.contains_key(*n)) {
        problems.push(format!(
            "{} matches no event received",
            dir.join(format!("{stale}.json")).display()
        ));
    }
    problems
}

#[test]
fn placeholders_keep_the_type_and_leave_given_values() {
    let body = serde_json::json!({
        "action": "updated",
        "build": {"id": 7, "changeTimestamp": 1, "durationInSeconds": null,
                  "user": {"id": 42, "username": "octo"}},
        "task": {"id": "9", "repositoryId": "3", "statusTimestamp": 5, "durationInSeconds": 0,
                 "notifications": [{"level": "INFO", "message": "m"}]},
    });
    assert_eq!(
        normalize(&body, ""),
        serde_json::json!({
            "action": "updated",
            "build": {"id": "<id:build:number>", "changeTimestamp": "<ts:number>",
                      "durationInSeconds": null, "user": {"id": 42, "username": "octo"}},
            "task": {"id": "<id:task:string>", "repositoryId": "<id:repositoryId:string>",
                     "statusTimestamp": "<ts:number>", "durationInSeconds": "<duration:number>",
                     "notifications": [{"level": "INFO", "message": "m"}]},
        })
    );
}
