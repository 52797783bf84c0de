//! Inbound sources, their links from vendor ids to our builds and tasks, and the inbound log
//! (whose unique (source, delivery key) makes a redelivery change nothing).

use buildhooks_entity::{inbound_link, inbound_request, inbound_source};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::Result;

/// Writes a new source.
pub async fn insert_source(
    db: &impl ConnectionTrait,
    row: inbound_source::ActiveModel,
) -> Result<inbound_source::Model> {
    row.insert(db).await
}

/// The live source whose URL id is `uid`, of any organization (the hook's caller names it).
pub async fn source_by_uid(
    db: &impl ConnectionTrait,
    uid: &str,
) -> Result<Option<inbound_source::Model>> {
    inbound_source::Entity::find()
        .filter(inbound_source::Column::Uid.eq(uid))
        .filter(inbound_source::Column::Deleted.eq(false))
        .one(db)
        .await
}

/// The live source `uid` of `org_id`.
pub async fn source_in_org(
    db: &impl ConnectionTrait,
    org_id: i32,
    uid: &str,
) -> Result<Option<inbound_source::Model>> {
    inbound_source::Entity::find_in_org(org_id)
        .filter(inbound_source::Column::Uid.eq(uid))
        .filter(inbound_source::Column::Deleted.eq(false))
        .one(db)
        .await
}

/// Every source of `org_id`, oldest first; deleted ones too when `with_deleted` (the log names
/// them).
pub async fn sources_of_org(
    db: &impl ConnectionTrait,
    org_id: i32,
    with_deleted: bool,
) -> Result<Vec<inbound_source::Model>> {
    let mut q = inbound_source::Entity::find_in_org(org_id);
    if !with_deleted {
        q = q.filter(inbound_source::Column::Deleted.eq(false));
    }
    q.order_by_asc(inbound_source::Column::Id).all(db).await
}

/// Replaces the secrets of live source `id` of `org_id`; false when there is none.
pub async fn set_secrets(
    db: &impl ConnectionTrait,
    org_id: i32,
    id: i32,
    secret: &str,
    signing_secret: Option<&str>,
) -> Result<bool> {
    let done = inbound_source::Entity::update_many()
        .col_expr(inbound_source::Column::Secret, secret.into())
        .col_expr(
            inbound_source::Column::SigningSecret,
            signing_secret.map(str::to_owned).into(),
        )
        .filter(inbound_source::Column::OrgId.eq(org_id))
        .filter(inbound_source::Column::Id.eq(id))
        .filter(inbound_source::Column::Deleted.eq(false))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Deletes live source `id` of `org_id` (soft: the log still names it); false when there is
/// none.
pub async fn delete_source(db: &impl ConnectionTrait, org_id: i32, id: i32) -> Result<bool> {
    let done = inbound_source::Entity::update_many()
        .col_expr(inbound_source::Column::Deleted, true.into())
        .filter(inbound_source::Column::OrgId.eq(org_id))
        .filter(inbound_source::Column::Id.eq(id))
        .filter(inbound_source::Column::Deleted.eq(false))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// The link of source `source_id`'s `kind` (`build`, `task`) with the vendor's `external_id`.
pub async fn link(
    db: &impl ConnectionTrait,
    source_id: i32,
    kind: &str,
    external_id: &str,
) -> Result<Option<inbound_link::Model>> {
    inbound_link::Entity::find()
        .filter(inbound_link::Column::SourceId.eq(source_id))
        .filter(inbound_link::Column::Kind.eq(kind))
        .filter(inbound_link::Column::ExternalId.eq(external_id))
        .one(db)
        .await
}

/// Writes a link; a concurrent writer of the same link makes this a unique violation.
pub async fn insert_link(
    db: &impl ConnectionTrait,
    row: inbound_link::ActiveModel,
) -> Result<inbound_link::Model> {
    row.insert(db).await
}

/// Records that a build link's run is at `attempt` now.
pub async fn set_attempt(db: &impl ConnectionTrait, link_id: i32, attempt: i32) -> Result<()> {
    inbound_link::Entity::update_many()
        .col_expr(inbound_link::Column::Attempt, attempt.into())
        .filter(inbound_link::Column::Id.eq(link_id))
        .exec(db)
        .await
        .map(|_| ())
}

/// Whether source `source_id` has applied or ignored a request with delivery key `key`.
pub async fn seen(db: &impl ConnectionTrait, source_id: i32, key: &str) -> Result<bool> {
    Ok(inbound_request::Entity::find()
        .select_only()
        .column(inbound_request::Column::Id)
        .filter(inbound_request::Column::SourceId.eq(source_id))
        .filter(inbound_request::Column::DeliveryKey.eq(key))
        .into_tuple::<i32>()
        .one(db)
        .await?
        .is_some())
}

/// Writes a row of the inbound log; one with the delivery key of an earlier applied or ignored
/// row is a unique violation.
pub async fn insert_request(
    db: &impl ConnectionTrait,
    row: inbound_request::ActiveModel,
) -> Result<()> {
    inbound_request::Entity::insert(row)
        .exec_without_returning(db)
        .await
        .map(|_| ())
}

/// The newest rows of `org_id`'s inbound log (of one source when given), newest first.
pub async fn requests(
    db: &impl ConnectionTrait,
    org_id: i32,
    source_id: Option<i32>,
    limit: u64,
) -> Result<Vec<inbound_request::Model>> {
    let mut q = inbound_request::Entity::find_in_org(org_id);
    if let Some(source_id) = source_id {
        q = q.filter(inbound_request::Column::SourceId.eq(source_id));
    }
    q.order_by_desc(inbound_request::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Sets `Set` on every field a caller fills; a shorthand for the log's rows.
pub fn request_row(
    org_id: i32,
    source_id: i32,
    received_at: i64,
    event: &str,
) -> inbound_request::ActiveModel {
    inbound_request::ActiveModel {
        org_id: Set(org_id),
        source_id: Set(source_id),
        received_at: Set(received_at),
        event: Set(event.to_owned()),
        ..Default::default()
    }
}
