//! SQLite's WAL checkpoints, off the write gate. By default SQLite checkpoints inside the commit
//! that takes the WAL past 1,000 pages: that commit copies every page back into the database
//! file and syncs both files while the write gate is held, a stall of several milliseconds that
//! every queued writer waits out (about three a second at 500 deliveries/s). Here a connection of
//! its own checkpoints PASSIVE (never waiting for readers or the writer) a few times a second, on
//! SQLite's own thread for that connection, so the copy and the syncs run beside the writer.
//!
//! The WAL restarts from its beginning only at a write that finds it all copied back. Below
//! saturation that is the usual case; at saturation a batch commits every millisecond or so
//! and the checkpointer, copying while they append, never catches up alone. Once the WAL
//! reaches `RESTART_PAGES`, the checkpointer asks SQLite's writer thread for the last copy
//! (`Restart`) and steps aside: the thread checkpoints between two batches, after the first
//! has been told its outcome and its gate's turn has ended, so no call waits on that copy's
//! syncs, and the next batch restarts the WAL. (Before, the writer's own checkpoint did it,
//! inside a commit, holding every call of the batch and the gate through two syncs, six times
//! a second at saturation: README, Benchmark.) That own checkpoint stays as the fallback at a
//! larger WAL (`WRITER_AUTOCHECKPOINT`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use tokio::sync::oneshot;

/// WAL pages after which the writer's commit checkpoints itself (SQLite's default is 1,000): a
/// fallback, should the thread's checkpoints between batches (`RESTART_PAGES`) not keep up.
pub(crate) const WRITER_AUTOCHECKPOINT: u32 = 16_000;

/// WAL pages from which the writer thread is asked to checkpoint between two batches, so that
/// the WAL restarts (16 MiB at 4 KiB pages).
const RESTART_PAGES: i64 = 4_000;

/// Pause between two checkpoints that each found little to copy.
const PAUSE: Duration = Duration::from_millis(100);

/// Pages copied by one checkpoint from which the next runs at once (the WAL grows fast).
const BUSY_PAGES: i64 = 1_000;

/// How long the checkpointer waits for the writer's checkpoint it asked for (the writer may
/// have no batch to run: the checkpointer then goes on, and catches up alone).
const RESTART_WAIT: Duration = Duration::from_millis(100);

/// The checkpoint that lets the WAL restart, asked of the writer thread (`own_writer`).
#[derive(Default)]
pub(crate) struct Restart {
    wanted: AtomicBool,
    done: tokio::sync::Notify,
    /// Checkpoints the writer thread ran when asked.
    runs: AtomicU64,
}

impl Restart {
    /// Asks the writer for its checkpoint and waits until it ran (or `RESTART_WAIT`): a
    /// checkpoint of ours running meanwhile would make the writer's find the WAL busy.
    pub(crate) async fn ask(&self) {
        self.wanted.store(true, Ordering::Relaxed);
        let _ = tokio::time::timeout(RESTART_WAIT, self.done.notified()).await;
    }

    /// Whether a checkpoint is asked for and not yet run.
    pub(crate) fn wanted(&self) -> bool {
        self.wanted.load(Ordering::Relaxed)
    }

    /// On the writer thread, between two batches: runs `checkpoint` if it was asked for.
    pub(crate) fn run_if_asked(&self, checkpoint: impl FnOnce()) {
        if self.wanted() {
            checkpoint();
            self.runs.fetch_add(1, Ordering::Relaxed);
            self.wanted.store(false, Ordering::Relaxed);
            self.done.notify_one();
        }
    }
}

/// The running checkpointer; dropping the last handle (with the last `Db` clone) stops it.
pub(crate) struct Checkpointer {
    _stop: oneshot::Sender<()>,
    counts: Arc<Counts>,
    restart: Arc<Restart>,
}

impl Checkpointer {
    /// What the checkpointer, and the writer thread when asked, have done.
    pub(crate) fn now(&self) -> CheckpointsNow {
        CheckpointsNow {
            writer_runs: self.restart.runs.load(Ordering::Relaxed),
            ..self.counts.now()
        }
    }
}

/// What the checkpointer has done since the database was opened (`/metrics`).
#[derive(Default)]
pub(crate) struct Counts {
    runs: AtomicU64,
    pages: AtomicU64,
    nanos: AtomicU64,
    /// The WAL's size in pages after the last checkpoint.
    wal: AtomicU64,
}

/// A reading of `Counts`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CheckpointsNow {
    /// Checkpoints run (those that found nothing to copy included).
    pub runs: u64,
    /// Pages copied from the WAL into the database file, as seen at its runs (what the writer's
    /// fallback copied just before a run included).
    pub pages: u64,
    /// Time spent checkpointing, syncs included (beside the writer, not in its way).
    pub seconds: f64,
    /// The WAL's size in pages after the last checkpoint: it stays about `RESTART_PAGES` or
    /// below unless a reader holds old pages.
    pub wal_pages: u64,
    /// Checkpoints SQLite's writer thread ran between two batches, asked for so that the WAL
    /// restarts (`Restart`): at saturation, one per `RESTART_PAGES` of WAL.
    pub writer_runs: u64,
}

impl Counts {
    /// Counts a checkpoint begun at `started` that copied `copied` pages and left a WAL of `wal`.
    fn ran(&self, started: Instant, copied: i64, wal: i64) {
        let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.runs.fetch_add(1, Ordering::Relaxed);
        self.nanos.fetch_add(took, Ordering::Relaxed);
        self.pages
            .fetch_add(u64::try_from(copied).unwrap_or(0), Ordering::Relaxed);
        self.wal
            .store(u64::try_from(wal).unwrap_or(0), Ordering::Relaxed);
    }

    pub(crate) fn now(&self) -> CheckpointsNow {
        CheckpointsNow {
            runs: self.runs.load(Ordering::Relaxed),
            pages: self.pages.load(Ordering::Relaxed),
            seconds: self.nanos.load(Ordering::Relaxed) as f64 / 1e9,
            wal_pages: self.wal.load(Ordering::Relaxed),
            writer_runs: 0,
        }
    }
}

/// Starts checkpointing the database of `own`, a pool of one connection used for nothing else.
pub(crate) fn spawn(own: DatabaseConnection, restart: Arc<Restart>) -> Checkpointer {
    let (stop, mut stopped) = oneshot::channel::<()>();
    let counts = Arc::new(Counts::default());
    let kept = counts.clone();
    let asks = restart.clone();
    tokio::spawn(async move {
        let mut last = Progress::default();
        let mut failing = false;
        let mut asked_at = 0;
        loop {
            let started = Instant::now();
            let pause = match checkpoint(&own).await {
                Ok(Some(now)) => {
                    if failing {
                        failing = false;
                        tracing::info!("WAL checkpoints run again");
                    }
                    let copied = last.copied_until(now);
                    last = now;
                    counts.ran(started, copied, now.wal);
                    // Once per `RESTART_PAGES` of growth: a reader holding old pages can keep
                    // the WAL from restarting, and asking at every run would not help it.
                    if now.wal < asked_at {
                        asked_at = 0;
                    }
                    if now.wal >= asked_at + RESTART_PAGES {
                        asked_at = now.wal;
                        asks.ask().await;
                    }
                    if copied >= BUSY_PAGES {
                        Duration::ZERO
                    } else {
                        PAUSE
                    }
                }
                // The writer's own checkpoint was running.
                Ok(None) => PAUSE,
                Err(error) => {
                    // Said once per spell: a read-only or vanished file fails every time.
                    if !failing {
                        failing = true;
                        tracing::warn!(error = %error, "WAL checkpoint failed; the writer's own checkpoint remains");
                    }
                    PAUSE
                }
            };
            tokio::select! {
                _ = &mut stopped => break,
                _ = tokio::time::sleep(pause) => {}
            }
        }
        let _ = own.close().await;
    });
    Checkpointer {
        _stop: stop,
        counts: kept,
        restart,
    }
}

/// The WAL's size and how much of it is copied back, in pages, after a checkpoint.
#[derive(Clone, Copy, Default, Debug, PartialEq)]
struct Progress {
    wal: i64,
    copied: i64,
}

impl Progress {
    /// Pages copied between `self` and the later `now` (the WAL may have restarted meanwhile).
    fn copied_until(self, now: Progress) -> i64 {
        if now.wal < self.wal || now.copied < self.copied {
            now.copied
        } else {
            now.copied - self.copied
        }
    }
}

/// One PASSIVE checkpoint: copies what no reader still needs, waits for no one. `None` when
/// another checkpoint (the writer's) was running.
async fn checkpoint(own: &DatabaseConnection) -> Result<Option<Progress>, sea_orm::DbErr> {
    let row = own
        .query_one(Statement::from_string(
            DatabaseBackend::Sqlite,
            "PRAGMA wal_checkpoint(PASSIVE)",
        ))
        .await?;
    // (busy, log, checkpointed); -1 pages when another checkpoint was running.
    let Some(row) = row else {
        return Ok(None);
    };
    let wal: i64 = row.try_get_by_index(1)?;
    let copied: i64 = row.try_get_by_index(2)?;
    Ok((wal >= 0 && copied >= 0).then_some(Progress { wal, copied }))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use sea_orm::ConnectionTrait;

    use super::Progress;
    use crate::connect::{connect, file_url, ConnectOptions};

    /// Rows written through the writer reach the database file itself, with the WAL set aside,
    /// although the writer's own checkpoint never ran (the WAL stayed far below its threshold):
    /// the checkpointer copied them. A copy of the file alone (no `-wal`) is read to see it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_reach_the_database_file_without_the_writers_checkpoint() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("c.db");
        let db = connect(&file_url(&file), &ConnectOptions::default())
            .await
            .expect("db");
        db.conn()
            .execute_unprepared("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
            .await
            .expect("table");
        for k in 0..200 {
            let w = db.begin_write().await.expect("writer");
            let sql = format!("INSERT INTO t (k, v) VALUES ({k}, printf('%.500c', 'x'))");
            w.txn().execute_unprepared(&sql).await.expect("insert");
            w.commit().await.expect("commit");
        }
        let wal = std::fs::metadata(dir.path().join("c.db-wal"))
            .expect("wal")
            .len();
        assert!(
            wal < u64::from(super::WRITER_AUTOCHECKPOINT) * 4096,
            "the writer's checkpoint would have run: {wal} bytes of WAL"
        );
        let copy = dir.path().join("copy.db");
        let started = Instant::now();
        let rows = loop {
            std::fs::copy(&file, &copy).expect("copy");
            let read = connect(&file_url(&copy), &ConnectOptions::default()).await;
            let rows = match read {
                Ok(read) => {
                    let n = read
                        .conn()
                        .query_one(sea_orm::Statement::from_string(
                            sea_orm::DatabaseBackend::Sqlite,
                            "SELECT COUNT(*) AS n FROM t",
                        ))
                        .await
                        .ok()
                        .flatten()
                        .and_then(|row| row.try_get::<i64>("", "n").ok());
                    read.conn().clone().close().await.expect("close");
                    n
                }
                Err(_) => None,
            };
            for name in ["copy.db", "copy.db-wal", "copy.db-shm"] {
                let _ = std::fs::remove_file(dir.path().join(name));
            }
            if rows == Some(200) || started.elapsed() > Duration::from_secs(10) {
                break rows;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(rows, Some(200), "the database file lacks the WAL's rows");
    }

    #[test]
    fn pages_copied_count_across_a_restarted_wal() {
        let before = Progress {
            wal: 900,
            copied: 400,
        };
        let grown = Progress {
            wal: 1_500,
            copied: 1_500,
        };
        assert_eq!(before.copied_until(grown), 1_100);
        let restarted = Progress {
            wal: 300,
            copied: 250,
        };
        assert_eq!(grown.copied_until(restarted), 250);
        assert_eq!(restarted.copied_until(restarted), 0);
    }
}
