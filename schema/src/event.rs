//! Events: what a transition emits (kind, action, old and new status), their filter keys, and the
//! event rows written in the transition's transaction.

use buildhooks_store::events::NewEvent;

/// `build` or `task`: the `X-Cirrus-Event` header value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Build,
    Task,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Build => "build",
            EventKind::Task => "task",
        }
    }
}

/// One creation or status change, not yet written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventDraft {
    pub kind: EventKind,
    /// `created` or `updated`; `fixed` or `still_failing` for the derived build events.
    pub action: &'static str,
    pub old_status: Option<&'static str>,
    pub new_status: &'static str,
    pub repository_id: i32,
    pub build_id: i32,
    pub task_id: Option<i32>,
}

impl EventDraft {
    /// A build or task was created with `status`.
    pub fn created(kind: EventKind, status: &'static str, ids: (i32, i32, Option<i32>)) -> Self {
        EventDraft {
            kind,
            action: "created",
            old_status: None,
            new_status: status,
            repository_id: ids.0,
            build_id: ids.1,
            task_id: ids.2,
        }
    }

    /// A build or task went from `old` to `new`.
    pub fn updated(
        kind: EventKind,
        old: &'static str,
        new: &'static str,
        ids: (i32, i32, Option<i32>),
    ) -> Self {
        EventDraft {
            kind,
            action: "updated",
            old_status: Some(old),
            new_status: new,
            ..Self::created(kind, new, ids)
        }
    }

    /// The key event patterns match: `<kind>.<new status, lower case>`, e.g. `task.failed`;
    /// for the derived build events, `build.<action>` (`build.fixed`, `build.still_failing`).
    pub fn filter_key(&self) -> String {
        if self.is_derived() {
            return format!("{}.{}", self.kind.as_str(), self.action);
        }
        format!(
            "{}.{}",
            self.kind.as_str(),
            self.new_status.to_ascii_lowercase()
        )
    }

    /// A build event derived from the build's outcome and its predecessor's: action `fixed`
    /// or `still_failing`, beside the build's own status event.
    pub fn is_derived(&self) -> bool {
        matches!(self.action, "fixed" | "still_failing")
    }

    /// The event as the store writes it.
    pub fn to_new(&self) -> NewEvent<'static> {
        NewEvent {
            kind: self.kind.as_str(),
            action: self.action,
            old_status: self.old_status,
            new_status: self.new_status,
            repository_id: self.repository_id,
            build_id: self.build_id,
            task_id: self.task_id,
        }
    }
}
