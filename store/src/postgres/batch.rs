//! PostgreSQL: new builds of concurrent calls written together. A call's build, tasks, events
//! and outbox rows are one statement, after its ids were drawn (`draws`) and its payloads
//! rendered; below saturation it is sent at once, alone; calls that arrive while statements are
//! running queue (`queue`), and the next runner free writes every alike call queued meanwhile in
//! one statement (`rows_values`, the shape's counts multiplied), atomic on its own: one commit,
//! one round trip, one executor start for all of them instead of one each. A build too large
//! for one statement's parameters goes through a write transaction.
//!
//! If a batch fails, nothing of it is kept (one statement) and each call is written again alone,
//! so only the call at fault gets the error. A caller that goes away does not strand the others:
//! runners are tasks of their own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use buildhooks_entity::{build, event, task, webhook_delivery};
use sea_orm::{ConnectionTrait, QueryResult, Statement, Value};
use tokio::sync::oneshot;

use super::rows_values::{push_values, text, Shape};
use crate::outbox::columns::{returned_ids, with_ids, ReturnedIds};
use crate::queue::Queue;
use crate::{Db, Result};

/// Most calls written in one statement.
const MAX_BATCH: usize = 32;

/// A new build with its tasks (every column set, ids drawn), its events and outbox rows (each
/// with the 0-based position of its event).
pub(crate) struct NewBuild {
    pub build: build::ActiveModel,
    pub tasks: Vec<task::ActiveModel>,
    pub events: Vec<event::ActiveModel>,
    pub rows: Vec<(usize, webhook_delivery::ActiveModel)>,
}

impl NewBuild {
    /// Calls of one kind make one shape when written together.
    fn kind(&self) -> (usize, usize, usize) {
        (self.tasks.len(), self.events.len(), self.rows.len())
    }
}

/// The queued calls and what the runners wrote.
#[derive(Default)]
pub(crate) struct Batches {
    queue: Queue<Job>,
    /// Statements run (batches, and calls written again alone after a batch failed).
    statements: AtomicU64,
    /// Calls whose build was written.
    written: AtomicU64,
    /// Batches that failed (their calls then written alone).
    failed: AtomicU64,
}

/// What the new builds' runners did since the database was opened.
#[derive(Clone, Copy, Debug, Default)]
pub struct NewBuildsNow {
    /// Statements that wrote new builds.
    pub statements: u64,
    /// New builds written by them (more than `statements` when calls were written together).
    pub builds: u64,
    /// Batches that failed, their calls then written alone (only the one at fault fails).
    pub failed_batches: u64,
}

struct Job {
    write: NewBuild,
    told: oneshot::Sender<Result<Vec<webhook_delivery::Model>>>,
}

impl Batches {
    /// Writes `write` (which `Shape::fits` alone), with other calls queued meanwhile; returns
    /// its outbox rows as written, once committed.
    pub(crate) async fn write(
        self: &Arc<Self>,
        db: &Db,
        write: NewBuild,
    ) -> Result<Vec<webhook_delivery::Model>> {
        let (told, answer) = oneshot::channel();
        self.queue
            .call(Job { write, told }, answer, || {
                let batches = self.clone();
                let db = db.clone();
                tokio::spawn(async move { batches.run(&db).await });
            })
            .await
    }

    /// What the runners did so far.
    pub(crate) fn now(&self) -> NewBuildsNow {
        NewBuildsNow {
            statements: self.statements.load(Ordering::Relaxed),
            builds: self.written.load(Ordering::Relaxed),
            failed_batches: self.failed.load(Ordering::Relaxed),
        }
    }

    /// Writes batches until the queue is empty.
    async fn run(&self, db: &Db) {
        let mut runner = self.queue.runner();
        while let Some(jobs) = runner.next(take_alike) {
            self.run_batch(db, jobs).await;
        }
    }

    /// Writes `jobs` in one statement, or one by one if that fails.
    async fn run_batch(&self, db: &Db, jobs: Vec<Job>) {
        if jobs.len() > 1 {
            let writes: Vec<&NewBuild> = jobs.iter().map(|j| &j.write).collect();
            self.statements.fetch_add(1, Ordering::Relaxed);
            match run(db, &writes).await {
                Ok(ids) => {
                    self.written.fetch_add(jobs.len() as u64, Ordering::Relaxed);
                    for job in jobs {
                        let _ = job.told.send(as_written(job.write, &ids));
                    }
                    return;
                }
                Err(error) => {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%error, "a batch of new builds failed; writing them alone")
                }
            }
        }
        for job in jobs {
            self.statements.fetch_add(1, Ordering::Relaxed);
            let answer = match run(db, &[&job.write]).await {
                Ok(ids) => {
                    self.written.fetch_add(1, Ordering::Relaxed);
                    as_written(job.write, &ids)
                }
                Err(error) => Err(error),
            };
            let _ = job.told.send(answer);
        }
    }
}

/// Whether a new build with `tasks` tasks, `events` events and `rows` outbox rows is written in
/// one statement (its parameters within PostgreSQL's limit); a larger one goes through a write
/// transaction.
pub(crate) fn fits(tasks: usize, events: usize, rows: usize) -> bool {
    Shape::new_build(tasks, events, rows).fits()
}

/// The oldest job and the next ones of its kind, as many as the largest power of two up to
/// `MAX_BATCH` that fits one statement's parameters allows (few sizes: few statement texts,
/// each prepared once per connection); the others stay queued, in order.
fn take_alike(jobs: &mut Vec<Job>) -> Vec<Job> {
    let kind = jobs[0].write.kind();
    let alike = jobs.iter().filter(|j| j.write.kind() == kind).count();
    let mut n = 1;
    while n * 2 <= alike.min(MAX_BATCH) && shape(kind, n * 2).fits() {
        n *= 2;
    }
    let mut taken = Vec::with_capacity(n);
    let mut kept = Vec::with_capacity(jobs.len() - n);
    for job in jobs.drain(..) {
        if taken.len() < n && job.write.kind() == kind {
            taken.push(job);
        } else {
            kept.push(job);
        }
    }
    *jobs = kept;
    taken
}

/// The shape of `n` calls of `kind` written together.
fn shape((tasks, events, rows): (usize, usize, usize), n: usize) -> Shape {
    Shape::new_builds(n, n * tasks, n * events, n * rows)
}

/// One statement writing `writes` (all of one kind); the ids their outbox rows came back with.
async fn run(db: &Db, writes: &[&NewBuild]) -> Result<ReturnedIds> {
    let shape = shape(writes[0].kind(), writes.len());
    let values = values(writes, shape)?;
    let conn = db.conn();
    let statement =
        Statement::from_sql_and_values(conn.get_database_backend(), &*text(shape), values);
    if shape.rows == 0 {
        conn.execute(statement).await?;
        return Ok(HashMap::new());
    }
    let returned: Vec<QueryResult> = conn.query_all(statement).await?;
    returned_ids(&returned)
}

/// The statement's values, table by table: every build, every task, every event, every outbox
/// row (its `event_id` the 1-based position of its event among all the statement's events).
fn values(writes: &[&NewBuild], shape: Shape) -> Result<Vec<Value>> {
    let mut out = Vec::with_capacity(shape.params());
    for w in writes {
        push_values(&mut out, &w.build, true, None)?;
    }
    for w in writes {
        for task in &w.tasks {
            push_values(&mut out, task, true, None)?;
        }
    }
    for w in writes {
        for event in &w.events {
            push_values(&mut out, event, false, None)?;
        }
    }
    let mut before = 0;
    for w in writes {
        for (position, row) in &w.rows {
            let position = Value::from((before + position + 1) as i64);
            push_values(&mut out, row, false, Some(("event_id", position)))?;
        }
        before += w.events.len();
    }
    Ok(out)
}

/// A call's outbox rows with the ids they came back with.
fn as_written(write: NewBuild, ids: &ReturnedIds) -> Result<Vec<webhook_delivery::Model>> {
    with_ids(write.rows.into_iter().map(|(_, row)| row).collect(), ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(tasks: usize) -> (Job, oneshot::Receiver<Result<Vec<webhook_delivery::Model>>>) {
        let (told, answer) = oneshot::channel();
        let write = NewBuild {
            build: Default::default(),
            tasks: vec![Default::default(); tasks],
            events: vec![Default::default()],
            rows: vec![(0, Default::default())],
        };
        (Job { write, told }, answer)
    }

    #[test]
    fn alike_calls_are_taken_in_powers_of_two_and_the_rest_keep_their_order() {
        let mut jobs: Vec<Job> = [1, 2, 1, 1, 1, 2, 1]
            .into_iter()
            .map(|t| job(t).0)
            .collect();
        let taken = take_alike(&mut jobs);
        assert_eq!(taken.len(), 4);
        assert!(taken.iter().all(|j| j.write.tasks.len() == 1));
        let left: Vec<usize> = jobs.iter().map(|j| j.write.tasks.len()).collect();
        assert_eq!(left, vec![2, 2, 1]);
    }

    #[test]
    fn a_batch_of_n_calls_has_n_times_the_parameters_of_one() {
        assert_eq!(
            shape((1, 2, 1), 8).params(),
            8 * shape((1, 2, 1), 1).params()
        );
        let largest = (1..=MAX_BATCH)
            .filter(|n| shape((50, 100, 100), *n).fits())
            .max();
        assert!(
            largest < Some(MAX_BATCH),
            "a large kind is batched fewer at a time"
        );
    }
}
