//! Reading a generic JSON sender's body with its source's [`Mapping`]: the build's id, its status
//! word (looked up in the mapping's words) and the optional fields, each at its JSONPath. Errors
//! name the path, so the sender can see which of its fields is wrong.

use serde_json::Value;
use serde_json_path::JsonPath;

use super::fields;
use super::mapping::Mapping;
use super::report::{BuildReport, Malformed, Report};

/// The latest event time accepted, in ms (9999-12-31T23:59:59.999Z).
const MAX_EVENT_MS: f64 = 253_402_300_799_999.0;
/// A number at least this large is ms since the epoch; a smaller one is seconds.
const MS_FROM: f64 = 1e12;

impl Mapping {
    /// The build a generic sender's body reports. The id (a string or an integer) and the
    /// status word (a string) are required; a word the mapping does not list is ignored. An
    /// optional path that selects nothing (or `null`) gives `None`; one that selects a value of
    /// the wrong type is [`Malformed`].
    pub fn read(&self, body: &Value) -> Result<Report, Malformed> {
        let external_id = fields::id_or_text(select(&self.external_id, body)?, &self.external_id)?;
        let word = fields::string(select(&self.status, body)?, &self.status)?;
        let Some(status) = self.status_of(&word) else {
            return Ok(Report::Ignored(format!(
                "status word \"{word}\" has no mapping"
            )));
        };
        let text = |path: &Option<String>| match path {
            Some(path) => fields::opt_string(select(path, body)?, path),
            None => Ok(None),
        };
        let event_time = match &self.event_time {
            Some(path) => event_time(select(path, body)?, path)?,
            None => None,
        };
        Ok(Report::Build(BuildReport {
            external_id,
            repository: text(&self.repository)?,
            branch: text(&self.branch)?,
            commit: text(&self.commit)?,
            title: text(&self.title)?,
            status: Some(status),
            event_time,
            ..BuildReport::default()
        }))
    }
}

/// The value `path` selects in `body`; `None` when it selects nothing or `null`.
fn select<'a>(path: &str, body: &'a Value) -> Result<Option<&'a Value>, Malformed> {
    // Paths were checked when the mapping was saved; one that no longer parses is reported
    // rather than read as absent.
    let query = JsonPath::parse(path)
        .map_err(|_| Malformed(format!("{path}: the source's mapping path does not parse")))?;
    Ok(query.query(body).first().filter(|value| !value.is_null()))
}

/// An event time: a number of ms (at least 1e12) or seconds since the epoch, or an RFC 3339
/// string; in ms.
fn event_time(value: Option<&Value>, path: &str) -> Result<Option<i64>, Malformed> {
    let expected = "a number of ms or seconds since the epoch, or an RFC 3339 time";
    match value {
        None => Ok(None),
        Some(Value::Number(n)) => {
            let n = n
                .as_f64()
                .filter(|n| n.is_finite() && *n >= 0.0)
                .ok_or_else(|| Malformed::field(path, expected))?;
            let ms = if n >= MS_FROM { n } else { n * 1000.0 };
            if ms > MAX_EVENT_MS {
                return Err(Malformed::field(path, expected));
            }
            // In range: 0 <= ms <= MAX_EVENT_MS, well inside i64.
            Ok(Some(ms.round() as i64))
        }
        Some(Value::String(text)) => fields::time_ms(text)
            .map(Some)
            .ok_or_else(|| Malformed::field(path, expected)),
        Some(_) => Err(Malformed::field(path, expected)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::mapping::StatusWord;
    use crate::status::BuildStatus;
    use serde_json::json;

    fn mapping() -> Mapping {
        Mapping {
            external_id: "$.pipeline.id".into(),
            status: "$.pipeline.state".into(),
            statuses: vec![
                StatusWord {
                    word: "running".into(),
                    status: BuildStatus::Executing,
                },
                StatusWord {
                    word: "passed".into(),
                    status: BuildStatus::Completed,
                },
            ],
            repository: Some("$.repo['full name']".into()),
            branch: Some("$.git.branch".into()),
            commit: Some("$.git.commits[0].sha".into()),
            title: Some("$.git.commits[0].title".into()),
            event_time: Some("$.ts".into()),
        }
    }

    fn body() -> Value {
        json!({
            "pipeline": {"id": 981, "state": "passed"},
            "repo": {"full name": "acme/rocket"},
            "git": {
                "branch": "main",
                "commits": [{"sha": "abc123", "title": "Fix the fins"}, {"sha": "def"}]
            },
            "ts": 1_700_000_000_123_u64
        })
    }

    #[test]
    fn reads_every_mapped_field() {
        assert_eq!(
            mapping().read(&body()),
            Ok(Report::Build(BuildReport {
                external_id: "981".into(),
                repository: Some("acme/rocket".into()),
                branch: Some("main".into()),
                commit: Some("abc123".into()),
                title: Some("Fix the fins".into()),
                status: Some(BuildStatus::Completed),
                event_time: Some(1_700_000_000_123),
                ..BuildReport::default()
            }))
        );
    }

    #[test]
    fn a_string_id_and_absent_optional_fields() {
        let body = json!({"pipeline": {"id": "build-7", "state": "running"}, "git": null});
        assert_eq!(
            mapping().read(&body),
            Ok(Report::Build(BuildReport {
                external_id: "build-7".into(),
                status: Some(BuildStatus::Executing),
                ..BuildReport::default()
            }))
        );
    }

    #[test]
    fn an_unmapped_word_is_ignored() {
        let mut body = body();
        body["pipeline"]["state"] = json!("Passed");
        assert_eq!(
            mapping().read(&body),
            Ok(Report::Ignored(
                "status word \"Passed\" has no mapping".into()
            ))
        );
    }

    #[test]
    fn event_times_in_ms_seconds_and_rfc_3339() {
        let cases = [
            (json!(1_700_000_000_123_u64), Some(1_700_000_000_123)),
            (json!(1_700_000_000), Some(1_700_000_000_000)),
            (json!(1_700_000_000.5), Some(1_700_000_000_500)),
            (json!(0), Some(0)),
            (json!("2020-10-05T16:33:24Z"), Some(1_601_915_604_000)),
            (json!(null), None),
        ];
        for (ts, ms) in cases {
            let mut body = body();
            body["ts"] = ts.clone();
            let Ok(Report::Build(build)) = mapping().read(&body) else {
                panic!("{ts}");
            };
            assert_eq!(build.event_time, ms, "{ts}");
        }
    }

    #[test]
    fn wrong_types_are_malformed_and_name_the_path() {
        let expected_time = "a number of ms or seconds since the epoch, or an RFC 3339 time";
        let cases = [
            (
                "/pipeline/id",
                json!(null),
                "$.pipeline.id",
                "a string or a number",
            ),
            (
                "/pipeline/id",
                json!(1.5),
                "$.pipeline.id",
                "a string or a number",
            ),
            (
                "/pipeline/id",
                json!(""),
                "$.pipeline.id",
                "a string or a number",
            ),
            ("/pipeline/state", json!(3), "$.pipeline.state", "a string"),
            (
                "/pipeline/state",
                json!(null),
                "$.pipeline.state",
                "a string",
            ),
            ("/git/branch", json!(["main"]), "$.git.branch", "a string"),
            (
                "/repo/full name",
                json!(1),
                "$.repo['full name']",
                "a string",
            ),
            ("/ts", json!(-5), "$.ts", expected_time),
            ("/ts", json!("yesterday"), "$.ts", expected_time),
            ("/ts", json!(1e300), "$.ts", expected_time),
            ("/ts", json!(true), "$.ts", expected_time),
        ];
        for (pointer, value, path, expected) in cases {
            let mut body = body();
            *body.pointer_mut(pointer).expect("fixture has the field") = value;
            assert_eq!(
                mapping().read(&body),
                Err(Malformed::field(path, expected)),
                "{pointer}"
            );
        }
        assert_eq!(
            mapping().read(&json!({})),
            Err(Malformed::field("$.pipeline.id", "a string or a number"))
        );
    }

    #[test]
    fn a_stored_path_that_no_longer_parses_is_reported() {
        let mut m = mapping();
        m.branch = Some("$..[".into());
        assert_eq!(
            m.read(&body()),
            Err(Malformed(
                "$..[: the source's mapping path does not parse".into()
            ))
        );
    }
}
