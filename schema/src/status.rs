//! Build and task statuses (Cirrus CI's names), their explicit transition tables, the rule
//! that derives a build's status from its tasks, and the reading of a status stored in a row: a
//! value that names no status is an error, logged and counted, never replaced by an invented one.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use async_graphql::Enum;
use buildhooks_store::tasks::{Stamps, TaskMove};

/// Status of a build, as in Cirrus CI.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum BuildStatus {
    Created,
    NeedsApproval,
    Triggered,
    Executing,
    Failed,
    Completed,
    Aborted,
    Errored,
}

/// Status of a task, as in Cirrus CI.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    Created,
    Triggered,
    Scheduled,
    Executing,
    Aborted,
    Failed,
    Completed,
    Skipped,
    Paused,
}

impl BuildStatus {
    /// Every status, for tables and tests.
    pub const ALL: [BuildStatus; 8] = [
        BuildStatus::Created,
        BuildStatus::NeedsApproval,
        BuildStatus::Triggered,
        BuildStatus::Executing,
        BuildStatus::Failed,
        BuildStatus::Completed,
        BuildStatus::Aborted,
        BuildStatus::Errored,
    ];

    /// The stored and wire name (`NEEDS_APPROVAL`).
    pub fn as_str(self) -> &'static str {
        match self {
            BuildStatus::Created => "CREATED",
            BuildStatus::NeedsApproval => "NEEDS_APPROVAL",
            BuildStatus::Triggered => "TRIGGERED",
            BuildStatus::Executing => "EXECUTING",
            BuildStatus::Failed => "FAILED",
            BuildStatus::Completed => "COMPLETED",
            BuildStatus::Aborted => "ABORTED",
            BuildStatus::Errored => "ERRORED",
        }
    }

    /// No further change happens without an explicit retrigger or rerun.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            BuildStatus::Failed
                | BuildStatus::Completed
                | BuildStatus::Aborted
                | BuildStatus::Errored
        )
    }

    /// The statuses a build may move to from this one (the table's row, in `ALL`'s order).
    pub fn allowed_next(self) -> Vec<&'static str> {
        Self::ALL
            .into_iter()
            .filter(|to| self.can_become(*to))
            .map(Self::as_str)
            .collect()
    }

    /// The build transition table: every change a build may make.
    pub fn can_become(self, to: BuildStatus) -> bool {
        use BuildStatus::*;
        match self {
            Created => matches!(
                to,
                Triggered | Executing | Completed | Failed | Aborted | Errored
            ),
            NeedsApproval => matches!(to, Triggered | Completed | Failed | Aborted),
            Triggered => matches!(to, Executing | Completed | Failed | Aborted | Errored),
            Executing => matches!(to, Completed | Failed | Aborted | Errored),
            // Reopened by `retrigger` or by a task's `rerun`.
            Failed | Completed | Aborted | Errored => to == Triggered,
        }
    }
}

impl TaskStatus {
    /// Every status, for tables and tests.
    pub const ALL: [TaskStatus; 9] = [
        TaskStatus::Created,
        TaskStatus::Triggered,
        TaskStatus::Scheduled,
        TaskStatus::Executing,
        TaskStatus::Aborted,
        TaskStatus::Failed,
        TaskStatus::Completed,
        TaskStatus::Skipped,
        TaskStatus::Paused,
    ];

    /// The stored and wire name (`EXECUTING`).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Created => "CREATED",
            TaskStatus::Triggered => "TRIGGERED",
            TaskStatus::Scheduled => "SCHEDULED",
            TaskStatus::Executing => "EXECUTING",
            TaskStatus::Aborted => "ABORTED",
            TaskStatus::Failed => "FAILED",
            TaskStatus::Completed => "COMPLETED",
            TaskStatus::Skipped => "SKIPPED",
            TaskStatus::Paused => "PAUSED",
        }
    }

    /// A final task never changes again; a rerun is a new task.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TaskStatus::Aborted | TaskStatus::Failed | TaskStatus::Completed | TaskStatus::Skipped
        )
    }

    /// The statuses `updateTaskStatus` may move a task to from this one (the table's row, in
    /// `ALL`'s order).
    pub fn allowed_next(self) -> Vec<&'static str> {
        Self::ALL
            .into_iter()
            .filter(|to| self.can_become(*to))
            .map(Self::as_str)
            .collect()
    }

    /// The task transition table: every change `updateTaskStatus` may make.
    pub fn can_become(self, to: TaskStatus) -> bool {
        use TaskStatus::*;
        match self {
            Created => matches!(to, Triggered | Aborted | Skipped),
            Triggered => matches!(to, Scheduled | Executing | Aborted | Skipped),
            Scheduled => matches!(to, Executing | Aborted),
            Executing => matches!(to, Completed | Failed | Aborted | Paused),
            Paused => matches!(to, Executing | Aborted),
            Aborted | Failed | Completed | Skipped => false,
        }
    }

    /// A move to this status as the store runs it: the statuses it may come from
    /// (`can_become`) and the timestamps it sets. The one statement of these rules: the general
    /// path (`transition::set_task_status`) and the one-statement move both follow it.
    pub fn task_move(self) -> &'static TaskMove {
        static MOVES: LazyLock<Vec<TaskMove>> = LazyLock::new(|| {
            TaskStatus::ALL
                .iter()
                .map(|to| {
                    let from = TaskStatus::ALL
                        .iter()
                        .filter(|s| s.can_become(*to))
                        .map(|s| s.as_str())
                        .collect();
                    let stamps = Stamps {
                        scheduled: *to == TaskStatus::Scheduled,
                        executing: *to == TaskStatus::Executing,
                        final_status: to.is_final(),
                    };
                    TaskMove::new(to.as_str(), from, stamps)
                })
                .collect()
        });
        let index = TaskStatus::ALL.iter().position(|s| *s == self).unwrap_or(0);
        &MOVES[index]
    }
}

macro_rules! parse_by_name {
    ($ty:ty) => {
        impl FromStr for $ty {
            type Err = crate::error::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|status| status.as_str() == s)
                    .ok_or_else(|| crate::error::Error::Internal(format!("unknown status {s}")))
            }
        }
    };
}
parse_by_name!(BuildStatus);
parse_by_name!(TaskStatus);

/// Stored statuses that named no status, since the process started.
static UNPARSABLE: AtomicU64 = AtomicU64::new(0);

/// How many stored statuses named no status since the process started (each one failed the
/// field or payload that read it). Zero unless a row was written outside this code.
pub fn unparsable_statuses() -> u64 {
    UNPARSABLE.load(Ordering::Relaxed)
}

/// The status stored in row `row_id` of `table` (`build`, `task`). A value that names no status
/// is counted ([`unparsable_statuses`]) and is an internal error whose cause names the row and
/// the value; it is logged once, at `error`, where the request ends (`ErrorExtensions`). No
/// status is invented in its place: a made-up `ERRORED` or `ABORTED` would be signed and sent
/// as if it were true.
pub fn stored<S>(table: &'static str, row_id: i32, value: &str) -> crate::error::Result<S>
where
    S: FromStr<Err = crate::error::Error>,
{
    value.parse().map_err(|_| {
        UNPARSABLE.fetch_add(1, Ordering::Relaxed);
        crate::error::Error::Internal(format!(
            "{table} {row_id}: stored status {value:?} names no status"
        ))
    })
}

/// What a task contributes to its build's status.
#[derive(Clone, Copy, Debug)]
pub struct TaskState {
    pub status: TaskStatus,
    pub optional: bool,
}

impl TaskState {
    /// A stored (status, optional) pair.
    pub fn parse((status, optional): (String, bool)) -> crate::error::Result<Self> {
        Ok(TaskState {
            status: status.parse()?,
            optional,
        })
    }
}

/// The status a build should have given its latest task runs, or `None` to keep `current`.
/// First task executing -> EXECUTING; all tasks final -> COMPLETED, or FAILED when a non-optional
/// task FAILED or ABORTED; a task triggered while the build is CREATED -> TRIGGERED.
pub fn derive_build_status(current: BuildStatus, tasks: &[TaskState]) -> Option<BuildStatus> {
    if tasks.is_empty() {
        return None;
    }
    let next = if tasks.iter().all(|t| t.status.is_final()) {
        let failed = tasks
            .iter()
            .any(|t| !t.optional && matches!(t.status, TaskStatus::Failed | TaskStatus::Aborted));
        if failed {
            BuildStatus::Failed
        } else {
            BuildStatus::Completed
        }
    } else if current == BuildStatus::NeedsApproval {
        return None;
    } else if tasks
        .iter()
        .any(|t| matches!(t.status, TaskStatus::Executing | TaskStatus::Paused))
    {
        BuildStatus::Executing
    } else if current == BuildStatus::Created
        && tasks
            .iter()
            .any(|t| matches!(t.status, TaskStatus::Triggered | TaskStatus::Scheduled))
    {
        BuildStatus::Triggered
    } else {
        return None;
    };
    (next != current && current.can_become(next)).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(status: TaskStatus, optional: bool) -> TaskState {
        TaskState { status, optional }
    }

    #[test]
    fn names_round_trip() {
        for s in TaskStatus::ALL {
            assert_eq!(s.as_str().parse::<TaskStatus>().ok(), Some(s));
        }
        for s in BuildStatus::ALL {
            assert_eq!(s.as_str().parse::<BuildStatus>().ok(), Some(s));
        }
    }

    #[test]
    fn a_stored_status_that_names_none_is_an_error_and_counted() {
        let before = unparsable_statuses();
        let read = stored::<BuildStatus>("build", 7, "BOGUS");
        let error = read.expect_err("no status is invented");
        assert_eq!(error.code(), "INTERNAL");
        // The cause (logged, never shown) names the row and the value.
        let crate::error::Error::Internal(cause) = &error else {
            panic!("{error:?}");
        };
        assert!(
            cause.contains("build 7") && cause.contains("BOGUS"),
            "{cause}"
        );
        assert!(unparsable_statuses() > before);
        assert_eq!(
            stored::<TaskStatus>("task", 1, "PAUSED").ok(),
            Some(TaskStatus::Paused)
        );
    }

    #[test]
    fn final_tasks_never_move() {
        for from in TaskStatus::ALL.into_iter().filter(|s| s.is_final()) {
            for to in TaskStatus::ALL {
                assert!(!from.can_become(to), "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn build_follows_its_tasks() {
        use BuildStatus as B;
        use TaskStatus as T;
        let exec = [t(T::Executing, false), t(T::Triggered, false)];
        assert_eq!(derive_build_status(B::Triggered, &exec), Some(B::Executing));
        assert_eq!(derive_build_status(B::Executing, &exec), None);
        let done = [t(T::Completed, false), t(T::Failed, true)];
        assert_eq!(derive_build_status(B::Executing, &done), Some(B::Completed));
        let failed = [t(T::Completed, false), t(T::Aborted, false)];
        assert_eq!(derive_build_status(B::Executing, &failed), Some(B::Failed));
        let waiting = [t(T::Created, false)];
        assert_eq!(derive_build_status(B::NeedsApproval, &waiting), None);
        let triggered = [t(T::Triggered, false), t(T::Created, false)];
        assert_eq!(
            derive_build_status(B::Created, &triggered),
            Some(B::Triggered)
        );
    }
}
