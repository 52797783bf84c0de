//! SQLite: writes that are statements alone (a new build, its ids drawn and its payloads
//! rendered before; the draw of new ids; the dispatcher's claims and records) sent together.
//! Whoever finds no batch running starts one in a task of its own (a dropped request never
//! strands the others'); it takes the write gate alone, takes every write queued by then (up to
//! `MAX_BATCH`, in order) and hands them to SQLite's writer thread (`own_writer`) as one call:
//! their statements and the commit. The thread ends the gate's turn right after the commit and
//! tells each write its rows there (durable by then); meanwhile the task already waits for the
//! next turn with the writes queued since.
//!
//! A write that fails is undone alone and gets the error, the others commit (`own_writer`).
//! Writes are taken after the gate, not before: the ones queued while the batch waited for it
//! go in the same call. A write told before the commit (`Told::BeforeCommit`: the draw of new
//! ids) goes first in its batch. (The writer thread serving the queue itself, with no task
//! between two batches, was measured and not kept: it ran smaller batches, back to back, at
//! more CPU per call and a long tail, README.)

use std::sync::Arc;

use sea_orm::{QueryResult, Value};
use tokio::sync::oneshot;

use crate::queue::{copy_of, Queue};
use crate::sqlite::gate;
use crate::sqlite::gate_times::{GateTimes, Held};
use crate::sqlite::own_writer::{stopped, Done, Row, Then, Write};
use crate::sqlite::typed;
use crate::{Db, Result};

/// Most writes run in one call.
const MAX_BATCH: usize = 64;

/// The queued writes, one batch running at a time (there is one writer anyway).
pub(crate) struct Batches {
    queue: Queue<Job>,
}

impl Default for Batches {
    fn default() -> Self {
        Batches {
            queue: Queue::with_runners(1),
        }
    }
}

/// When a write is told its rows.
pub(crate) enum Told {
    /// Once the batch's commit is durable.
    AfterCommit,
    /// As soon as its statements ran, before the batch's commit, first in its batch
    /// (`own_writer::Write::early`): the draw of new ids, whose callers then render while the
    /// rest of the batch runs.
    BeforeCommit,
}

/// One write and where its rows go (`None`: the write tells them itself, `Write::early`).
struct Job {
    write: Write,
    told: Option<oneshot::Sender<Result<Vec<Row>>>>,
}

impl Batches {
    /// Runs `sql` (`;`-separated statements) with `values` in a write transaction, with other
    /// writes queued meanwhile; returns its rows (`returns` of them, if given) once durable.
    pub(crate) async fn write(
        self: &Arc<Self>,
        db: &Db,
        sql: Arc<str>,
        values: Vec<Value>,
        returns: Option<usize>,
    ) -> Result<Vec<Row>> {
        self.send(db, Write::new(sql, values, returns), Told::AfterCommit)
            .await
    }

    /// Runs `write` in the next batch; returns its rows when `told` says.
    pub(crate) async fn send(
        self: &Arc<Self>,
        db: &Db,
        mut write: Write,
        told: Told,
    ) -> Result<Vec<Row>> {
        let (sender, answer) = oneshot::channel();
        let told = match told {
            Told::AfterCommit => Some(sender),
            Told::BeforeCommit => {
                write.early = Some(Box::new(move |rows| {
                    let _ = sender.send(rows);
                }));
                None
            }
        };
        self.queue
            .call(Job { write, told }, answer, || {
                let batches = self.clone();
                let db = db.clone();
                tokio::spawn(async move { batches.run(&db).await });
            })
            .await
    }

    /// Runs `sql` (numbered parameters) with `values` as a write of the next batch; returns its
    /// rows, typed as their columns are (`typed`), once durable.
    pub(crate) async fn query(
        self: &Arc<Self>,
        db: &Db,
        sql: &Arc<str>,
        values: Vec<Value>,
    ) -> Result<Vec<QueryResult>> {
        let rows = self.write(db, sql.clone(), values, None).await?;
        rows.into_iter().map(typed::query_result).collect()
    }

    /// Runs batches until the queue is empty. Each batch goes to the writer thread with the
    /// gate's writer lock, and the thread drops the lock right after the commit and tells the
    /// writes there: the next batch's turn does not wait for this task to run again first.
    async fn run(&self, db: &Db) {
        let mut runner = self.queue.runner();
        let Some(mut jobs) = runner.next_up_to(MAX_BATCH) else {
            return;
        };
        let Some((gate, writer)) = db.write_gate().zip(db.own_writer()) else {
            for job in jobs {
                match (job.told, job.write.early) {
                    (Some(told), _) => {
                        let _ = told.send(Err(stopped()));
                    }
                    (None, Some(early)) => early(Err(stopped())),
                    (None, None) => {}
                }
            }
            return;
        };
        loop {
            let held = gate::hold_alone(gate).await;
            // The writes queued while the gate was awaited go too.
            if let Some(room) = MAX_BATCH.checked_sub(jobs.len()).filter(|r| *r > 0) {
                jobs.extend(runner.next_up_to(room).unwrap_or_default());
            }
            // The writes told early go first, the others keep their order.
            jobs.sort_by_key(|job| job.write.early.is_none());
            let (writes, told): (Vec<Write>, Vec<_>) =
                jobs.into_iter().map(|j| (j.write, j.told)).unzip();
            let times = gate.times.clone();
            let then: Then = Box::new(move |done| tell(held, &times, told, done));
            if let Err(then) = writer.send(writes, then) {
                then(Err(stopped()));
            }
            jobs = match runner.next_up_to(MAX_BATCH) {
                Some(jobs) => jobs,
                None => return,
            };
        }
    }
}

/// Ends the gate's turn of a batch (`held`), then tells each write its rows, or the batch's
/// error; on the writer thread, right after the commit.
fn tell(
    held: Held,
    times: &GateTimes,
    told: Vec<Option<oneshot::Sender<Result<Vec<Row>>>>>,
    done: Result<Done>,
) {
    drop(held);
    match done {
        Ok(done) => {
            times.commit_took(done.commit_took);
            for (told, rows) in told.into_iter().zip(done.writes) {
                if let Some(told) = told {
                    let _ = told.send(rows);
                }
            }
        }
        Err(error) => {
            tracing::error!(%error, "a batch of writes failed");
            for told in told.into_iter().flatten() {
                let _ = told.send(Err(copy_of(&error)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sea_orm::{ConnectionTrait, Value};

    use crate::connect::{connect, file_url, ConnectOptions};

    /// Two writes sent in one batch while another writer held the gate; the first fails after
    /// one of its statements ran: it alone is undone and gets the error, the other commits; the
    /// gate counted the turns and commits.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_failing_in_a_batch_is_undone_alone() {
        let dir = tempfile::tempdir().expect("dir");
        let db = connect(
            &file_url(&dir.path().join("b.db")),
            &ConnectOptions::default(),
        )
        .await
        .expect("db");
        db.conn()
            .execute_unprepared("CREATE TABLE t (k INTEGER PRIMARY KEY)")
            .await
            .expect("table");
        // A writer holds the gate with k = 1 written: the writes queue behind it.
        let first = db.begin_write().await.expect("writer");
        first
            .txn()
            .execute_unprepared("INSERT INTO t (k) VALUES (1)")
            .await
            .expect("k = 1");
        let write = |keys: Vec<i64>| {
            let db = db.clone();
            tokio::spawn(async move {
                let values = keys.into_iter().map(Value::from).collect();
                let sql = "INSERT INTO t (k) VALUES (?); INSERT INTO t (k) VALUES (?)";
                let batches = db.batches().expect("sqlite").clone();
                batches.write(&db, sql.into(), values, Some(0)).await
            })
        };
        // k = 4 is written, then k = 1 fails on the key; k = 5 and 6 go in the same batch.
        let failing = write(vec![4, 1]);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let other = write(vec![5, 6]);
        tokio::time::sleep(Duration::from_millis(50)).await;
        first.commit().await.expect("the first writer's commit");
        let failed = failing.await.expect("task");
        assert!(failed.is_err(), "{failed:?}");
        assert!(other.await.expect("task").is_ok());
        let rows = db
            .conn()
            .query_all(sea_orm::Statement::from_string(
                db.conn().get_database_backend(),
                "SELECT k FROM t ORDER BY k",
            ))
            .await
            .expect("rows");
        let keys: Vec<i64> = rows
            .iter()
            .map(|r| r.try_get_by_index(0).expect("k"))
            .collect();
        assert_eq!(keys, [1, 5, 6]);
        let times = db.write_gate_times().expect("sqlite");
        assert_eq!(times.turns_ordinary, 2, "{times:?}");
        assert_eq!(times.commits, 2, "{times:?}");
        assert!(times.held_ordinary_s > 0.0, "{times:?}");
    }
}
