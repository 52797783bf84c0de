//! Erasing payloads on demand (`eraseDeliveryPayloads`): a page of an organization's deliveries
//! at a time, the finished ones created before a time (optionally of one repository) get an
//! empty body, no last response, no response excerpts or headers, and `erased_at`. Deliveries still
//! waiting or in flight are left alone, and counted. The caller owns the transaction (the first
//! page's carries the mutation's audit event), so a page is one short transaction.

use sea_orm::{ConnectionTrait, Value};

use crate::dialect::Dialect;
use crate::text::Text;
use crate::{postgres, sqlite, Result};

/// What erasing one page did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Erased {
    /// The id the next page starts after; `None` at the end of the organization's deliveries.
    pub next: Option<i64>,
    /// Deliveries erased (each at most once: an erased delivery is not erased again).
    pub deliveries: u64,
}

/// Which deliveries to erase.
#[derive(Clone, Copy, Debug)]
pub struct Scope {
    pub org_id: i32,
    /// Created before this time (ms since the epoch).
    pub before: i64,
    /// Of this repository only.
    pub repository_id: Option<i32>,
}

/// Erases the finished deliveries of `scope` among the organization's next `limit` deliveries
/// after id `after`, in `txn`, stamping them erased at `now`.
pub async fn erase_page(
    txn: &impl ConnectionTrait,
    scope: Scope,
    after: i64,
    limit: u64,
    now: i64,
) -> Result<Erased> {
    let org: Value = scope.org_id.into();
    let repo: Value = scope.repository_id.into();
    match Dialect::of(txn) {
        Dialect::Postgres => {
            let values = [
                org,
                after.into(),
                (limit as i64).into(),
                scope.before.into(),
                repo,
                now.into(),
            ];
            let row = txn
                .query_one(postgres::retention::ERASE.on(txn, values))
                .await?;
            let Some(row) = row else {
                return Ok(Erased::default());
            };
            Ok(Erased {
                next: row.try_get::<Option<i64>>("", "hi")?,
                deliveries: row.try_get::<Option<i64>>("", "erased")?.unwrap_or(0) as u64,
            })
        }
        Dialect::Sqlite => {
            let page = txn
                .query_one(
                    sqlite::retention::ERASE_PAGE
                        .on(txn, [org.clone(), after.into(), (limit as i64).into()]),
                )
                .await?;
            let hi = match page {
                Some(row) => row.try_get::<Option<i64>>("", "hi")?,
                None => None,
            };
            let Some(hi) = hi else {
                return Ok(Erased::default());
            };
            let values = vec![org, after.into(), hi.into(), scope.before.into(), repo];
            txn.execute(sqlite::retention::ERASE_EXCERPTS.on(txn, values.clone()))
                .await?;
            let mut values = values;
            values.push(now.into());
            let erased = txn
                .execute(sqlite::retention::ERASE.on(txn, values))
                .await?
                .rows_affected();
            Ok(Erased {
                next: Some(hi),
                deliveries: erased,
            })
        }
    }
}

/// Deliveries of `scope` still PENDING or IN_FLIGHT (left alone by erasure), through the
/// outbox's partial indexes.
static WAITING: Text = Text::new(|| {
    let part = |state: &str| {
        format!(
            "(SELECT COUNT(*) FROM webhook_delivery WHERE state = '{state}' AND org_id = $1 \
             AND created_at < $2 AND ($3 IS NULL OR repository_id = $3))"
        )
    };
    format!(
        "SELECT CAST({} + {} AS BIGINT) AS n",
        part("PENDING"),
        part("IN_FLIGHT")
    )
});

/// How many deliveries of `scope` are still waiting or in flight.
pub async fn waiting(db: &impl ConnectionTrait, scope: Scope) -> Result<u64> {
    let values: [Value; 3] = [
        scope.org_id.into(),
        scope.before.into(),
        scope.repository_id.into(),
    ];
    let row = db.query_one(WAITING.on(db, values)).await?;
    Ok(match row {
        Some(row) => row.try_get::<Option<i64>>("", "n")?.unwrap_or(0) as u64,
        None => 0,
    })
}
