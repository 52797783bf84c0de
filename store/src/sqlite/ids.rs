//! SQLite: a new build's and its tasks' ids drawn before their write, as PostgreSQL draws them
//! from its sequences, so that the payloads can be rendered before the write gate is taken.
//! The tables' ids are `AUTOINCREMENT`: SQLite gives a row inserted without an id one above
//! both the largest id and the table's `sqlite_sequence` entry. Drawing moves that entry up by
//! the ids taken (a short write, sent with other writes by `batch`), so a row inserted later by
//! any path or process gets a larger id, and ids keep the order in which they were drawn (what
//! `runs::latest_build` and `runs::previous_finished` rely on), as a sequence's do. Ids drawn
//! for a write that then fails are skipped (gaps, as rollbacks leave anyway).
//!
//! The calls queued meanwhile draw together (`IdDraws`): one write moves each entry up by all
//! their ids, which are shared out in the calls' order, and it goes with the next batch of
//! writes (`batch`: new builds among them) to SQLite's writer thread. Measured before (each
//! call's draw four statements of its own, draws batched apart from the builds): draws held the
//! write gate about a sixth of the time at saturation; after, 8% fewer instructions per
//! `createBuild` (README, Benchmark).
//!
//! A draw goes first in its batch and is told its ids as soon as its statements ran, before
//! the batch's commit (`batch::Told::BeforeCommit`): its calls render their payloads while the
//! rest of the batch runs, instead of leaving the CPU idle until the commit (README, "Where
//! issue 21's targets stand"). Their writes go in a later batch, which commits after this one. Should this batch's commit fail (the disk), the ids go back to be drawn
//! again, and of two calls given the same id the second to write fails on the key: never two
//! builds with one id, and ids still keep the order of their draws (the draws are serial).

use std::sync::{Arc, LazyLock};

use sea_orm::{DbErr, Value};
use tokio::sync::oneshot;

use crate::queue::{tell_each, Queue};
use crate::sqlite::batch::Told;
use crate::sqlite::own_writer::Write;
use crate::{Db, Result};

/// Most calls drawn for in one write.
const MAX_CALLS: usize = 256;

/// Creates the tables' entries if they have none (a table that never had a row), then moves
/// them up by the first parameter's builds and the second's tasks, returning the new values: the last ids drawn.
static DRAW: LazyLock<Arc<str>> = LazyLock::new(|| {
    let ensure = |table: &str| {
        format!(
            "INSERT INTO sqlite_sequence (name, seq) SELECT '{table}', (SELECT COALESCE(MAX(id), \
             0) FROM \"{table}\") WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = \
             '{table}')"
        )
    };
    format!(
        "{}; {}; UPDATE sqlite_sequence SET seq = seq + ? WHERE name = 'build' RETURNING seq; \
         UPDATE sqlite_sequence SET seq = seq + ? WHERE name = 'task' RETURNING seq",
        ensure("build"),
        ensure("task")
    )
    .into()
});

/// The queued draws, one runner at a time (the draws go through the one write gate anyway).
pub(crate) struct IdDraws {
    queue: Queue<Job>,
}

impl Default for IdDraws {
    fn default() -> Self {
        IdDraws {
            queue: Queue::with_runners(1),
        }
    }
}

/// A call's draw: its tasks, and where its ids go.
struct Job {
    tasks: usize,
    told: oneshot::Sender<Result<(i32, Vec<i32>)>>,
}

/// Draws the ids of a new build and of its `tasks` tasks, with other calls' queued meanwhile.
pub(crate) async fn draw(db: &Db, tasks: usize) -> Result<(i32, Vec<i32>)> {
    let draws = db.id_draws()?;
    let (told, answer) = oneshot::channel();
    draws
        .queue
        .call(Job { tasks, told }, answer, || {
            let draws = draws.clone();
            let db = db.clone();
            tokio::spawn(async move { draws.run(&db).await });
        })
        .await
}

impl IdDraws {
    /// Draws for the queued calls, each write for as many as `MAX_CALLS`.
    async fn run(&self, db: &Db) {
        let mut runner = self.queue.runner();
        while let Some(jobs) = runner.next_up_to(MAX_CALLS) {
            let tasks: Vec<usize> = jobs.iter().map(|j| j.tasks).collect();
            tell_each(jobs, draw_for(db, &tasks).await, |job| job.told);
        }
    }
}

/// Draws a build id and `tasks[i]` task ids for each call `i`, in order, in one write.
async fn draw_for(db: &Db, tasks: &[usize]) -> Result<Vec<(i32, Vec<i32>)>> {
    let all_tasks: usize = tasks.iter().sum();
    let values = vec![
        Value::from(tasks.len() as i64),
        Value::from(all_tasks as i64),
    ];
    let draw = Write::new(DRAW.clone(), values, Some(2));
    let rows = db.batches()?.send(db, draw, Told::BeforeCommit).await?;
    let last = |i: usize| -> Result<i64> {
        let row = rows.get(i);
        crate::sqlite::own_writer::id(
            row.ok_or_else(|| DbErr::Custom("no ids were drawn".into()))?,
            0,
        )
    };
    share_out(last(0)?, last(1)?, tasks)
}

/// The ids of each call, given the last build and task ids drawn for all of `tasks`.
fn share_out(last_build: i64, last_task: i64, tasks: &[usize]) -> Result<Vec<(i32, Vec<i32>)>> {
    let id = |n: i64| i32::try_from(n).map_err(|_| DbErr::Custom("ids of 32 bits ran out".into()));
    let first_build = last_build - tasks.len() as i64 + 1;
    let mut task = last_task - tasks.iter().sum::<usize>() as i64 + 1;
    let mut drawn = Vec::with_capacity(tasks.len());
    for (build, &n) in (first_build..).zip(tasks) {
        let ids = (task..task + n as i64).map(id).collect::<Result<_>>()?;
        drawn.push((id(build)?, ids));
        task += n as i64;
    }
    Ok(drawn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_drawn_together_are_shared_out_in_order() {
        let drawn = share_out(12, 105, &[2, 0, 3]).expect("ids");
        assert_eq!(
            drawn,
            vec![
                (10, vec![101, 102]),
                (11, vec![]),
                (12, vec![103, 104, 105])
            ]
        );
        assert!(share_out(i64::from(i32::MAX) + 1, 5, &[1]).is_err());
    }
}
