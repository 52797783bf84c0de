//! The application's database: the pool, SQLite's one writer connection, its write gate and its
//! checkpointer, chosen once when the pool is opened. Every write transaction starts here.

use std::sync::Arc;

use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::dialect::Dialect;
use crate::handle::DbHandle;
use crate::sqlite::batch::Batches;
use crate::sqlite::checkpoint::{Checkpointer, CheckpointsNow};
use crate::sqlite::gate::{self, WriteGate};
use crate::sqlite::gate_times::GateTimesNow;
use crate::sqlite::own_reader::OwnReader;
use crate::sqlite::own_writer::OwnWriter;
use crate::Result;

pub use crate::sqlite::gate::{AfterCommit, WriteTxn};

/// The pool and, on SQLite, the writer connection and the write gate.
#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    /// SQLite: the one connection write transactions run on (else the pool).
    writer: Option<DatabaseConnection>,
    /// SQLite's single-writer gate with group commit (PostgreSQL: none).
    write_gate: Option<Arc<WriteGate>>,
    /// SQLite: writes that are statements alone, sent together.
    batches: Option<Arc<Batches>>,
    /// SQLite: concurrent calls' new ids, drawn together.
    id_draws: Option<Arc<crate::sqlite::ids::IdDraws>>,
    /// PostgreSQL: concurrent calls' new builds, written together.
    new_builds: Option<Arc<crate::postgres::batch::Batches>>,
    /// PostgreSQL: concurrent calls' ids and endpoints for new builds, drawn together.
    draws: Option<Arc<crate::postgres::draws::Draws>>,
    /// SQLite: the WAL's checkpoints off the writer, stopped with the last clone.
    checkpointer: Option<Arc<Checkpointer>>,
    /// SQLite: the writer thread that runs batches of writes, stopped with the last clone.
    own_writer: Option<Arc<OwnWriter>>,
    /// SQLite: the reader thread for new builds' endpoints, stopped with the last clone.
    own_reader: Option<Arc<OwnReader>>,
    dialect: Dialect,
}

impl Db {
    /// Wraps a connected pool.
    pub fn new(conn: DatabaseConnection) -> Self {
        let dialect = Dialect::of(&conn);
        let write_gate = (dialect == Dialect::Sqlite).then(|| Arc::new(WriteGate::default()));
        Db {
            conn,
            writer: None,
            write_gate,
            batches: (dialect == Dialect::Sqlite).then(Arc::default),
            id_draws: (dialect == Dialect::Sqlite).then(Arc::default),
            new_builds: (dialect == Dialect::Postgres).then(Arc::default),
            draws: (dialect == Dialect::Postgres).then(Arc::default),
            checkpointer: None,
            own_writer: None,
            own_reader: None,
            dialect,
        }
    }

    /// The same database (write gate, writer) over another pool.
    pub fn with_pool(&self, conn: DatabaseConnection) -> Db {
        Db {
            conn,
            ..self.clone()
        }
    }

    /// The same database with write transactions on `writer` (SQLite: a one-connection pool).
    pub(crate) fn with_writer(mut self, writer: DatabaseConnection) -> Db {
        self.writer = Some(writer);
        self
    }

    /// The same database with its WAL checkpointed by `checkpointer` (SQLite).
    pub(crate) fn with_checkpointer(mut self, checkpointer: Checkpointer) -> Db {
        self.checkpointer = Some(Arc::new(checkpointer));
        self
    }

    /// The same database with its batches of writes run by `writer` (SQLite).
    pub(crate) fn with_own_writer(mut self, writer: OwnWriter) -> Db {
        self.own_writer = Some(Arc::new(writer));
        self
    }

    /// The same database with new builds' endpoints read by `reader` (SQLite).
    pub(crate) fn with_own_reader(mut self, reader: OwnReader) -> Db {
        self.own_reader = Some(Arc::new(reader));
        self
    }

    /// The pool.
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// The pool as a handle for resolvers and renders.
    pub fn handle(&self) -> DbHandle {
        DbHandle::Conn(self.conn.clone())
    }

    pub(crate) fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// SQLite: the queue of writes sent together.
    pub(crate) fn batches(&self) -> Result<&Arc<Batches>> {
        self.batches
            .as_ref()
            .ok_or_else(|| sea_orm::DbErr::Custom("writes are batched only on SQLite".into()))
    }

    /// SQLite: the writer thread that runs batches of writes (opened by `connect`).
    pub(crate) fn own_writer(&self) -> Option<&OwnWriter> {
        self.own_writer.as_deref()
    }

    /// SQLite: the reader thread for new builds' endpoints (opened by `connect`).
    pub(crate) fn own_reader(&self) -> Option<&OwnReader> {
        self.own_reader.as_deref()
    }

    /// SQLite: the write gate.
    pub(crate) fn write_gate(&self) -> Option<&Arc<WriteGate>> {
        self.write_gate.as_ref()
    }

    /// SQLite: the queue of new ids drawn together.
    pub(crate) fn id_draws(&self) -> Result<&Arc<crate::sqlite::ids::IdDraws>> {
        self.id_draws
            .as_ref()
            .ok_or_else(|| sea_orm::DbErr::Custom("ids are drawn this way only on SQLite".into()))
    }

    /// PostgreSQL: the queue of new builds written together.
    pub(crate) fn new_builds(&self) -> Result<&Arc<crate::postgres::batch::Batches>> {
        self.new_builds.as_ref().ok_or_else(|| {
            sea_orm::DbErr::Custom("new builds are batched only on PostgreSQL".into())
        })
    }

    /// PostgreSQL: the queue of new builds' draws.
    pub(crate) fn draws(&self) -> Result<&Arc<crate::postgres::draws::Draws>> {
        self.draws
            .as_ref()
            .ok_or_else(|| sea_orm::DbErr::Custom("draws are batched only on PostgreSQL".into()))
    }

    fn write_conn(&self) -> &DatabaseConnection {
        self.writer.as_ref().unwrap_or(&self.conn)
    }

    /// Starts a write transaction, first waiting for the write gate on SQLite (where it may run
    /// in a group that commits once for several writers).
    pub async fn begin_write(&self) -> Result<WriteTxn<'_>> {
        self.begin(false).await
    }

    /// Starts a write transaction ahead of the queue of ordinary writers (the dispatcher's
    /// pacing and digest leases): on SQLite it waits for at most the one writer holding the
    /// gate. (The dispatcher's claims and records go in SQLite's batches, `sqlite::batch`, each
    /// batch taking every write queued by its turn.)
    pub async fn begin_write_priority(&self) -> Result<WriteTxn<'_>> {
        self.begin(true).await
    }

    /// Starts a write transaction behind every other writer (retention's batches): on SQLite it
    /// waits until no other writer holds or wants the gate (at most about a second; then it
    /// queues as an ordinary writer) and commits on its own, so it delays neither the
    /// dispatcher nor the API by more than its own short transaction.
    pub async fn begin_write_background(&self) -> Result<WriteTxn<'_>> {
        match &self.write_gate {
            Some(gate) => gate::begin_background(gate, self.write_conn()).await,
            None => gate::begin_plain(&self.conn).await,
        }
    }

    async fn begin(&self, priority: bool) -> Result<WriteTxn<'_>> {
        match &self.write_gate {
            Some(gate) => gate::begin(gate, self.write_conn(), priority).await,
            None => gate::begin_plain(&self.conn).await,
        }
    }

    /// SQLite: what the write gate has spent its time on since the database was opened.
    pub fn write_gate_times(&self) -> Option<GateTimesNow> {
        self.write_gate.as_ref().map(|gate| gate.times.now())
    }

    /// PostgreSQL: how many statements wrote how many new builds (calls written together).
    pub fn new_builds_written(&self) -> Option<crate::postgres::batch::NewBuildsNow> {
        self.new_builds.as_ref().map(|b| b.now())
    }

    /// SQLite: what the WAL's checkpointer has done since the database was opened.
    pub fn checkpoints(&self) -> Option<CheckpointsNow> {
        self.checkpointer.as_ref().map(|c| c.now())
    }

    /// Answers when the database does (`SELECT 1`): the health check.
    pub async fn ping(&self) -> Result<()> {
        self.conn.execute_unprepared("SELECT 1").await.map(|_| ())
    }
}
