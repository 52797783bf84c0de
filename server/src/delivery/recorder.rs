//! The recorder: writes finished attempts in batches, one transaction for everything that
//! finished while the previous batch was being written, and in that same transaction claims as
//! many due rows as the batch frees fast permits for (skipping endpoints and organizations
//! without a free share). The claimed rows go back to the dispatcher with those permits, so
//! under a backlog one commit per cycle both records and refills, and the number of deliveries
//! sent but not yet recorded never exceeds the fast and slow slots.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use buildhooks_entity::webhook_delivery;
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit};

use super::fair::Shares;
use super::handoff::{Batch, Inbox};
use super::record::{self, Job, Next, Verdict};
use super::sink::Outcome;
use super::Sender;

/// Most outcomes recorded in one transaction.
pub const RECORD_BATCH: usize = 256;

/// The slot an attempt holds until it is recorded: a fast one, or a slow one after it outlasted
/// `FairConfig::slow_after`.
pub enum Slot {
    Fast(OwnedSemaphorePermit),
    Slow(OwnedSemaphorePermit),
}

/// An attempt waiting to be recorded, with the slot it was sent under.
pub struct Finished {
    pub delivery: webhook_delivery::Model,
    pub token: Arc<str>,
    pub outcome: Outcome,
    pub slot: Slot,
}

/// What the recorder shares with the dispatcher loop.
#[derive(Clone)]
pub struct Shared {
    /// Due rows may be waiting: set by the loop (woken, a full claim, a due time reached),
    /// cleared by any claim that came back short, and at shutdown.
    pub claimable: Arc<AtomicBool>,
    /// Handed-off rows waiting for a permit: the recorder leaves them that many permits.
    pub backlog: Arc<AtomicUsize>,
    /// Notified when the recorder released permits.
    pub freed: Arc<Notify>,
    /// The lease of claimed rows, in ms.
    pub lease_ms: i64,
    /// The endpoints' and organizations' shares in use.
    pub shares: Arc<Shares>,
}

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

/// Writes one batch of outcomes, claims rows for the fast permits it frees, and passes them on.
async fn record_and_refill(sender: &Sender, shared: &Shared, batch: Vec<Finished>, inbox: &Inbox) {
    let fast = batch
        .iter()
        .filter(|f| matches!(f.slot, Slot::Fast(_)))
        .count();
    let limit = if shared.claimable.load(Ordering::SeqCst) {
        fast.saturating_sub(shared.backlog.load(Ordering::SeqCst))
    } else {
        0
    };
    let jobs: Vec<Job<'_>> = batch
        .iter()
        .map(|f| Job {
            delivery: &f.delivery,
            token: &f.token,
            outcome: &f.outcome,
            allow_retry: true,
        })
        .collect();
    let filter = if limit > 0 {
        shared.shares.claim_filter()
    } else {
        String::new()
    };
    let next = (limit > 0).then_some(Next {
        limit: limit as u64,
        lease_ms: shared.lease_ms,
        filter: &filter,
    });
    let mut written = record::record_then_claim(&sender.db, &jobs, sender.retry_delay, next).await;
    // While the database is away, try again (without the claim) for up to half a lease, keeping
    // the slots: the outcomes are kept and no delivery is sent twice for a short outage.
    let mut wait = Duration::from_millis(100);
    let give_up = Instant::now() + Duration::from_millis((shared.lease_ms / 2).max(0) as u64);
    while written.is_err() && Instant::now() + wait < give_up {
        if let Err(error) = &written {
            tracing::warn!(%error, rows = jobs.len(), retry_in_ms = wait.as_millis() as u64, "cannot record delivery attempts; trying again");
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(2));
        written = record::record_then_claim(&sender.db, &jobs, sender.retry_delay, None).await;
    }
    drop(jobs);
    let mut permits: Vec<OwnedSemaphorePermit> = Vec::with_capacity(fast);
    let mut retry = false;
    match written {
        Ok((verdicts, claimed)) => {
            for (f, verdict) in batch.into_iter().zip(verdicts) {
                sender.observe(verdict, &f.outcome);
                retry |= verdict == Verdict::Retry;
                if let Slot::Fast(permit) = f.slot {
                    permits.push(permit);
                }
            }
            if let Some(claimed) = claimed {
                let n = claimed.rows.len();
                if n < limit {
                    shared.claimable.store(false, Ordering::SeqCst);
                }
                if n > 0 {
                    let given = permits.split_off(permits.len() - n);
                    let _ = inbox.send(Batch::claimed(
                        claimed.rows,
                        claimed.token,
                        claimed.endpoints,
                        given,
                    ));
                }
            }
        }
        // The rows stay IN_FLIGHT and are sent again when their lease expires: nothing is lost.
        Err(error) => {
            tracing::error!(%error, rows = batch.len(), "cannot record delivery attempts; they are retried when their lease expires")
        }
    }
    drop(permits);
    shared.freed.notify_one();
    if retry {
        // A retry became due later: the dispatcher computes when to look again.
        sender.wake.notify_one();
    }
}
