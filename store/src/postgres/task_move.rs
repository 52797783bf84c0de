//! A task's move in one statement instead of three: check and change the task and read the
//! states of its build's other latest runs. The move's rules (where it may come from, which
//! timestamps it sets) are the caller's `TaskMove`, written into the statement; its text depends
//! on the move only, so it is prepared once per connection. The status names in it are the
//! domain's constants, never client input.

use buildhooks_entity::task as task_row;
use sea_orm::{ConnectionTrait, FromQueryResult, Statement};

use crate::moves::{parse_states, Moved, TaskMove};
use crate::Result;

fn statement_text(mv: &TaskMove) -> String {
    let from: Vec<String> = mv.from.iter().map(|s| format!("'{s}'")).collect();
    let mut set = vec!["status = $3", "status_timestamp = $4"];
    if mv.stamps.scheduled {
        set.push("scheduled_timestamp = $4");
    }
    if mv.stamps.executing {
        set.push("executing_timestamp = COALESCE(task.executing_timestamp, $4)");
    }
    if mv.stamps.final_status {
        set.push("final_status_timestamp = $4");
    }
    // `others` reads the snapshot before the update: the other latest runs of the build, whose
    // row this transaction has locked, so no sibling changes meanwhile.
    format!(
        "WITH old AS (SELECT id, status FROM task WHERE id = $1 AND org_id = $2 \
           AND NOT superseded AND status IN ({from})), \
         changed AS (UPDATE task SET {set} FROM old WHERE task.id = old.id RETURNING task.*) \
         SELECT changed.*, old.status AS old_status, \
           (SELECT string_agg(DISTINCT s.status || ':' || s.optional::text, ',') FROM task s \
             WHERE s.org_id = $2 AND s.build_id = changed.build_id AND NOT s.superseded \
             AND s.id <> changed.id) AS others \
         FROM changed JOIN old ON old.id = changed.id",
        from = from.join(", "),
        set = set.join(", "),
    )
}

/// Runs the move; `None` when it changed nothing.
pub(crate) async fn run(
    db: &impl ConnectionTrait,
    org_id: i32,
    task_id: i32,
    mv: &TaskMove,
    now: i64,
) -> Result<Option<Moved>> {
    if mv.from.is_empty() {
        return Ok(None);
    }
    let stmt = Statement::from_sql_and_values(
        db.get_database_backend(),
        mv.text(statement_text),
        [task_id.into(), org_id.into(), mv.to.into(), now.into()],
    );
    let Some(row) = db.query_one(stmt).await? else {
        return Ok(None);
    };
    Ok(Some(Moved {
        task: task_row::Model::from_query_result(&row, "")?,
        old_status: row.try_get("", "old_status")?,
        others: parse_states(row.try_get("", "others")?)?,
    }))
}
