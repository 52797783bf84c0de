//! SQLite: a reader thread of our own for the read every new build makes, its organization's
//! endpoints (`new_build::draw`). Through sqlx's pool that read was four hand-offs between the
//! runtime and one of sqlx's SQLite threads: the statement, its rows, and the ping sqlx sends
//! on every connection given back to the pool, each waking a thread (README, Benchmark). Here
//! it is one message to the thread and one answer back.
//!
//! The thread has its own read-only connection (`rusqlite`, on the same bundled SQLite as
//! sqlx). In WAL mode each read sees every commit made before it started, as a pool
//! connection's would; it takes no lock a writer waits for. Reads queued while one runs run
//! next, one after the other (each is tens of microseconds).

use std::path::Path;
use std::sync::{mpsc, Arc, LazyLock};
use std::time::Duration;

use buildhooks_entity::webhook_endpoint;
use rusqlite::{Connection, OpenFlags};
use sea_orm::{DbBackend, DbErr, FromQueryResult, IdenStatic, Iterable, RuntimeErr, Value};
use tokio::sync::oneshot;

use crate::sqlite::own_writer::{rows_of, Row, Write};
use crate::sqlite::typed;
use crate::Result;

/// Prepared statements kept: the endpoints' two texts.
const CACHED_STATEMENTS: usize = 8;

/// An endpoint's columns, in order, and as typed rows name them.
static UNPREFIXED: LazyLock<Vec<String>> = LazyLock::new(|| {
    webhook_endpoint::Column::iter()
        .map(|c| c.as_str().to_owned())
        .collect()
});
static PREFIXED: LazyLock<Arc<[String]>> =
    LazyLock::new(|| UNPREFIXED.iter().map(|n| format!("e_{n}")).collect());

/// The reader thread; it ends when the last handle is dropped (with the last `Db` clone).
pub(crate) struct OwnReader {
    work: mpsc::Sender<Read>,
}

/// A read and where its rows go.
struct Read {
    statement: Write,
    told: oneshot::Sender<Result<Vec<Row>>>,
}

impl OwnReader {
    /// Opens the database file at `path` read-only and starts the thread.
    pub(crate) fn open(path: &Path) -> anyhow::Result<OwnReader> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.set_prepared_statement_cache_capacity(CACHED_STATEMENTS);
        let (work, inbox) = mpsc::channel::<Read>();
        std::thread::Builder::new()
            .name("sqlite-reader".into())
            .spawn(move || {
                for Read { statement, told } in inbox {
                    let _ = told.send(rows_of(&conn, &statement));
                }
            })?;
        Ok(OwnReader { work })
    }

    /// The endpoints of `org_id` as `endpoints::of_org` reads them (the same statement).
    pub(crate) async fn endpoints(
        &self,
        org_id: i32,
        enabled_only: bool,
    ) -> Result<Vec<webhook_endpoint::Model>> {
        let statement = crate::built::endpoints(DbBackend::Sqlite, org_id, enabled_only);
        let values = statement.values.map(|v| v.0).unwrap_or_default();
        let rows = self.read(statement.sql.into(), values).await?;
        let Some(first) = rows.first() else {
            return Ok(Vec::new());
        };
        // Rows are typed by their columns' names, an endpoint's `e_`-prefixed (as the writer
        // thread's record cycle returns them); the statement selects every column in order.
        let names = match first.names.iter().eq(UNPREFIXED.iter()) {
            true => PREFIXED.clone(),
            false => first.names.iter().map(|n| format!("e_{n}")).collect(),
        };
        rows.into_iter()
            .map(|row| {
                let row = Row {
                    names: names.clone(),
                    cells: row.cells,
                };
                webhook_endpoint::Model::from_query_result(&typed::query_result(row)?, "e_")
            })
            .collect()
    }

    /// Runs `sql` with `values` on the thread; its rows.
    async fn read(&self, sql: Arc<str>, values: Vec<Value>) -> Result<Vec<Row>> {
        let (told, answer) = oneshot::channel();
        let statement = Write {
            sql,
            values,
            returns: None,
        };
        self.work
            .send(Read { statement, told })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The reader thread is gone: like a database out of reach (`503`).
fn stopped() -> DbErr {
    DbErr::Conn(RuntimeErr::Internal(
        "SQLite's reader thread stopped".into(),
    ))
}

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveModelTrait, Set};

    use crate::connect::{connect, file_url, ConnectOptions};

    /// The thread reads an organization's endpoints as the pool does, every column decoded
    /// alike, and sees a save committed before the read.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_endpoints_as_the_pool_does() {
        let dir = tempfile::tempdir().expect("dir");
        let db = connect(
            &file_url(&dir.path().join("r.db")),
            &ConnectOptions::default(),
        )
        .await
        .expect("db");
        let reader = db.own_reader().expect("sqlite");
        let org = crate::orgs::insert_org(db.conn(), "o", "github", 1)
            .await
            .expect("org");
        assert!(reader
            .endpoints(org.id, true)
            .await
            .expect("none")
            .is_empty());
        for (position, enabled) in [(1, true), (0, true), (2, false)] {
            buildhooks_entity::webhook_endpoint::ActiveModel {
                org_id: Set(org.id),
                position: Set(position),
                url: Set(format!("https://example.com/{position}")),
                secret: Set(Some("s".into())),
                events: Set("[\"*\"]".into()),
                enabled: Set(enabled),
                deleted: Set(false),
                created_at: Set(2),
                max_in_flight: Set(4),
                kind: Set("webhook".into()),
                ordering: Set("NONE".into()),
                digest: Set(false),
                send_after: Set(0),
                payload_format: Set("documented".into()),
                failed_deliveries: Set(0),
                previous_secret_until: Set(Some(9)),
                ..Default::default()
            }
            .insert(db.conn())
            .await
            .expect("endpoint");
        }
        for enabled_only in [true, false] {
            let pool = crate::endpoints::of_org(db.conn(), org.id, enabled_only)
                .await
                .expect("pool");
            let own = reader.endpoints(org.id, enabled_only).await.expect("own");
            assert_eq!(own, pool);
            assert_eq!(own.len(), if enabled_only { 2 } else { 3 });
            assert_eq!(own[0].position, 0, "in position order");
        }
        // The statement names every column in order: its rows take the names made once.
        let statement = crate::built::endpoints(sea_orm::DbBackend::Sqlite, org.id, false);
        let values = statement.values.map(|v| v.0).unwrap_or_default();
        let rows = reader
            .read(statement.sql.into(), values)
            .await
            .expect("rows");
        assert!(rows[0].names.iter().eq(super::UNPREFIXED.iter()));
    }
}
