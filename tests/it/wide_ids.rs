//! 64-bit ids of events, deliveries and attempts (migration `m20261204_000010_wide_ids`): a
//! database filled at migration 000009 keeps every row through the migration, and afterwards a
//! transition, its delivery and attempts (and a redelivery) work with ids past 2^31, through
//! the API (cursors) and in the rows. On PostgreSQL the columns and sequences become `bigint`;
//! on SQLite ids were 64-bit already, and the same checks hold.

use std::time::Duration;

use buildhooks_entity::{event, webhook_attempt, webhook_delivery};
use buildhooks_migration::{Migrator, MigratorTrait};
use buildhooks_server::Role;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, FromQueryResult,
    QueryFilter, Statement,
};
use serde_json::json;

use crate::utils::database::{drop_postgres_database, TestDatabase};
use crate::utils::{save_endpoints, settled_deliveries, Receiver, TestApp};

/// Past `integer`'s range (2^31 - 1 = 2,147,483,647).
const BIG: i64 = 3_000_000_000;
const EVENTS: usize = 40;

#[derive(Debug, PartialEq, Eq, FromQueryResult)]
struct EventRow {
    id: i64,
    org_id: i32,
    repository_id: i32,
    build_id: i32,
    task_id: Option<i32>,
    kind: String,
    action: String,
    old_status: Option<String>,
    new_status: String,
    created_at: i64,
}

#[derive(Debug, PartialEq, Eq, FromQueryResult)]
struct DeliveryRow {
    id: i64,
    uuid: String,
    org_id: i32,
    event_id: Option<i64>,
    endpoint_id: i32,
    url: String,
    kind: String,
    action: String,
    body: String,
    state: String,
    attempt_count: i32,
    last_status: Option<i32>,
    created_at: i64,
}

#[derive(Debug, PartialEq, Eq, FromQueryResult)]
struct AttemptRow {
    id: i64,
    delivery_id: i64,
    number: i32,
    started_at: i64,
    duration_ms: i64,
    status: Option<i32>,
    error: Option<String>,
}

/// Every row of the three tables, ids read as 64-bit whatever the columns' type.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    events: Vec<EventRow>,
    deliveries: Vec<DeliveryRow>,
    attempts: Vec<AttemptRow>,
}

async fn rows<T: FromQueryResult>(db: &DatabaseConnection, sql: &str) -> Vec<T> {
    let stmt = Statement::from_string(db.get_database_backend(), sql);
    T::find_by_statement(stmt)
        .all(db)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn snapshot(db: &DatabaseConnection) -> Snapshot {
    Snapshot {
        events: rows(
            db,
            "SELECT CAST(id AS BIGINT) AS id, org_id, repository_id, build_id, task_id, kind, \
             action, old_status, new_status, created_at FROM event ORDER BY id",
        )
        .await,
        deliveries: rows(
            db,
            "SELECT CAST(id AS BIGINT) AS id, uuid, org_id, CAST(event_id AS BIGINT) AS event_id, \
             endpoint_id, url, kind, action, body, state, attempt_count, last_status, created_at \
             FROM webhook_delivery ORDER BY id",
        )
        .await,
        attempts: rows(
            db,
            "SELECT CAST(id AS BIGINT) AS id, CAST(delivery_id AS BIGINT) AS delivery_id, number, \
             started_at, duration_ms, status, error FROM webhook_attempt ORDER BY id",
        )
        .await,
    }
}

/// The one value of the first row of `sql`.
async fn scalar<T: sea_orm::TryGetable>(db: &DatabaseConnection, sql: &str) -> T {
    db.query_one(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .expect("a row")
        .try_get_by_index(0)
        .expect("value")
}

async fn exec(db: &DatabaseConnection, sql: &str) {
    db.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Finished history written as at migration 000009, with plain inserts (the entities are
/// already 64-bit): an organization, `EVENTS` events, two deliveries each (one delivered at
/// once, one failed after two attempts).
async fn fill(db: &DatabaseConnection) {
    let org: i32 = scalar(
        db,
        "INSERT INTO organization (platform, name, created_at) VALUES ('github', 'before', 1) \
         RETURNING id",
    )
    .await;
    for e in 0..EVENTS {
        let event: i64 = scalar(
            db,
            &format!(
                "INSERT INTO event (org_id, repository_id, build_id, task_id, kind, action, \
                 old_status, new_status, created_at) VALUES ({org}, 7, {build}, {task}, 'task', \
                 'updated', 'EXECUTING', 'FAILED', {at}) RETURNING CAST(id AS BIGINT)",
                build = 100 + e,
                task = if e % 3 == 0 {
                    "NULL".into()
                } else {
                    e.to_string()
                },
                at = 1_700_000_000_000_i64 + e as i64,
            ),
        )
        .await;
        for (n, (state, statuses)) in [("DELIVERED", &[200][..]), ("FAILED", &[503, 500][..])]
            .into_iter()
            .enumerate()
        {
            let delivery: i64 = scalar(
                db,
                &format!(
                    "INSERT INTO webhook_delivery (uuid, org_id, event_id, endpoint_id, \
                     repository_id, url, kind, action, body, state, attempt_count, \
                     round_attempts, next_attempt_at, last_status, last_duration_ms, \
                     last_response, created_at, updated_at) VALUES ('{uuid}', {org}, {event}, \
                     {endpoint}, 7, 'https://example.com/hook/{n}', 'task', 'updated', \
                     '{{\"n\":{e}}}', '{state}', {count}, {count}, 0, {last}, 12, 'ok', {at}, \
                     {at}) RETURNING CAST(id AS BIGINT)",
                    uuid = uuid::Uuid::new_v4(),
                    endpoint = 50 + n,
                    count = statuses.len(),
                    last = statuses[statuses.len() - 1],
                    at = 1_700_000_000_000_i64 + e as i64,
                ),
            )
            .await;
            for (number, status) in statuses.iter().enumerate() {
                exec(
                    db,
                    &format!(
                        "INSERT INTO webhook_attempt (delivery_id, number, started_at, \
                         duration_ms, status, error, response_excerpt) VALUES ({delivery}, \
                         {number}, {at}, 12, {status}, NULL, 'excerpt')",
                        number = number + 1,
                        at = 1_700_000_000_000_i64 + e as i64,
                    ),
                )
                .await;
            }
        }
    }
}

/// PostgreSQL: the type of `table.column` and of the sequence feeding `table.id`.
async fn pg_types(db: &DatabaseConnection, table: &str, column: &str) -> (String, String) {
    let column_type: String = scalar(
        db,
        &format!(
            "SELECT data_type::text FROM information_schema.columns WHERE table_name = '{table}' \
             AND column_name = '{column}'"
        ),
    )
    .await;
    let sequence_type: String = scalar(
        db,
        &format!(
            "SELECT seqtypid::regtype::text FROM pg_sequence \
             WHERE seqrelid = pg_get_serial_sequence('{table}', 'id')::regclass"
        ),
    )
    .await;
    (column_type, sequence_type)
}

/// Moves each table's id sequence past `BIG`, as years of traffic would.
async fn ids_past_2_pow_31(db: &DatabaseConnection) {
    for table in ["event", "webhook_delivery", "webhook_attempt"] {
        match db.get_database_backend() {
            DbBackend::Postgres => {
                exec(
                    db,
                    &format!("SELECT setval(pg_get_serial_sequence('{table}', 'id'), {BIG})"),
                )
                .await
            }
            _ => {
                let done = db
                    .execute_unprepared(&format!(
                        "UPDATE sqlite_sequence SET seq = {BIG} WHERE name = '{table}'"
                    ))
                    .await
                    .expect("sqlite_sequence");
                assert_eq!(
                    done.rows_affected(),
                    1,
                    "{table} has an AUTOINCREMENT sequence"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_outgrow_32_bits_after_migrating_a_filled_database() {
    let db = TestDatabase::new().await;
    let url = db.url.clone();
    let conn = sea_orm::Database::connect(url.as_str())
        .await
        .expect("connect");
    Migrator::up(&conn, Some(9))
        .await
        .expect("migrate to 000009");
    fill(&conn).await;
    let before = snapshot(&conn).await;
    assert_eq!(before.events.len(), EVENTS);
    assert_eq!(before.deliveries.len(), 2 * EVENTS);
    assert_eq!(before.attempts.len(), 3 * EVENTS);
    if db.is_postgres() {
        assert_eq!(
            pg_types(&conn, "webhook_delivery", "id").await,
            ("integer".into(), "integer".into())
        );
    }

    Migrator::up(&conn, None).await.expect("migrate the rest");
    assert_eq!(snapshot(&conn).await, before, "every row intact");
    if db.is_postgres() {
        for (table, column) in [
            ("event", "id"),
            ("webhook_delivery", "id"),
            ("webhook_delivery", "event_id"),
            ("webhook_attempt", "id"),
            ("webhook_attempt", "delivery_id"),
        ] {
            assert_eq!(
                pg_types(&conn, table, column).await,
                ("bigint".into(), "bigint".into()),
                "{table}.{column}"
            );
        }
    }
    ids_past_2_pow_31(&conn).await;
    let _ = conn.close().await;

    // The real server over the migrated database: a transition, its delivery and attempts.
    let mut config = crate::utils::database::config(&url);
    config.allow_private_targets = true;
    config.retry_delay_ms = 50;
    // The history written before the migration is years old: the pruner would take it.
    config.retention_days = buildhooks_server::retention::Span(None);
    let app = TestApp::start(db, config, Role::All).await;
    let receiver = Receiver::start(vec![]).await;
    let saved = save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": receiver.url(), "events": ["build.created"] }]),
    )
    .await;
    assert!(saved.get("errors").is_none(), "{saved}");
    let repo = app.create_repository("wide").await;
    app.create_build(&repo, &[("a", false)], false).await;
    let delivered = settled_deliveries(&app, 1).await;
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0]["state"], "DELIVERED");
    let uuid = delivered[0]["id"].as_str().expect("delivery id").to_owned();

    // The connection's cursor is the row id: past 2^31, and it pages.
    let page = app
        .ok(
            "{ ownerInfo { webhookDeliveries(last: 5) { edges { cursor node { id } } } } }",
            json!({}),
        )
        .await;
    let edge = &page["ownerInfo"]["webhookDeliveries"]["edges"][0];
    let cursor: i64 = edge["cursor"]
        .as_str()
        .expect("cursor")
        .parse()
        .expect("numeric");
    assert!(cursor > BIG, "delivery row id {cursor}");
    let after = app
        .ok(
            "query($a: String) { ownerInfo { webhookDeliveries(first: 1, after: $a) { edges { node { id } } } } }",
            json!({ "a": (cursor - 1).to_string() }),
        )
        .await;
    assert_eq!(
        after["ownerInfo"]["webhookDeliveries"]["edges"][0]["node"]["id"],
        uuid.as_str()
    );

    // A redelivery: the same row, a second attempt.
    let redelivered = app
        .gql(
            "mutation($i: WebhookRedeliverInput!) { webhookRedeliver(input: $i) { delivery { id } } }",
            json!({ "i": { "deliveryId": uuid } }),
        )
        .await;
    assert!(redelivered.get("errors").is_none(), "{redelivered}");
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 2, "first delivery and redelivery");
    for r in &got {
        assert_eq!(
            r.header("x-cirrus-delivery").as_deref(),
            Some(uuid.as_str())
        );
    }

    // The rows: every id past 2^31, each key naming its row.
    let db = app.state.store.conn();
    let org_id: i32 = app.org.uid.parse().expect("uid");
    let events = event::Entity::find()
        .filter(event::Column::OrgId.eq(org_id))
        .all(db)
        .await
        .expect("events");
    assert!(
        !events.is_empty() && events.iter().all(|e| e.id > BIG),
        "{events:?}"
    );
    let delivery = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::Uuid.eq(uuid.as_str()))
        .one(db)
        .await
        .expect("read")
        .expect("the delivery");
    assert_eq!(delivery.id, cursor);
    let event_id = delivery.event_id.expect("names its event");
    assert!(events.iter().any(|e| e.id == event_id) && event_id > BIG);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let attempts = loop {
        let attempts = webhook_attempt::Entity::find()
            .filter(webhook_attempt::Column::DeliveryId.eq(delivery.id))
            .all(db)
            .await
            .expect("attempts");
        if attempts.len() >= 2 || std::time::Instant::now() > deadline {
            break attempts;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(attempts.iter().all(|a| a.id > BIG && a.status == Some(200)));
    println!(
        "wide ids: event {event_id}, delivery {}, attempts {:?}",
        delivery.id,
        attempts.iter().map(|a| a.id).collect::<Vec<_>>()
    );

    // The history from before the migration is still there, unchanged.
    let conn = sea_orm::Database::connect(url.as_str())
        .await
        .expect("connect");
    let after = snapshot(&conn).await;
    let old = |s: &Snapshot| {
        (
            s.events.iter().filter(|e| e.id <= BIG).count(),
            s.deliveries.iter().filter(|d| d.id <= BIG).count(),
            s.attempts.iter().filter(|a| a.id <= BIG).count(),
        )
    };
    assert_eq!(old(&after), (EVENTS, 2 * EVENTS, 3 * EVENTS));
    assert!(before
        .deliveries
        .iter()
        .all(|d| after.deliveries.contains(d)));
    let _ = conn.close().await;
    app.stop().await;
    drop_postgres_database(&url).await;
}
