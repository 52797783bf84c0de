//! Inbound sources, their links from vendor ids to our builds and tasks, and the inbound log
//! (whose unique (source, delivery key) makes a redelivery change nothing). The statements every
//! inbound request runs are texts (`text::Text`), like the transitions' own.

use buildhooks_entity::{
    build as build_row, inbound_link, inbound_request, inbound_source, task as task_row,
    webhook_endpoint,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect,
};

use crate::dialect::Dialect;
use crate::text::{aliased, columns, Text};
use crate::Result;

/// A run's build, found through its source's link, locked for this transaction, with the
/// organization's enabled endpoints (as a transition reads them).
pub struct LockedRun {
    pub link_id: i32,
    /// The run's latest attempt seen.
    pub attempt: i32,
    pub build: build_row::Model,
    pub endpoints: Vec<webhook_endpoint::Model>,
}

fn lock_run_text(for_update: &str) -> String {
    let mut columns = aliased::<build_row::Column>("b", "b_");
    columns.extend(aliased::<webhook_endpoint::Column>("e", "e_"));
    format!(
        "SELECT l.id AS l_id, l.attempt AS l_attempt, {} FROM inbound_link l \
         JOIN build b ON b.id = l.build_id AND b.org_id = $2 \
         LEFT JOIN webhook_endpoint e ON e.org_id = b.org_id AND e.enabled AND NOT e.deleted \
         WHERE l.source_id = $1 AND l.kind = 'build' AND l.external_id = $3 \
         ORDER BY e.position{for_update}",
        columns.join(", ")
    )
}
static LOCK_RUN: Text = Text::new(|| lock_run_text(""));
static LOCK_RUN_FOR_UPDATE: Text = Text::new(|| lock_run_text(" FOR UPDATE OF b"));

/// The build source `source_id` of `org_id` links to the vendor's run `external_id`, locked
/// (PostgreSQL; SQLite writers are serialised already), with the organization's endpoints.
pub async fn lock_run(
    db: &impl ConnectionTrait,
    org_id: i32,
    source_id: i32,
    external_id: &str,
) -> Result<Option<LockedRun>> {
    let text = match Dialect::of(db) {
        Dialect::Postgres => &LOCK_RUN_FOR_UPDATE,
        Dialect::Sqlite => &LOCK_RUN,
    };
    let values = [source_id.into(), org_id.into(), external_id.into()];
    let rows = db.query_all(text.on(db, values)).await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let mut endpoints = Vec::new();
    for row in &rows {
        if row.try_get::<Option<i32>>("e_", "id")?.is_some() {
            endpoints.push(webhook_endpoint::Model::from_query_result(row, "e_")?);
        }
    }
    Ok(Some(LockedRun {
        link_id: first.try_get("", "l_id")?,
        attempt: first.try_get("", "l_attempt")?,
        build: build_row::Model::from_query_result(first, "b_")?,
        endpoints,
    }))
}

/// The task source `source_id` of `org_id` links to the vendor's job `external_id`.
pub async fn linked_task(
    db: &impl ConnectionTrait,
    org_id: i32,
    source_id: i32,
    external_id: &str,
) -> Result<Option<task_row::Model>> {
    static TASK: Text = Text::new(|| {
        format!(
            "SELECT {} FROM inbound_link l JOIN task t ON t.id = l.task_id AND t.org_id = $2 \
             WHERE l.source_id = $1 AND l.kind = 'task' AND l.external_id = $3",
            aliased::<task_row::Column>("t", "").join(", ")
        )
    });
    let values = [source_id.into(), org_id.into(), external_id.into()];
    match db.query_one(TASK.on(db, values)).await? {
        Some(row) => Ok(Some(task_row::Model::from_query_result(&row, "")?)),
        None => Ok(None),
    }
}

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
    static SOURCE: Text = Text::new(|| {
        format!(
            "SELECT {} FROM inbound_source WHERE uid = $1 AND NOT deleted",
            columns::<inbound_source::Column>()
        )
    });
    match db.query_one(SOURCE.on(db, [uid.into()])).await? {
        Some(row) => Ok(Some(inbound_source::Model::from_query_result(&row, "")?)),
        None => Ok(None),
    }
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
    static SEEN: Text = Text::new(|| {
        "SELECT id FROM inbound_request WHERE source_id = $1 AND delivery_key = $2".into()
    });
    Ok(db
        .query_one(SEEN.on(db, [source_id.into(), key.into()]))
        .await?
        .is_some())
}

/// A row of the inbound log to write.
#[derive(Debug, Clone, Default)]
pub struct NewRequest<'a> {
    pub org_id: i32,
    pub source_id: i32,
    pub received_at: i64,
    pub event: &'a str,
    /// The vendor's delivery id, shown.
    pub delivery_id: Option<&'a str>,
    /// The same id as the deduplication key (applied and ignored rows only).
    pub delivery_key: Option<&'a str>,
    pub result: &'a str,
    pub reason: Option<&'a str>,
    pub http_status: i32,
    pub build_id: Option<i32>,
    pub task_id: Option<i32>,
}

/// Writes a row of the inbound log; one with the delivery key of an earlier applied or ignored
/// row is a unique violation.
pub async fn insert_request(db: &impl ConnectionTrait, row: NewRequest<'_>) -> Result<()> {
    static INSERT: Text = Text::new(|| {
        "INSERT INTO inbound_request (org_id, source_id, received_at, event, delivery_id, \
         delivery_key, result, reason, http_status, build_id, task_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            .into()
    });
    let values = [
        row.org_id.into(),
        row.source_id.into(),
        row.received_at.into(),
        row.event.into(),
        row.delivery_id.map(str::to_owned).into(),
        row.delivery_key.map(str::to_owned).into(),
        row.result.into(),
        row.reason.map(str::to_owned).into(),
        row.http_status.into(),
        row.build_id.into(),
        row.task_id.into(),
    ];
    db.execute(INSERT.on(db, values)).await.map(|_| ())
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
