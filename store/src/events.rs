//! Event rows: what a transition emits, written in its transaction.

use buildhooks_entity::event;
use sea_orm::{ConnectionTrait, Set};

use crate::text::insert_rows;
use crate::Result;

/// An event to write: a creation or a status change of a build or task.
#[derive(Clone, Copy, Debug)]
pub struct NewEvent<'a> {
    /// `build` or `task`.
    pub kind: &'a str,
    /// `created` or `updated`.
    pub action: &'a str,
    pub old_status: Option<&'a str>,
    pub new_status: &'a str,
    pub repository_id: i32,
    pub build_id: i32,
    pub task_id: Option<i32>,
}

impl NewEvent<'_> {
    /// The row to write.
    pub(crate) fn row(&self, org_id: i32, now: i64) -> event::ActiveModel {
        event::ActiveModel {
            org_id: Set(org_id),
            repository_id: Set(self.repository_id),
            build_id: Set(self.build_id),
            task_id: Set(self.task_id),
            kind: Set(self.kind.to_owned()),
            action: Set(self.action.to_owned()),
            old_status: Set(self.old_status.map(str::to_owned)),
            new_status: Set(self.new_status.to_owned()),
            created_at: Set(now),
            ..Default::default()
        }
    }
}

/// Writes `events` in one statement; returns their ids in the same order (ids are assigned in
/// the order of the rows of one INSERT, on both databases).
pub async fn insert_all(
    db: &impl ConnectionTrait,
    org_id: i32,
    now: i64,
    events: &[NewEvent<'_>],
) -> Result<Vec<i64>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let sql = insert_rows(
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
            e.kind.into(),
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
        .map(|row| row.try_get_by_index::<i64>(0))
        .collect::<Result<Vec<i64>>>()?;
    ids.sort_unstable();
    Ok(ids)
}

/// The latest event of `org_id` (a build's or a task's), if any: what a message preview
/// renders when the organization has one.
pub async fn latest(
    db: &impl sea_orm::ConnectionTrait,
    org_id: i32,
) -> Result<Option<buildhooks_entity::event::Model>> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    buildhooks_entity::event::Entity::find()
        .filter(buildhooks_entity::event::Column::OrgId.eq(org_id))
        .order_by_desc(buildhooks_entity::event::Column::Id)
        .one(db)
        .await
}
