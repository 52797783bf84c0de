//! Reading a verified GitLab webhook body into a [`Report`], by its `X-Gitlab-Event`:
//! `Pipeline Hook` (a build) and `Job Hook` (a task of it). Every other event is ignored.
//! The payloads: <https://docs.gitlab.com/user/project/integrations/webhook_events/#pipeline-events>
//! and `#job-events`; the status words: [`statuses`](super::statuses).

use serde_json::Value;

use super::fields::{self, lookup};
use super::report::{BuildReport, Malformed, Report, TaskReport};
use super::statuses;

/// The report of one GitLab delivery whose `X-Gitlab-Event` is `event`.
pub fn read(event: &str, body: &Value) -> Result<Report, Malformed> {
    match event {
        "Pipeline Hook" => pipeline(body),
        "Job Hook" => job(body),
        other => Ok(Report::Ignored(format!(
            "GitLab event {other} is not handled"
        ))),
    }
}

/// A `Pipeline Hook`: the pipeline is the build.
///
/// `external_id` = `object_attributes.id`, `repository` = `project.path_with_namespace`,
/// `branch` = `object_attributes.ref` (also `tag` when `object_attributes.tag` is true),
/// `commit` = `object_attributes.sha`, `title` = `commit.title` or the first line of
/// `commit.message`, `name` = `object_attributes.name`, `pull_request` = `merge_request.iid`,
/// `event_time` = `object_attributes.finished_at`, else `created_at`.
fn pipeline(body: &Value) -> Result<Report, Malformed> {
    let attr = |key: &str| lookup(body, &format!("object_attributes.{key}"));
    let external_id = fields::id(attr("id"), "object_attributes.id")?;
    let word = fields::string(attr("status"), "object_attributes.status")?;
    let Some(status) = statuses::gitlab_pipeline(&word) else {
        return Ok(Report::Ignored(format!(
            "GitLab pipeline status \"{word}\" has no mapping"
        )));
    };
    let git_ref = fields::opt_string(attr("ref"), "object_attributes.ref")?;
    let is_tag = fields::opt_bool(attr("tag"), "object_attributes.tag")?.unwrap_or(false);
    let title = match fields::opt_nonempty(lookup(body, "commit.title"), "commit.title")? {
        Some(title) => Some(title),
        None => commit_message_title(body)?,
    };
    Ok(Report::Build(BuildReport {
        external_id,
        repository: fields::opt_nonempty(
            lookup(body, "project.path_with_namespace"),
            "project.path_with_namespace",
        )?,
        tag: git_ref.clone().filter(|_| is_tag),
        branch: git_ref,
        commit: fields::opt_string(attr("sha"), "object_attributes.sha")?,
        title,
        name: fields::opt_nonempty(attr("name"), "object_attributes.name")?,
        pull_request: fields::opt_number(lookup(body, "merge_request.iid"), "merge_request.iid")?,
        status: Some(status),
        event_time: fields::first_time(
            body,
            &[
                "object_attributes.finished_at",
                "object_attributes.created_at",
            ],
        )?,
        // GitLab retries a pipeline under the same id and says no attempt.
        attempt: None,
        user: fields::user(body, &["user"], "username"),
    }))
}

/// A `Job Hook`: the job is a task of the build its pipeline is.
///
/// `external_id` = `build_id`, `name` = `build_name`, `labels` = `runner.tags` (the hook carries
/// no job tags; the runner's tags are those the job's tags matched, empty until a runner takes
/// the job). The build: `external_id` = `pipeline_id`, `repository` =
/// `project.path_with_namespace`, else `project_name` (which GitLab documents as the same path,
/// `gitlab-org/gitlab-test`, but older GitLab filled with the display name `Group / Project`),
/// `branch` = `ref` (also `tag` when `tag` is true), `commit` = `sha`, `name` = `commit.name`
/// (the pipeline's name), `title` = the first line of `commit.message`, `event_time` =
/// `build_finished_at`, else `build_started_at`, else `build_created_at`.
fn job(body: &Value) -> Result<Report, Malformed> {
    let field = |key: &str| lookup(body, key);
    let external_id = fields::id(field("build_id"), "build_id")?;
    let pipeline_id = fields::id(field("pipeline_id"), "pipeline_id")?;
    let name = fields::string(field("build_name"), "build_name")?;
    let word = fields::string(field("build_status"), "build_status")?;
    let Some(status) = statuses::gitlab_job(&word) else {
        return Ok(Report::Ignored(format!(
            "GitLab job status \"{word}\" has no mapping"
        )));
    };
    let repository = match fields::opt_nonempty(
        field("project.path_with_namespace"),
        "project.path_with_namespace",
    )? {
        Some(path) => Some(path),
        None => fields::opt_nonempty(field("project_name"), "project_name")?,
    };
    let git_ref = fields::opt_string(field("ref"), "ref")?;
    let is_tag = fields::opt_bool(field("tag"), "tag")?.unwrap_or(false);
    let build = BuildReport {
        external_id: pipeline_id,
        repository,
        tag: git_ref.clone().filter(|_| is_tag),
        branch: git_ref,
        commit: fields::opt_string(field("sha"), "sha")?,
        title: commit_message_title(body)?,
        name: fields::opt_nonempty(field("commit.name"), "commit.name")?,
        pull_request: None,
        status: None,
        event_time: fields::first_time(
            body,
            &["build_finished_at", "build_started_at", "build_created_at"],
        )?,
        attempt: None,
        user: fields::user(body, &["user"], "username"),
    };
    Ok(Report::Task(TaskReport {
        build,
        external_id,
        name,
        status: Some(status),
        labels: fields::labels(field("runner.tags"), "runner.tags")?,
        vendor_status: word,
        // 0 for a first run; absent on GitLab before 15.6.
        retry: field("retries_count")
            .and_then(Value::as_u64)
            .is_some_and(|n| n > 0),
    }))
}

/// The first line of `commit.message`.
fn commit_message_title(body: &Value) -> Result<Option<String>, Malformed> {
    Ok(
        fields::opt_string(lookup(body, "commit.message"), "commit.message")?
            .and_then(|message| fields::first_line(&message)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::report::ReportedUser;
    use crate::status::{BuildStatus, TaskStatus};
    use serde_json::json;

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/../tests/fixtures/inbound/gitlab/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).expect("fixture is JSON")
    }

    #[test]
    fn reads_the_documented_pipeline_hook() {
        assert_eq!(
            read("Pipeline Hook", &fixture("pipeline")),
            Ok(Report::Build(BuildReport {
                external_id: "31".into(),
                repository: Some("gitlab-org/gitlab-test".into()),
                branch: Some("master".into()),
                commit: Some("bcbb5ec396a2c0f828686f14fac9b80b780504f2".into()),
                title: Some("test".into()),
                name: Some("Pipeline for branch: master".into()),
                tag: None,
                pull_request: Some(1),
                status: Some(BuildStatus::Completed),
                // finished_at "2016-08-12 15:26:29 UTC"
                event_time: Some(1_471_015_589_000),
                attempt: None,
                user: Some(ReportedUser {
                    id: "1".into(),
                    username: "root".into(),
                }),
            }))
        );
    }

    #[test]
    fn reads_the_documented_job_hook() {
        assert_eq!(
            read("Job Hook", &fixture("job")),
            Ok(Report::Task(TaskReport {
                build: BuildReport {
                    external_id: "2366".into(),
                    repository: Some("gitlab-org/gitlab-test".into()),
                    branch: Some("gitlab-script-trigger".into()),
                    commit: Some("2293ada6b400935a1378653304eaf6221e0fdb8f".into()),
                    title: Some("test".into()),
                    name: Some("Build pipeline".into()),
                    tag: None,
                    pull_request: None,
                    status: None,
                    // build_created_at "2021-02-23T02:41:37.886Z"
                    event_time: Some(1_614_048_097_886),
                    attempt: None,
                    user: None,
                },
                external_id: "1977".into(),
                name: "test".into(),
                status: Some(TaskStatus::Created),
                labels: vec!["linux".into(), "docker".into()],
                vendor_status: "created".into(),
                // The example's `retries_count` is 2.
                retry: true,
            }))
        );
    }

    #[test]
    fn a_tag_pipeline_names_its_tag_and_a_commit_title_wins() {
        let mut body = fixture("pipeline");
        body["object_attributes"]["tag"] = json!(true);
        body["object_attributes"]["ref"] = json!("v1.2.0");
        body["object_attributes"]["status"] = json!("running");
        body["object_attributes"]["finished_at"] = json!(null);
        body["commit"]["title"] = json!("Release 1.2");
        body.as_object_mut()
            .expect("an object")
            .remove("merge_request");
        let Ok(Report::Build(build)) = read("Pipeline Hook", &body) else {
            panic!("not a build");
        };
        assert_eq!(build.tag.as_deref(), Some("v1.2.0"));
        assert_eq!(build.branch.as_deref(), Some("v1.2.0"));
        assert_eq!(build.title.as_deref(), Some("Release 1.2"));
        assert_eq!(build.pull_request, None);
        assert_eq!(build.status, Some(BuildStatus::Executing));
        // created_at "2016-08-12 15:23:28 UTC"
        assert_eq!(build.event_time, Some(1_471_015_408_000));
    }

    #[test]
    fn a_job_without_project_falls_back_to_project_name() {
        let mut body = fixture("job");
        body.as_object_mut().expect("an object").remove("project");
        body["build_status"] = json!("manual");
        body["runner"] = json!(null);
        body["build_finished_at"] = json!("2021-02-23 02:45:00 UTC");
        let Ok(Report::Task(task)) = read("Job Hook", &body) else {
            panic!("not a task");
        };
        assert_eq!(
            task.build.repository.as_deref(),
            Some("gitlab-org/gitlab-test")
        );
        assert_eq!(task.status, Some(TaskStatus::Paused));
        assert!(task.labels.is_empty());
        assert_eq!(task.build.event_time, Some(1_614_048_300_000));
    }

    #[test]
    fn other_events_and_unknown_words_are_ignored() {
        assert_eq!(
            read("Push Hook", &json!({})),
            Ok(Report::Ignored(
                "GitLab event Push Hook is not handled".into()
            ))
        );
        let mut body = fixture("pipeline");
        body["object_attributes"]["status"] = json!("canceling");
        assert_eq!(
            read("Pipeline Hook", &body),
            Ok(Report::Ignored(
                "GitLab pipeline status \"canceling\" has no mapping".into()
            ))
        );
        let mut body = fixture("job");
        body["build_status"] = json!("exploded");
        assert_eq!(
            read("Job Hook", &body),
            Ok(Report::Ignored(
                "GitLab job status \"exploded\" has no mapping".into()
            ))
        );
    }

    #[test]
    fn missing_or_mistyped_required_fields_are_malformed() {
        let cases = [
            (
                "Pipeline Hook",
                "/object_attributes/id",
                json!(null),
                "object_attributes.id: expected a number",
            ),
            (
                "Pipeline Hook",
                "/object_attributes/status",
                json!(3),
                "object_attributes.status: expected a string",
            ),
            (
                "Pipeline Hook",
                "/object_attributes/tag",
                json!("no"),
                "object_attributes.tag: expected a boolean",
            ),
            (
                "Pipeline Hook",
                "/object_attributes/finished_at",
                json!("soon"),
                "object_attributes.finished_at: expected an RFC 3339 time",
            ),
            (
                "Pipeline Hook",
                "/merge_request/iid",
                json!("1"),
                "merge_request.iid: expected a positive integer",
            ),
            (
                "Job Hook",
                "/build_id",
                json!("1977"),
                "build_id: expected a number",
            ),
            (
                "Job Hook",
                "/pipeline_id",
                json!(null),
                "pipeline_id: expected a number",
            ),
            (
                "Job Hook",
                "/build_name",
                json!(null),
                "build_name: expected a string",
            ),
            (
                "Job Hook",
                "/build_status",
                json!(false),
                "build_status: expected a string",
            ),
            (
                "Job Hook",
                "/runner/tags",
                json!([1]),
                "runner.tags: expected an array of strings",
            ),
        ];
        for (event, pointer, value, error) in cases {
            let mut body = fixture(if event == "Job Hook" {
                "job"
            } else {
                "pipeline"
            });
            *body.pointer_mut(pointer).expect("fixture has the field") = value;
            assert_eq!(
                read(event, &body),
                Err(Malformed(error.into())),
                "{pointer}"
            );
        }
    }
}
