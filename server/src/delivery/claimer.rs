//! The dispatcher's looks at the outbox, run beside its loop: one claim at a time (and, when it
//! comes back short, the look at when the next claimable row is due) in a task of its own, so
//! rows handed off meanwhile start without waiting for the database.

use std::sync::Arc;
use std::time::Duration;

use buildhooks_entity::webhook_delivery;
use buildhooks_schema::clock::now_ms;
use sea_orm::{ConnectionTrait, Statement};
use tokio::sync::oneshot;

use super::fair::Shares;
use super::Sender;

/// Longest sleep between two looks at the outbox.
pub const MAX_IDLE: Duration = Duration::from_millis(1000);

/// What a look at the outbox found.
pub enum Looked {
    /// Rows claimed under `token`; `wait` is `None` when the claim took all it asked for (more
    /// may be due now), else how long until the next claimable row is due.
    Claimed {
        rows: Vec<webhook_delivery::Model>,
        token: String,
        wait: Option<Duration>,
    },
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
    pub fn start(&mut self, sender: &Sender, shares: &Arc<Shares>, limit: usize, lease_ms: i64) {
        let (tx, rx) = oneshot::channel();
        let (sender, shares) = (sender.clone(), shares.clone());
        tokio::spawn(async move {
            let _ = tx.send(look(&sender, &shares, limit, lease_ms).await);
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

async fn look(sender: &Sender, shares: &Shares, limit: usize, lease_ms: i64) -> Looked {
    let filter = shares.claim_filter();
    match super::claim::claim_fair(&sender.store, limit as u64, lease_ms, &filter).await {
        Ok((rows, token)) => {
            let wait = if rows.len() == limit {
                None
            } else {
                Some(match next_due(sender, shares.claim_filter()).await {
                    Some(due) => Duration::from_millis(
                        (due - now_ms()).clamp(1, MAX_IDLE.as_millis() as i64) as u64,
                    ),
                    None => MAX_IDLE,
                })
            };
            Looked::Claimed { rows, token, wait }
        }
        Err(error) => Looked::Failed(error),
    }
}

/// When the next claimable row becomes due (a retry, or an expired lease), in ms since the
/// epoch; rows of endpoints and organizations without a free share are left out.
async fn next_due(sender: &Sender, filter: String) -> Option<i64> {
    let backend = sender.store.backend();
    let row = sender
        .store
        .conn()
        .query_one(Statement::from_sql_and_values(
            backend,
            super::claim::next_due_sql(backend),
            [filter.into()],
        ))
        .await
        .ok()??;
    row.try_get::<Option<i64>>("", "due").ok().flatten()
}
