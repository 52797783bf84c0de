//! The database handle resolvers and services use: a connection or an open transaction behind one
//! `ConnectionTrait` (so a payload query sees the uncommitted transition), the write gate that
//! serialises writers on SQLite, and the outbox wake-up signal for the dispatcher.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use buildhooks_entity::{webhook_delivery, webhook_endpoint};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, Statement,
};
use tokio::sync::{mpsc, Notify};

use crate::auth::{TokenCache, Viewer};
use crate::error::Result;
use crate::gate::{self, WriteGate};
use crate::seed::RowCache;

pub use crate::gate::WriteTxn;

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

/// Outbox rows written already leased to this process's dispatcher, handed to it on commit.
pub struct HandedOff {
    pub rows: Vec<webhook_delivery::Model>,
    pub token: String,
    /// The endpoints the rows go to, as read in the committing transaction.
    pub endpoints: Vec<webhook_endpoint::Model>,
}

/// The local dispatcher's hand-off queue. Rows committed by this process are written IN_FLIGHT
/// under a lease and given to the dispatcher directly, skipping the claim transaction; if the
/// process dies, the lease expires and any instance reclaims them. When the queue is backed up,
/// rows are written PENDING instead and claimed as usual.
pub struct Handoff {
    pub lease_ms: i64,
    pub tx: mpsc::UnboundedSender<HandedOff>,
    /// Rows handed off and not yet taken up by the dispatcher.
    pub backlog: Arc<AtomicUsize>,
    pub max_backlog: usize,
    /// Whether the dispatcher has a free share for a row of (organization, endpoint).
    pub room: RoomCheck,
}

/// Whether the local dispatcher has a free share for a row of (organization, endpoint): rows
/// without one are written PENDING and claimed when a slot frees, instead of handed off.
pub type RoomCheck = Arc<dyn Fn(i32, i32) -> bool + Send + Sync>;

/// A lease for the rows a transaction is about to write, for the local dispatcher.
pub struct Lease {
    pub token: String,
    pub until: i64,
    room: RoomCheck,
}

impl Lease {
    /// The lease for a row of `org` to `endpoint`, or none when the dispatcher has no free share
    /// for it.
    pub fn for_row(&self, org: i32, endpoint: i32) -> Option<(&str, i64)> {
        (self.room)(org, endpoint).then_some((&self.token, self.until))
    }
}

/// The application's database: the pool, the SQLite write gate and the outbox signal.
#[derive(Clone)]
pub struct Store {
    conn: DatabaseConnection,
    /// SQLite: the one connection write transactions run on (else the pool).
    writer: Option<DatabaseConnection>,
    handoff: Arc<OnceLock<Handoff>>,
    commit_observer: Option<CommitObserver>,
    /// SQLite's single-writer gate with group commit (PostgreSQL: none).
    write_gate: Option<Arc<WriteGate>>,
    outbox_signal: Arc<Notify>,
    rows: Arc<RowCache>,
    tokens: Arc<TokenCache>,
}

impl Store {
    /// Wraps a connected pool.
    pub fn new(conn: DatabaseConnection) -> Self {
        let write_gate = match conn.get_database_backend() {
            DbBackend::Sqlite => Some(Arc::new(WriteGate::default())),
            _ => None,
        };
        Store {
            conn,
            writer: None,
            handoff: Arc::new(OnceLock::new()),
            commit_observer: None,
            write_gate,
            outbox_signal: Arc::new(Notify::new()),
            rows: Arc::new(RowCache::default()),
            tokens: Arc::new(TokenCache::default()),
        }
    }

    /// The same store (signal, hand-off queue, write gate) over another pool of the same
    /// database: on PostgreSQL the dispatcher gets its own connections, so it never queues
    /// behind API transactions for one.
    pub fn with_pool(&self, conn: DatabaseConnection) -> Store {
        Store {
            conn,
            ..self.clone()
        }
    }

    /// The same store with write transactions on `writer` (SQLite: a one-connection pool).
    pub fn with_writer(mut self, writer: DatabaseConnection) -> Store {
        self.writer = Some(writer);
        self
    }

    fn write_conn(&self) -> &DatabaseConnection {
        self.writer.as_ref().unwrap_or(&self.conn)
    }

    /// The pool.
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// The organization a bearer token belongs to (tokens found valid are trusted for
    /// `auth::TOKEN_TTL`).
    pub async fn authenticate(&self, token: &str) -> Result<Viewer> {
        self.tokens.authenticate(&self.conn, token).await
    }

    /// Which database this is.
    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// Starts a write transaction, first waiting for the write gate on SQLite (where it may run
    /// in a group that commits once for several writers).
    pub async fn begin_write(&self) -> Result<WriteTxn<'_>> {
        self.begin(false).await
    }

    /// Starts a write transaction ahead of the queue of ordinary writers (the dispatcher's short
    /// claim and record transactions): on SQLite it waits for at most the one writer holding the
    /// gate, so the outbox drains even while the API saturates the database.
    pub async fn begin_write_priority(&self) -> Result<WriteTxn<'_>> {
        self.begin(true).await
    }

    async fn begin(&self, priority: bool) -> Result<WriteTxn<'_>> {
        match &self.write_gate {
            Some(gate) => gate::begin(gate, self.write_conn(), &self.rows, priority).await,
            None => gate::begin_plain(&self.conn, &self.rows).await,
        }
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

    /// Registers this process's dispatcher for hand-offs (once).
    pub fn set_handoff(&self, handoff: Handoff) {
        let _ = self.handoff.set(handoff);
    }

    /// A lease (token, until) for rows about to be written, when the local dispatcher can take
    /// them now.
    pub fn handoff_lease(&self, now: i64) -> Option<Lease> {
        let h = self.handoff.get()?;
        (h.backlog.load(Ordering::Relaxed) < h.max_backlog && !h.tx.is_closed()).then(|| Lease {
            token: uuid::Uuid::new_v4().to_string(),
            until: now + h.lease_ms,
            room: h.room.clone(),
        })
    }

    /// Gives committed, leased rows to the local dispatcher.
    pub fn hand_off(
        &self,
        rows: Vec<webhook_delivery::Model>,
        token: String,
        endpoints: Vec<webhook_endpoint::Model>,
    ) {
        if let Some(h) = self.handoff.get() {
            h.backlog.fetch_add(rows.len(), Ordering::Relaxed);
            // If the dispatcher is gone the rows stay leased and are reclaimed on expiry.
            let _ = h.tx.send(HandedOff {
                rows,
                token,
                endpoints,
            });
        }
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

/// `t.c AS p_c` for every column `c` of an entity's table: a joined row's columns under a prefix,
/// for `FromQueryResult::from_query_result(row, p)`.
pub fn aliased<C: sea_orm::IdenStatic + sea_orm::Iterable>(
    table: &str,
    prefix: &str,
) -> Vec<String> {
    C::iter()
        .map(|c| format!("{table}.{c} AS {prefix}{c}", c = c.as_str()))
        .collect()
}
