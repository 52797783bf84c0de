//! The local dispatcher's hand-off queue, as the domain's `Outlet`. Rows committed by this
//! process are written IN_FLIGHT under a lease and given to the dispatcher directly, skipping the
//! claim; if the process dies, the lease expires and any instance reclaims them. When the queue
//! is backed up, or the row's endpoint or organization has no free share, rows are written
//! PENDING instead and claimed as usual.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use buildhooks_entity::{webhook_delivery, webhook_endpoint};
use buildhooks_schema::{Lease, Outlet};
use tokio::sync::{mpsc, Notify};

use super::fair::Shares;

/// Rows committed under one lease, with the endpoints they go to as read in the committing
/// transaction.
pub struct HandedOff {
    pub rows: Vec<webhook_delivery::Model>,
    pub token: String,
    pub endpoints: Vec<webhook_endpoint::Model>,
}

/// The queue's sending side.
pub struct Handoff {
    pub lease_ms: i64,
    pub tx: mpsc::UnboundedSender<HandedOff>,
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
        if self.backlog.load(Ordering::Relaxed) >= self.max_backlog || self.tx.is_closed() {
            return None;
        }
        let shares = self.shares.clone();
        Some(Lease {
            token: uuid::Uuid::new_v4().to_string(),
            until: now + self.lease_ms,
            room: Arc::new(move |org, endpoint| shares.has_room(org, endpoint)),
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
        let _ = self.tx.send(HandedOff {
            rows,
            token,
            endpoints,
        });
    }

    fn wake(&self) {
        self.wake.notify_one();
    }
}
