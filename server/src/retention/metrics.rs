//! Retention's figures for `/metrics` (rendered by `crate::metrics::scrape`): rows pruned by
//! table and batches run (counters of this process), and the tables' rows as the pruner last
//! counted them (gauges, refreshed at its pace; absent until its first count).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use buildhooks_store::retention::{Batch, TableRows};

/// What this process's pruner did and saw.
#[derive(Default)]
pub struct Stats {
    deliveries: AtomicU64,
    attempts: AtomicU64,
    events: AtomicU64,
    batches: AtomicU64,
    rows: Mutex<Option<TableRows>>,
}

impl Stats {
    /// Counts one batch and the rows it deleted.
    pub fn count(&self, batch: &Batch) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.deliveries
            .fetch_add(batch.deliveries, Ordering::Relaxed);
        self.attempts.fetch_add(batch.attempts, Ordering::Relaxed);
        self.events.fetch_add(batch.events, Ordering::Relaxed);
    }

    /// The tables' rows as last counted.
    pub fn set_rows(&self, rows: TableRows) {
        *self.rows.lock().unwrap_or_else(|e| e.into_inner()) = Some(rows);
    }

    /// The latest count, if any.
    pub fn rows(&self) -> Option<TableRows> {
        *self.rows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Rows pruned so far, by table.
    pub fn pruned(&self) -> [(&'static str, u64); 3] {
        [
            ("webhook_delivery", self.deliveries.load(Ordering::Relaxed)),
            ("webhook_attempt", self.attempts.load(Ordering::Relaxed)),
            ("event", self.events.load(Ordering::Relaxed)),
        ]
    }

    /// Batches run so far.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }
}
