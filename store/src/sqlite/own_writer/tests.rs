//! Tests of SQLite's writer thread (`own_writer`): batches, savepoints, early telling.

use super::*;

fn write(sql: &str, values: Vec<Value>, returns: Option<usize>) -> Write {
    Write::new(sql.into(), values, returns)
}

/// How many rows each write of `done` returned, or its error.
fn rows_each(done: &Done) -> Vec<std::result::Result<usize, &DbErr>> {
    done.writes
        .iter()
        .map(|w| w.as_ref().map(Vec::len))
        .collect()
}

/// A batch whose writes all succeed (no savepoints) commits them, each with its own rows;
/// one that fails after others ran is undone alone when the batch runs again.
#[test]
fn a_failing_write_after_good_ones_leaves_them_committed() {
    let conn = Connection::open_in_memory().expect("conn");
    conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY)")
        .expect("table");
    let insert = |k: i64| {
        write(
            "INSERT INTO t (k) VALUES (?) RETURNING k",
            vec![k.into()],
            Some(1),
        )
    };
    let done = run(&mut Prepared::new(&conn), &mut [insert(1), insert(2)]).expect("committed");
    let keys: Vec<Option<i64>> = done
        .writes
        .iter()
        .map(|w| int(&w.as_ref().expect("rows")[0], 0).expect("k"))
        .collect();
    assert_eq!(keys, [Some(1), Some(2)]);
    // 3 is written, 1 fails on the key after it, 4 comes after: 3 and 4 commit.
    let done = run(
        &mut Prepared::new(&conn),
        &mut [insert(3), insert(1), insert(4)],
    )
    .expect("committed");
    let failed: Vec<bool> = done.writes.iter().map(|w| w.is_err()).collect();
    assert_eq!(failed, [false, true, false]);
    let count: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .expect("count");
    assert_eq!(count, 4);
    assert!(conn.is_autocommit(), "no transaction left open");
}

/// A transaction a failed batch left open is rolled back before the next batch, which
/// then commits.
#[test]
fn a_transaction_left_open_is_ended_before_the_next_batch() {
    let mut conn = Connection::open_in_memory().expect("conn");
    conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY); BEGIN; INSERT INTO t VALUES (9)")
        .expect("left open");
    assert!(!conn.is_autocommit());
    settle(&mut conn, || panic!("rolled back: no need to open again"));
    assert!(conn.is_autocommit(), "no transaction left open");
    let insert = write("INSERT INTO t (k) VALUES (?)", vec![1.into()], Some(0));
    let done = run(&mut Prepared::new(&conn), &mut [insert]).expect("the next batch commits");
    assert!(done.writes[0].is_ok());
    let keys: Vec<i64> = conn
        .prepare("SELECT k FROM t")
        .expect("select")
        .query_map([], |r| r.get(0))
        .expect("rows")
        .collect::<rusqlite::Result<_>>()
        .expect("keys");
    assert_eq!(keys, [1], "the open transaction's write was undone");
}

/// Plain parameters take the values in order across statements, numbered ones by number
/// (gaps left unbound); a write returning a wrong number of rows is undone alone.
#[test]
fn writes_bind_their_values_and_fail_alone() {
    let conn = Connection::open_in_memory().expect("conn");
    conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
        .expect("table");
    let done = run(
        &mut Prepared::new(&conn),
        &mut [
            write(
                "INSERT INTO t VALUES (?, ?); INSERT INTO t VALUES (?, ?) RETURNING k, v",
                vec![1.into(), "a".into(), 2.into(), Value::String(None)],
                Some(1),
            ),
            write(
                "INSERT INTO t (k) VALUES (?1); UPDATE t SET v = ?2 WHERE k = 2 RETURNING v",
                vec![3.into(), "b".into()],
                None,
            ),
            write(
                "INSERT INTO t (k) VALUES (?) RETURNING k",
                vec![4.into()],
                Some(2),
            ),
            write(
                "INSERT INTO t (k) VALUES (?)",
                vec![5.into(), 6.into()],
                None,
            ),
        ],
    )
    .expect("committed");
    let outcomes = rows_each(&done);
    assert!(
        matches!(outcomes[..], [Ok(1), Ok(1), Err(_), Err(_)]),
        "{outcomes:?}"
    );
    let first = &done.writes[0].as_ref().expect("rows")[0];
    assert_eq!(&*first.names, ["k", "v"]);
    assert_eq!(int(first, 0).expect("k"), Some(2));
    assert_eq!(
        text(&done.writes[1].as_ref().expect("rows")[0], 0).expect("v"),
        "b"
    );
    let keys: Vec<(i64, Option<String>)> = conn
        .prepare("SELECT k, v FROM t ORDER BY k")
        .expect("select")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<rusqlite::Result<_>>()
        .expect("keys");
    assert_eq!(
        keys,
        [(1, Some("a".into())), (2, Some("b".into())), (3, None)]
    );
}

/// What writes told early were told: each one's first key (or its error) and how many rows
/// another connection saw committed at that moment.
type Told = std::sync::Arc<std::sync::Mutex<Vec<(Result<Option<i64>>, i64)>>>;

/// An early teller that notes what it is told in `told`, reading `path` from a connection of
/// its own meanwhile.
fn noting(told: &Told, path: &Path) -> Early {
    let (told, path) = (told.clone(), path.to_owned());
    Box::new(move |rows| {
        let other = Connection::open(&path).expect("another connection");
        let committed: i64 = other
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count");
        let key = rows.and_then(|rows| int(&rows[0], 0));
        told.lock().expect("told").push((key, committed));
    })
}

/// A write told early gets its rows before the batch's commit (another connection sees
/// nothing committed yet), and once only when a later write's failure runs the batch again
/// in savepoints; one that fails is told its error, after the batch.
#[test]
fn a_write_told_early_is_told_before_the_commit_once() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("early.db");
    let conn = Connection::open(&path).expect("conn");
    conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (k INTEGER PRIMARY KEY)")
        .expect("table");
    let told = Told::default();
    let insert = |k: i64| {
        write(
            "INSERT INTO t (k) VALUES (?) RETURNING k",
            vec![k.into()],
            Some(1),
        )
    };
    let mut early = insert(1);
    early.early = Some(noting(&told, &path));
    // 1 is told, then the second 1 fails on the key: the batch runs again in savepoints.
    let mut writes = vec![early, insert(3), insert(1)];
    let done = run(&mut Prepared::new(&conn), &mut writes);
    let done = tell_early(writes, done).expect("committed");
    let outcomes = rows_each(&done);
    assert!(
        matches!(outcomes[..], [Ok(_), Ok(1), Err(_)]),
        "{outcomes:?}"
    );
    let seen: Vec<_> = told.lock().expect("told").drain(..).collect();
    assert!(matches!(seen[..], [(Ok(Some(1)), 0)]), "{seen:?}");
    // An early write that fails (3 is taken) is told its error once the batch is done.
    let mut failing = insert(3);
    failing.early = Some(noting(&told, &path));
    let mut writes = vec![failing, insert(4)];
    let done = run(&mut Prepared::new(&conn), &mut writes);
    tell_early(writes, done).expect("committed");
    let seen: Vec<_> = told.lock().expect("told").drain(..).collect();
    assert!(matches!(seen[..], [(Err(_), 3)]), "{seen:?}");
}

/// Asked for a checkpoint (`checkpoint::Restart`), the thread runs one once its next batch has
/// been told, and the batch after that restarts the WAL (new salts in its header). SQLite's own
/// checkpoint is off and no checkpointer runs: without the thread's, the WAL would never restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asked_for_a_checkpoint_the_thread_lets_the_wal_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("w.db");
    let setup = Connection::open(&path).expect("file");
    let mode: String = setup
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .expect("wal");
    assert_eq!(mode, "wal");
    setup
        .execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
        .expect("table");
    let restart = Arc::new(Restart::default());
    let settings = Settings {
        synchronous: "NORMAL",
        wal_autocheckpoint: 0,
        restart: restart.clone(),
    };
    let writer = OwnWriter::open(&path, &settings).expect("writer");
    let batch = |k: i64| {
        let (told, answer) = tokio::sync::oneshot::channel();
        let insert = write(
            "INSERT INTO t (k, v) VALUES (?, zeroblob(20000))",
            vec![k.into()],
            Some(0),
        );
        let then: Then = Box::new(move |done| {
            let _ = told.send(done.map(|d| d.writes.len()));
        });
        assert!(writer.send(vec![insert], then).is_ok(), "sent");
        async move { answer.await.expect("told").expect("committed") }
    };
    let salts = || {
        let wal = std::fs::read(dir.path().join("w.db-wal")).expect("wal file");
        wal[16..24].to_vec()
    };
    for k in 0..20 {
        batch(k).await;
    }
    let first = salts();
    batch(20).await;
    assert_eq!(salts(), first, "not asked: the WAL goes on");
    let asked = tokio::spawn({
        let restart = restart.clone();
        async move { restart.ask().await }
    });
    while !restart.wanted() {
        tokio::task::yield_now().await;
    }
    batch(21).await;
    asked.await.expect("asked");
    assert!(!restart.wanted(), "the thread checkpointed and said so");
    batch(22).await;
    assert_ne!(salts(), first, "the WAL restarted");
    let count: i64 = setup
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .expect("count");
    assert_eq!(count, 23);
}
