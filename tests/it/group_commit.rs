//! The write path's group commit (SQLite; on PostgreSQL the same calls are plain transactions):
//! many concurrent writers, some failing after their writes and some abandoned mid-way, must
//! leave exactly the writes of those whose `commit` returned Ok.

use std::time::Duration;

use buildhooks_entity::organization;
use buildhooks_schema::Store;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::utils::database::TestDatabase;

/// What a writer does after its insert.
#[derive(Clone, Copy, PartialEq, Debug)]
enum End {
    Commit,
    /// Returns an error: the transaction is dropped without a commit.
    Fail,
    /// Gives up after 1 ms: while waiting for the gate, or after writing without a commit.
    Abandon,
    /// Its future is dropped after it wrote, while it holds the gate (its client went away).
    Cancel,
}

fn end_of(i: usize) -> End {
    match i % 5 {
        1 => End::Fail,
        3 => End::Abandon,
        4 => End::Cancel,
        _ => End::Commit,
    }
}

async fn writer(store: Store, i: usize) -> Result<(), String> {
    let begin = store.begin_write();
    let w = if end_of(i) == End::Abandon {
        match tokio::time::timeout(Duration::from_millis(1), begin).await {
            Ok(w) => w,
            Err(_) => return Err("gave up waiting for the gate".into()),
        }
    } else {
        begin.await
    }
    .map_err(|e| e.to_string())?;
    organization::ActiveModel {
        name: Set(format!("group-{i}")),
        platform: Set("github".into()),
        created_at: Set(0),
        ..Default::default()
    }
    .insert(w.txn())
    .await
    .map_err(|e| e.to_string())?;
    match end_of(i) {
        End::Commit => w.commit().await.map_err(|e| e.to_string()),
        End::Fail | End::Abandon => Err("refused after writing".into()),
        End::Cancel => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            w.commit().await.map_err(|e| e.to_string())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_keep_exactly_the_committed_writes() {
    let db = TestDatabase::new().await;
    let store = buildhooks_server::db::connect(&db.url)
        .await
        .expect("connect");
    let mut tasks = Vec::new();
    for i in 0..60 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let result = match end_of(i) {
                End::Cancel => tokio::time::timeout(Duration::from_millis(5), writer(store, i))
                    .await
                    .unwrap_or_else(|_| Err("cancelled".into())),
                _ => writer(store, i).await,
            };
            (i, result)
        }));
    }
    let mut committed = Vec::new();
    for task in tasks {
        let (i, result) = tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("no writer hangs")
            .expect("writer task");
        match (end_of(i), result) {
            (End::Commit, Ok(())) => committed.push(format!("group-{i}")),
            (End::Fail | End::Abandon | End::Cancel, Err(_)) => {}
            (end, other) => panic!("writer {i} ({end:?}) ended with {other:?}"),
        }
    }
    // A writer after all of them still gets the gate.
    let w = tokio::time::timeout(Duration::from_secs(10), store.begin_write())
        .await
        .expect("the gate is free again")
        .expect("begin");
    w.commit().await.expect("commit");
    let mut names: Vec<String> = organization::Entity::find()
        .filter(organization::Column::Name.starts_with("group-"))
        .all(store.conn())
        .await
        .expect("read")
        .into_iter()
        .map(|o| o.name)
        .collect();
    names.sort();
    committed.sort();
    assert_eq!(committed.len(), 24);
    assert_eq!(names, committed);
}

/// What must follow a commit (handing the new outbox rows to the dispatcher) runs even when the
/// writer's request is dropped while it waits for the commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_commit_runs_when_the_writer_is_dropped_while_waiting() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use futures::FutureExt;

    let db = TestDatabase::new().await;
    let store = buildhooks_server::db::connect(&db.url)
        .await
        .expect("connect");
    // A commit finishes in its first poll only when the committer wins a race against this
    // thread (seen on a loaded machine); such a round does not drop a waiting writer, so the
    // test tries again until one does.
    let mut dropped_while_waiting = 0;
    for round in 0..5 {
        let name = format!("dropped-while-committing-{round}");
        let ran = Arc::new(AtomicBool::new(false));
        let w = store.begin_write().await.expect("begin");
        organization::ActiveModel {
            name: Set(name.clone()),
            platform: Set("github".into()),
            created_at: Set(0),
            ..Default::default()
        }
        .insert(w.txn())
        .await
        .expect("insert");
        let flag = ran.clone();
        // Polled once, then dropped: the commit is already on its way in its own task.
        let first_poll = w
            .commit_then(Box::new(move || flag.store(true, Ordering::SeqCst)))
            .now_or_never();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !ran.load(Ordering::SeqCst) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "after-commit never ran"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let found = organization::Entity::find()
            .filter(organization::Column::Name.eq(name.as_str()))
            .one(store.conn())
            .await
            .expect("read");
        assert!(found.is_some(), "the dropped writer's commit went through");
        if first_poll.is_none() {
            dropped_while_waiting += 1;
            break;
        }
    }
    assert_eq!(
        dropped_while_waiting, 1,
        "no round dropped a writer while its commit was on its way"
    );
}
