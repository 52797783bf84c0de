//! Organizations and their repositories (API tokens: `tokens`).

use buildhooks_entity::{organization, repository};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, Set,
};

use crate::{Result, Window};

/// Organization `id`.
pub async fn org(db: &impl ConnectionTrait, id: i32) -> Result<Option<organization::Model>> {
    organization::Entity::find_by_id(id).one(db).await
}

/// The organization named `name`.
pub async fn org_named(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<organization::Model>> {
    organization::Entity::find()
        .filter(organization::Column::Name.eq(name))
        .one(db)
        .await
}

/// Writes a new organization.
pub async fn insert_org(
    db: &impl ConnectionTrait,
    name: &str,
    platform: &str,
    now: i64,
) -> Result<organization::Model> {
    organization::ActiveModel {
        platform: Set(platform.to_owned()),
        name: Set(name.to_owned()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Repository `id` of `org_id`.
pub async fn repo(
    db: &impl ConnectionTrait,
    org_id: i32,
    id: i32,
) -> Result<Option<repository::Model>> {
    let statement = crate::built::repo(db.get_database_backend(), org_id, id);
    repository::Model::find_by_statement(statement)
        .one(db)
        .await
}

/// The repository of `org_id` named `name`.
pub async fn repo_named(
    db: &impl ConnectionTrait,
    org_id: i32,
    name: &str,
) -> Result<Option<repository::Model>> {
    repository::Entity::find_in_org(org_id)
        .filter(repository::Column::Name.eq(name))
        .one(db)
        .await
}

/// The repositories of `org_id`, by name.
pub async fn repos(db: &impl ConnectionTrait, org_id: i32) -> Result<Vec<repository::Model>> {
    repository::Entity::find_in_org(org_id)
        .order_by_asc(repository::Column::Name)
        .all(db)
        .await
}

/// The repositories of `org_id` in `window` (ids ascending: oldest first), in the order read.
pub async fn repos_page(
    db: &impl ConnectionTrait,
    org_id: i32,
    window: &Window,
) -> Result<Vec<repository::Model>> {
    window
        .apply(
            repository::Entity::find_in_org(org_id),
            repository::Column::Id,
        )
        .all(db)
        .await
}

/// Writes a new repository.
pub async fn insert_repo(
    db: &impl ConnectionTrait,
    row: repository::ActiveModel,
) -> Result<repository::Model> {
    row.insert(db).await
}

/// Sets (or clears, with `None`) the build URL template of organization `id`.
pub async fn set_build_url_template(
    db: &impl ConnectionTrait,
    id: i32,
    template: Option<String>,
) -> Result<()> {
    organization::Entity::update_many()
        .col_expr(
            organization::Column::BuildUrlTemplate,
            sea_orm::sea_query::Expr::value(template),
        )
        .filter(organization::Column::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}
