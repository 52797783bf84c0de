//! Builds and tasks as rows: reads by id and by page, writing new ones, and the plain row locks
//! the general transition path takes (the hot statements are in `tasks`).

use buildhooks_entity::{build, task};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::{Result, Window};

/// Build `id` of `org_id`.
pub async fn build(
    db: &impl ConnectionTrait,
    org_id: i32,
    id: i32,
) -> Result<Option<build::Model>> {
    build::Entity::find_in_org(org_id)
        .filter(build::Column::Id.eq(id))
        .one(db)
        .await
}

/// Build `id` of `org_id`, its row locked for this transaction where the database locks rows
/// (writers are serialised already where it does not).
pub async fn lock_build(
    db: &impl ConnectionTrait,
    org_id: i32,
    id: i32,
) -> Result<Option<build::Model>> {
    build::Entity::find_in_org(org_id)
        .filter(build::Column::Id.eq(id))
        .lock_exclusive()
        .one(db)
        .await
}

/// What a page of builds is limited to: one repository (or every repository of the
/// organization), a branch, a status.
#[derive(Clone, Copy, Debug, Default)]
pub struct BuildFilter<'a> {
    pub repository_id: Option<i32>,
    pub branch: Option<&'a str>,
    pub status: Option<&'a str>,
}

/// The builds of `org_id` that pass `filter`, in `window` (ids ascending: oldest first), in the
/// order read.
pub async fn builds(
    db: &impl ConnectionTrait,
    org_id: i32,
    filter: BuildFilter<'_>,
    window: &Window,
) -> Result<Vec<build::Model>> {
    let mut q = build::Entity::find_in_org(org_id);
    if let Some(repository_id) = filter.repository_id {
        q = q.filter(build::Column::RepositoryId.eq(repository_id));
    }
    if let Some(branch) = filter.branch {
        q = q.filter(build::Column::Branch.eq(branch));
    }
    if let Some(status) = filter.status {
        q = q.filter(build::Column::Status.eq(status));
    }
    window.apply(q, build::Column::Id).all(db).await
}

/// The latest build of a repository.
pub async fn latest_build(
    db: &impl ConnectionTrait,
    org_id: i32,
    repository_id: i32,
) -> Result<Option<build::Model>> {
    build::Entity::find_in_org(org_id)
        .filter(build::Column::RepositoryId.eq(repository_id))
        .order_by_desc(build::Column::Id)
        .one(db)
        .await
}

/// The newest build of `repository_id` on `branch`, if any.
pub async fn latest_on_branch(
    db: &impl ConnectionTrait,
    org_id: i32,
    repository_id: i32,
    branch: &str,
) -> Result<Option<build::Model>> {
    build::Entity::find_in_org(org_id)
        .filter(build::Column::RepositoryId.eq(repository_id))
        .filter(build::Column::Branch.eq(branch))
        .order_by_desc(build::Column::Id)
        .one(db)
        .await
}

/// Up to `limit` builds of `repository_id` of commit `sha` and on `branch` (each when given),
/// newest first.
pub async fn search(
    db: &impl ConnectionTrait,
    org_id: i32,
    repository_id: i32,
    sha: Option<&str>,
    branch: Option<&str>,
    limit: u64,
) -> Result<Vec<build::Model>> {
    let mut q =
        build::Entity::find_in_org(org_id).filter(build::Column::RepositoryId.eq(repository_id));
    if let Some(sha) = sha {
        q = q.filter(build::Column::ChangeIdInRepo.eq(sha));
    }
    if let Some(branch) = branch {
        q = q.filter(build::Column::Branch.eq(branch));
    }
    q.order_by_desc(build::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Writes a new build.
pub async fn insert_build(
    db: &impl ConnectionTrait,
    row: build::ActiveModel,
) -> Result<build::Model> {
    crate::built::insert(db, row).await
}

/// The first task of a build, if it has any.
pub async fn first_task(
    db: &impl ConnectionTrait,
    org_id: i32,
    build_id: i32,
) -> Result<Option<task::Model>> {
    task::Entity::find_in_org(org_id)
        .filter(task::Column::BuildId.eq(build_id))
        .order_by_asc(task::Column::Id)
        .one(db)
        .await
}

/// The latest run of every task of a build, in creation order.
pub async fn latest_tasks(
    db: &impl ConnectionTrait,
    org_id: i32,
    build_id: i32,
) -> Result<Vec<task::Model>> {
    task::Entity::find_in_org(org_id)
        .filter(task::Column::BuildId.eq(build_id))
        .filter(task::Column::Superseded.eq(false))
        .order_by_asc(task::Column::Id)
        .all(db)
        .await
}

/// Writes a new task (or a new run of one).
pub async fn insert_task(db: &impl ConnectionTrait, row: task::ActiveModel) -> Result<task::Model> {
    crate::built::insert(db, row).await
}

/// Writes a task run's attributes (a JSON object, or NULL for none).
pub async fn set_task_attributes(
    db: &impl ConnectionTrait,
    org_id: i32,
    task_id: i32,
    attributes: Option<String>,
) -> Result<()> {
    <task::Entity as sea_orm::EntityTrait>::update_many()
        .col_expr(task::Column::Attributes, attributes.into())
        .filter(task::Column::OrgId.eq(org_id))
        .filter(task::Column::Id.eq(task_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Marks a task run superseded by a newer run; returns it as written.
pub async fn supersede(db: &impl ConnectionTrait, run: task::Model) -> Result<task::Model> {
    let mut row: task::ActiveModel = run.into();
    row.superseded = Set(true);
    row.update(db).await
}

/// The status of the latest build of `repository_id` and `branch` created before build
/// `before` that finished COMPLETED or FAILED, if any: what `build.fixed` and
/// `build.still_failing` compare with.
pub async fn previous_finished(
    db: &impl ConnectionTrait,
    org_id: i32,
    repository_id: i32,
    branch: &str,
    before: i32,
) -> Result<Option<String>> {
    Ok(build::Entity::find_in_org(org_id)
        .filter(build::Column::RepositoryId.eq(repository_id))
        .filter(build::Column::Id.lt(before))
        .filter(build::Column::Branch.eq(branch))
        .filter(build::Column::Status.is_in(["COMPLETED", "FAILED"]))
        .order_by_desc(build::Column::Id)
        .one(db)
        .await?
        .map(|b| b.status))
}
