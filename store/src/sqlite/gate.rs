//! SQLite's single-writer gate with group commit. SQLite allows one writer at a time, and a
//! transaction that reads and then writes fails with SQLITE_BUSY when another writer commits in
//! between, so writers of one process queue here. While writers are waiting, the one leaving the
//! gate does not commit: it parks its open transaction, and the next writer runs inside it, in its
//! own SAVEPOINT (left open, nested under the earlier members': releasing it would cost the
//! gate one more round trip to SQLite's thread per writer); the last writer of the group commits
//! once for all of them, and each member's `commit` returns only when that commit is durable. A
//! member that fails rolls back to its savepoint and leaves the others' work intact; if the
//! group's commit fails, every member gets the error. One commit per group instead of one per
//! writer halves the cost of a small transaction.
//!
//! Batches of writes that are statements alone (`batch`) take the gate alone instead
//! (`hold_alone`) and run on SQLite's writer thread of our own (`own_writer`), one call each.
//!
//! Savepoints are plain statements on the group's one transaction (sqlx's own nesting counts
//! depth in its worker and goes wrong when a caller is dropped mid-statement), each member's
//! named by its place in the group. Every step that decides a group's fate with a statement (a
//! member's undo, the commit) runs in a task of its own, so a request dropped mid-way (its client
//! went away) never drops a group holding other writers' work; parking the group for the next
//! writer is no statement and happens at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, TransactionTrait};
use tokio::sync::{oneshot, Mutex, MutexGuard};

use sea_orm::DbErr;

use crate::handle::DbHandle;
use crate::sqlite::gate_times::{GateTimes, Held};
use crate::Result;

/// The savepoint of a group's `n`th member. Each member's has its own name: the earlier
/// members' stay open beneath it, so undoing a savepoint this member never made must fail
/// instead of rolling back to (and losing) the member before.
fn savepoint_of(n: usize) -> String {
    format!("SAVEPOINT buildhooks_writer_{n}")
}

/// Undoes and closes the `n`th member's savepoint.
fn undo_of(n: usize) -> String {
    format!("ROLLBACK TO SAVEPOINT buildhooks_writer_{n}; RELEASE SAVEPOINT buildhooks_writer_{n}")
}

/// Most writers committed together.
const MAX_GROUP: usize = 64;
/// Oldest a group gets before it commits even with writers waiting: bounds the wait it adds to
/// its first member.
const MAX_GROUP_AGE: Duration = Duration::from_millis(5);

/// The gate, in two stages: ordinary writers queue on `queue` and then take `writer`; priority
/// writers (the dispatcher's pacing and digest leases; its claims and records go in the writer
/// thread's batches) take `writer` directly, so at most one ordinary writer is ever ahead of
/// them.
#[derive(Default)]
pub(crate) struct WriteGate {
    queue: Mutex<()>,
    writer: Arc<Mutex<()>>,
    /// Writers on their way to `writer`: while there are any, a group stays open.
    waiting: AtomicUsize,
    /// The open transaction of the current group, between two members.
    parked: SyncMutex<Option<Group>>,
    /// What the gate spends its time on (`/metrics`).
    pub(crate) times: Arc<GateTimes>,
}

/// An open transaction shared by consecutive writers, and the members waiting for its commit.
struct Group {
    outer: Arc<DatabaseTransaction>,
    members: Vec<Member>,
    opened: Instant,
}

/// What runs right after a commit succeeded (handing the new outbox rows to the dispatcher), in
/// the committing task: it runs even if the writer's own request was dropped meanwhile.
pub type AfterCommit = Box<dyn FnOnce() + Send + Sync>;

/// A writer waiting for its group's commit.
struct Member {
    told: oneshot::Sender<bool>,
    after: AfterCommit,
}

impl Group {
    /// Commits the group and tells every member whether it is durable.
    async fn commit(self, times: &GateTimes) -> bool {
        let Group { outer, members, .. } = self;
        let started = Instant::now();
        let ok = match Arc::try_unwrap(outer) {
            Ok(outer) => match outer.commit().await.inspect(|_| times.committed(started)) {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!(error = %e, members = members.len(), "group commit failed");
                    false
                }
            },
            // Still lent out: rolled back when the last handle is dropped.
            Err(_) => {
                tracing::error!("group transaction still borrowed at commit");
                false
            }
        };
        for member in members {
            if ok {
                (member.after)();
            }
            let _ = member.told.send(ok);
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
                    group.commit(&gate.times).await;
                }
            });
        }
    }
}

/// A writer's hold on the gate and its group.
struct Turn {
    gate: Arc<WriteGate>,
    group: Group,
    writer: Held,
    /// This writer's savepoint (its place in the group): none when it opened the group, whose
    /// transaction then holds nothing but its own work.
    savepoint: Option<usize>,
}

impl Turn {
    /// Ends this writer's turn: parks the group for a waiting writer, or commits it.
    async fn end(self) {
        if let Some(turn) = self.park() {
            let Turn {
                gate,
                group,
                writer,
                ..
            } = turn;
            group.commit(&gate.times).await;
            drop(writer);
        }
    }

    /// Parks the group for a waiting writer and gives the gate up; returns the turn when the
    /// group is to be committed instead (nobody waits, or it is full or old).
    fn park(self) -> Option<Turn> {
        if self.gate.waiting.load(Ordering::SeqCst) > 0
            && self.group.members.len() < MAX_GROUP
            && self.group.opened.elapsed() < MAX_GROUP_AGE
        {
            if let Ok(mut parked) = self.gate.parked.lock() {
                let Turn { group, writer, .. } = self;
                *parked = Some(group);
                drop(writer);
                return None;
            }
        }
        Some(self)
    }

    /// Ends the turn of a writer that stopped without committing, in a task of its own: its
    /// savepoint is undone and the group goes on. `wrote`: if the undo fails, the writer's
    /// partial writes would be committed with the group, so the whole group is rolled back.
    fn abandon(self, wrote: bool) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Some(n) = self.savepoint else {
            // The group holds only this writer's work: dropped, it is rolled back.
            drop(self);
            return;
        };
        rt.spawn(async move {
            let outer = self.group.outer.clone();
            let undone = outer.execute_unprepared(&undo_of(n)).await.is_ok();
            drop(outer);
            if undone || !wrote {
                self.end().await;
            } else {
                tracing::error!("cannot undo a failed writer: its group is rolled back");
            }
        });
    }
}

/// A turn between taking the gate and holding its savepoint: dropped early, it is abandoned.
struct Joining(Option<Turn>);

impl Drop for Joining {
    fn drop(&mut self) {
        if let Some(turn) = self.0.take() {
            turn.abandon(false);
        }
    }
}

/// Opens a write transaction through the gate: a savepoint in the parked group, or a new group.
pub(crate) async fn begin<'a>(
    gate: &'a Arc<WriteGate>,
    conn: &DatabaseConnection,
    priority: bool,
) -> Result<WriteTxn<'a>> {
    let asked = Instant::now();
    let waiting = Waiting::new(gate);
    let queue = if priority {
        None
    } else {
        Some(gate.queue.lock().await)
    };
    let writer = Held::new(
        gate.writer.clone().lock_owned().await,
        priority,
        &gate.times,
    );
    gate.times.waited(asked);
    waiting.arrived();
    let parked = gate.parked.lock().ok().and_then(|mut p| p.take());
    let savepoint = parked.as_ref().map(|group| group.members.len());
    let group = match parked {
        Some(group) => group,
        None => {
            // In a task: a BEGIN cut off mid-way would leave the connection inside a transaction.
            let conn = conn.clone();
            let outer = tokio::spawn(async move { conn.begin().await })
                .await
                .map_err(|_| DbErr::Custom("cannot begin a transaction".into()))??;
            Group {
                outer: Arc::new(outer),
                members: Vec::new(),
                opened: Instant::now(),
            }
        }
    };
    let outer = group.outer.clone();
    let mut joining = Joining(Some(Turn {
        gate: gate.clone(),
        group,
        writer,
        savepoint,
    }));
    if let Some(n) = savepoint {
        outer.execute_unprepared(&savepoint_of(n)).await?;
    }
    Ok(WriteTxn {
        txn: Some(outer),
        turn: joining.0.take(),
        queue,
    })
}

/// How long a background writer waits for a moment when no other writer wants the gate before
/// it queues like an ordinary writer: it runs last, but is never starved.
const BACKGROUND_PATIENCE: Duration = Duration::from_secs(1);
/// How often a background writer looks again while other writers want the gate.
const BACKGROUND_POLL: Duration = Duration::from_millis(2);

/// Opens a write transaction of a background writer (retention's deletes): it starts only when
/// no other writer holds or wants the gate (or, after `BACKGROUND_PATIENCE`, as the last of the
/// ordinary queue), in a group of its own: it never joins, and so never delays, the commit of
/// other writers' work. Writers that arrive while it runs wait for it like for any writer.
pub(crate) async fn begin_background<'a>(
    gate: &'a Arc<WriteGate>,
    conn: &DatabaseConnection,
) -> Result<WriteTxn<'a>> {
    let started = Instant::now();
    let (queue, writer) = loop {
        let queue = gate.queue.lock().await;
        if gate.waiting.load(Ordering::SeqCst) == 0 {
            if let Ok(writer) = gate.writer.clone().try_lock_owned() {
                break (queue, writer);
            }
        }
        if started.elapsed() >= BACKGROUND_PATIENCE {
            let writer = gate.writer.clone().lock_owned().await;
            break (queue, writer);
        }
        drop(queue);
        tokio::time::sleep(BACKGROUND_POLL).await;
    };
    // A group parked for a writer that is gone: committed first, so this one stands alone.
    let parked = gate.parked.lock().ok().and_then(|mut p| p.take());
    if let Some(group) = parked {
        group.commit(&gate.times).await;
    }
    let writer = Held::new(writer, false, &gate.times);
    let conn = conn.clone();
    let outer = tokio::spawn(async move { conn.begin().await })
        .await
        .map_err(|_| DbErr::Custom("cannot begin a transaction".into()))??;
    let outer = Arc::new(outer);
    Ok(WriteTxn {
        txn: Some(outer.clone()),
        turn: Some(Turn {
            gate: gate.clone(),
            group: Group {
                outer,
                members: Vec::new(),
                opened: Instant::now(),
            },
            writer,
            savepoint: None,
        }),
        queue: Some(queue),
    })
}

/// Opens a plain transaction (PostgreSQL: no gate, no group). The BEGIN runs in a task of its
/// own: cut off mid-way (the request was dropped), it would leave a pooled connection inside a
/// transaction.
pub(crate) async fn begin_plain<'a>(conn: &DatabaseConnection) -> Result<WriteTxn<'a>> {
    let conn = conn.clone();
    let txn = tokio::spawn(async move { conn.begin().await })
        .await
        .map_err(|_| DbErr::Custom("cannot begin a transaction".into()))??;
    Ok(WriteTxn {
        txn: Some(Arc::new(txn)),
        turn: None,
        queue: None,
    })
}

/// An open write transaction: on SQLite a savepoint in a group, holding the gate until it ends.
pub struct WriteTxn<'a> {
    txn: Option<Arc<DatabaseTransaction>>,
    turn: Option<Turn>,
    queue: Option<MutexGuard<'a, ()>>,
}

impl WriteTxn<'_> {
    /// The transaction, for statements.
    pub fn txn(&self) -> &DatabaseTransaction {
        self.txn.as_deref().expect("open until commit or drop")
    }

    /// The transaction as a handle that can be lent to the payload renderer.
    pub fn handle(&self) -> DbHandle {
        DbHandle::Txn(self.txn.clone().expect("open until commit or drop"))
    }

    /// Commits; returns once the writes are durable. Every handle lent out must have been dropped.
    pub async fn commit(self) -> Result<()> {
        self.commit_then(Box::new(|| {})).await
    }

    /// Commits and runs `after` as soon as the commit succeeded, in the committing task: it runs
    /// even if this caller is dropped while waiting (its client went away).
    pub async fn commit_then(mut self, after: AfterCommit) -> Result<()> {
        let txn = self.txn.take().expect("open until commit or drop");
        let Some(turn) = self.turn.take() else {
            let txn = Arc::try_unwrap(txn)
                .map_err(|_| DbErr::Custom("transaction still borrowed at commit".into()))?;
            // In a task: a COMMIT cut off mid-way would leave the connection's state unknown.
            let (tx, rx) = oneshot::channel();
            tokio::spawn(async move {
                let committed = txn.commit().await;
                if committed.is_ok() {
                    after();
                }
                let _ = tx.send(committed);
            });
            return match rx.await {
                Ok(committed) => Ok(committed?),
                Err(_) => Err(DbErr::Custom("the commit failed".into())),
            };
        };
        // This writer's handle and the group's: anything more was lent out and not returned.
        if Arc::strong_count(&txn) > 2 {
            drop(txn);
            turn.abandon(true);
            return Err(DbErr::Custom("transaction still borrowed at commit".into()));
        }
        drop(txn);
        let (tx, rx) = oneshot::channel();
        // The savepoint stays open (nested under the earlier members'): the group's commit
        // commits them all, and no RELEASE costs the gate a round trip to SQLite's thread.
        let mut turn = turn;
        turn.group.members.push(Member { told: tx, after });
        // Parked at once for the next writer; a commit runs in a task of its own.
        if let Some(turn) = turn.park() {
            tokio::spawn(turn.end());
        }
        // The next ordinary writer may start while this one waits for the group's commit.
        drop(self.queue.take());
        match rx.await {
            Ok(true) => Ok(()),
            _ => Err(DbErr::Custom("the commit failed".into())),
        }
    }
}

impl Drop for WriteTxn<'_> {
    /// Ends a writer that did not commit: its savepoint is undone and its group goes on.
    fn drop(&mut self) {
        drop(self.txn.take());
        if let Some(turn) = self.turn.take() {
            turn.abandon(true);
        }
    }
}

/// Takes the gate alone, in the ordinary writers' queue, for a writer whose transaction runs
/// elsewhere (SQLite's writer thread, `own_writer`): no group is opened, joined or parked. A
/// group parked for a writer behind this one is committed first, so that the writer thread
/// finds the database free. Returns the writer lock, to be dropped by whoever ends the
/// transaction (the writer thread, right after its commit); the next ordinary writer may queue
/// for it meanwhile. This writer is not counted as waiting: the writer ahead of it commits its
/// group instead of parking it.
pub(crate) async fn hold_alone(gate: &Arc<WriteGate>) -> Held {
    let asked = Instant::now();
    let _queue = gate.queue.lock().await;
    let writer = Held::new(gate.writer.clone().lock_owned().await, false, &gate.times);
    gate.times.waited(asked);
    let parked = gate.parked.lock().ok().and_then(|mut p| p.take());
    if let Some(group) = parked {
        group.commit(&gate.times).await;
    }
    writer
}
