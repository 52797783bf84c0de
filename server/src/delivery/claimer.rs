//! The dispatcher's looks at the outbox, run beside its loop: a claim, or (after a claim that
//! came back short, once its rows started) the look at when the next claimable row is due, one
//! at a time, each in a task of its own, so rows handed off meanwhile start without waiting for
//! the database.

use std::sync::Arc;
use std::time::Duration;

use buildhooks_schema::clock::now_ms;
use tokio::sync::oneshot;

use super::fair::Shares;
use super::handoff::{Batch, Inbox};
use super::Sender;

/// Longest sleep between two looks at the outbox.
pub const MAX_IDLE: Duration = Duration::from_millis(1000);

/// What a look at the outbox found.
pub enum Looked {
    /// Rows claimed (and put in the dispatcher's inbox); `full` when the claim took all it asked
    /// for (more may be due now); `frees`: [`Shares::frees`] before its filter was read.
    Claimed {
        full: bool,
        frees: u64,
    },
    /// How long until the next claimable row is due (at most `MAX_IDLE`).
    Due(Duration),
    Failed(buildhooks_schema::Error),
}

/// At most one look under way.
#[derive(Default)]
pub struct Claimer {
    pending: Option<oneshot::Receiver<Looked>>,
}

impl Claimer {
    pub fn busy(&self) -> bool {
        self.pending.is_some()
    }

    /// Starts claiming up to `limit` rows within the shares left in `shares`.
    pub fn claim(
        &mut self,
        sender: &Sender,
        shares: &Arc<Shares>,
        inbox: &Inbox,
        limit: usize,
        lease_ms: i64,
    ) {
        let (sender, shares, inbox) = (sender.clone(), shares.clone(), inbox.clone());
        self.spawn(async move {
            let frees = shares.frees();
            let filter = shares.claim_filter();
            match buildhooks_store::outbox::claim_fair(&sender.db, limit as u64, lease_ms, &filter)
                .await
            {
                Ok((rows, token)) => {
                    let full = rows.len() == limit;
                    if !rows.is_empty() {
                        // In the inbox before the loop hears of the claim: it starts them first.
                        let _ = inbox.send(Batch::claimed(rows, token, None, Vec::new()));
                    }
                    Looked::Claimed { full, frees }
                }
                Err(error) => Looked::Failed(error.into()),
            }
        });
    }

    /// Starts looking for when the next row claimable within `shares` is due.
    pub fn next_due(&mut self, sender: &Sender, shares: &Arc<Shares>) {
        let (sender, shares) = (sender.clone(), shares.clone());
        self.spawn(async move {
            let due = next_due(&sender, shares.claim_filter()).await;
            // A paused endpoint's rows are left out of the look: its slot is a due time too.
            let due = match (due, shares.next_unpause()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            Looked::Due(match due {
                Some(due) => Duration::from_millis(
                    (due - now_ms()).clamp(1, MAX_IDLE.as_millis() as i64) as u64,
                ),
                None => MAX_IDLE,
            })
        });
    }

    fn spawn(&mut self, look: impl std::future::Future<Output = Looked> + Send + 'static) {
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let _ = tx.send(look.await);
        });
        self.pending = Some(rx);
    }

    /// The look under way, when it ends (never, when none is); cancel-safe.
    pub async fn done(&mut self) -> Looked {
        let Some(rx) = self.pending.as_mut() else {
            return std::future::pending().await;
        };
        let looked = rx.await.unwrap_or_else(|_| {
            Looked::Failed(buildhooks_schema::Error::Internal(
                "the claim task ended".into(),
            ))
        });
        self.pending = None;
        looked
    }
}

/// When the next claimable row becomes due (a retry, or an expired lease), in ms since the
/// epoch; rows of endpoints and organizations without a free share are left out. A failed look
/// is logged and taken as "none": the loop looks again after `MAX_IDLE` or when woken.
async fn next_due(sender: &Sender, filter: String) -> Option<i64> {
    match buildhooks_store::outbox::next_due(&sender.db, &filter).await {
        Ok(due) => due,
        Err(error) => {
            tracing::warn!(%error, "cannot read when the next outbox row is due");
            None
        }
    }
}
