//! Events: what a transition emits (kind, action, old and new status), their filter keys, and the
//! event rows written in the transition's transaction.

use buildhooks_entity::event;
use sea_orm::{ConnectionTrait, Set};

use crate::error::Result;

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
    /// `created` or `updated`.
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

    /// The key event patterns match: `<kind>.<new status, lower case>`, e.g. `task.failed`.
    pub fn filter_key(&self) -> String {
        format!(
            "{}.{}",
            self.kind.as_str(),
            self.new_status.to_ascii_lowercase()
        )
    }

    /// The event row to write.
    pub fn row(&self, org_id: i32, now: i64) -> event::ActiveModel {
        event::ActiveModel {
            org_id: Set(org_id),
            repository_id: Set(self.repository_id),
            build_id: Set(self.build_id),
            task_id: Set(self.task_id),
            kind: Set(self.kind.as_str().to_owned()),
            action: Set(self.action.to_owned()),
            old_status: Set(self.old_status.map(str::to_owned)),
            new_status: Set(self.new_status.to_owned()),
            created_at: Set(now),
            ..Default::default()
        }
    }
}

/// Writes `events` in one statement; returns their ids in the same order (ids are assigned in
/// the order of the rows of one INSERT, on SQLite and PostgreSQL alike).
pub async fn insert_all(
    db: &impl ConnectionTrait,
    org_id: i32,
    now: i64,
    events: &[EventDraft],
) -> Result<Vec<i32>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let sql = crate::sql::insert_rows(
        backend,
        "INSERT INTO event (org_id, repository_id, build_id, task_id, kind, action, old_status, \
         new_status, created_at)",
        9,
        events.len(),
        "id",
    );
    let values = events.iter().flat_map(|e| -> [sea_orm::Value; 9] {
        [
            org_id.into(),
            e.repository_id.into(),
            e.build_id.into(),
            e.task_id.into(),
            e.kind.as_str().into(),
            e.action.into(),
            e.old_status.into(),
            e.new_status.into(),
            now.into(),
        ]
    });
    let mut ids = db
        .query_all(sea_orm::Statement::from_sql_and_values(
            backend, sql, values,
        ))
        .await?
        .iter()
        .map(|row| row.try_get_by_index::<i32>(0))
        .collect::<std::result::Result<Vec<i32>, sea_orm::DbErr>>()?;
    ids.sort_unstable();
    Ok(ids)
}
