//! A delivery's path from claim to record, top to bottom. Rows arrive in the dispatcher's inbox
//! in batches (handed off by a commit, or claimed); `start_deliveries` gives each row its
//! endpoint's and organization's share and a fast permit, and makes the attempt through the sink
//! of the endpoint's kind (`sink/<kind>.rs`), moving to a slow permit if it outlasts
//! `slow_after`; the finished attempt goes to the recorder, which hands batches of them to
//! `record_and_refill`: the verdicts (`record`), one statement or transaction that records them
//! and claims rows for the fast permits they free, and those rows back to the inbox.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use buildhooks_entity::{webhook_delivery, webhook_endpoint};
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::control::{Health, Notes};
use super::fair::{cap_of, Shares};
use super::handoff::{Batch, Inbox};
use super::record::{self, Job, Next, Verdict};
use super::sink::Outcome;
use super::turn::Turn;
use super::Sender;

/// The endpoints of a claimed batch, in one query; `None` when the database cannot say (the
/// rows are then not started: their lease brings them back).
async fn endpoints_of(
    sender: &Sender,
    rows: &[webhook_delivery::Model],
) -> Option<HashMap<i32, webhook_endpoint::Model>> {
    let ids: Vec<i32> = rows.iter().map(|r| r.endpoint_id).collect();
    match buildhooks_store::endpoints::by_ids(sender.db.conn(), ids).await {
        Ok(found) => Some(found.into_iter().map(|e| (e.id, e)).collect()),
        Err(error) => {
            tracing::error!(%error, rows = rows.len(), "cannot load endpoints; the rows are retried when their lease expires");
            None
        }
    }
}

/// What delivery tasks share: the fast and slow permits, the endpoints' and organizations'
/// shares, the recorder's queue, the count of handed-off rows not yet started, and the running
/// tasks.
pub struct Lanes {
    pub permits: Arc<Semaphore>,
    pub slow: Arc<Semaphore>,
    pub slow_after: Duration,
    pub shares: Arc<Shares>,
    /// Notified when permits come back (`Shared::freed`).
    pub freed: Arc<Notify>,
    /// Due rows may be waiting (`Shared::claimable`).
    pub claimable: Arc<AtomicBool>,
    pub record_tx: mpsc::Sender<Finished>,
    pub backlog: Arc<AtomicUsize>,
    pub running: JoinSet<()>,
    /// The lease of claimed rows, in ms (rows a digest gathers are leased as long).
    pub lease_ms: i64,
}

/// Starts one delivery per row of `batch`, recording through the recorder: every row, whatever
/// its source, takes this one path. Each runs under one of the fast permits (rows the recorder
/// claimed bring theirs) or waits for a free one, and within its endpoint's and organization's
/// share: rows beyond it are given back to the outbox, to be claimed when a slot frees. The rows'
/// endpoints come with the batch when the transaction that wrote or claimed them read them;
/// otherwise they are loaded here. Handed-off rows leave the hand-off backlog as they start.
pub async fn start_deliveries(sender: &Sender, lanes: &mut Lanes, batch: Batch) {
    let Batch {
        rows,
        token,
        endpoints: known,
        mut permits,
        handed_off: from_handoff,
    } = batch;
    let endpoints = match known {
        Some(known) => known.into_iter().map(|e| (e.id, e)).collect(),
        None => match endpoints_of(sender, &rows).await {
            Some(found) => found,
            None => {
                if from_handoff {
                    lanes.backlog.fetch_sub(rows.len(), Ordering::Relaxed);
                }
                return;
            }
        },
    };
    let endpoints = Arc::new(endpoints);
    let token: Arc<str> = token.into();
    let mut given_back = Vec::new();
    for row in rows {
        let cap = cap_of(endpoints.get(&row.endpoint_id).map(|e| e.max_in_flight));
        if !lanes.shares.try_take(row.org_id, row.endpoint_id, cap) {
            if from_handoff {
                lanes.backlog.fetch_sub(1, Ordering::Relaxed);
            }
            given_back.push(row.id);
            continue;
        }
        let permit = match permits.pop() {
            Some(permit) => permit,
            None => match lanes.permits.clone().acquire_owned().await {
                Ok(permit) => permit,
                Err(_) => {
                    lanes.shares.give_back(row.org_id, row.endpoint_id);
                    break;
                }
            },
        };
        if from_handoff {
            lanes.backlog.fetch_sub(1, Ordering::Relaxed);
        }
        let (sender, token, endpoints, record_tx) = (
            sender.clone(),
            token.clone(),
            endpoints.clone(),
            lanes.record_tx.clone(),
        );
        let (slow, slow_after, shares, freed, claimable) = (
            lanes.slow.clone(),
            lanes.slow_after,
            lanes.shares.clone(),
            lanes.freed.clone(),
            lanes.claimable.clone(),
        );
        let lease_ms = lanes.lease_ms;
        lanes.running.spawn(async move {
            let mut slot = Slot::Fast(permit);
            let health = Health::of(endpoints.get(&row.endpoint_id));
            let turn = {
                let attempt = sender.turn(
                    &row,
                    &token,
                    endpoints.get(&row.endpoint_id),
                    &shares,
                    lease_ms,
                );
                tokio::pin!(attempt);
                tokio::select! {
                    outcome = &mut attempt => outcome,
                    _ = tokio::time::sleep(slow_after) => {
                        // A slow receiver: hand the fast permit back when a slow one is free.
                        if let Ok(permit) = slow.try_acquire_owned() {
                            slot = Slot::Slow(permit);
                            freed.notify_one();
                        }
                        attempt.await
                    }
                }
            };
            let (outcome, carried) = match turn {
                Turn::Sent(outcome, carried) => (outcome, carried),
                Turn::Deferred => {
                    // Nothing sent, nothing to record: the share and the slot go back.
                    if shares.give_back(row.org_id, row.endpoint_id) {
                        claimable.store(true, Ordering::SeqCst);
                    }
                    drop(slot);
                    freed.notify_one();
                    // The loop looks again: its next look at the outbox counts the slot's time.
                    sender.wake.notify_one();
                    return;
                }
            };
            if shares.give_back(row.org_id, row.endpoint_id) {
                // Rows waiting for this endpoint's or organization's share may be claimed now:
                // by the recorder's cycle that records this attempt, when it frees a fast slot
                // (one claim per cycle, not one per attempt), else by the loop.
                claimable.store(true, Ordering::SeqCst);
                if matches!(slot, Slot::Slow(_)) {
                    sender.wake.notify_one();
                }
            }
            // The slot stays held until the outcome is recorded (by the recorder).
            let _ = record_tx
                .send(Finished {
                    delivery: row,
                    token,
                    outcome,
                    slot,
                    carried,
                    health,
                })
                .await;
        });
    }
    if !given_back.is_empty() {
        // In a task of its own: the loop goes on starting other endpoints' rows meanwhile. If it
        // fails the rows stay leased and are claimed again when the lease expires.
        let sender = sender.clone();
        tokio::spawn(async move {
            tracing::debug!(
                rows = given_back.len(),
                "endpoint or organization at its share; rows given back"
            );
            match buildhooks_store::outbox::release(&sender.db, &given_back, &token).await {
                Ok(()) => sender.wake.notify_one(),
                Err(error) => tracing::error!(%error, "cannot give rows back to the outbox"),
            }
        });
    }
}

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
    /// Other rows the attempt carried (a digest), recorded with the same outcome, each under
    /// the lease token it holds.
    pub carried: Vec<webhook_delivery::Model>,
    /// Its endpoint's retry schedule and whether it was failing.
    pub health: Health,
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

/// Writes one batch of outcomes, claims rows for the fast permits it frees, and passes them on.
pub async fn record_and_refill(
    sender: &Sender,
    shared: &Shared,
    batch: Vec<Finished>,
    inbox: &Inbox,
) {
    let fast = batch
        .iter()
        .filter(|f| matches!(f.slot, Slot::Fast(_)))
        .count();
    // A finished row of an endpoint that orders per build lets the build's next row go: claim
    // in this cycle (where the database's record-and-claim sees the row just recorded), and
    // look again after (where it sees the rows as they were before the statement).
    let turns_freed = batch
        .iter()
        .any(|f| f.delivery.order_key.is_some() || f.carried.iter().any(|c| c.order_key.is_some()));
    let limit = if turns_freed || shared.claimable.load(Ordering::SeqCst) {
        fast.saturating_sub(shared.backlog.load(Ordering::SeqCst))
    } else {
        0
    };
    let mut jobs: Vec<Job<'_>> = Vec::with_capacity(batch.len());
    for f in &batch {
        jobs.push(Job {
            delivery: &f.delivery,
            token: &f.token,
            outcome: &f.outcome,
            allow_retry: true,
            schedule: f.health.schedule.as_deref(),
        });
        for carried in &f.carried {
            jobs.push(Job {
                delivery: carried,
                token: carried.lease_token.as_deref().unwrap_or_default(),
                outcome: &f.outcome,
                allow_retry: true,
                schedule: f.health.schedule.as_deref(),
            });
        }
    }

    let frees = shared.shares.frees();
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
            let mut verdicts = verdicts.into_iter();
            let mut notes = Notes::default();
            for f in batch {
                // The claimed row's verdict, then one per carried row.
                let verdict = verdicts.next().unwrap_or(Verdict::Stale);
                sender.observe(&f.delivery, verdict, &f.outcome);
                notes.see(sender, &f.delivery, &f.outcome, verdict, &f.health);
                for carried in &f.carried {
                    let verdict = verdicts.next().unwrap_or(Verdict::Stale);
                    sender.observe(carried, verdict, &f.outcome);
                    notes.see(sender, carried, &f.outcome, verdict, &f.health);
                }
                retry |= matches!(verdict, Verdict::Retry | Verdict::RateLimited);
                if let Slot::Fast(permit) = f.slot {
                    permits.push(permit);
                }
            }
            // Endpoint health: nothing to write when every attempt succeeded at a healthy one.
            notes.spawn(sender);
            if let Some(claimed) = claimed {
                let n = claimed.rows.len();
                if n < limit {
                    shared.shares.settle(&shared.claimable, frees);
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
    if retry || turns_freed {
        // A retry became due later, or a build's next row may be due now: the dispatcher
        // looks again.
        if turns_freed {
            shared.claimable.store(true, Ordering::SeqCst);
        }
        sender.wake.notify_one();
    }
}
