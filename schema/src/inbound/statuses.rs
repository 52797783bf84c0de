//! The vendors' status words and ours: one table per vendor and kind, written once, and the rank
//! rule that keeps inbound statuses moving forward only (events arrive out of order: GitHub
//! documents that `completed` can come before `in_progress`). The readers (`github`, `gitlab`)
//! look words up here; the transition code compares ranks and knows no vendor.
//!
//! A word missing from its table is [`UnknownWord`]: the request is answered 202 and ignored,
//! never guessed.

use crate::status::{BuildStatus, TaskStatus};

/// A vendor status word (or combination) that is not in its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownWord;

/// GitHub workflow run `status` while the run has not finished, and our build status.
/// Source: <https://docs.github.com/en/webhooks/webhook-events-and-payloads#workflow_run> and
/// the run's `status` in <https://docs.github.com/en/rest/actions/workflow-runs>.
///
/// | GitHub `status` | build status |
/// | --- | --- |
/// | `requested` | CREATED |
/// | `queued`, `waiting`, `pending` | TRIGGERED |
/// | `in_progress` | EXECUTING |
/// | `completed` | by `conclusion`: [`GITHUB_RUN_CONCLUSIONS`] |
pub const GITHUB_RUN_STATUSES: &[(&str, BuildStatus)] = &[
    ("requested", BuildStatus::Created),
    ("queued", BuildStatus::Triggered),
    ("waiting", BuildStatus::Triggered),
    ("pending", BuildStatus::Triggered),
    ("in_progress", BuildStatus::Executing),
];

/// GitHub workflow run `conclusion` when `status` is `completed`, and our build status.
///
/// | GitHub `conclusion` | build status |
/// | --- | --- |
/// | `success`, `neutral`, `skipped` | COMPLETED |
/// | `failure`, `timed_out` | FAILED |
/// | `cancelled`, `stale` | ABORTED |
/// | `startup_failure` | ERRORED |
/// | `action_required` | NEEDS_APPROVAL |
pub const GITHUB_RUN_CONCLUSIONS: &[(&str, BuildStatus)] = &[
    ("success", BuildStatus::Completed),
    ("neutral", BuildStatus::Completed),
    ("skipped", BuildStatus::Completed),
    ("failure", BuildStatus::Failed),
    ("timed_out", BuildStatus::Failed),
    ("cancelled", BuildStatus::Aborted),
    ("stale", BuildStatus::Aborted),
    ("startup_failure", BuildStatus::Errored),
    ("action_required", BuildStatus::NeedsApproval),
];

/// GitHub workflow job `status` while the job has not finished, and our task status.
/// Source: <https://docs.github.com/en/webhooks/webhook-events-and-payloads#workflow_job>.
///
/// | GitHub `status` | task status |
/// | --- | --- |
/// | `queued`, `waiting`, `pending`, `requested` | TRIGGERED |
/// | `in_progress` | EXECUTING |
/// | `completed` | by `conclusion`: [`GITHUB_JOB_CONCLUSIONS`] |
pub const GITHUB_JOB_STATUSES: &[(&str, TaskStatus)] = &[
    ("queued", TaskStatus::Triggered),
    ("waiting", TaskStatus::Triggered),
    ("pending", TaskStatus::Triggered),
    ("requested", TaskStatus::Triggered),
    ("in_progress", TaskStatus::Executing),
];

/// GitHub workflow job `conclusion` when `status` is `completed`, and our task status; `None`
/// is "no task change" (the request is ignored).
///
/// | GitHub `conclusion` | task status |
/// | --- | --- |
/// | `success`, `neutral` | COMPLETED |
/// | `failure`, `timed_out`, `startup_failure` | FAILED |
/// | `cancelled`, `stale` | ABORTED |
/// | `skipped` | SKIPPED |
/// | `action_required` | no task change (ignored) |
pub const GITHUB_JOB_CONCLUSIONS: &[(&str, Option<TaskStatus>)] = &[
    ("success", Some(TaskStatus::Completed)),
    ("neutral", Some(TaskStatus::Completed)),
    ("failure", Some(TaskStatus::Failed)),
    ("timed_out", Some(TaskStatus::Failed)),
    ("startup_failure", Some(TaskStatus::Failed)),
    ("cancelled", Some(TaskStatus::Aborted)),
    ("stale", Some(TaskStatus::Aborted)),
    ("skipped", Some(TaskStatus::Skipped)),
    ("action_required", None),
];

/// GitLab pipeline `object_attributes.status`, and our build status.
/// Source: <https://docs.gitlab.com/api/pipelines/> (`status`) and
/// <https://docs.gitlab.com/user/project/integrations/webhook_events/#pipeline-events>.
///
/// | GitLab status | build status |
/// | --- | --- |
/// | `created` | CREATED |
/// | `waiting_for_resource`, `preparing`, `pending`, `scheduled` | TRIGGERED |
/// | `running` | EXECUTING |
/// | `success`, `skipped` | COMPLETED |
/// | `failed` | FAILED |
/// | `canceled` | ABORTED |
/// | `manual` | NEEDS_APPROVAL |
pub const GITLAB_PIPELINE: &[(&str, BuildStatus)] = &[
    ("created", BuildStatus::Created),
    ("waiting_for_resource", BuildStatus::Triggered),
    ("preparing", BuildStatus::Triggered),
    ("pending", BuildStatus::Triggered),
    ("scheduled", BuildStatus::Triggered),
    ("running", BuildStatus::Executing),
    ("success", BuildStatus::Completed),
    ("skipped", BuildStatus::Completed),
    ("failed", BuildStatus::Failed),
    ("canceled", BuildStatus::Aborted),
    ("manual", BuildStatus::NeedsApproval),
];

/// GitLab job `build_status`, and our task status.
/// Source: <https://docs.gitlab.com/api/jobs/> and
/// <https://docs.gitlab.com/user/project/integrations/webhook_events/#job-events>.
///
/// | GitLab status | task status |
/// | --- | --- |
/// | `created` | CREATED |
/// | `waiting_for_resource`, `preparing`, `pending`, `scheduled` | TRIGGERED |
/// | `running` | EXECUTING |
/// | `success` | COMPLETED |
/// | `failed` | FAILED |
/// | `canceled` | ABORTED |
/// | `skipped` | SKIPPED |
/// | `manual` | PAUSED |
pub const GITLAB_JOB: &[(&str, TaskStatus)] = &[
    ("created", TaskStatus::Created),
    ("waiting_for_resource", TaskStatus::Triggered),
    ("preparing", TaskStatus::Triggered),
    ("pending", TaskStatus::Triggered),
    ("scheduled", TaskStatus::Triggered),
    ("running", TaskStatus::Executing),
    ("success", TaskStatus::Completed),
    ("failed", TaskStatus::Failed),
    ("canceled", TaskStatus::Aborted),
    ("skipped", TaskStatus::Skipped),
    ("manual", TaskStatus::Paused),
];

/// The entry of `word` in `table`.
fn find<S: Copy>(table: &[(&str, S)], word: &str) -> Option<S> {
    table.iter().find(|(w, _)| *w == word).map(|(_, s)| *s)
}

/// Our build status for a GitHub workflow run's `status` and `conclusion`
/// ([`GITHUB_RUN_STATUSES`], [`GITHUB_RUN_CONCLUSIONS`]); `None` for a word not in the tables
/// (or `completed` without a conclusion). The conclusion is read only when `status` is
/// `completed`.
pub fn github_run(status: &str, conclusion: Option<&str>) -> Option<BuildStatus> {
    match status {
        "completed" => find(GITHUB_RUN_CONCLUSIONS, conclusion?),
        _ => find(GITHUB_RUN_STATUSES, status),
    }
}

/// Our task status for a GitHub workflow job's `status` and `conclusion`
/// ([`GITHUB_JOB_STATUSES`], [`GITHUB_JOB_CONCLUSIONS`]): `Ok(None)` means "no task change"
/// (`action_required`), `Err(UnknownWord)` a word not in the tables (or `completed` without a
/// conclusion).
pub fn github_job(
    status: &str,
    conclusion: Option<&str>,
) -> Result<Option<TaskStatus>, UnknownWord> {
    match status {
        "completed" => conclusion
            .and_then(|c| find(GITHUB_JOB_CONCLUSIONS, c))
            .ok_or(UnknownWord),
        _ => find(GITHUB_JOB_STATUSES, status)
            .map(Some)
            .ok_or(UnknownWord),
    }
}

/// Our build status for a GitLab pipeline status ([`GITLAB_PIPELINE`]); `None` when unknown.
pub fn gitlab_pipeline(status: &str) -> Option<BuildStatus> {
    find(GITLAB_PIPELINE, status)
}

/// Our task status for a GitLab job status ([`GITLAB_JOB`]); `None` when unknown.
pub fn gitlab_job(status: &str) -> Option<TaskStatus> {
    find(GITLAB_JOB, status)
}

/// The rank every final status shares: nothing moves on from a final status, not even to
/// another final one.
const FINAL_RANK: u8 = 6;

/// A build status's place in the inbound order CREATED < NEEDS_APPROVAL < PAUSED < TRIGGERED <
/// SCHEDULED < EXECUTING < any final (builds have no PAUSED or SCHEDULED; the numbers are shared
/// with [`task_rank`]).
pub fn build_rank(status: BuildStatus) -> u8 {
    match status {
        BuildStatus::Created => 0,
        BuildStatus::NeedsApproval => 1,
        BuildStatus::Triggered => 3,
        BuildStatus::Executing => 5,
        BuildStatus::Failed
        | BuildStatus::Completed
        | BuildStatus::Aborted
        | BuildStatus::Errored => FINAL_RANK,
    }
}

/// A task status's place in the same order as [`build_rank`] (tasks have no NEEDS_APPROVAL).
pub fn task_rank(status: TaskStatus) -> u8 {
    match status {
        TaskStatus::Created => 0,
        TaskStatus::Paused => 2,
        TaskStatus::Triggered => 3,
        TaskStatus::Scheduled => 4,
        TaskStatus::Executing => 5,
        TaskStatus::Aborted | TaskStatus::Failed | TaskStatus::Completed | TaskStatus::Skipped => {
            FINAL_RANK
        }
    }
}

/// Does an inbound report of `to` move a build at `from` forward? A report that does not (the
/// same rank, or a lower one: a late or repeated event) is ignored.
pub fn is_forward_build(from: BuildStatus, to: BuildStatus) -> bool {
    build_rank(to) > build_rank(from)
}

/// Does an inbound report of `to` move a task at `from` forward? (See [`is_forward_build`].)
pub fn is_forward_task(from: TaskStatus, to: TaskStatus) -> bool {
    task_rank(to) > task_rank(from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use BuildStatus as B;
    use TaskStatus as T;

    #[test]
    fn every_github_run_word_of_the_issue() {
        let cases = [
            ("requested", None, B::Created),
            ("queued", None, B::Triggered),
            ("waiting", None, B::Triggered),
            ("pending", None, B::Triggered),
            ("in_progress", None, B::Executing),
            ("completed", Some("success"), B::Completed),
            ("completed", Some("neutral"), B::Completed),
            ("completed", Some("skipped"), B::Completed),
            ("completed", Some("failure"), B::Failed),
            ("completed", Some("timed_out"), B::Failed),
            ("completed", Some("cancelled"), B::Aborted),
            ("completed", Some("stale"), B::Aborted),
            ("completed", Some("startup_failure"), B::Errored),
            ("completed", Some("action_required"), B::NeedsApproval),
        ];
        for (status, conclusion, ours) in cases {
            assert_eq!(
                github_run(status, conclusion),
                Some(ours),
                "{status} {conclusion:?}"
            );
        }
        // A conclusion means nothing before the run completes.
        assert_eq!(
            github_run("in_progress", Some("failure")),
            Some(B::Executing)
        );
        assert_eq!(github_run("completed", None), None);
        assert_eq!(github_run("completed", Some("exploded")), None);
        assert_eq!(github_run("success", None), None);
        assert_eq!(github_run("", None), None);
    }

    #[test]
    fn every_github_job_word_of_the_issue() {
        let cases = [
            ("queued", None, Some(T::Triggered)),
            ("waiting", None, Some(T::Triggered)),
            ("pending", None, Some(T::Triggered)),
            ("requested", None, Some(T::Triggered)),
            ("in_progress", None, Some(T::Executing)),
            ("completed", Some("success"), Some(T::Completed)),
            ("completed", Some("neutral"), Some(T::Completed)),
            ("completed", Some("failure"), Some(T::Failed)),
            ("completed", Some("timed_out"), Some(T::Failed)),
            ("completed", Some("startup_failure"), Some(T::Failed)),
            ("completed", Some("cancelled"), Some(T::Aborted)),
            ("completed", Some("stale"), Some(T::Aborted)),
            ("completed", Some("skipped"), Some(T::Skipped)),
            ("completed", Some("action_required"), None),
        ];
        for (status, conclusion, ours) in cases {
            assert_eq!(
                github_job(status, conclusion),
                Ok(ours),
                "{status} {conclusion:?}"
            );
        }
        assert_eq!(github_job("completed", None), Err(UnknownWord));
        assert_eq!(github_job("completed", Some("exploded")), Err(UnknownWord));
        assert_eq!(github_job("done", None), Err(UnknownWord));
    }

    #[test]
    fn every_gitlab_pipeline_word_of_the_issue() {
        let cases = [
            ("created", B::Created),
            ("waiting_for_resource", B::Triggered),
            ("preparing", B::Triggered),
            ("pending", B::Triggered),
            ("scheduled", B::Triggered),
            ("running", B::Executing),
            ("success", B::Completed),
            ("skipped", B::Completed),
            ("failed", B::Failed),
            ("canceled", B::Aborted),
            ("manual", B::NeedsApproval),
        ];
        for (word, ours) in cases {
            assert_eq!(gitlab_pipeline(word), Some(ours), "{word}");
        }
        assert_eq!(gitlab_pipeline("cancelled"), None);
        assert_eq!(gitlab_pipeline("Running"), None);
    }

    #[test]
    fn every_gitlab_job_word_of_the_issue() {
        let cases = [
            ("created", T::Created),
            ("waiting_for_resource", T::Triggered),
            ("preparing", T::Triggered),
            ("pending", T::Triggered),
            ("scheduled", T::Triggered),
            ("running", T::Executing),
            ("success", T::Completed),
            ("failed", T::Failed),
            ("canceled", T::Aborted),
            ("skipped", T::Skipped),
            ("manual", T::Paused),
        ];
        for (word, ours) in cases {
            assert_eq!(gitlab_job(word), Some(ours), "{word}");
        }
        assert_eq!(gitlab_job("canceling"), None);
    }

    #[test]
    fn tables_name_each_word_once() {
        fn unique<S>(table: &[(&str, S)]) {
            for (i, (word, _)) in table.iter().enumerate() {
                assert!(!table[..i].iter().any(|(w, _)| w == word), "{word}");
            }
        }
        unique(GITHUB_RUN_STATUSES);
        unique(GITHUB_RUN_CONCLUSIONS);
        unique(GITHUB_JOB_STATUSES);
        unique(GITHUB_JOB_CONCLUSIONS);
        unique(GITLAB_PIPELINE);
        unique(GITLAB_JOB);
    }

    #[test]
    fn ranks_follow_the_contract_order() {
        let builds = [B::Created, B::NeedsApproval, B::Triggered, B::Executing];
        for pair in builds.windows(2) {
            assert!(is_forward_build(pair[0], pair[1]), "{pair:?}");
            assert!(!is_forward_build(pair[1], pair[0]), "{pair:?}");
        }
        let tasks = [
            T::Created,
            T::Paused,
            T::Triggered,
            T::Scheduled,
            T::Executing,
        ];
        for pair in tasks.windows(2) {
            assert!(is_forward_task(pair[0], pair[1]), "{pair:?}");
            assert!(!is_forward_task(pair[1], pair[0]), "{pair:?}");
        }
        for done in B::ALL.into_iter().filter(|s| s.is_final()) {
            assert!(is_forward_build(B::Executing, done));
            for any in B::ALL {
                assert!(!is_forward_build(done, any), "{done:?} -> {any:?}");
            }
        }
        for done in T::ALL.into_iter().filter(|s| s.is_final()) {
            assert!(is_forward_task(T::Executing, done));
            for any in T::ALL {
                assert!(!is_forward_task(done, any), "{done:?} -> {any:?}");
            }
        }
        // The same status again is not forward: a repeated event is ignored.
        assert!(!is_forward_build(B::Executing, B::Executing));
        assert!(!is_forward_task(T::Triggered, T::Triggered));
        // Builds and tasks share one scale.
        assert_eq!(build_rank(B::Triggered), task_rank(T::Triggered));
        assert_eq!(build_rank(B::Executing), task_rank(T::Executing));
    }
}
