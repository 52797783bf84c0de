//! Event patterns of an endpoint and the one grammar they follow:
//! `*` | `build.*` | `task.*` | `build.<status>` | `task.<status>` (status in lower case, e.g.
//! `task.failed`, `build.needs_approval`). A pattern matches an event's filter key.

use crate::status::{BuildStatus, TaskStatus};

/// Checks a pattern against the grammar; the message says what is allowed.
pub fn validate(pattern: &str) -> Result<(), String> {
    if pattern == "*" {
        return Ok(());
    }
    let Some((kind, status)) = pattern.split_once('.') else {
        return Err(format!(
            "{pattern:?} is not an event pattern: use *, build.*, task.*, build.<status> or task.<status>"
        ));
    };
    let known = match kind {
        "build" => {
            status == "*"
                || BuildStatus::ALL
                    .iter()
                    .any(|s| s.as_str().eq_ignore_ascii_case(status))
        }
        "task" => {
            status == "*"
                || TaskStatus::ALL
                    .iter()
                    .any(|s| s.as_str().eq_ignore_ascii_case(status))
        }
        _ => {
            return Err(format!(
                "{pattern:?}: unknown event kind {kind:?} (build or task)"
            ))
        }
    };
    if known && status == status.to_ascii_lowercase() {
        Ok(())
    } else {
        Err(format!(
            "{pattern:?}: unknown {kind} status {status:?} (lower case, e.g. {kind}.failed)"
        ))
    }
}

/// Does `pattern` select the event whose filter key is `key` (`task.failed`)?
pub fn matches(pattern: &str, key: &str) -> bool {
    if pattern == "*" || pattern == key {
        return true;
    }
    match pattern.strip_suffix(".*") {
        Some(kind) => key.split_once('.').is_some_and(|(k, _)| k == kind),
        None => false,
    }
}

/// Does any pattern of the list select `key`?
pub fn any_matches(patterns: &[String], key: &str) -> bool {
    patterns.iter().any(|p| matches(p, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        for ok in [
            "*",
            "task.*",
            "build.*",
            "task.failed",
            "build.needs_approval",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "task",
            "tasks.*",
            "task.FAILED",
            "task.exploded",
            "build.skipped",
            "*.*",
        ] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matching() {
        assert!(matches("*", "task.failed"));
        assert!(matches("task.*", "task.failed"));
        assert!(!matches("task.*", "build.failed"));
        assert!(matches("task.failed", "task.failed"));
        assert!(!matches("task.failed", "task.completed"));
    }
}
