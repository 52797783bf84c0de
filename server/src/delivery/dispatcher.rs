//! The dispatcher loop: woken at once by commits (in-process signal, and the store's
//! notifications of other instances' commits), polling as a fallback. It takes row batches from
//! its one inbox (hand-offs, its claimer's claims beside the loop, the recorder's claims) and
//! starts each down the one path from claim to record (`path`), within bounded concurrency and
//! each endpoint's and organization's share (`fair`); it decides when to claim and when the
//! next due row needs a look; on shutdown it stops claiming and drains what is in flight.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use buildhooks_schema::Store;
use tokio::sync::{mpsc, watch, Notify, Semaphore};
use tokio::task::JoinSet;

use super::claimer::{Claimer, Looked, MAX_IDLE};
use super::fair::{FairConfig, Shares};
use super::handoff::{Batch, Handoff};
use super::path::{self, start_deliveries, Finished, Lanes};
use super::recorder::{self, RECORD_BATCH};
use super::Sender;

/// Longest wait for more free permits before claiming with few.
const CLAIM_LINGER: Duration = Duration::from_millis(2);
/// Longest wait between two claims while the database fails them.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Most rows claimed at once.
const BATCH: usize = 128;

/// Dispatcher settings.
#[derive(Clone, Debug)]
pub struct DispatchConfig {
    /// Fast slots: attempts in flight at once, before any outlasts `fair.slow_after`.
    pub concurrency: usize,
    /// How long a claim lasts: longer than an attempt can take.
    pub lease_ms: i64,
    /// For listening to other instances' commits.
    pub database_url: String,
    pub fair: FairConfig,
}

impl DispatchConfig {
    /// The settings `config` gives: `concurrency` fast slots, a lease that outlasts the longest
    /// attempt (connect + total timeout) with room to spare, and the fairness settings.
    pub fn from_config(config: &crate::config::Config) -> Self {
        let mut fair = FairConfig::for_concurrency(config.delivery_concurrency);
        if let Some(cap) = config.org_in_flight {
            fair.org_cap = cap.max(1);
        }
        fair.slow_after = Duration::from_millis(config.slow_after_ms.max(1));
        DispatchConfig {
            concurrency: config.delivery_concurrency,
            lease_ms: 2 * config.delivery_timeout_ms as i64 + 2_000,
            database_url: config.database_url.clone(),
            fair,
        }
    }
}

/// Runs until `stop` turns true, then drains in-flight deliveries. Rows committed by this
/// process arrive through the hand-off queue; everything else (retries, other instances' rows,
/// expired leases) is claimed.
pub async fn run(
    sender: Sender,
    store: Store,
    config: DispatchConfig,
    mut stop: watch::Receiver<bool>,
) {
    {
        // Other instances' commits (where the database tells of them) wake this loop too.
        let (db, url, wake, stop) = (
            sender.db.clone(),
            config.database_url.clone(),
            sender.wake.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            buildhooks_store::outbox::listen(&db, &url, move || wake.notify_one(), stop).await
        });
    }
    let concurrency = config.concurrency.max(1);
    // The one row source: hand-offs, the claimer's claims and the recorder's claims.
    let (inbox, mut inbox_rx) = mpsc::unbounded_channel::<Batch>();
    let closed = Arc::new(AtomicBool::new(false));
    let backlog = Arc::new(AtomicUsize::new(0));
    let shares = Arc::new(Shares::new(config.fair.org_cap));
    store.set_outlet(Arc::new(Handoff {
        lease_ms: config.lease_ms,
        tx: inbox.clone(),
        closed: closed.clone(),
        backlog: backlog.clone(),
        max_backlog: concurrency * 4,
        shares: shares.clone(),
        wake: sender.wake.clone(),
    }));
    let signal = sender.wake.clone();
    let shared = path::Shared {
        claimable: Arc::new(AtomicBool::new(true)),
        backlog: backlog.clone(),
        freed: Arc::new(Notify::new()),
        lease_ms: config.lease_ms,
        shares: shares.clone(),
    };
    let (record_tx, record_rx) = mpsc::channel::<Finished>(RECORD_BATCH * 4);
    let recording = tokio::spawn(recorder::run(
        sender.clone(),
        shared.clone(),
        record_rx,
        inbox.clone(),
    ));
    let mut lanes = Lanes {
        permits: Arc::new(Semaphore::new(concurrency)),
        slow: Arc::new(Semaphore::new(config.fair.slow_slots)),
        slow_after: config.fair.slow_after,
        shares,
        freed: shared.freed.clone(),
        claimable: shared.claimable.clone(),
        record_tx,
        backlog,
        running: JoinSet::new(),
        lease_ms: config.lease_ms,
    };
    let mut should_claim = true;
    let claim_threshold = (concurrency / 2).clamp(1, BATCH);
    let mut scarce_since: Option<tokio::time::Instant> = None;
    let mut next_claim_at = tokio::time::Instant::now();
    let mut claim_failures: u32 = 0;
    let mut claimer = Claimer::default();
    // Woken (or a due time reached) while a look was under way: look again when it ends.
    let mut woken = false;
    loop {
        if *stop.borrow() {
            break;
        }
        while lanes.running.try_join_next().is_some() {}
        while let Ok(batch) = inbox_rx.try_recv() {
            start_deliveries(&sender, &mut lanes, batch).await;
        }
        let free = lanes.permits.available_permits().min(BATCH);
        // A claim is a transaction: while deliveries are out, wait up to CLAIM_LINGER for half
        // the permits, so one claim takes many rows instead of many claims one row each.
        let now = tokio::time::Instant::now();
        let scarce = free < claim_threshold && free < concurrency;
        if !scarce {
            scarce_since = None;
        }
        let worth = !scarce || now >= *scarce_since.get_or_insert(now) + CLAIM_LINGER;
        // Claim only when claimable rows may exist: at start, when woken, when the earliest
        // due row (a retry, an expired lease) comes due, or after a full batch. Rows this
        // process commits arrive through the hand-off queue and need no claim; under a backlog
        // the recorder claims as it records.
        if !claimer.busy() && should_claim && free > 0 && worth && now >= next_claim_at {
            scarce_since = None;
            woken = false;
            // One claimer at a time: the recorder's cycles claim nothing until this look ends,
            // so two claims never share out the same free room.
            shared.claimable.store(false, Ordering::SeqCst);
            claimer.claim(&sender, &lanes.shares, &inbox, free, config.lease_ms);
        }
        let timer = if !should_claim {
            next_claim_at
        } else if free == 0 {
            // Every permit is out: look again when the recorder frees some.
            tokio::time::Instant::now() + MAX_IDLE
        } else if !worth {
            tokio::time::Instant::now() + CLAIM_LINGER
        } else {
            next_claim_at
        };
        tokio::select! {
            Some(batch) = inbox_rx.recv() => start_deliveries(&sender, &mut lanes, batch).await,
            looked = claimer.done(), if claimer.busy() => match looked {
                Looked::Claimed { full, frees } => {
                    if claim_failures > 0 {
                        tracing::info!(failures = claim_failures, "claiming again");
                        claim_failures = 0;
                    }
                    // A share freed since the claim's filter was read counts as a wake-up.
                    let again = if full || woken {
                        shared.claimable.store(true, Ordering::SeqCst);
                        true
                    } else {
                        lanes.shares.settle(&shared.claimable, frees)
                    };
                    // The claimed rows are in the inbox already: started now, they hold their
                    // shares before the next-due look below.
                    while let Ok(batch) = inbox_rx.try_recv() {
                        start_deliveries(&sender, &mut lanes, batch).await;
                    }
                    if again {
                        // More may be due now.
                        should_claim = true;
                        next_claim_at = tokio::time::Instant::now();
                    } else {
                        // Its rows hold their shares now: when is the next claimable row due?
                        should_claim = false;
                        claimer.next_due(&sender, &lanes.shares);
                    }
                }
                Looked::Due(wait) => {
                    next_claim_at = tokio::time::Instant::now() + if woken { Duration::ZERO } else { wait };
                    should_claim = woken;
                }
                Looked::Failed(error) => {
                    // Backs off while the database is away: 200 ms, doubling up to 5 s.
                    if claim_failures == 0 {
                        tracing::error!(%error, "cannot claim outbox rows; backing off until the database answers");
                    }
                    let wait = Duration::from_millis(200 << claim_failures.min(5)).min(MAX_BACKOFF);
                    claim_failures += 1;
                    next_claim_at = tokio::time::Instant::now() + wait;
                }
            },
            _ = signal.notified() => {
                should_claim = true;
                woken = true;
                shared.claimable.store(true, Ordering::SeqCst);
                next_claim_at = tokio::time::Instant::now();
            }
            _ = shared.freed.notified() => {}
            _ = tokio::time::sleep_until(timer), if !claimer.busy() => {
                if !should_claim {
                    shared.claimable.store(true, Ordering::SeqCst);
                }
                should_claim = true;
            }
            _ = stop.changed() => {}
        }
    }
    if claimer.busy() {
        // Rows claimed by the look under way reach the inbox and are drained like the rest.
        claimer.done().await;
    }
    // Commits from now on write PENDING rows, for another instance or the next start.
    closed.store(true, Ordering::SeqCst);
    drop(inbox);
    let slow_slots = config.fair.slow_slots;
    drain(&sender, lanes, &shared, inbox_rx, (concurrency, slow_slots)).await;
    let _ = recording.await;
}

/// Stops claiming, then delivers and records everything already handed off or claimed: done
/// when every fast and slow permit is back (no delivery out, none waiting to be recorded) and
/// the inbox is empty.
async fn drain(
    sender: &Sender,
    mut lanes: Lanes,
    shared: &path::Shared,
    mut inbox_rx: mpsc::UnboundedReceiver<Batch>,
    (concurrency, slow_slots): (usize, usize),
) {
    shared.claimable.store(false, Ordering::SeqCst);
    tracing::info!(in_flight = lanes.running.len(), "dispatcher draining");
    loop {
        while let Ok(batch) = inbox_rx.try_recv() {
            start_deliveries(sender, &mut lanes, batch).await;
        }
        while lanes.running.try_join_next().is_some() {}
        if lanes.permits.available_permits() >= concurrency
            && lanes.slow.available_permits() >= slow_slots
        {
            break;
        }
        tokio::select! {
            Some(batch) = inbox_rx.recv() => start_deliveries(sender, &mut lanes, batch).await,
            _ = shared.freed.notified() => {}
            Some(_) = lanes.running.join_next() => {}
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    drop(lanes);
}
