//! Retention's figures for `/metrics`: rows pruned by table and batches run (counters of this
//! process), and the tables' rows as the pruner last counted them (gauges, refreshed at its
//! pace; absent until its first count).

use std::fmt::Write;
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

    /// Appends the Prometheus exposition.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP buildhooks_retention_pruned_rows_total Rows deleted by retention, by table."
        );
        let _ = writeln!(out, "# TYPE buildhooks_retention_pruned_rows_total counter");
        for (table, n) in self.pruned() {
            let _ = writeln!(
                out,
                "buildhooks_retention_pruned_rows_total{{table=\"{table}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP buildhooks_retention_batches_total Retention batches run (one short transaction each)."
        );
        let _ = writeln!(out, "# TYPE buildhooks_retention_batches_total counter");
        let _ = writeln!(
            out,
            "buildhooks_retention_batches_total {}",
            self.batches.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP buildhooks_table_rows Rows of the tables retention prunes, as last counted (an estimate for very large tables)."
        );
        let _ = writeln!(out, "# TYPE buildhooks_table_rows gauge");
        if let Some(rows) = self.rows() {
            for (table, n) in rows.by_table() {
                let _ = writeln!(out, "buildhooks_table_rows{{table=\"{table}\"}} {n}");
            }
        }
    }
}
