//! The database handle resolvers and services use: a connection or an open transaction behind one
//! `ConnectionTrait` (so a payload query sees the uncommitted transition), the write gate that
//! serialises writers on SQLite, and the outbox wake-up signal for the dispatcher.

use std::sync::Arc;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, Statement, TransactionTrait,
};
use tokio::sync::{Mutex, MutexGuard, Notify};

use crate::error::{Error, Result};

/// A connection, or a transaction shared with the payload renderer.
#[derive(Clone)]
pub enum DbHandle {
    /// The pool: every statement on its own.
    Conn(DatabaseConnection),
    /// An open transaction; statements see its uncommitted writes.
    Txn(Arc<DatabaseTransaction>),
}

#[async_trait::async_trait]
impl ConnectionTrait for DbHandle {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            DbHandle::Conn(c) => c.get_database_backend(),
            DbHandle::Txn(t) => t.get_database_backend(),
        }
    }

    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            DbHandle::Conn(c) => c.execute(stmt).await,
            DbHandle::Txn(t) => t.execute(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            DbHandle::Conn(c) => c.execute_unprepared(sql).await,
            DbHandle::Txn(t) => t.execute_unprepared(sql).await,
        }
    }

    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            DbHandle::Conn(c) => c.query_one(stmt).await,
            DbHandle::Txn(t) => t.query_one(stmt).await,
        }
    }

    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            DbHandle::Conn(c) => c.query_all(stmt).await,
            DbHandle::Txn(t) => t.query_all(stmt).await,
        }
    }

    fn support_returning(&self) -> bool {
        match self {
            DbHandle::Conn(c) => c.support_returning(),
            DbHandle::Txn(t) => t.support_returning(),
        }
    }
}

/// Called right after a commit that wrote outbox rows, with their delivery ids (the benchmark
/// measures commit-to-receipt latency with it).
pub type CommitObserver = Arc<dyn Fn(&[String]) + Send + Sync>;

/// The application's database: the pool, the SQLite write gate and the outbox signal.
#[derive(Clone)]
pub struct Store {
    conn: DatabaseConnection,
    commit_observer: Option<CommitObserver>,
    /// SQLite allows one writer; a transaction that reads and then writes fails with SQLITE_BUSY
    /// when another writer commits in between, so writers queue here instead (PostgreSQL: none).
    write_gate: Option<Arc<Mutex<()>>>,
    outbox_signal: Arc<Notify>,
}

impl Store {
    /// Wraps a connected pool.
    pub fn new(conn: DatabaseConnection) -> Self {
        let write_gate = match conn.get_database_backend() {
            DbBackend::Sqlite => Some(Arc::new(Mutex::new(()))),
            _ => None,
        };
        Store {
            conn,
            commit_observer: None,
            write_gate,
            outbox_signal: Arc::new(Notify::new()),
        }
    }

    /// The pool.
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Which database this is.
    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// Starts a write transaction, first waiting for the write gate on SQLite.
    pub async fn begin_write(&self) -> Result<WriteTxn<'_>> {
        let guard = match &self.write_gate {
            Some(gate) => Some(gate.lock().await),
            None => None,
        };
        let txn = self.conn.begin().await?;
        Ok(WriteTxn {
            txn: Arc::new(txn),
            _guard: guard,
        })
    }

    /// The signal fired after every commit that wrote outbox rows: the dispatcher waits on it
    /// (`notified()`), so a delivery starts without a polling delay.
    pub fn outbox_signal(&self) -> Arc<Notify> {
        self.outbox_signal.clone()
    }

    /// Wakes the dispatcher; call after committing outbox rows.
    pub fn wake_dispatcher(&self) {
        self.outbox_signal.notify_one();
    }

    /// Observes every commit that wrote outbox rows.
    pub fn set_commit_observer(&mut self, observer: CommitObserver) {
        self.commit_observer = Some(observer);
    }

    /// Tells the observer, if any, that `delivery_ids` were committed.
    pub fn committed(&self, delivery_ids: &[String]) {
        if let Some(observer) = &self.commit_observer {
            observer(delivery_ids);
        }
    }
}

/// An open write transaction (holding the SQLite write gate until it ends).
pub struct WriteTxn<'a> {
    txn: Arc<DatabaseTransaction>,
    _guard: Option<MutexGuard<'a, ()>>,
}

impl WriteTxn<'_> {
    /// The transaction, for statements.
    pub fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// The transaction as a handle that can be lent to the payload renderer.
    pub fn handle(&self) -> DbHandle {
        DbHandle::Txn(self.txn.clone())
    }

    /// Commits. Every handle lent out must have been dropped.
    pub async fn commit(self) -> Result<()> {
        let txn = Arc::try_unwrap(self.txn)
            .map_err(|_| Error::Internal("transaction still borrowed at commit".into()))?;
        txn.commit().await?;
        Ok(())
    }
}
