//! Endpoint rows: the dispatcher's reads by id, the settings' reads and saves, and the ping's
//! lookup.

use buildhooks_entity::webhook_endpoint;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, Set,
};

use crate::Result;

/// The endpoints with these ids (deleted and disabled ones included: the dispatcher records
/// why it sent nothing).
pub async fn by_ids(
    db: &impl ConnectionTrait,
    ids: Vec<i32>,
) -> Result<Vec<webhook_endpoint::Model>> {
    webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::Id.is_in(ids))
        .all(db)
        .await
}

/// Endpoint `id`.
pub async fn by_id(db: &impl ConnectionTrait, id: i32) -> Result<Option<webhook_endpoint::Model>> {
    webhook_endpoint::Entity::find_by_id(id).one(db).await
}

/// The endpoints of `org_id` that are not deleted, in position order; `enabled_only` leaves out
/// the disabled ones.
pub async fn of_org(
    db: &impl ConnectionTrait,
    org_id: i32,
    enabled_only: bool,
) -> Result<Vec<webhook_endpoint::Model>> {
    let statement = crate::built::endpoints(db.get_database_backend(), org_id, enabled_only);
    // The rows straight from the statement: `Entity::find()` would build a select of every
    // column first, only to be replaced.
    webhook_endpoint::Model::find_by_statement(statement)
        .all(db)
        .await
}

/// The undeleted endpoint of `org_id` with id `id`, else with URL `url`.
pub async fn find(
    db: &impl ConnectionTrait,
    org_id: i32,
    id: Option<i32>,
    url: Option<&str>,
) -> Result<Option<webhook_endpoint::Model>> {
    let mut q = webhook_endpoint::Entity::find_in_org(org_id)
        .filter(webhook_endpoint::Column::Deleted.eq(false));
    q = match (id, url) {
        (Some(id), _) => q.filter(webhook_endpoint::Column::Id.eq(id)),
        (None, Some(url)) => q.filter(webhook_endpoint::Column::Url.eq(url)),
        (None, None) => return Ok(None),
    };
    q.one(db).await
}

/// Writes an endpoint: a new one (no id yet) or a saved one with its changes.
pub async fn save(
    db: &impl ConnectionTrait,
    row: webhook_endpoint::ActiveModel,
    new: bool,
) -> Result<webhook_endpoint::Model> {
    match new {
        true => row.insert(db).await,
        false => row.update(db).await,
    }
}

/// Marks a saved endpoint deleted (and disabled): deliveries already queued say why they were
/// not sent.
pub async fn delete(db: &impl ConnectionTrait, old: webhook_endpoint::Model) -> Result<()> {
    let mut row = webhook_endpoint::ActiveModel::from(old);
    row.deleted = Set(true);
    row.enabled = Set(false);
    row.update(db).await.map(|_| ())
}
