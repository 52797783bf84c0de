//! Reading a verified GitHub webhook body into a [`Report`], by its `X-GitHub-Event`: `ping`,
//! `workflow_run` (a build) and `workflow_job` (a task of it). Every other event is ignored.
//! The payloads: <https://docs.github.com/en/webhooks/webhook-events-and-payloads#workflow_run>
//! and `#workflow_job`; the status words: [`statuses`](super::statuses).

use serde_json::Value;

use super::fields::{self, lookup};
use super::report::{BuildReport, Malformed, Report, TaskReport};
use super::statuses::{self, UnknownWord};

/// The report of one GitHub delivery whose `X-GitHub-Event` is `event`.
pub fn read(event: &str, body: &Value) -> Result<Report, Malformed> {
    match event {
        "ping" => Ok(Report::Ping),
        "workflow_run" => workflow_run(body),
        "workflow_job" => workflow_job(body),
        other => Ok(Report::Ignored(format!(
            "GitHub event {other} is not handled"
        ))),
    }
}

/// A `workflow_run` event: the run is the build.
///
/// `external_id` = `workflow_run.id`, `repository` = `repository.full_name`, `branch` =
/// `head_branch`, `commit` = `head_sha`, `title` = `display_title` or the first line of
/// `head_commit.message`, `name` = `workflow_run.name` or (when empty) `workflow.name`,
/// `pull_request` = the first `pull_requests[].number`, `event_time` = `updated_at`.
fn workflow_run(body: &Value) -> Result<Report, Malformed> {
    let run = |key: &str| lookup(body, &format!("workflow_run.{key}"));
    let external_id = fields::id(run("id"), "workflow_run.id")?;
    let status_word = fields::string(run("status"), "workflow_run.status")?;
    let conclusion = fields::opt_string(run("conclusion"), "workflow_run.conclusion")?;
    let Some(status) = statuses::github_run(&status_word, conclusion.as_deref()) else {
        return Ok(Report::Ignored(unmapped(
            "workflow run",
            &status_word,
            conclusion.as_deref(),
        )));
    };
    let title = match fields::opt_nonempty(run("display_title"), "workflow_run.display_title")? {
        Some(title) => Some(title),
        None => fields::opt_string(
            run("head_commit.message"),
            "workflow_run.head_commit.message",
        )?
        .and_then(|message| fields::first_line(&message)),
    };
    let name = match fields::opt_nonempty(run("name"), "workflow_run.name")? {
        Some(name) => Some(name),
        None => fields::opt_nonempty(lookup(body, "workflow.name"), "workflow.name")?,
    };
    let pull_request = match run("pull_requests") {
        None => None,
        Some(Value::Array(prs)) => fields::opt_number(
            prs.first().and_then(|pr| pr.get("number")),
            "workflow_run.pull_requests[0].number",
        )?,
        Some(_) => return Err(Malformed::field("workflow_run.pull_requests", "an array")),
    };
    Ok(Report::Build(BuildReport {
        external_id,
        repository: repository(body)?,
        branch: fields::opt_string(run("head_branch"), "workflow_run.head_branch")?,
        commit: fields::opt_string(run("head_sha"), "workflow_run.head_sha")?,
        title,
        name,
        tag: None,
        pull_request,
        status: Some(status),
        event_time: fields::opt_time(run("updated_at"), "workflow_run.updated_at")?,
        attempt: fields::opt_number(run("run_attempt"), "workflow_run.run_attempt")?,
        user: fields::user(body, &["workflow_run.actor", "sender"], "login"),
    }))
}

/// A `workflow_job` event: the job is a task of the build its run is.
///
/// `external_id` = `workflow_job.id`, `name` = `workflow_job.name`, `labels` =
/// `workflow_job.labels`; the build: `external_id` = `workflow_job.run_id`, `branch` =
/// `head_branch`, `commit` = `head_sha`, `name` = `workflow_name`, `repository` =
/// `repository.full_name`, `event_time` = the job's `completed_at`, else its `started_at`.
fn workflow_job(body: &Value) -> Result<Report, Malformed> {
    let job = |key: &str| lookup(body, &format!("workflow_job.{key}"));
    let external_id = fields::id(job("id"), "workflow_job.id")?;
    let run_id = fields::id(job("run_id"), "workflow_job.run_id")?;
    let name = fields::string(job("name"), "workflow_job.name")?;
    let status_word = fields::string(job("status"), "workflow_job.status")?;
    let conclusion = fields::opt_string(job("conclusion"), "workflow_job.conclusion")?;
    let status = match statuses::github_job(&status_word, conclusion.as_deref()) {
        Ok(status) => status,
        Err(UnknownWord) => {
            return Ok(Report::Ignored(unmapped(
                "workflow job",
                &status_word,
                conclusion.as_deref(),
            )))
        }
    };
    // The word the table read: the conclusion once the job completed.
    let vendor_status = match (status_word.as_str(), conclusion) {
        ("completed", Some(conclusion)) => conclusion,
        _ => status_word,
    };
    let build = BuildReport {
        external_id: run_id,
        repository: repository(body)?,
        branch: fields::opt_string(job("head_branch"), "workflow_job.head_branch")?,
        commit: fields::opt_string(job("head_sha"), "workflow_job.head_sha")?,
        name: fields::opt_nonempty(job("workflow_name"), "workflow_job.workflow_name")?,
        event_time: fields::first_time(
            body,
            &["workflow_job.completed_at", "workflow_job.started_at"],
        )?,
        attempt: fields::opt_number(job("run_attempt"), "workflow_job.run_attempt")?,
        ..BuildReport::default()
    };
    Ok(Report::Task(TaskReport {
        build,
        external_id,
        name,
        status,
        labels: fields::labels(job("labels"), "workflow_job.labels")?,
        vendor_status,
        // A re-run is a later `run_attempt` (see `BuildReport::attempt`).
        retry: false,
    }))
}

/// `repository.full_name` (`owner/name`).
fn repository(body: &Value) -> Result<Option<String>, Malformed> {
    fields::opt_nonempty(lookup(body, "repository.full_name"), "repository.full_name")
}

/// The ignored reason for a status word with no mapping.
fn unmapped(what: &str, status: &str, conclusion: Option<&str>) -> String {
    match conclusion {
        Some(conclusion) if status == "completed" => format!(
            "GitHub {what} status \"{status}\" with conclusion \"{conclusion}\" has no mapping"
        ),
        _ => format!("GitHub {what} status \"{status}\" has no mapping"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::report::ReportedUser;
    use super::*;
    use crate::status::{BuildStatus, TaskStatus};
    use serde_json::json;

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/../tests/fixtures/inbound/github/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).expect("fixture is JSON")
    }

    fn run_report(status: BuildStatus, event_time: i64) -> Report {
        Report::Build(BuildReport {
            external_id: "289782451".into(),
            repository: Some("octo-org/octo-repo".into()),
            branch: Some("master".into()),
            commit: Some("3484a3fb816e0859fd6e1cea078d76385ff50625".into()),
            title: Some("build(test): check workflow run event payload".into()),
            // The example's `workflow_run.name` is "", so the workflow's name is used.
            name: Some("test".into()),
            tag: None,
            pull_request: None,
            status: Some(status),
            event_time: Some(event_time),
            attempt: Some(1),
            user: Some(ReportedUser {
                id: "15669918".into(),
                username: "Codertocat".into(),
            }),
        })
    }

    #[test]
    fn reads_the_documented_workflow_runs() {
        let cases = [
            ("requested", BuildStatus::Triggered, 1_601_915_604_000),
            ("in_progress", BuildStatus::Executing, 1_601_915_620_000),
            ("completed", BuildStatus::Completed, 1_601_915_629_000),
        ];
        for (action, status, at) in cases {
            let body = fixture(&format!("workflow_run.{action}"));
            assert_eq!(
                read("workflow_run", &body),
                Ok(run_report(status, at)),
                "{action}"
            );
        }
    }

    fn job_report(name: &str, status: TaskStatus, word: &str, at: i64) -> Report {
        Report::Task(TaskReport {
            build: BuildReport {
                external_id: "289782451".into(),
                repository: Some("Codertocat/Hello-World".into()),
                branch: None,
                commit: Some("3484a3fb816e0859fd6e1cea078d76385ff50625".into()),
                name: (name != "update").then(|| "CodeQL".into()),
                event_time: Some(at),
                attempt: Some(1),
                ..BuildReport::default()
            },
            external_id: "289782451".into(),
            name: name.into(),
            status: Some(status),
            labels: vec!["ubuntu-latest".into()],
            vendor_status: word.into(),
            retry: false,
        })
    }

    #[test]
    fn reads_the_documented_workflow_jobs() {
        let cases = [
            (
                "queued",
                "update",
                TaskStatus::Triggered,
                "queued",
                1_631_499_673_000,
            ),
            (
                "in_progress",
                "Analyze (javascript)",
                TaskStatus::Executing,
                "in_progress",
                1_631_499_673_000,
            ),
            (
                "completed",
                "linters",
                TaskStatus::Completed,
                "success",
                1_628_159_896_000,
            ),
        ];
        for (action, name, status, word, at) in cases {
            let body = fixture(&format!("workflow_job.{action}"));
            assert_eq!(
                read("workflow_job", &body),
                Ok(job_report(name, status, word, at)),
                "{action}"
            );
        }
    }

    #[test]
    fn ping_and_other_events() {
        assert_eq!(
            read("ping", &json!({"zen": "Keep it simple."})),
            Ok(Report::Ping)
        );
        assert_eq!(
            read("push", &json!({})),
            Ok(Report::Ignored("GitHub event push is not handled".into()))
        );
    }

    #[test]
    fn a_run_with_a_display_title_and_a_pull_request() {
        let mut body = fixture("workflow_run.completed");
        body["workflow_run"]["display_title"] = json!("Fix the thing");
        body["workflow_run"]["name"] = json!("CI");
        body["workflow_run"]["pull_requests"] = json!([{"number": 7}, {"number": 9}]);
        let Ok(Report::Build(build)) = read("workflow_run", &body) else {
            panic!("not a build");
        };
        assert_eq!(build.title.as_deref(), Some("Fix the thing"));
        assert_eq!(build.name.as_deref(), Some("CI"));
        assert_eq!(build.pull_request, Some(7));
    }

    #[test]
    fn every_conclusion_reaches_the_report() {
        let mut body = fixture("workflow_run.completed");
        body["workflow_run"]["conclusion"] = json!("startup_failure");
        let Ok(Report::Build(build)) = read("workflow_run", &body) else {
            panic!("not a build");
        };
        assert_eq!(build.status, Some(BuildStatus::Errored));
        let mut body = fixture("workflow_job.completed");
        body["workflow_job"]["conclusion"] = json!("action_required");
        let Ok(Report::Task(task)) = read("workflow_job", &body) else {
            panic!("not a task");
        };
        assert_eq!(task.status, None);
        assert_eq!(task.vendor_status, "action_required");
    }

    #[test]
    fn unknown_status_words_are_ignored_not_malformed() {
        let mut body = fixture("workflow_run.completed");
        body["workflow_run"]["conclusion"] = json!("exploded");
        assert_eq!(
            read("workflow_run", &body),
            Ok(Report::Ignored(
                "GitHub workflow run status \"completed\" with conclusion \"exploded\" has no mapping"
                    .into()
            ))
        );
        let mut body = fixture("workflow_job.queued");
        body["workflow_job"]["status"] = json!("teleporting");
        assert_eq!(
            read("workflow_job", &body),
            Ok(Report::Ignored(
                "GitHub workflow job status \"teleporting\" has no mapping".into()
            ))
        );
    }

    #[test]
    fn missing_or_mistyped_required_fields_are_malformed() {
        let cases = [
            (
                "workflow_job",
                "/workflow_job/id",
                json!(null),
                "workflow_job.id: expected a number",
            ),
            (
                "workflow_job",
                "/workflow_job/id",
                json!("1"),
                "workflow_job.id: expected a number",
            ),
            (
                "workflow_job",
                "/workflow_job/run_id",
                json!(null),
                "workflow_job.run_id: expected a number",
            ),
            (
                "workflow_job",
                "/workflow_job/name",
                json!(3),
                "workflow_job.name: expected a string",
            ),
            (
                "workflow_job",
                "/workflow_job/status",
                json!(null),
                "workflow_job.status: expected a string",
            ),
            (
                "workflow_job",
                "/workflow_job/labels",
                json!("x"),
                "workflow_job.labels: expected an array of strings",
            ),
            (
                "workflow_job",
                "/repository/full_name",
                json!(1),
                "repository.full_name: expected a string",
            ),
            (
                "workflow_run",
                "/workflow_run/id",
                json!(1.5),
                "workflow_run.id: expected a number",
            ),
            (
                "workflow_run",
                "/workflow_run/status",
                json!(1),
                "workflow_run.status: expected a string",
            ),
            (
                "workflow_run",
                "/workflow_run/updated_at",
                json!("later"),
                "workflow_run.updated_at: expected an RFC 3339 time",
            ),
            (
                "workflow_run",
                "/workflow_run/head_sha",
                json!(false),
                "workflow_run.head_sha: expected a string",
            ),
            (
                "workflow_run",
                "/workflow_run/pull_requests",
                json!({}),
                "workflow_run.pull_requests: expected an array",
            ),
        ];
        for (event, pointer, value, error) in cases {
            let mut body = fixture(if event == "workflow_run" {
                "workflow_run.completed"
            } else {
                "workflow_job.completed"
            });
            *body.pointer_mut(pointer).expect("fixture has the field") = value;
            assert_eq!(
                read(event, &body),
                Err(Malformed(error.into())),
                "{pointer}"
            );
        }
        assert_eq!(
            read("workflow_run", &json!({})),
            Err(Malformed("workflow_run.id: expected a number".into()))
        );
        assert_eq!(
            read("workflow_job", &json!([])),
            Err(Malformed("workflow_job.id: expected a number".into()))
        );
    }
}
