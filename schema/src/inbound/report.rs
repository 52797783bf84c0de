//! What an inbound request reports, once read from the vendor's body: the normalized shape that
//! the vendors' readers (`github`, `gitlab`, `generic`) produce and `apply` turns into a
//! transition. No vendor's field names exist past this point.

use crate::status::{BuildStatus, TaskStatus};

/// What one verified inbound request asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// The sender checks that the hook is set up (GitHub's `ping`): answered 200, nothing changes.
    Ping,
    /// An event we do not handle (its kind, or a status word with no mapping): answered 202 with
    /// the reason, nothing changes.
    Ignored(String),
    /// A build (GitHub workflow run, GitLab pipeline, a generic sender's build) and its status.
    Build(BuildReport),
    /// A task (GitHub workflow job, GitLab job) of a build, and its status.
    Task(TaskReport),
}

/// A build as the vendor describes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BuildReport {
    /// The vendor's id of the run or pipeline (GitHub `workflow_run.id`, GitLab
    /// `object_attributes.id`, the generic mapping's `externalId`), as text.
    pub external_id: String,
    /// The repository's full name (`owner/name`), when the body names one.
    pub repository: Option<String>,
    pub branch: Option<String>,
    /// The commit SHA.
    pub commit: Option<String>,
    /// The commit message's title or the run's display title.
    pub title: Option<String>,
    /// The workflow's or pipeline's name.
    pub name: Option<String>,
    pub tag: Option<String>,
    pub pull_request: Option<i32>,
    /// The status it reports; `None` when the event says nothing about the build (a job event).
    pub status: Option<BuildStatus>,
    /// When the vendor says the event happened, in ms since the epoch.
    pub event_time: Option<i64>,
    /// Which attempt of the run this is (GitHub's `run_attempt`, from 1): a higher one than
    /// seen before reopens a finished build, like `retrigger`.
    pub attempt: Option<i32>,
    /// Who the run is for (GitHub's `workflow_run.actor` or `sender`, GitLab's `user`):
    /// `Build.user`.
    pub user: Option<ReportedUser>,
}

/// A vendor's user: its numeric id, as text, and its login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedUser {
    pub id: String,
    pub username: String,
}

/// A task as the vendor describes it, with the build it belongs to.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskReport {
    /// The build the task belongs to (its `status` is `None`: a job says nothing about its run).
    pub build: BuildReport,
    /// The vendor's id of the job, as text.
    pub external_id: String,
    /// The job's name.
    pub name: String,
    /// The status it reports; `None` when the vendor's status means no task change (GitHub's
    /// `action_required` on a job): answered 202, ignored.
    pub status: Option<TaskStatus>,
    /// The job's labels (GitHub `labels`, GitLab `tags`), at most 50 of 255 characters.
    pub labels: Vec<String>,
    /// The vendor's word for the status, for the ignored reason when `status` is `None`.
    pub vendor_status: String,
    /// The vendor says this job retries an earlier one (GitLab's `retries_count` above 0): it
    /// supersedes the build's task of its name, and reopens the build if it had finished.
    pub retry: bool,
}

/// Why a verified body cannot be read: answered 400 `MALFORMED` with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

impl Malformed {
    /// A required field that is missing or of the wrong type, e.g. `workflow_job.id`.
    pub fn field(path: &str, expected: &str) -> Self {
        Malformed(format!("{path}: expected {expected}"))
    }
}
