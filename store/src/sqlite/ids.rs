//! SQLite: a new build's and its tasks' ids drawn before their write, as PostgreSQL draws them
//! from its sequences, so that the payloads can be rendered before the write gate is taken.
//! The tables' ids are `AUTOINCREMENT`: SQLite gives a row inserted without an id one above
//! both the largest id and the table's `sqlite_sequence` entry. Drawing moves that entry up by
//! the ids taken (a short write, sent with other writes by `batch`), so a row inserted later by
//! any path or process gets a larger id, and ids keep the order in which they were drawn (what
//! `runs::latest_build` and `runs::previous_finished` rely on), as a sequence's do. Ids drawn
//! for a write that then fails are skipped (gaps, as rollbacks leave anyway).
//!
//! The draw does not wait for its commit (the group's, shared with other writers): nothing is
//! written with the ids before then, since the build's own write comes after it through the
//! same gate. Should that commit fail, the ids may be drawn again, and the second build written
//! with them fails on the table's key: an error, never a row overwritten.

use std::sync::{Arc, LazyLock};

use sea_orm::{DbErr, Value};

use crate::{Db, Result};

/// Creates the tables' entries if they have none (a table that never had a row), then moves
/// them up by one build and `?1` tasks, returning the new values: the last ids drawn.
static DRAW: LazyLock<Arc<str>> = LazyLock::new(|| {
    let ensure = |table: &str| {
        format!(
            "INSERT INTO sqlite_sequence (name, seq) SELECT '{table}', (SELECT COALESCE(MAX(id), \
             0) FROM \"{table}\") WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = \
             '{table}')"
        )
    };
    format!(
        "{}; {}; UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'build' RETURNING seq; \
         UPDATE sqlite_sequence SET seq = seq + ? WHERE name = 'task' RETURNING seq",
        ensure("build"),
        ensure("task")
    )
    .into()
});

/// Draws the ids of a new build and of its `tasks` tasks.
pub(crate) async fn draw(db: &Db, tasks: usize) -> Result<(i32, Vec<i32>)> {
    let rows = db
        .batches()?
        .write(db, DRAW.clone(), vec![Value::from(tasks as i64)], 2, false)
        .await?;
    let last = |i: usize| -> Result<i32> {
        let seq: i64 = rows
            .get(i)
            .ok_or_else(|| DbErr::Custom("no ids were drawn".into()))?
            .try_get_by_index(0)?;
        i32::try_from(seq).map_err(|_| DbErr::Custom("ids of 32 bits ran out".into()))
    };
    let (build, last_task) = (last(0)?, last(1)?);
    let first_task = last_task - tasks as i32 + 1;
    Ok((build, (first_task..=last_task).collect()))
}
