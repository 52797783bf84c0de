//! Endpoint rows as the dispatcher reads them: the endpoints of claimed rows, by id.

use buildhooks_entity::webhook_endpoint;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

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
