//! Reading one field of a sender's JSON body: the rules every inbound reader (`github`,
//! `gitlab`, `generic`) shares, so they answer the same way. A required field that is missing,
//! `null` or of the wrong type is [`Malformed`], named by its path. An optional field that is
//! missing or `null` is `None`; present with the wrong type it is `Malformed` too, so a sender's
//! bug gets an answer instead of silently losing the value. Times become ms since the epoch.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::report::Malformed;

/// Longest external id (a run, pipeline, job or generic build id), in characters.
pub const MAX_ID_CHARS: usize = 255;
/// Most labels kept from one job; later ones are dropped.
pub const MAX_LABELS: usize = 50;
/// Longest label kept, in characters; longer ones are cut.
pub const MAX_LABEL_CHARS: usize = 255;

/// The value at a dotted path of object keys (`workflow_run.head_commit.message`); `None` when
/// any key is missing or the value is `null`.
pub fn lookup<'a>(body: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(body, |value, key| value.get(key))
        .filter(|value| !value.is_null())
}

/// The first of `paths` that holds a user object with an integer `id` and a string under
/// `name_key` (`login` on GitHub, `username` on GitLab); `None` when none does. Optional and
/// informative: a user of another shape is left out, never a reason to refuse the event.
pub fn user(body: &Value, paths: &[&str], name_key: &str) -> Option<super::report::ReportedUser> {
    paths.iter().find_map(|path| {
        let user = lookup(body, path)?;
        let id = user.get("id").filter(|id| id.is_i64() || id.is_u64())?;
        let username = user.get(name_key)?.as_str()?;
        Some(super::report::ReportedUser {
            id: id.to_string(),
            username: username.chars().take(200).collect(),
        })
    })
}

/// A required vendor id: an integer, as text (`workflow_job.id`).
pub fn id(value: Option<&Value>, name: &str) -> Result<String, Malformed> {
    match value {
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        _ => Err(Malformed::field(name, "a number")),
    }
}

/// A required id that may be an integer or a non-empty string of at most [`MAX_ID_CHARS`]
/// characters (a generic sender's build id), as text.
pub fn id_or_text(value: Option<&Value>, name: &str) -> Result<String, Malformed> {
    let expected = "a string or a number";
    match value {
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= MAX_ID_CHARS => {
            Ok(s.clone())
        }
        Some(Value::String(s)) if !s.is_empty() => Err(Malformed::field(
            name,
            &format!("{expected} of at most {MAX_ID_CHARS} characters"),
        )),
        _ => Err(Malformed::field(name, expected)),
    }
}

/// A required string.
pub fn string(value: Option<&Value>, name: &str) -> Result<String, Malformed> {
    opt_string(value, name)?.ok_or_else(|| Malformed::field(name, "a string"))
}

/// An optional string.
pub fn opt_string(value: Option<&Value>, name: &str) -> Result<Option<String>, Malformed> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Malformed::field(name, "a string")),
    }
}

/// An optional string; an empty one counts as absent (GitHub sends `"name": ""` for a run
/// without a name of its own).
pub fn opt_nonempty(value: Option<&Value>, name: &str) -> Result<Option<String>, Malformed> {
    Ok(opt_string(value, name)?.filter(|s| !s.is_empty()))
}

/// An optional boolean.
pub fn opt_bool(value: Option<&Value>, name: &str) -> Result<Option<bool>, Malformed> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(Malformed::field(name, "a boolean")),
    }
}

/// An optional pull or merge request number (a positive integer that fits an `i32`).
pub fn opt_number(value: Option<&Value>, name: &str) -> Result<Option<i32>, Malformed> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| Malformed::field(name, "a positive integer")),
        Some(_) => Err(Malformed::field(name, "a positive integer")),
    }
}

/// An optional time written as text ([`time_ms`]), in ms since the epoch.
pub fn opt_time(value: Option<&Value>, name: &str) -> Result<Option<i64>, Malformed> {
    match opt_string(value, name)? {
        None => Ok(None),
        Some(text) => time_ms(&text)
            .map(Some)
            .ok_or_else(|| Malformed::field(name, "an RFC 3339 time")),
    }
}

/// The first optional time of `names` that is present, looked up in `body`.
pub fn first_time(body: &Value, names: &[&str]) -> Result<Option<i64>, Malformed> {
    for name in names {
        if let Some(ms) = opt_time(lookup(body, name), name)? {
            return Ok(Some(ms));
        }
    }
    Ok(None)
}

/// Job labels from an optional array of strings: at most [`MAX_LABELS`], each cut to
/// [`MAX_LABEL_CHARS`] characters, empty ones skipped.
pub fn labels(value: Option<&Value>, name: &str) -> Result<Vec<String>, Malformed> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(Malformed::field(name, "an array of strings")),
    };
    let mut labels = Vec::new();
    for item in items {
        let label = item
            .as_str()
            .ok_or_else(|| Malformed::field(name, "an array of strings"))?;
        if !label.is_empty() && labels.len() < MAX_LABELS {
            labels.push(label.chars().take(MAX_LABEL_CHARS).collect());
        }
    }
    Ok(labels)
}

/// The first line of a commit message, trimmed; `None` when it is blank.
pub fn first_line(message: &str) -> Option<String> {
    let line = message.lines().next().unwrap_or_default().trim();
    (!line.is_empty()).then(|| line.to_string())
}

/// A time as ms since the epoch: RFC 3339 (`2020-10-05T16:33:24Z`, `2021-02-23T02:41:37.886Z`),
/// or GitLab's `2016-08-12 15:23:28 UTC` / `2021-04-28 21:50:00 +0200`
/// (<https://docs.gitlab.com/user/project/integrations/webhook_events/>). `None` otherwise.
pub fn time_ms(text: &str) -> Option<i64> {
    let parsed = OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .or_else(|| OffsetDateTime::parse(&gitlab_to_rfc3339(text)?, &Rfc3339).ok())?;
    i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).ok()
}

/// `2016-08-12 15:23:28 UTC` -> `2016-08-12T15:23:28Z`; `... +0200` -> `...+02:00`.
fn gitlab_to_rfc3339(text: &str) -> Option<String> {
    let (date, rest) = text.split_once(' ')?;
    let (clock, zone) = rest.split_once(' ')?;
    let zone = match zone.as_bytes() {
        b"UTC" => "Z".to_string(),
        [sign @ (b'+' | b'-'), digits @ ..]
            if digits.len() == 4 && digits.iter().all(u8::is_ascii_digit) =>
        {
            // All ASCII, so these byte offsets are character boundaries.
            format!("{}{}:{}", *sign as char, &zone[1..3], &zone[3..5])
        }
        _ => return None,
    };
    Some(format!("{date}T{clock}{zone}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_in_rfc_3339_and_gitlab_forms() {
        assert_eq!(time_ms("2020-10-05T16:33:24Z"), Some(1_601_915_604_000));
        assert_eq!(time_ms("2021-02-23T02:41:37.886Z"), Some(1_614_048_097_886));
        assert_eq!(
            time_ms("2016-08-12T17:23:21+02:00"),
            Some(1_471_015_401_000)
        );
        assert_eq!(time_ms("2016-08-12 15:23:28 UTC"), Some(1_471_015_408_000));
        assert_eq!(
            time_ms("2021-04-28 21:50:00 +0200"),
            Some(1_619_639_400_000)
        );
        for bad in [
            "",
            "yesterday",
            "2016-08-12",
            "2016-08-12 15:23:28",
            "2016-08-12 15:23:28 CEST",
            "2016-08-12 15:23:28 +02é0",
            "2016-13-12T15:23:28Z",
        ] {
            assert_eq!(time_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn lookup_walks_object_keys_and_treats_null_as_missing() {
        let body = json!({"a": {"b": {"c": 1}, "n": null}});
        assert_eq!(lookup(&body, "a.b.c"), Some(&json!(1)));
        assert_eq!(lookup(&body, "a.n"), None);
        assert_eq!(lookup(&body, "a.x.c"), None);
    }

    #[test]
    fn ids_are_integers_or_for_generic_senders_short_strings() {
        assert_eq!(id(Some(&json!(42)), "x.id"), Ok("42".into()));
        let not_a_number = Err(Malformed::field("x.id", "a number"));
        assert_eq!(id(Some(&json!("42")), "x.id"), not_a_number);
        assert_eq!(id(Some(&json!(4.2)), "x.id"), not_a_number);
        assert_eq!(id(None, "x.id"), not_a_number);
        assert_eq!(id_or_text(Some(&json!("b-1")), "$.id"), Ok("b-1".into()));
        assert_eq!(id_or_text(Some(&json!(7)), "$.id"), Ok("7".into()));
        assert!(id_or_text(Some(&json!("")), "$.id").is_err());
        assert!(id_or_text(Some(&json!("x".repeat(256))), "$.id").is_err());
        assert!(id_or_text(Some(&json!(true)), "$.id").is_err());
    }

    #[test]
    fn optional_fields_are_none_when_absent_and_malformed_when_mistyped() {
        assert_eq!(opt_string(None, "t"), Ok(None));
        assert_eq!(opt_string(Some(&Value::Null), "t"), Ok(None));
        assert_eq!(
            opt_string(Some(&json!(1)), "t"),
            Err(Malformed::field("t", "a string"))
        );
        assert_eq!(opt_nonempty(Some(&json!("")), "t"), Ok(None));
        assert_eq!(opt_bool(Some(&json!("yes")), "b").ok(), None);
        assert_eq!(opt_number(Some(&json!(12)), "n"), Ok(Some(12)));
        assert!(opt_number(Some(&json!(0)), "n").is_err());
        assert!(opt_number(Some(&json!(1_u64 << 40)), "n").is_err());
        assert!(opt_time(Some(&json!("soon")), "at").is_err());
    }

    #[test]
    fn labels_are_bounded() {
        let many: Vec<String> = (0..60).map(|i| format!("l{i}")).collect();
        let read = labels(Some(&json!(many)), "labels").expect("labels");
        assert_eq!(read.len(), MAX_LABELS);
        let long = labels(Some(&json!(["é".repeat(300), ""])), "labels").expect("labels");
        assert_eq!(long, vec!["é".repeat(MAX_LABEL_CHARS)]);
        assert!(labels(Some(&json!(["a", 1])), "labels").is_err());
        assert_eq!(labels(None, "labels"), Ok(vec![]));
    }

    #[test]
    fn first_line_of_a_message() {
        assert_eq!(first_line("test\n"), Some("test".into()));
        assert_eq!(first_line("  fix: x  \n\nbody"), Some("fix: x".into()));
        assert_eq!(first_line("\nsecond"), None);
        assert_eq!(first_line(""), None);
    }
}
