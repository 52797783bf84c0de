//! Event patterns of an endpoint and the one grammar they follow:
//! `*` | `build.*` | `task.*` | `build.<status>` | `task.<status>` (status in lower case, e.g.
//! `task.failed`, `build.needs_approval`), and the derived build events [`DERIVED`]
//! (`build.fixed`, `build.still_failing`), which only a pattern naming them selects (`*` and
//! `build.*` keep selecting what they did), and Cirrus's audit events [`AUDIT`]
//! (`audit_event.*`), likewise selected only by name, as are the operational events
//! [`OPERATIONAL`] (`endpoint.disabled`, `endpoint.recovered`). A pattern matches an event's filter key. An endpoint
//! has 1 to [`MAX_PATTERNS`] of them, checked when saved ([`validate_all`]) and again when read
//! back from the database ([`parse_stored`]), so a row that fails is reported, never read as no
//! patterns.

use crate::status::{BuildStatus, TaskStatus};

/// Most event patterns an endpoint may have.
pub const MAX_PATTERNS: usize = 20;
/// Longest pattern, in bytes: the longest valid one, `build.needs_approval`, has 20. Longer
/// texts are refused without quoting them in the message.
pub const MAX_PATTERN_BYTES: usize = 32;

/// Why a list of patterns, given or stored, is refused. The text is meant for the client that
/// saves them (a `VALIDATION` error) or for the log that reports a stored row.
#[derive(Debug, thiserror::Error)]
pub enum PatternError {
    /// The stored text is not a JSON array of strings.
    #[error("stored event patterns are not a JSON array of strings: {0}")]
    NotAList(#[from] serde_json::Error),
    /// None, or more than [`MAX_PATTERNS`].
    #[error("give 1 to {MAX_PATTERNS} event patterns")]
    Count,
    /// A pattern outside the grammar; the message says what is allowed.
    #[error("{0}")]
    Grammar(String),
}

/// Events derived from a build's outcome and the previous finished build of its repository and
/// branch: COMPLETED after FAILED, and FAILED after FAILED.
pub const DERIVED: [&str; 2] = ["build.fixed", "build.still_failing"];

/// Cirrus's audit events (`X-Cirrus-Event: audit_event`, one per GraphQL mutation): only a
/// pattern naming them selects them, never `*`.
pub const AUDIT: [&str; 2] = ["audit_event.*", "audit_event.graphql.mutation"];

/// Operational events about the organization's endpoints (one disabled by buildhooks, one
/// re-enabled): only a pattern naming them selects them, never `*`.
pub const OPERATIONAL: [&str; 3] = ["endpoint.*", "endpoint.disabled", "endpoint.recovered"];

/// Checks a pattern against the grammar; the message says what is allowed.
pub fn validate(pattern: &str) -> Result<(), String> {
    if pattern == "*"
        || DERIVED.contains(&pattern)
        || AUDIT.contains(&pattern)
        || OPERATIONAL.contains(&pattern)
    {
        return Ok(());
    }
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(format!(
            "an event pattern has at most {MAX_PATTERN_BYTES} bytes: use *, build.*, task.*, build.<status>, task.<status> or audit_event.*"
        ));
    }
    let Some((kind, status)) = pattern.split_once('.') else {
        return Err(format!(
            "{pattern:?} is not an event pattern: use *, build.*, task.*, build.<status>, task.<status> or audit_event.*"
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

/// Checks an endpoint's whole list: 1 to [`MAX_PATTERNS`] patterns, each in the grammar.
pub fn validate_all(patterns: &[String]) -> Result<(), PatternError> {
    if patterns.is_empty() || patterns.len() > MAX_PATTERNS {
        return Err(PatternError::Count);
    }
    for pattern in patterns {
        validate(pattern).map_err(PatternError::Grammar)?;
    }
    Ok(())
}

static UNPARSABLE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Counts an endpoint row whose stored patterns did not parse (`parse_stored`).
pub fn count_unparsable() {
    UNPARSABLE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// How many times an endpoint's stored patterns failed to parse since the process started.
pub fn unparsable_patterns() -> u64 {
    UNPARSABLE.load(std::sync::atomic::Ordering::Relaxed)
}

/// The patterns stored in an endpoint row's `events` column (a JSON array of strings), checked
/// as a save checks them. A row that fails (written before a rule existed, or by hand) is an
/// error for the caller to report, never an empty list that silently selects nothing.
pub fn parse_stored(json: &str) -> Result<Vec<String>, PatternError> {
    let patterns: Vec<String> = serde_json::from_str(json)?;
    validate_all(&patterns)?;
    Ok(patterns)
}

/// Does `pattern` select the event whose filter key is `key` (`task.failed`)?
pub fn matches(pattern: &str, key: &str) -> bool {
    if pattern == key {
        return true;
    }
    if DERIVED.contains(&key) {
        return false;
    }
    if key.starts_with("audit_event.") {
        return pattern == "audit_event.*";
    }
    if key.starts_with("endpoint.") {
        return pattern == "endpoint.*";
    }
    if pattern == "*" {
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
            "audit_event.*",
            "audit_event.graphql.mutation",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
        assert!(matches("audit_event.*", "audit_event.graphql.mutation"));
        assert!(!matches("*", "audit_event.graphql.mutation"));
        assert!(!matches("audit_event.*", "task.failed"));
        for key in ["endpoint.disabled", "endpoint.recovered"] {
            assert_eq!(validate(key), Ok(()));
            assert!(matches("endpoint.*", key));
            assert!(matches(key, key));
            assert!(!matches("*", key));
        }
        assert!(!matches("endpoint.*", "task.failed"));
        assert!(!matches("endpoint.disabled", "endpoint.recovered"));
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
    fn long_patterns_are_refused_without_quoting_them() {
        let long = format!("task.{}", "x".repeat(MAX_PATTERN_BYTES));
        let message = validate(&long).expect_err("too long");
        assert!(!message.contains(&long), "{message}");
        assert!(message.contains("at most"), "{message}");
        assert_eq!(validate("build.needs_approval"), Ok(()));
    }

    #[test]
    fn a_list_has_one_to_twenty_valid_patterns() {
        let list = |n: usize| vec![String::from("task.*"); n];
        assert!(validate_all(&list(1)).is_ok());
        assert!(validate_all(&list(MAX_PATTERNS)).is_ok());
        for n in [0, MAX_PATTERNS + 1] {
            let error = validate_all(&list(n)).expect_err("count");
            assert!(matches!(error, PatternError::Count), "{n}: {error:?}");
            assert_eq!(error.to_string(), "give 1 to 20 event patterns");
        }
        let error = validate_all(&["*".into(), "task.exploded".into()]).expect_err("grammar");
        assert!(matches!(error, PatternError::Grammar(_)), "{error:?}");
        assert_eq!(
            error.to_string(),
            validate("task.exploded").expect_err("grammar")
        );
    }

    #[test]
    fn stored_patterns_parse_and_are_checked_again() {
        assert_eq!(
            parse_stored(r#"["task.failed","build.*"]"#).ok(),
            Some(vec!["task.failed".to_owned(), "build.*".to_owned()])
        );
        for (stored, why) in [
            ("", "not JSON"),
            ("not json", "not JSON"),
            (r#"{"events":["*"]}"#, "an object"),
            (r#"["*", 5]"#, "a number"),
            ("null", "null"),
        ] {
            let error = parse_stored(stored).expect_err(why);
            assert!(
                matches!(error, PatternError::NotAList(_)),
                "{why}: {error:?}"
            );
        }
        assert!(matches!(parse_stored("[]"), Err(PatternError::Count)));
        // Written before the grammar was checked, or by hand: reported, not read as no patterns.
        for stored in [r#"["task.FAILED"]"#, r#"["deploy.*"]"#, r#"["*", ""]"#] {
            let error = parse_stored(stored).expect_err(stored);
            assert!(
                matches!(error, PatternError::Grammar(_)),
                "{stored}: {error:?}"
            );
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
