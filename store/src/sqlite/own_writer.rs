//! SQLite: the writer thread of our own, which runs each batch of writes (`batch`) and its
//! commit as one call. Through sqlx, each statement of a turn of the write gate (begin,
//! savepoint, the statements, commit) was a hand-off from the runtime to sqlx's SQLite thread
//! and back, about 250 µs each on a busy 2-core host of which SQLite computed 100, and the gate
//! was held while the hand-offs waited for a core: the bound on writes, with CPU left idle
//! (README, Benchmark). Here a batch is one message to the thread and one answer back.
//!
//! The thread has its own connection to the database file (`rusqlite`, on the same bundled
//! SQLite library as sqlx), opened with the pool's settings. It writes only while its caller
//! holds the write gate alone (`gate::hold_alone`), so it never races sqlx's writer. The writes
//! commit together; a write that fails (or returns a wrong number of rows) is undone alone and
//! gets its error: the batch is then run again with each write in a savepoint of its own.
//! Statements are prepared once per write text and kept (`prepared`; each statement of a
//! write on its own, never a batch's join). The thread ends the gate's turn itself, right after
//! the commit (`send`), never with a transaction left open: one a failed batch's ROLLBACK could
//! not end is rolled back again, or the connection is opened anew (`settle`). When the
//! checkpointer asks (`checkpoint::Restart`), the thread checkpoints between two batches, after
//! the first has been told, so that the WAL restarts without a call waiting on its syncs.

use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use rusqlite::types::Value as Cell;
use rusqlite::{Connection, OpenFlags};
use sea_orm::{DbErr, RuntimeErr, Value};

use crate::sqlite::checkpoint::Restart;
use crate::Result;

mod prepared;

pub(crate) use prepared::Prepared;

/// A row a statement returned: its columns' names (shared by the statement's rows) and values,
/// as SQLite gave them.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) names: Arc<[String]>,
    pub(crate) cells: Vec<Cell>,
}

/// Prepared statements kept by rusqlite: the batch's own (begin, savepoints, commit).
const CACHED_STATEMENTS: usize = 8;

/// One write of a batch: its statements (`;`-separated; no `;` inside a literal), their plain
/// or numbered parameters (numbered ones counted from each statement's first), and how many
/// rows they return (`None`: any number).
pub(crate) struct Write {
    pub(crate) sql: Arc<str>,
    pub(crate) values: Vec<Value>,
    pub(crate) returns: Option<usize>,
    /// Told the write's rows as soon as its statements ran, on the writer thread, before the
    /// batch's commit (its place in the batch's outcome is then not told); told the error if the
    /// write or the batch fails first. Only for rows that may be used before they are durable:
    /// the draw of new ids (`ids`).
    pub(crate) early: Option<Early>,
}

impl Write {
    /// A write told its rows with the batch's outcome.
    pub(crate) fn new(sql: Arc<str>, values: Vec<Value>, returns: Option<usize>) -> Self {
        Write {
            sql,
            values,
            returns,
            early: None,
        }
    }
}

/// What a write told before its batch's commit does with its rows (see [`Write::early`]).
pub(crate) type Early = Box<dyn FnOnce(std::result::Result<Vec<Row>, DbErr>) + Send>;

/// What a batch came to: each write's rows (or its error), once the batch's commit is durable,
/// and how long the commit took.
pub(crate) struct Done {
    pub(crate) writes: Vec<std::result::Result<Vec<Row>, DbErr>>,
    pub(crate) commit_took: Duration,
}

/// What to do with a batch's outcome, on the writer thread.
pub(crate) type Then = Box<dyn FnOnce(Result<Done>) + Send>;

/// A batch and what to do with its outcome.
struct Work {
    writes: Vec<Write>,
    then: Then,
}

/// The writer thread; it ends when the last handle is dropped (with the last `Db` clone).
pub(crate) struct OwnWriter {
    work: mpsc::Sender<Work>,
}

/// The connection's settings, as the pool's (`connect::sqlite_options`).
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) synchronous: &'static str,
    pub(crate) wal_autocheckpoint: u32,
    /// Set by the checkpointer when the WAL should restart (`checkpoint`): the thread then
    /// checkpoints between two batches, after the first has been told.
    pub(crate) restart: Arc<Restart>,
}

impl OwnWriter {
    /// Opens the database file at `path` (it exists: migrations ran) and starts the thread.
    pub(crate) fn open(path: &Path, settings: &Settings) -> anyhow::Result<OwnWriter> {
        let conn = connection(path, settings)?;
        let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
        anyhow::ensure!(
            mode.eq_ignore_ascii_case("wal"),
            "the database is not in WAL mode"
        );
        let (path, settings) = (path.to_owned(), settings.clone());
        let (work, inbox) = mpsc::channel::<Work>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                let restart = settings.restart.clone();
                serve(conn, &inbox, &restart, || connection(&path, &settings))
            })?;
        Ok(OwnWriter { work })
    }

    /// Runs `writes` in one transaction on the thread, then `then` with the outcome, there
    /// too: what holds the write gate for the batch ends it in `then` without a hop back to
    /// the runtime. When the thread is gone, `then` is handed back, not run (the writes told
    /// early are told so).
    pub(crate) fn send(&self, writes: Vec<Write>, then: Then) -> std::result::Result<(), Then> {
        self.work
            .send(Work { writes, then })
            .map_err(|mpsc::SendError(work)| {
                let _ = tell_early(work.writes, Err(stopped()));
                work.then
            })
    }
}

/// The thread's connection to the file at `path`, with `settings`.
fn connection(path: &Path, settings: &Settings) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", settings.synchronous)?;
    conn.pragma_update(None, "wal_autocheckpoint", settings.wal_autocheckpoint)?;
    // A batch's savepoints journal the pages they change again: kept in memory, not spilled
    // to a temporary file created and deleted by each batch past 64 KiB.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(CACHED_STATEMENTS);
    Ok(conn)
}

/// The thread's loop: each batch runs on `conn` with the statements kept for it (`Prepared`),
/// and is told its outcome once no transaction is left open. A batch whose transaction stays
/// open ends the statements kept, then the connection is settled (`settle`) before its outcome
/// is told, and the loop goes on with fresh statements.
fn serve(
    mut conn: Connection,
    inbox: &mpsc::Receiver<Work>,
    restart: &Restart,
    reopen: impl Fn() -> rusqlite::Result<Connection>,
) {
    loop {
        let left_open = {
            let mut prepared = Prepared::new(&conn);
            inbox.iter().find_map(|Work { mut writes, then }| {
                let done = run(&mut prepared, &mut writes);
                match ended(&conn) {
                    true => {
                        then(tell_early(writes, done));
                        restart.run_if_asked(|| checkpoint(&conn));
                        None
                    }
                    false => Some((writes, done, then)),
                }
            })
        };
        let Some((writes, done, then)) = left_open else {
            return;
        };
        settle(&mut conn, &reopen);
        then(tell_early(writes, done));
    }
}

/// A PASSIVE checkpoint on the writer's own connection, between two batches: no write of
/// this thread runs meanwhile, so it copies the WAL to its end and the next batch restarts it.
fn checkpoint(conn: &Connection) {
    if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!(%error, "SQLite's writer could not checkpoint between batches");
    }
}

/// Whether `conn` has no transaction open: one a failed batch left open (its ROLLBACK failed
/// too) is rolled back once more.
fn ended(conn: &Connection) -> bool {
    if conn.is_autocommit() {
        return true;
    }
    let _ = conn.execute_batch("ROLLBACK");
    let ended = conn.is_autocommit();
    if ended {
        tracing::warn!("SQLite's writer rolled back a transaction a failed batch left open");
    }
    ended
}

/// Ends a transaction a failed batch left open, before the batch's outcome ends the gate's
/// turn: rolled back once more (`ended`) or, if the connection still holds it, the connection is
/// replaced by a fresh one (`reopen`; closing the old one rolls it back). Otherwise the write
/// lock would stay taken and every later batch's BEGIN would fail.
fn settle(conn: &mut Connection, reopen: impl FnOnce() -> rusqlite::Result<Connection>) {
    if ended(conn) {
        return;
    }
    match reopen() {
        Ok(fresh) => {
            tracing::error!(
                "SQLite's writer could not end a failed batch's transaction; opened again"
            );
            *conn = fresh;
        }
        Err(error) => tracing::error!(%error, "SQLite's writer could not be opened again"),
    }
}

/// The writer thread is gone or was never opened: like a database out of reach (`503`).
pub(crate) fn stopped() -> DbErr {
    DbErr::Conn(RuntimeErr::Internal(
        "SQLite's writer thread stopped".into(),
    ))
}

pub(crate) fn failed(error: rusqlite::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::Internal(format!("SQLite: {error}")))
}

fn exec(conn: &Connection, sql: &str) -> std::result::Result<(), DbErr> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.raw_execute())
        .map(|_| ())
        .map_err(failed)
}

/// The batch in one transaction. The writes run one after the other with no savepoint between
/// them: each savepoint journals again every page its write changes that the batch changed
/// before (about 40 KB a new build), where a failing write is rare. If one fails (or returns a
/// wrong number of rows), the whole transaction is rolled back and the batch runs again with
/// each write in a savepoint of its own, so that write alone is undone and gets its error. Any
/// failure outside a write (the savepoints, the commit) rolls the whole batch back.
fn run(prepared: &mut Prepared<'_>, writes: &mut [Write]) -> Result<Done> {
    let conn = prepared.conn();
    exec(conn, "BEGIN IMMEDIATE")?;
    let mut done = Vec::with_capacity(writes.len());
    for write in writes.iter_mut() {
        match rows_of(prepared, write) {
            Ok(rows) => done.push(Ok(told_early(write, rows))),
            Err(_) => {
                exec(conn, "ROLLBACK")?;
                return run_in_savepoints(prepared, writes);
            }
        }
    }
    commit(conn, done)
}

/// A write's `rows` for the batch's outcome; a write told early (`Write::early`) is told them
/// now and leaves nothing. Run again in savepoints after a later write failed, it is not told
/// twice: the ids it drew are drawn again the same (the draw comes first in its batch).
fn told_early(write: &mut Write, rows: Vec<Row>) -> Vec<Row> {
    match write.early.take() {
        Some(early) => {
            early(Ok(rows));
            Vec::new()
        }
        None => rows,
    }
}

/// Tells the writes to be told early that were not (the write failed in the first pass, or
/// the batch failed) their outcome in `done`, or the batch's error.
fn tell_early(writes: Vec<Write>, done: Result<Done>) -> Result<Done> {
    let early = writes.into_iter().map(|w| w.early);
    match done {
        Ok(mut done) => {
            for (early, outcome) in early.zip(done.writes.iter_mut()) {
                if let Some(early) = early {
                    early(std::mem::replace(outcome, Ok(Vec::new())));
                }
            }
            Ok(done)
        }
        Err(error) => {
            for early in early.flatten() {
                early(Err(crate::queue::copy_of(&error)));
            }
            Err(error)
        }
    }
}

/// The batch in one transaction, each write in a savepoint of its own.
fn run_in_savepoints(prepared: &mut Prepared<'_>, writes: &[Write]) -> Result<Done> {
    let conn = prepared.conn();
    exec(conn, "BEGIN IMMEDIATE")?;
    let done = writes
        .iter()
        .map(|write| in_savepoint(prepared, write))
        .collect::<std::result::Result<Vec<_>, DbErr>>();
    match done {
        Ok(done) => commit(conn, done),
        Err(error) => {
            let _ = exec(conn, "ROLLBACK");
            Err(error)
        }
    }
}

/// Commits the batch whose writes came to `writes`; rolls it back if the commit fails.
fn commit(conn: &Connection, writes: Vec<std::result::Result<Vec<Row>, DbErr>>) -> Result<Done> {
    let started = Instant::now();
    match exec(conn, "COMMIT") {
        Ok(()) => Ok(Done {
            writes,
            commit_took: started.elapsed(),
        }),
        Err(error) => {
            let _ = exec(conn, "ROLLBACK");
            Err(error)
        }
    }
}

/// One write in a savepoint: undone alone if it fails or returns a wrong number of rows (its
/// error is its outcome); `Err` only when the savepoint itself fails.
fn in_savepoint(
    prepared: &mut Prepared<'_>,
    write: &Write,
) -> std::result::Result<std::result::Result<Vec<Row>, DbErr>, DbErr> {
    let conn = prepared.conn();
    exec(conn, "SAVEPOINT buildhooks_own")?;
    let rows = rows_of(prepared, write);
    if rows.is_err() {
        exec(conn, "ROLLBACK TO buildhooks_own")?;
    }
    exec(conn, "RELEASE buildhooks_own")?;
    Ok(rows)
}

/// One write's rows, or its error: a wrong number of rows is one.
pub(crate) fn rows_of(
    prepared: &mut Prepared<'_>,
    write: &Write,
) -> std::result::Result<Vec<Row>, DbErr> {
    prepared.run(write).and_then(|rows| match write.returns {
        Some(n) if n != rows.len() => Err(DbErr::Custom(
            "a write returned a wrong number of rows".into(),
        )),
        _ => Ok(rows),
    })
}

/// The integer in column `i` of `row` (`None` for NULL).
pub(crate) fn int(row: &Row, i: usize) -> Result<Option<i64>> {
    match row.cells.get(i) {
        Some(Cell::Integer(n)) => Ok(Some(*n)),
        Some(Cell::Null) => Ok(None),
        _ => Err(DbErr::Custom(format!("column {i} is not an integer"))),
    }
}

/// The integer in column `i` of `row`, which must not be NULL (an id).
pub(crate) fn id(row: &Row, i: usize) -> Result<i64> {
    int(row, i)?.ok_or_else(|| DbErr::Custom(format!("column {i} is NULL")))
}

/// The text in column `i` of `row`.
pub(crate) fn text(row: &Row, i: usize) -> Result<&str> {
    match row.cells.get(i) {
        Some(Cell::Text(s)) => Ok(s),
        _ => Err(DbErr::Custom(format!("column {i} is not text"))),
    }
}

#[cfg(test)]
mod tests;
