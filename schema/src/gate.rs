//! SQLite's single-writer gate with group commit. SQLite allows one writer at a time, and a
//! transaction that reads and then writes fails with SQLITE_BUSY when another writer commits in
//! between, so writers of one process queue here. While writers are waiting, the one leaving the
//! gate does not commit: it parks its open transaction, and the next writer runs inside it, in its
//! own SAVEPOINT; the last writer of the group commits once for all of them, and each member's
//! `commit` returns only when that commit is durable. A member that fails rolls back to its
//! savepoint and leaves the others' work intact; if the group's commit fails, every member gets the
//! error. One commit per group instead of one per writer halves the cost of a small transaction.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::{Duration, Instant};

use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};
use tokio::sync::{oneshot, Mutex, MutexGuard, OwnedMutexGuard};

use crate::error::{Error, Result};
use crate::seed::RowCache;
use crate::store::DbHandle;

/// Most writers committed together.
const MAX_GROUP: usize = 64;
/// Oldest a group gets before it commits even with writers waiting: bounds the wait it adds to
/// its first member.
const MAX_GROUP_AGE: Duration = Duration::from_millis(5);

/// The gate, in two stages: ordinary writers queue on `queue` and then take `writer`; priority
/// writers (the dispatcher's short claim and record transactions) take `writer` directly, so at
/// most one ordinary writer is ever ahead of them.
#[derive(Default)]
pub(crate) struct WriteGate {
    queue: Mutex<()>,
    writer: Arc<Mutex<()>>,
    /// Writers on their way to `writer`: while there are any, a group stays open.
    waiting: AtomicUsize,
    /// The open transaction of the current group, between two members.
    parked: SyncMutex<Option<Group>>,
}

/// An open transaction shared by consecutive writers, and the members waiting for its commit.
struct Group {
    outer: DatabaseTransaction,
    members: Vec<oneshot::Sender<bool>>,
    opened: Instant,
}

impl Group {
    /// Commits the group and tells every member whether it is durable.
    async fn commit(self) -> bool {
        let ok = match self.outer.commit().await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, members = self.members.len(), "group commit failed");
                false
            }
        };
        for member in self.members {
            let _ = member.send(ok);
        }
        ok
    }
}

/// Counts a writer on its way to the gate; if it gives up (its request was dropped) after a
/// group was parked for it, the group is committed without it.
struct Waiting(Option<Arc<WriteGate>>);

impl Waiting {
    fn new(gate: &Arc<WriteGate>) -> Self {
        gate.waiting.fetch_add(1, Ordering::SeqCst);
        Waiting(Some(gate.clone()))
    }

    fn arrived(mut self) {
        if let Some(gate) = self.0.take() {
            gate.waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let Some(gate) = self.0.take() else { return };
        gate.waiting.fetch_sub(1, Ordering::SeqCst);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _writer = gate.writer.clone().lock_owned().await;
                let parked = gate.parked.lock().ok().and_then(|mut p| p.take());
                if let Some(group) = parked {
                    group.commit().await;
                }
            });
        }
    }
}

/// A writer's hold on the gate and its group.
struct Turn {
    gate: Arc<WriteGate>,
    group: Group,
    writer: OwnedMutexGuard<()>,
}

impl Turn {
    /// Ends this writer's turn: parks the group for a waiting writer, or commits it.
    async fn end(self) {
        let Turn {
            gate,
            group,
            writer,
        } = self;
        if gate.waiting.load(Ordering::SeqCst) > 0
            && group.members.len() < MAX_GROUP
            && group.opened.elapsed() < MAX_GROUP_AGE
        {
            if let Ok(mut parked) = gate.parked.lock() {
                *parked = Some(group);
                drop(writer);
                return;
            }
        }
        group.commit().await;
        drop(writer);
    }
}

/// Opens a write transaction through the gate: a savepoint in the parked group, or a new group.
pub(crate) async fn begin<'a>(
    gate: &'a Arc<WriteGate>,
    conn: &DatabaseConnection,
    rows: &'a RowCache,
    priority: bool,
) -> Result<WriteTxn<'a>> {
    let waiting = Waiting::new(gate);
    let queue = if priority {
        None
    } else {
        Some(gate.queue.lock().await)
    };
    let writer = gate.writer.clone().lock_owned().await;
    waiting.arrived();
    let parked = gate.parked.lock().ok().and_then(|mut p| p.take());
    let group = match parked {
        Some(group) => group,
        None => Group {
            outer: conn.begin().await?,
            members: Vec::new(),
            opened: Instant::now(),
        },
    };
    // On error the group is dropped: rolled back, and its members told so.
    let txn = group.outer.begin().await?;
    Ok(WriteTxn {
        txn: Some(Arc::new(txn)),
        turn: Some(Turn {
            gate: gate.clone(),
            group,
            writer,
        }),
        rows,
        queue,
    })
}

/// Opens a plain transaction (PostgreSQL: no gate, no group).
pub(crate) async fn begin_plain<'a>(
    conn: &DatabaseConnection,
    rows: &'a RowCache,
) -> Result<WriteTxn<'a>> {
    Ok(WriteTxn {
        txn: Some(Arc::new(conn.begin().await?)),
        turn: None,
        rows,
        queue: None,
    })
}

/// An open write transaction: on SQLite a savepoint in a group, holding the gate until it ends.
pub struct WriteTxn<'a> {
    txn: Option<Arc<DatabaseTransaction>>,
    turn: Option<Turn>,
    rows: &'a RowCache,
    queue: Option<MutexGuard<'a, ()>>,
}

impl WriteTxn<'_> {
    /// The transaction, for statements.
    pub fn txn(&self) -> &DatabaseTransaction {
        self.txn.as_deref().expect("open until commit or drop")
    }

    /// The store's cache of insert-only rows (organizations, repositories).
    pub fn rows(&self) -> &RowCache {
        self.rows
    }

    /// The transaction as a handle that can be lent to the payload renderer.
    pub fn handle(&self) -> DbHandle {
        DbHandle::Txn(self.txn.clone().expect("open until commit or drop"))
    }

    /// Commits; returns once the writes are durable. Every handle lent out must have been dropped.
    pub async fn commit(mut self) -> Result<()> {
        let txn = self
            .txn
            .take()
            .and_then(|t| Arc::try_unwrap(t).ok())
            .ok_or_else(|| Error::Internal("transaction still borrowed at commit".into()))?;
        let Some(mut turn) = self.turn.take() else {
            txn.commit().await?;
            return Ok(());
        };
        // A failed RELEASE leaves this member's writes in the group: the whole group is dropped,
        // rolled back, and every member told so.
        txn.commit().await?;
        let (tx, rx) = oneshot::channel();
        turn.group.members.push(tx);
        turn.end().await;
        // The next ordinary writer may start while this one waits for the group's commit.
        drop(self.queue.take());
        match rx.await {
            Ok(true) => Ok(()),
            _ => Err(Error::Internal("the commit failed".into())),
        }
    }
}

impl Drop for WriteTxn<'_> {
    /// Ends a writer that did not commit: its savepoint is rolled back and its group goes on.
    fn drop(&mut self) {
        let Some(turn) = self.turn.take() else { return };
        let txn = self.txn.take().and_then(|t| Arc::try_unwrap(t).ok());
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            let undone = match txn {
                Some(txn) => txn.rollback().await.is_ok(),
                None => false,
            };
            if undone {
                turn.end().await;
            } else {
                // Its writes cannot be undone alone: the group is rolled back.
                drop(turn);
            }
        });
    }
}
