//! A verified report becomes a transition: the repository (the source's, or found or created by
//! name in the source's organization), the build and task (found through the source's links from
//! the vendor's ids, or created), and their statuses moved forward only. The caller runs it in
//! the write transaction that also writes the inbound log's row, the events and their outbox.
//!
//! Rules (see DESIGN.md, "Inbound sources"):
//! - An inbound build's status follows the vendor's build-level events only; it is never derived
//!   from its tasks (a vendor reports its run's outcome, and jobs arrive one by one).
//! - First sight in a status that is not final: one `created` event in it. First sight in a final
//!   status: `created` in CREATED, then `updated` to it, so a failure is always an update.
//! - Statuses only move forward (`statuses::build_rank`, `task_rank`): a report that is not
//!   ahead of what is stored is late (vendors do not promise order), recorded and ignored.
//! - A newer attempt of a run (GitHub's re-run) reopens a finished build (TRIGGERED, as
//!   `retrigger` does); a job of it named like one of the build's tasks supersedes that task (a
//!   new run, `manualRerunCount` + 1). Reports of an older attempt are late. A job the vendor
//!   calls a retry (GitLab's `retries_count`) supersedes its task the same way and reopens a
//!   finished build.

use buildhooks_entity::{
    build as build_row, inbound_link, inbound_source, repository, task as task_row,
};
use buildhooks_store::{inbound, orgs, runs};
use sea_orm::{ConnectionTrait, Set};

use super::report::{BuildReport, Malformed, TaskReport};
use super::statuses::{build_rank, task_rank};
use crate::error::{Error, Result};
use crate::event::{EventDraft, EventKind};
use crate::status::{BuildStatus, TaskStatus};
use crate::transition::{set_task_status, write_build_status, Changes};

/// What a report did.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// It changed something (or created the rows): the build and task it touched.
    Applied { build_id: i32, task_id: Option<i32> },
    /// It was not ahead of what is stored (or asked for no change): why.
    Late {
        build_id: i32,
        task_id: Option<i32>,
        why: String,
    },
}

/// Why a report could not be applied to its source's organization: answered 400.
pub type Refusal = Malformed;

/// Applies a build report of `source` in `db`.
pub async fn build(
    db: &impl ConnectionTrait,
    source: &inbound_source::Model,
    report: &BuildReport,
    now: i64,
    out: &mut Changes,
) -> Result<std::result::Result<Effect, Refusal>> {
    let to = report.status;
    let found = match find_or_create_build(db, source, report, to, now, out).await? {
        Ok(found) => found,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let build = found.build;
    let applied = Effect::Applied {
        build_id: build.id,
        task_id: None,
    };
    if let Some(why) = found.stale {
        out.seed.put_build(build.clone());
        return Ok(Ok(Effect::Late {
            build_id: build.id,
            task_id: None,
            why,
        }));
    }
    let Some(to) = to else {
        out.seed.put_build(build);
        return Ok(Ok(applied));
    };
    if found.created {
        return Ok(Ok(applied));
    }
    let from: BuildStatus = build.status.parse()?;
    if build_rank(to) <= build_rank(from) {
        out.seed.put_build(build.clone());
        if found.reopened {
            // The new attempt's first report (requested, queued): reopening was the change.
            return Ok(Ok(applied));
        }
        return Ok(Ok(Effect::Late {
            build_id: build.id,
            task_id: None,
            why: format!(
                "late: build {} is already {} (reported {})",
                build.id,
                from.as_str(),
                to.as_str()
            ),
        }));
    }
    move_build(db, build, from, to, now, out).await?;
    Ok(Ok(applied))
}

/// Applies a task report of `source` in `db`; `report.status` is `Some` (the caller answers a
/// report of no change as ignored before opening a transaction).
pub async fn task(
    db: &impl ConnectionTrait,
    source: &inbound_source::Model,
    report: &TaskReport,
    to: TaskStatus,
    now: i64,
    out: &mut Changes,
) -> Result<std::result::Result<Effect, Refusal>> {
    let found = match find_or_create_build(db, source, &report.build, None, now, out).await? {
        Ok(found) => found,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let build = found.build;
    out.seed.put_build(build.clone());
    if let Some(why) = found.stale {
        return Ok(Ok(Effect::Late {
            build_id: build.id,
            task_id: None,
            why,
        }));
    }
    let org_id = source.org_id;
    let existing = inbound::linked_task(db, org_id, source.id, &report.external_id).await?;
    let Some(task) = existing else {
        // A new job id of a later attempt of the run (GitHub), or one the vendor calls a retry
        // (GitLab), named like one of the build's tasks: a re-run of that job.
        let rerun = !found.created && (report.retry || report.build.attempt.is_some_and(|a| a > 1));
        let rerun_of = match rerun {
            true => runs::latest_tasks(db, org_id, build.id)
                .await?
                .into_iter()
                .find(|t| t.name == report.name),
            false => None,
        };
        // A retried job of a finished pipeline reopens it (GitLab does the same); a later
        // attempt of a GitHub run reopened it already.
        let from: BuildStatus = build.status.parse()?;
        let build = match rerun_of.is_some() && from.is_final() {
            true => write_build_status(db, build, from, BuildStatus::Triggered, now, out).await?,
            false => build,
        };
        let task = create_task(db, source, &build, report, to, rerun_of, now, out).await?;
        return Ok(Ok(Effect::Applied {
            build_id: build.id,
            task_id: Some(task),
        }));
    };
    let from: TaskStatus = task.status.parse()?;
    if task_rank(to) <= task_rank(from) {
        return Ok(Ok(Effect::Late {
            build_id: build.id,
            task_id: Some(task.id),
            why: format!(
                "late: task {} is already {} (reported {})",
                task.id,
                from.as_str(),
                to.as_str()
            ),
        }));
    }
    let id = task.id;
    set_task_status(db, task, to, now, out).await?;
    Ok(Ok(Effect::Applied {
        build_id: build.id,
        task_id: Some(id),
    }))
}

/// Moves a build forward to `to`: through TRIGGERED when the table has no direct step from
/// NEEDS_APPROVAL (an approved run that reports it is running).
async fn move_build(
    db: &impl ConnectionTrait,
    build: build_row::Model,
    from: BuildStatus,
    to: BuildStatus,
    now: i64,
    out: &mut Changes,
) -> Result<build_row::Model> {
    let build = match from == BuildStatus::NeedsApproval && !from.can_become(to) {
        true => write_build_status(db, build, from, BuildStatus::Triggered, now, out).await?,
        false => build,
    };
    let from: BuildStatus = build.status.parse()?;
    write_build_status(db, build, from, to, now, out).await
}

/// The build a report names, locked for this transaction.
struct Found {
    build: build_row::Model,
    /// Created by this report.
    created: bool,
    /// A finished build reopened (TRIGGERED) by a new attempt of its run.
    reopened: bool,
    /// The report is of an older attempt of the run than the build is at: why it is late.
    stale: Option<String>,
}

/// The build a report names (locked for this transaction), or a new one. A report of a newer
/// attempt of the run (GitHub's "Re-run jobs") reopens a finished build, as `retrigger` does.
async fn find_or_create_build(
    db: &impl ConnectionTrait,
    source: &inbound_source::Model,
    report: &BuildReport,
    status: Option<BuildStatus>,
    now: i64,
    out: &mut Changes,
) -> Result<std::result::Result<Found, Refusal>> {
    let org_id = source.org_id;
    if let Some(link) = inbound::lock_run(db, org_id, source.id, &report.external_id).await? {
        out.seed.put_endpoints(link.endpoints);
        let build = link.build;
        let attempt = report.attempt.unwrap_or(link.attempt);
        let mut found = Found {
            build,
            created: false,
            reopened: false,
            stale: None,
        };
        if attempt < link.attempt {
            found.stale = Some(format!(
                "late: attempt {attempt} of the run, which is at attempt {}",
                link.attempt
            ));
        } else if attempt > link.attempt {
            inbound::set_attempt(db, link.link_id, attempt).await?;
            let from: BuildStatus = found.build.status.parse()?;
            if from.is_final() {
                found.build =
                    write_build_status(db, found.build, from, BuildStatus::Triggered, now, out)
                        .await?;
                found.reopened = true;
            }
        }
        return Ok(Ok(found));
    }
    let repository = match repository_of(db, source, report, now).await? {
        Ok(repository) => repository,
        Err(refusal) => return Ok(Err(refusal)),
    };
    // First sight: created in the reported status unless it is final (then CREATED, and moved).
    let reported = status.unwrap_or(BuildStatus::Created);
    let initial = match reported.is_final() {
        true => BuildStatus::Created,
        false => reported,
    };
    let branch = report
        .branch
        .clone()
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| repository.default_branch.clone());
    let row = build_row::ActiveModel {
        org_id: Set(org_id),
        repository_id: Set(repository.id),
        name: Set(report.name.clone().map(|n| cut(&n, 255))),
        branch: Set(cut(&branch, 255)),
        tag: Set(report.tag.clone().map(|t| cut(&t, 255))),
        change_id_in_repo: Set(cut(report.commit.as_deref().unwrap_or_default(), 255)),
        change_message: Set(cut(report.title.as_deref().unwrap_or_default(), 4096)),
        pull_request: Set(report.pull_request),
        status: Set(initial.as_str().to_owned()),
        change_timestamp: Set(report.event_time.unwrap_or(now)),
        build_created_timestamp: Set(now),
        status_timestamp: Set(now),
        executing_timestamp: Set((initial == BuildStatus::Executing).then_some(now)),
        final_status_timestamp: Set(None),
        attributes: Set(crate::attributes::store(
            &crate::attributes::BuildAttributes {
                user: report.user.clone().map(|u| crate::attributes::StoredUser {
                    id: u.id,
                    username: u.username,
                }),
                ..Default::default()
            },
        )),
        ..Default::default()
    };
    let build = runs::insert_build(db, row).await?;
    inbound::insert_link(
        db,
        inbound_link::ActiveModel {
            org_id: Set(org_id),
            source_id: Set(source.id),
            kind: Set("build".into()),
            external_id: Set(report.external_id.clone()),
            build_id: Set(build.id),
            task_id: Set(None),
            attempt: Set(report.attempt.unwrap_or(1).max(1)),
            ..Default::default()
        },
    )
    .await?;
    out.seed.put_build(build.clone());
    out.events.push(EventDraft::created(
        EventKind::Build,
        initial.as_str(),
        (build.repository_id, build.id, None),
    ));
    let build = match reported.is_final() {
        true => write_build_status(db, build, initial, reported, now, out).await?,
        false => build,
    };
    Ok(Ok(Found {
        build,
        created: true,
        reopened: false,
        stale: None,
    }))
}

/// The repository of a new build: the source's own, or the one the report names in the source's
/// organization, created on first sight.
async fn repository_of(
    db: &impl ConnectionTrait,
    source: &inbound_source::Model,
    report: &BuildReport,
    now: i64,
) -> Result<std::result::Result<repository::Model, Refusal>> {
    let org_id = source.org_id;
    if let Some(id) = source.repository_id {
        return Ok(Ok(orgs::repo(db, org_id, id)
            .await?
            .ok_or(Error::NotFound("repository"))?));
    }
    let Some(name) = report.repository.as_deref().map(str::trim) else {
        return Ok(Err(Malformed(
            "the body names no repository, and the source has none".into(),
        )));
    };
    if !valid_repository_name(name) {
        return Ok(Err(Malformed(format!(
            "repository name {:?} is not 1 to 100 letters, digits, '-', '_', '.', '/'",
            cut(name, 120)
        ))));
    }
    if let Some(found) = orgs::repo_named(db, org_id, name).await? {
        return Ok(Ok(found));
    }
    let row = repository::ActiveModel {
        org_id: Set(org_id),
        name: Set(name.to_owned()),
        is_private: Set(true),
        default_branch: Set("main".into()),
        created_at: Set(now),
        ..Default::default()
    };
    Ok(Ok(orgs::insert_repo(db, row).await?))
}

/// A new task of `build` in `to` (or CREATED, then moved, when `to` is final), and its link;
/// when it re-runs `rerun_of`, that run is superseded and the new one counts as its rerun.
#[allow(clippy::too_many_arguments)]
async fn create_task(
    db: &impl ConnectionTrait,
    source: &inbound_source::Model,
    build: &build_row::Model,
    report: &TaskReport,
    to: TaskStatus,
    rerun_of: Option<task_row::Model>,
    now: i64,
    out: &mut Changes,
) -> Result<i32> {
    let (previous_run_id, manual_rerun_count) = match rerun_of {
        Some(old) => {
            let (id, count) = (old.id, old.manual_rerun_count + 1);
            out.seed.put_task(runs::supersede(db, old).await?);
            (Some(id), count)
        }
        None => (None, 0),
    };
    let initial = match to.is_final() {
        true => TaskStatus::Created,
        false => to,
    };
    let labels: Vec<String> = report.labels.iter().take(50).map(|l| cut(l, 255)).collect();
    let labels = serde_json::to_string(&labels).map_err(|e| Error::Internal(e.to_string()))?;
    let stamps = initial.task_move().stamps;
    let name = match report.name.trim().is_empty() {
        true => format!("job {}", report.external_id),
        false => cut(&report.name, 255),
    };
    let row = task_row::ActiveModel {
        org_id: Set(source.org_id),
        build_id: Set(build.id),
        repository_id: Set(build.repository_id),
        name: Set(name),
        name_alias: Set(None),
        status: Set(initial.as_str().to_owned()),
        labels: Set(labels),
        optional: Set(false),
        manual_rerun_count: Set(manual_rerun_count),
        previous_run_id: Set(previous_run_id),
        superseded: Set(false),
        status_timestamp: Set(now),
        creation_timestamp: Set(now),
        scheduled_timestamp: Set(stamps.scheduled.then_some(now)),
        executing_timestamp: Set(stamps.executing.then_some(now)),
        final_status_timestamp: Set(None),
        ..Default::default()
    };
    let task = runs::insert_task(db, row).await?;
    inbound::insert_link(
        db,
        inbound_link::ActiveModel {
            org_id: Set(source.org_id),
            source_id: Set(source.id),
            kind: Set("task".into()),
            external_id: Set(report.external_id.clone()),
            build_id: Set(build.id),
            task_id: Set(Some(task.id)),
            attempt: Set(1),
            ..Default::default()
        },
    )
    .await?;
    out.seed.put_task(task.clone());
    out.events.push(EventDraft::created(
        EventKind::Task,
        initial.as_str(),
        (task.repository_id, task.build_id, Some(task.id)),
    ));
    let id = task.id;
    if to.is_final() {
        set_task_status(db, task, to, now, out).await?;
    }
    Ok(id)
}

fn valid_repository_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

/// At most `max` bytes of `s`, cut on a character boundary.
fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}
