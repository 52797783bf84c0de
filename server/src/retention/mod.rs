//! The pruner: beside the dispatcher, on its own schedule, it deletes what is older than the
//! retention (`BUILDHOOKS_RETENTION_DAYS`, or `BUILDHOOKS_RETENTION_SECONDS`): delivered and
//! failed deliveries by their last change, with their attempts, then events no waiting delivery
//! belongs to. Each pass walks the tables by id in batches of `BUILDHOOKS_RETENTION_BATCH` rows,
//! one short transaction each behind every other writer, pausing between batches at least as
//! long as the last one took, so the dispatcher and the API never wait for more than one batch.
//! Every instance may run it: a batch skips what another holds. After each pass it counts the
//! tables' rows for `/metrics` (`metrics`).

pub mod metrics;
mod span;

use std::sync::Arc;
use std::time::{Duration, Instant};

use buildhooks_schema::clock::now_ms;
use buildhooks_store::retention::{self, Batch};
use buildhooks_store::Db;
use tokio::sync::watch;

pub use metrics::Stats;
pub use span::Span;

/// What to prune.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Table {
    Deliveries,
    Events,
}

/// The pruner's settings and databases.
pub struct Pruner {
    /// Where batches run (on a server database, its own connection).
    pub db: Db,
    /// Where rows are counted (the API's pool).
    pub count_db: Db,
    /// How long finished rows are kept; `None`: nothing is deleted, rows are only counted.
    pub keep: Option<Duration>,
    pub interval: Duration,
    pub batch: u64,
    pub pause: Duration,
    pub stats: Arc<Stats>,
}

impl Pruner {
    /// Runs passes until `stop` turns true (a pass in progress stops after its batch).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!(keep = ?self.keep, interval = ?self.interval, batch = self.batch, "retention started");
        loop {
            if let Some(keep) = self.keep {
                let cutoff = now_ms() - keep.as_millis() as i64;
                for table in [Table::Deliveries, Table::Events] {
                    if !self.pass(table, cutoff, &stop).await {
                        return;
                    }
                }
            }
            match retention::table_rows(&self.count_db).await {
                Ok(rows) => self.stats.set_rows(rows),
                Err(error) => tracing::warn!(%error, "cannot count the tables' rows"),
            }
            if *stop.borrow() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// One walk through `table`; false when `stop` turned true meanwhile.
    async fn pass(&self, table: Table, cutoff: i64, stop: &watch::Receiver<bool>) -> bool {
        let mut after = 0;
        loop {
            if *stop.borrow() {
                return false;
            }
            let started = Instant::now();
            let done = match table {
                Table::Deliveries => {
                    retention::prune_deliveries(&self.db, after, self.batch, cutoff).await
                }
                Table::Events => retention::prune_events(&self.db, after, self.batch, cutoff).await,
            };
            let batch: Batch = match done {
                Ok(batch) => batch,
                Err(error) => {
                    // Tried again next pass; the database may be away.
                    tracing::warn!(%error, ?table, "a retention batch failed");
                    return true;
                }
            };
            self.stats.count(&batch);
            let Some(next) = batch.next else { return true };
            after = next;
            tokio::time::sleep(self.pause.max(started.elapsed())).await;
        }
    }
}
