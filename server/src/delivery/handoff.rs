//! The dispatcher's one row source, its inbox: rows arrive there from this process's commits
//! (the hand-off, as the domain's `Outlet`), from the loop's claims and from the recorder's
//! claims, and the loop starts every batch the same way.
//!
//! The hand-off: Rows committed by this
//! process are written IN_FLIGHT under a lease and given to the dispatcher directly, skipping the
//! claim; if the process dies, the lease expires and any instance reclaims them. When the queue
//! is backed up, or the row's endpoint or organization has no free share, rows are written
//! PENDING instead and claimed as usual.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use buildhooks_entity::{webhook_delivery, webhook_endpoint};
use buildhooks_schema::{Lease, Outlet};
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit};

use super::fair::Shares;

/// Rows under one lease for the dispatcher to start.
pub struct Batch {
    pub rows: Vec<webhook_delivery::Model>,
    pub token: String,
    /// The rows' endpoints, when the transaction that wrote or claimed them read them.
    pub endpoints: Option<Vec<webhook_endpoint::Model>>,
    /// Fast permits the rows come with (the recorder's claims); other rows wait for free ones.
    pub permits: Vec<OwnedSemaphorePermit>,
    /// Handed off by a commit: the rows leave the hand-off backlog as they start.
    pub handed_off: bool,
}

impl Batch {
    /// Claimed rows, with the endpoints the claim read (if it did) and the permits it freed.
    pub fn claimed(
        rows: Vec<webhook_delivery::Model>,
        token: String,
        endpoints: Option<Vec<webhook_endpoint::Model>>,
        permits: Vec<OwnedSemaphorePermit>,
    ) -> Self {
        Batch {
            rows,
            token,
            endpoints,
            permits,
            handed_off: false,
        }
    }
}

/// The sending side of the dispatcher's inbox.
pub type Inbox = mpsc::UnboundedSender<Batch>;

/// The hand-off into the inbox.
pub struct Handoff {
    pub lease_ms: i64,
    pub tx: Inbox,
    /// Set when the dispatcher drains: commits write PENDING rows from then on.
    pub closed: Arc<AtomicBool>,
    /// Rows handed off and not yet taken up by the dispatcher.
    pub backlog: Arc<AtomicUsize>,
    pub max_backlog: usize,
    /// Whether the dispatcher has a free share for a row of (organization, endpoint).
    pub shares: Arc<Shares>,
    /// Wakes the dispatcher to claim.
    pub wake: Arc<Notify>,
}

impl Outlet for Handoff {
    fn lease(&self, now: i64) -> Option<Lease> {
        if self.backlog.load(Ordering::Relaxed) >= self.max_backlog
            || self.closed.load(Ordering::SeqCst)
            || self.tx.is_closed()
        {
            return None;
        }
        let (shares, frees) = (self.shares.clone(), self.shares.frees());
        let since = self.shares.clone();
        Some(Lease {
            token: uuid::Uuid::new_v4().to_string(),
            until: now + self.lease_ms,
            room: Arc::new(move |org, endpoint| shares.has_room(org, endpoint)),
            freed_since: Arc::new(move || since.frees() != frees),
        })
    }

    fn hand_off(
        &self,
        rows: Vec<webhook_delivery::Model>,
        token: String,
        endpoints: Vec<webhook_endpoint::Model>,
    ) {
        self.backlog.fetch_add(rows.len(), Ordering::Relaxed);
        // If the dispatcher is gone the rows stay leased and are reclaimed on expiry.
        let _ = self.tx.send(Batch {
            rows,
            token,
            endpoints: Some(endpoints),
            permits: Vec::new(),
            handed_off: true,
        });
    }

    fn wake(&self) {
        self.wake.notify_one();
    }
}
