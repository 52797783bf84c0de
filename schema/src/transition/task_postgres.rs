//! `updateTaskStatus` on PostgreSQL in two statements instead of five: lock the build (reading
//! the organization's enabled endpoints with it, for the outbox), then one statement that checks
//! and changes the task and reads the states of its build's other tasks.
//! The move's rules are the same tables as the general path's, written into the statement; when
//! it changes nothing (no such task, a superseded run, a move the tables refuse, a build waiting
//! for approval) the general path runs and reports the precise error.

use std::sync::LazyLock;

use buildhooks_entity::task as task_row;
use sea_orm::{ConnectionTrait, FromQueryResult, Statement};

use super::{apply_task_states, build_status, Changes};
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::event::{EventDraft, EventKind};
use crate::status::{BuildStatus, TaskState, TaskStatus};

/// The statement for a move to `to`, built once per status: its text depends on `to` only, so
/// each is prepared once per connection; the status names in it are this crate's constants,
/// never client input.
fn statement(to: TaskStatus) -> Option<&'static str> {
    static STATEMENTS: LazyLock<Vec<(TaskStatus, Option<String>)>> = LazyLock::new(|| {
        TaskStatus::ALL
            .iter()
            .map(|s| (*s, statement_text(*s)))
            .collect()
    });
    STATEMENTS
        .iter()
        .find(|(s, _)| *s == to)
        .and_then(|(_, sql)| sql.as_deref())
}

fn statement_text(to: TaskStatus) -> Option<String> {
    let from: Vec<String> = TaskStatus::ALL
        .iter()
        .filter(|s| s.can_become(to))
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    if from.is_empty() {
        return None;
    }
    let mut set = vec!["status = $3", "status_timestamp = $4"];
    match to {
        TaskStatus::Scheduled => set.push("scheduled_timestamp = $4"),
        TaskStatus::Executing => {
            set.push("executing_timestamp = COALESCE(task.executing_timestamp, $4)")
        }
        s if s.is_final() => set.push("final_status_timestamp = $4"),
        _ => {}
    }
    // `others` reads the snapshot before the update: the other latest runs of the build, whose
    // row this transaction has locked, so no sibling changes meanwhile.
    Some(format!(
        "WITH old AS (SELECT id, status FROM task WHERE id = $1 AND org_id = $2 \
           AND NOT superseded AND status IN ({from})), \
         changed AS (UPDATE task SET {set} FROM old WHERE task.id = old.id RETURNING task.*) \
         SELECT changed.*, old.status AS old_status, \
           (SELECT string_agg(DISTINCT s.status || ':' || s.optional::text, ',') FROM task s \
             WHERE s.org_id = $2 AND s.build_id = changed.build_id AND NOT s.superseded \
             AND s.id <> changed.id) AS others \
         FROM changed JOIN old ON old.id = changed.id",
        from = from.join(", "),
        set = set.join(", "),
    ))
}

/// `status:optional` pairs, comma-separated, as the statement aggregates them.
fn parse_states(others: Option<String>) -> Result<Vec<TaskState>> {
    let Some(others) = others else {
        return Ok(Vec::new());
    };
    others
        .split(',')
        .map(|pair| {
            let (status, optional) = pair
                .split_once(':')
                .ok_or_else(|| Error::Internal(format!("task state {pair:?}")))?;
            Ok(TaskState {
                status: status.parse()?,
                optional: optional == "true",
            })
        })
        .collect()
}

/// Moves the task as `task::update_task_status` does; `None` when the general path must run.
pub(super) async fn update_task_status(
    db: &impl ConnectionTrait,
    org_id: i32,
    task_id: i32,
    to: TaskStatus,
) -> Result<Option<(task_row::Model, Changes)>> {
    let (build, endpoints) = super::task::lock_build_with_endpoints(db, org_id, task_id).await?;
    if build_status(&build)? == BuildStatus::NeedsApproval && to != TaskStatus::Aborted {
        return Ok(None);
    }
    let Some(sql) = statement(to) else {
        return Ok(None);
    };
    let now = now_ms();
    let stmt = Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        [
            task_id.into(),
            org_id.into(),
            to.as_str().into(),
            now.into(),
        ],
    );
    let Some(row) = db.query_one(stmt).await? else {
        return Ok(None);
    };
    let task = task_row::Model::from_query_result(&row, "")?;
    let from: TaskStatus = row.try_get::<String>("", "old_status")?.parse()?;
    let mut states = parse_states(row.try_get("", "others")?)?;
    states.push(TaskState {
        status: to,
        optional: task.optional,
    });
    let mut out = Changes::default();
    out.seed.put_endpoints(endpoints);
    out.seed.put_task(task.clone());
    out.events.push(EventDraft::updated(
        EventKind::Task,
        from.as_str(),
        to.as_str(),
        (task.repository_id, task.build_id, Some(task.id)),
    ));
    apply_task_states(db, build, &states, now, &mut out).await?;
    Ok(Some((task, out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_move_the_tables_allow_has_a_statement_and_states_parse() {
        for to in TaskStatus::ALL {
            let allowed = TaskStatus::ALL.iter().any(|s| s.can_become(to));
            assert_eq!(statement(to).is_some(), allowed, "{to:?}");
        }
        let states = parse_states(Some("EXECUTING:false,FAILED:true".into())).expect("parse");
        assert_eq!(states.len(), 2);
        assert_eq!(states[0].status, TaskStatus::Executing);
        assert!(!states[0].optional && states[1].optional);
        assert!(parse_states(None).expect("none").is_empty());
        assert!(parse_states(Some("EXECUTING".into())).is_err());
    }
}
