//! The recorder's loop: it collects finished attempts into batches, everything that finished
//! while the previous batch was being written, and hands each to `path::record_and_refill`
//! (one transaction that records them and claims as many due rows as they free fast permits
//! for). So under a backlog one commit per cycle both records and refills, and the number of
//! deliveries sent but not yet recorded never exceeds the fast and slow slots.

use tokio::sync::mpsc;

use super::handoff::Inbox;
use super::path::{record_and_refill, Finished, Shared};
use super::Sender;

/// Most outcomes recorded in one transaction.
pub const RECORD_BATCH: usize = 256;

/// Runs until every sender of `rx` is dropped.
pub async fn run(sender: Sender, shared: Shared, mut rx: mpsc::Receiver<Finished>, inbox: Inbox) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < RECORD_BATCH {
            match rx.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        record_and_refill(&sender, &shared, batch, &inbox).await;
    }
}
