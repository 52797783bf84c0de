//! Whether an endpoint takes an event: the one rule the outbox applies when it writes rows
//! (`outbox::publish`) and `event(id) { routing }` applies when it explains them, so the
//! explanation cannot drift from what the outbox did. An enabled, undeleted endpoint whose
//! stored patterns parse takes an event when its repository scope holds the event's repository,
//! its kind takes that kind of event (chat robots take build and task events only), and one of
//! its patterns selects the event's filter key.

use buildhooks_entity::{event, webhook_endpoint};

use super::{audit, kinds, pattern};

/// Why an endpoint (enabled, not deleted, patterns readable) does not take an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Miss {
    /// It is scoped to another repository.
    RepositoryScope,
    /// Its kind takes no event of this kind (a chat robot and an audit or operational event).
    KindFilter,
    /// None of its patterns selects the event's filter key.
    Pattern,
}

/// Whether `endpoint` (patterns `patterns`) takes a build or task event of `repository_id`
/// whose filter key is `key`.
pub fn build_event(
    endpoint: &webhook_endpoint::Model,
    patterns: &[String],
    repository_id: i32,
    key: &str,
) -> Result<(), Miss> {
    if endpoint.repository_id.is_some_and(|r| r != repository_id) {
        return Err(Miss::RepositoryScope);
    }
    if !pattern::any_matches(patterns, key) {
        return Err(Miss::Pattern);
    }
    Ok(())
}

/// Whether `endpoint` takes an audit event (or any event that is not a build's or a task's)
/// about `repository_id` whose filter key is `key`: never a chat robot.
pub fn other_event(
    endpoint: &webhook_endpoint::Model,
    patterns: &[String],
    repository_id: Option<i32>,
    key: &str,
) -> Result<(), Miss> {
    if kinds::is_chat(&endpoint.kind) {
        return Err(Miss::KindFilter);
    }
    if endpoint
        .repository_id
        .is_some_and(|r| Some(r) != repository_id)
    {
        return Err(Miss::RepositoryScope);
    }
    if !pattern::any_matches(patterns, key) {
        return Err(Miss::Pattern);
    }
    Ok(())
}

/// The filter key of a stored event row: `<kind>.<new status, lower case>` for build and task
/// events (`build.<action>` for the derived ones), the audit key for audit events, and
/// `<kind>.<action>` for any other (operational) event.
pub fn stored_key(row: &event::Model) -> String {
    match row.kind.as_str() {
        "build" | "task" if matches!(row.action.as_str(), "fixed" | "still_failing") => {
            format!("{}.{}", row.kind, row.action)
        }
        "build" | "task" => format!("{}.{}", row.kind, row.new_status.to_ascii_lowercase()),
        "audit_event" => audit::KEY.to_owned(),
        other => format!("{other}.{}", row.action),
    }
}

/// Whether `endpoint` takes stored event `row`, by the rule the outbox applied.
pub fn stored_event(
    endpoint: &webhook_endpoint::Model,
    patterns: &[String],
    row: &event::Model,
) -> Result<(), Miss> {
    let key = stored_key(row);
    match row.kind.as_str() {
        "build" | "task" => build_event(endpoint, patterns, row.repository_id, &key),
        // An audit event about no repository is stored with repository 0.
        _ => other_event(
            endpoint,
            patterns,
            (row.repository_id != 0).then_some(row.repository_id),
            &key,
        ),
    }
}
