//! PostgreSQL: the first statement of a new build (its ids drawn from the tables' sequences and
//! its organization's enabled endpoints read, before anything is written), for every call queued
//! meanwhile at once (`queue`): one statement, whatever the calls' organizations and task counts
//! (one JSON parameter, so one text prepared once per connection). Ids are drawn in the calls'
//! order in the queue, so builds keep the order their calls were made in.

use std::sync::{Arc, LazyLock};

use buildhooks_entity::webhook_endpoint;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, QueryResult, Statement, Value};
use tokio::sync::oneshot;

pub(crate) use crate::new_build::Drawn;
use crate::queue::{tell_each, Queue};
use crate::{Db, Result};

/// Most calls drawn for in one statement.
const MAX_BATCH: usize = 64;

/// `$1`: a JSON array of `{"n", "org_id", "tasks"}`. Per call (in `n` order) one row when its
/// organization has no enabled endpoint (the endpoint columns NULL), else one per endpoint, in
/// position order. The sequences are the ones the tables' `serial` ids were made with, named
/// once when the statement is prepared.
static DRAW: LazyLock<String> = LazyLock::new(|| {
    let endpoints = crate::built::endpoints(sea_orm::DbBackend::Postgres, 0, true).sql;
    // The ids in a CTE: with its volatile `nextval` it is computed once, row by row in the
    // calls' order, before the join (as a lateral beside the endpoints' the planner could have
    // drawn once per endpoint row).
    format!(
        "WITH r AS (SELECT r.n, r.org_id, \
           nextval('build_id_seq'::regclass)::int AS drawn_build_id, \
           (SELECT json_agg(nextval('task_id_seq'::regclass)::int) \
             FROM generate_series(1, r.tasks)) AS drawn_task_ids \
           FROM json_to_recordset($1::json) AS r(n int, org_id int, tasks int)) \
         SELECT r.n AS drawn_n, r.drawn_build_id, r.drawn_task_ids, e.* FROM r \
         LEFT JOIN LATERAL ({}) AS e ON true ORDER BY r.n, e.\"position\"",
        lateral(&endpoints)
    )
});

/// The endpoints' select (`$1` the organization, `$2` deleted, `$3` enabled) for the row `r`.
fn lateral(endpoints: &str) -> String {
    endpoints
        .replace("$3", "true")
        .replace("$2", "false")
        .replace("$1", "r.org_id")
}

/// The queued draws.
#[derive(Default)]
pub(crate) struct Draws {
    queue: Queue<Job>,
}

struct Job {
    org_id: i32,
    tasks: usize,
    told: oneshot::Sender<Result<Drawn>>,
}

impl Draws {
    /// The ids of a new build with `tasks` tasks and `org_id`'s enabled endpoints, drawn with
    /// other calls' queued meanwhile.
    pub(crate) async fn draw(
        self: &Arc<Self>,
        db: &Db,
        org_id: i32,
        tasks: usize,
    ) -> Result<Drawn> {
        let (told, answer) = oneshot::channel();
        let job = Job {
            org_id,
            tasks,
            told,
        };
        self.queue
            .call(job, answer, || {
                let draws = self.clone();
                let db = db.clone();
                tokio::spawn(async move { draws.run(&db).await });
            })
            .await
    }

    async fn run(&self, db: &Db) {
        let mut runner = self.queue.runner();
        while let Some(jobs) = runner.next_up_to(MAX_BATCH) {
            let asked: Vec<(i32, usize)> = jobs.iter().map(|j| (j.org_id, j.tasks)).collect();
            tell_each(jobs, draw(db, &asked).await, |job| job.told);
        }
    }
}

/// Draws for each of `asked` (organization, tasks), in order, in one statement.
async fn draw(db: &Db, asked: &[(i32, usize)]) -> Result<Vec<Drawn>> {
    let calls: Vec<serde_json::Value> = asked
        .iter()
        .enumerate()
        .map(|(n, (org_id, tasks))| serde_json::json!({ "n": n, "org_id": org_id, "tasks": tasks }))
        .collect();
    let values: Vec<Value> = vec![serde_json::Value::from(calls).to_string().into()];
    let conn = db.conn();
    let rows = conn
        .query_all(Statement::from_sql_and_values(
            conn.get_database_backend(),
            DRAW.as_str(),
            values,
        ))
        .await?;
    let mut drawn: Vec<Drawn> = Vec::with_capacity(asked.len());
    for row in &rows {
        let n: i32 = row.try_get("", "drawn_n")?;
        if n as usize == drawn.len() {
            let (_, tasks) = asked
                .get(drawn.len())
                .ok_or_else(|| DbErr::Custom("drawn rows for a call not asked".into()))?;
            drawn.push(first_of_call(row, *tasks)?);
        }
        if n as usize + 1 != drawn.len() {
            return Err(DbErr::Custom("drawn rows out of order".into()));
        }
        let Some(call) = drawn.last_mut() else {
            return Err(DbErr::Custom("drawn rows out of order".into()));
        };
        if row.try_get::<Option<i32>>("", "id")?.is_some() {
            call.endpoints
                .push(webhook_endpoint::Model::from_query_result(row, "")?);
        }
    }
    if drawn.len() != asked.len() {
        return Err(DbErr::Custom("too few calls were drawn for".into()));
    }
    Ok(drawn)
}

/// A call's ids, from its first row.
fn first_of_call(row: &QueryResult, tasks: usize) -> Result<Drawn> {
    let build_id: i32 = row.try_get("", "drawn_build_id")?;
    let task_ids: Option<serde_json::Value> = row.try_get("", "drawn_task_ids")?;
    let task_ids: Vec<i32> = match task_ids {
        Some(ids) => serde_json::from_value(ids)
            .map_err(|e| DbErr::Custom(format!("drawn task ids: {e}")))?,
        None => Vec::new(),
    };
    if task_ids.len() != tasks {
        return Err(DbErr::Custom("drawn task ids: too few".into()));
    }
    Ok(Drawn {
        build_id,
        task_ids,
        endpoints: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_draw_reads_each_calls_endpoints_with_one_parameter() {
        let sql = DRAW.as_str();
        assert!(sql.contains("$1::json"));
        for n in 2..=5 {
            assert!(!sql.contains(&format!("${n}")), "${n} in {sql}");
        }
        assert!(sql.contains("r.org_id"), "{sql}");
        assert_eq!(
            lateral("SELECT * FROM t WHERE org_id = $1 AND deleted = $2 AND enabled = $3"),
            "SELECT * FROM t WHERE org_id = r.org_id AND deleted = false AND enabled = true"
        );
    }
}
