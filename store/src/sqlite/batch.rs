//! SQLite: writes that are statements alone (a new build: its ids drawn, its payloads rendered
//! before) sent together. Whoever finds no batch running starts one in a task of its own (a
//! dropped request never strands the others'); it takes the write gate once for every write
//! queued meanwhile and sends their statements as one round trip to SQLite's thread, then tells
//! each its rows once the group's commit is durable, and goes on while writes are queued.
//!
//! Measured before (temporary counters in the write gate, `bench --mode api`, 16 in flight):
//! each write held the gate about 0.5 ms, mostly waiting for a busy runtime to run it again after
//! each of its round trips, and the gate was held 90% of the time with a third of the CPU idle.
//!
//! If a batch fails, nothing of it is kept (its savepoint is undone) and each write is run
//! again on its own, so only the write at fault gets the error. A write may ask not to wait for
//! the commit (drawing ids: see `ids`); such a write rides along with a batch of another kind
//! instead of taking a turn of the gate of its own.

use std::sync::{Arc, Mutex};

use sea_orm::{ConnectionTrait, DbErr, QueryResult, Statement, Value};
use tokio::sync::oneshot;

use crate::{Db, Result};

/// Most writes sent in one round trip.
const MAX_BATCH: usize = 32;

/// The queued writes, and whether a batch is running.
#[derive(Default)]
pub(crate) struct Batches {
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    running: bool,
}

/// One write: its statements (`;`-separated, plain `?` parameters), how many rows they
/// return, and whether its caller waits for the commit.
struct Job {
    sql: Arc<str>,
    values: Vec<Value>,
    returns: usize,
    durable: bool,
    told: oneshot::Sender<Result<Vec<QueryResult>>>,
}

impl Batches {
    /// Runs `sql` with `values` in a write transaction, with other writes queued meanwhile;
    /// returns its `returns` rows once they are durable, or (not `durable`) once they are
    /// written, the commit to follow.
    pub(crate) async fn write(
        self: &Arc<Self>,
        db: &Db,
        sql: Arc<str>,
        values: Vec<Value>,
        returns: usize,
        durable: bool,
    ) -> Result<Vec<QueryResult>> {
        let (told, answer) = oneshot::channel();
        let start = {
            let mut queue = self
                .queue
                .lock()
                .map_err(|_| DbErr::Custom("the write queue is poisoned".into()))?;
            queue.jobs.push(Job {
                sql,
                values,
                returns,
                durable,
                told,
            });
            !std::mem::replace(&mut queue.running, true)
        };
        if start {
            let batches = self.clone();
            let db = db.clone();
            tokio::spawn(async move { batches.run(&db).await });
        }
        answer
            .await
            .map_err(|_| DbErr::Custom("the write stopped".into()))?
    }

    /// Runs batches until the queue is empty.
    async fn run(&self, db: &Db) {
        loop {
            let jobs = match self.queue.lock() {
                Ok(mut queue) if queue.jobs.is_empty() => {
                    queue.running = false;
                    return;
                }
                Ok(mut queue) => take_alike(&mut queue.jobs),
                // Every waiting writer is told by its dropped sender.
                Err(_) => return,
            };
            run_batch(db, jobs).await;
        }
    }
}

/// The oldest job that waits for its commit and the next ones with the same statements (the
/// oldest job when none waits), as many as the largest power of two up to `MAX_BATCH` allows,
/// and one job of another kind that does not wait for its commit (drawing ids), riding along:
/// a turn of the gate fewer. The others stay queued, in order. A batch's text is its jobs'
/// texts joined, and SQLite's thread keeps the statements it prepared by text (a hundred per
/// connection): batches of one kind and few sizes keep that cache small; mixed ones prepared a
/// new text nearly every time.
fn take_alike(jobs: &mut Vec<Job>) -> Vec<Job> {
    let first = jobs
        .iter()
        .find(|j| j.durable)
        .unwrap_or(&jobs[0])
        .sql
        .clone();
    let alike = jobs.iter().filter(|j| j.sql == first).count();
    let mut n = 1;
    while n * 2 <= alike.min(MAX_BATCH) {
        n *= 2;
    }
    let mut taken = Vec::with_capacity(n + 1);
    let mut rider = None;
    let mut kept = Vec::with_capacity(jobs.len().saturating_sub(n));
    for job in jobs.drain(..) {
        if taken.len() < n && job.sql == first {
            taken.push(job);
        } else if rider.is_none() && !job.durable && job.sql != first {
            rider = Some(job);
        } else {
            kept.push(job);
        }
    }
    taken.extend(rider);
    *jobs = kept;
    taken
}

/// Runs `jobs` in one round trip, or one by one if that fails.
async fn run_batch(db: &Db, jobs: Vec<Job>) {
    let jobs = match jobs.len() {
        1 => jobs,
        _ => {
            let sql = jobs.iter().map(|j| &*j.sql).collect::<Vec<_>>().join("; ");
            let values = jobs.iter().flat_map(|j| j.values.iter().cloned()).collect();
            match run(db, sql, values, jobs).await {
                Ok(()) => return,
                // Undone: each is run again alone, and the one at fault gets the error.
                Err((error, jobs)) => {
                    tracing::debug!(%error, "a batch of writes failed; running them alone");
                    jobs
                }
            }
        }
    };
    for job in jobs {
        let (sql, values) = (job.sql.to_string(), job.values.clone());
        if let Err((error, mut job)) = run(db, sql, values, vec![job]).await {
            if let Some(job) = job.pop() {
                let _ = job.told.send(Err(error));
            }
        }
    }
}

/// Runs `sql` (the statements of `jobs`) in a write transaction through the gate and tells each
/// job its rows: at once if it asked for no durability, else once the commit is durable. The
/// jobs come back with the error if nothing was told yet (the statements failed, or returned a
/// wrong number of rows).
async fn run(
    db: &Db,
    sql: String,
    values: Vec<Value>,
    jobs: Vec<Job>,
) -> std::result::Result<(), (DbErr, Vec<Job>)> {
    let w = match db.begin_write().await {
        Ok(w) => w,
        Err(error) => return Err((error, jobs)),
    };
    let statement = Statement::from_sql_and_values(w.txn().get_database_backend(), sql, values);
    // Dropped on an error: the savepoint is undone, the group goes on.
    let rows = match w.txn().query_all(statement).await {
        Ok(rows) => rows,
        Err(error) => return Err((error, jobs)),
    };
    if rows.len() != jobs.iter().map(|j| j.returns).sum::<usize>() {
        let error = DbErr::Custom("a write returned a wrong number of rows".into());
        return Err((error, jobs));
    }
    let mut rows = rows.into_iter();
    let mut durable = Vec::with_capacity(jobs.len());
    for job in jobs {
        let mine: Vec<QueryResult> = rows.by_ref().take(job.returns).collect();
        match job.durable {
            true => durable.push((job.told, mine)),
            false => {
                let _ = job.told.send(Ok(mine));
            }
        }
    }
    let committed = w.commit().await;
    for (told, mine) in durable {
        let _ = told.send(match &committed {
            Ok(()) => Ok(mine),
            Err(error) => Err(DbErr::Custom(error.to_string())),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sea_orm::{ConnectionTrait, Value};

    use crate::connect::{connect, file_url, ConnectOptions};

    fn job(sql: &str, durable: bool) -> super::Job {
        super::Job {
            sql: sql.into(),
            values: Vec::new(),
            returns: 0,
            durable,
            told: tokio::sync::oneshot::channel().0,
        }
    }

    /// Writes of the oldest waiting kind go together, a power of two of them, with one write
    /// of another kind that does not wait for its commit; the rest stay queued in order.
    #[test]
    fn a_draw_rides_along_with_a_batch_of_writes() {
        let mut jobs = vec![
            job("D", false),
            job("W", true),
            job("X", true),
            job("W", true),
            job("W", true),
            job("D", false),
        ];
        let taken = super::take_alike(&mut jobs);
        let texts =
            |jobs: &[super::Job]| jobs.iter().map(|j| j.sql.to_string()).collect::<Vec<_>>();
        assert_eq!(texts(&taken), ["W", "W", "D"]);
        assert_eq!(texts(&jobs), ["X", "W", "D"]);
        // Only writes that do not wait: the oldest's kind goes, one of another kind rides.
        let mut draws = vec![job("D", false), job("D", false), job("E", false)];
        assert_eq!(texts(&super::take_alike(&mut draws)), ["D", "D", "E"]);
    }

    /// A write that joins another writer's group and fails after one of its statements ran:
    /// its savepoint is undone, the group's other work is kept and committed, and the write
    /// alone gets the error; the gate counted the turns and commits.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_failing_in_a_group_is_undone_alone() {
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
        // A writer holds the gate with k = 1 written, so the write joins its group.
        let first = db.begin_write().await.expect("writer");
        first
            .txn()
            .execute_unprepared("INSERT INTO t (k) VALUES (1)")
            .await
            .expect("k = 1");
        let write = |sql: &'static str, keys: Vec<i64>| {
            let db = db.clone();
            tokio::spawn(async move {
                let values = keys.into_iter().map(Value::from).collect();
                let batches = db.batches().expect("sqlite").clone();
                batches.write(&db, sql.into(), values, 0, true).await
            })
        };
        // k = 4 is written, then k = 1 fails on the key.
        let failing = write(
            "INSERT INTO t (k) VALUES (?); INSERT INTO t (k) VALUES (?)",
            vec![4, 1],
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        first.commit().await.expect("the first writer's commit");
        let failed = failing.await.expect("task");
        assert!(failed.is_err(), "{failed:?}");
        let after = write("INSERT INTO t (k) VALUES (?)", vec![2]).await;
        assert!(after.expect("task").is_ok());
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
        assert_eq!(keys, [1, 2]);
        let times = db.write_gate_times().expect("sqlite");
        assert!(times.turns_ordinary >= 3, "{times:?}");
        assert!(times.commits >= 2 && times.committing_s > 0.0, "{times:?}");
        assert!(times.held_ordinary_s > 0.0, "{times:?}");
    }
}
