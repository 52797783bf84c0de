//! SQLite: a reader thread of our own for the read every new build makes, its organization's
//! endpoints (`new_build::draw`). Through sqlx's pool that read was four hand-offs between the
//! runtime and one of sqlx's SQLite threads: the statement, its rows, and the ping sqlx sends
//! on every connection given back to the pool, each waking a thread (README, Benchmark). Here
//! it is one message to the thread and one answer back.
//!
//! The thread has its own read-only connection (`rusqlite`, on the same bundled SQLite as
//! sqlx). In WAL mode each read sees every commit made before it started, as a pool
//! connection's would; it takes no lock a writer waits for. Reads queued while one runs run
//! next, one after the other (each is tens of microseconds). Rows are decoded into the model
//! from their cells in place (`endpoint`, in the order `COLUMNS` names), not looked up by name
//! through sea-orm's rows.

use std::path::Path;
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Duration;

use buildhooks_entity::webhook_endpoint;
use rusqlite::types::Value as Cell;
use rusqlite::{Connection, OpenFlags};
use sea_orm::{DbBackend, DbErr, RuntimeErr, Value};
use tokio::sync::oneshot;

use crate::sqlite::own_writer::{rows_of, Prepared, Row, Write};
use crate::Result;

/// The columns `endpoint` decodes, in its order: the statement's must be these.
const COLUMNS: [&str; 26] = [
    "id",
    "org_id",
    "position",
    "url",
    "secret",
    "events",
    "repository_id",
    "query",
    "enabled",
    "deleted",
    "created_at",
    "max_in_flight",
    "kind",
    "template",
    "ordering",
    "digest",
    "options",
    "send_after",
    "payload_format",
    "retry_schedule",
    "disabled_reason",
    "disabled_at",
    "failing_since",
    "failed_deliveries",
    "previous_secret",
    "previous_secret_until",
];

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
        let (work, inbox) = mpsc::channel::<Read>();
        std::thread::Builder::new()
            .name("sqlite-reader".into())
            .spawn(move || {
                let mut prepared = Prepared::new(&conn);
                for Read { statement, told } in inbox {
                    let _ = told.send(rows_of(&mut prepared, &statement));
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
        // One shared text per kind of read: the thread keeps statements by their text's
        // address (`own_writer::Prepared`).
        static TEXTS: [OnceLock<Arc<str>>; 2] = [OnceLock::new(), OnceLock::new()];
        let kept = TEXTS[usize::from(enabled_only)].get_or_init(|| statement.sql.as_str().into());
        let sql = match **kept == *statement.sql {
            true => kept.clone(),
            false => statement.sql.into(),
        };
        let rows = self.read(sql, values).await?;
        let Some(first) = rows.first() else {
            return Ok(Vec::new());
        };
        // Each row is decoded from its cells in place: a statement selecting other columns,
        // or in another order, is an error, not a misread (a test holds it).
        if !first.names.iter().eq(COLUMNS.iter()) {
            return Err(DbErr::Custom(
                "the endpoints' statement selects other columns than the reader decodes".into(),
            ));
        }
        rows.into_iter().map(|row| endpoint(row.cells)).collect()
    }

    /// Runs `sql` with `values` on the thread; its rows.
    async fn read(&self, sql: Arc<str>, values: Vec<Value>) -> Result<Vec<Row>> {
        let (told, answer) = oneshot::channel();
        let statement = Write::new(sql, values, None);
        self.work
            .send(Read { statement, told })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// An endpoint row whose cells are `COLUMNS`, in order, decoded as sqlx decodes them (a field
/// added to the model fails to compile here until it is read).
fn endpoint(cells: Vec<Cell>) -> Result<webhook_endpoint::Model> {
    let mut cells = cells.into_iter();
    let mut next = || cells.next().unwrap_or(Cell::Null);
    Ok(webhook_endpoint::Model {
        id: int(next())?,
        org_id: int(next())?,
        position: int(next())?,
        url: text(next())?,
        secret: maybe(next(), text)?,
        events: text(next())?,
        repository_id: maybe(next(), int)?,
        query: maybe(next(), text)?,
        enabled: int(next())? != 0,
        deleted: int(next())? != 0,
        created_at: big(next())?,
        max_in_flight: int(next())?,
        kind: text(next())?,
        template: maybe(next(), text)?,
        ordering: text(next())?,
        digest: int(next())? != 0,
        options: maybe(next(), text)?,
        send_after: big(next())?,
        payload_format: text(next())?,
        retry_schedule: maybe(next(), text)?,
        disabled_reason: maybe(next(), text)?,
        disabled_at: maybe(next(), big)?,
        failing_since: maybe(next(), big)?,
        failed_deliveries: int(next())?,
        previous_secret: maybe(next(), text)?,
        previous_secret_until: maybe(next(), big)?,
    })
}

fn wrong() -> DbErr {
    DbErr::Custom("an endpoint column holds a value of another type".into())
}

fn big(cell: Cell) -> Result<i64> {
    match cell {
        Cell::Integer(n) => Ok(n),
        _ => Err(wrong()),
    }
}

fn int(cell: Cell) -> Result<i32> {
    i32::try_from(big(cell)?).map_err(|_| wrong())
}

fn text(cell: Cell) -> Result<String> {
    match cell {
        Cell::Text(s) => Ok(s),
        _ => Err(wrong()),
    }
}

/// A nullable column: `None` for NULL, else `decode`'s value.
fn maybe<T>(cell: Cell, decode: fn(Cell) -> Result<T>) -> Result<Option<T>> {
    match cell {
        Cell::Null => Ok(None),
        cell => decode(cell).map(Some),
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
        let repo = crate::orgs::insert_repo(
            db.conn(),
            buildhooks_entity::repository::ActiveModel {
                org_id: Set(org.id),
                name: Set("r".into()),
                is_private: Set(false),
                default_branch: Set("main".into()),
                created_at: Set(1),
                ..Default::default()
            },
        )
        .await
        .expect("repository");
        // Every column set, nullable ones too, each to a value no other column of its type
        // holds (the third leaves the nullable ones NULL).
        for (position, enabled) in [(1, true), (0, true), (2, false)] {
            let some = |s: &str| Set((position != 2).then(|| format!("{s}{position}")));
            let number = |n: i64| Set((position != 2).then_some(n));
            buildhooks_entity::webhook_endpoint::ActiveModel {
                org_id: Set(org.id),
                position: Set(position),
                url: Set(format!("https://example.com/{position}")),
                secret: some("secret"),
                events: Set("[\"*\"]".into()),
                repository_id: Set((position != 2).then_some(repo.id)),
                query: some("query"),
                enabled: Set(enabled),
                deleted: Set(false),
                created_at: Set(2),
                max_in_flight: Set(4),
                kind: Set("webhook".into()),
                template: some("template"),
                ordering: Set("NONE".into()),
                digest: Set(position == 1),
                options: some("options"),
                send_after: Set(5),
                payload_format: Set("documented".into()),
                retry_schedule: some("[6]"),
                disabled_reason: some("reason"),
                disabled_at: number(7),
                failing_since: number(8),
                failed_deliveries: Set(9),
                previous_secret: some("previous"),
                previous_secret_until: number(10),
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
        // The statement names the columns the reader decodes, in its order.
        let statement = crate::built::endpoints(sea_orm::DbBackend::Sqlite, org.id, false);
        let values = statement.values.map(|v| v.0).unwrap_or_default();
        let rows = reader
            .read(statement.sql.into(), values)
            .await
            .expect("rows");
        assert!(rows[0].names.iter().eq(super::COLUMNS.iter()));
    }
}
