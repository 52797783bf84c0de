//! A claimed row's turn at a paced endpoint (a chat robot): the endpoint's next send slot taken
//! in the database (`store::outbox::pace`), so instances sharing it keep one pace; a row whose
//! slot is ahead goes back to the outbox, due then, with no attempt counted, and its endpoint
//! is left out of this dispatcher's claims until then; with `digest`, the other waiting rows of
//! the row's build ride in the same message. Unpaced kinds (webhooks) go straight to their sink.

use buildhooks_entity::{webhook_delivery, webhook_endpoint};
use buildhooks_schema::clock::now_ms;
use buildhooks_store::outbox::pace;

use super::fair::Shares;
use super::sink::Outcome;
use super::Sender;

/// What a row's turn came to.
pub enum Turn {
    /// An attempt was made, carrying these other rows too (a digest; each leased under the
    /// token it holds).
    Sent(Outcome, Vec<webhook_delivery::Model>),
    /// Nothing was sent: the endpoint's slot is ahead and the row waits for it in the outbox
    /// (or, if the database could not say, until its lease expires).
    Deferred,
}

impl Sender {
    /// One turn of `row` (leased with `token` for `lease_ms`) at `endpoint`.
    pub async fn turn(
        &self,
        row: &webhook_delivery::Model,
        token: &str,
        endpoint: Option<&webhook_endpoint::Model>,
        shares: &Shares,
        lease_ms: i64,
    ) -> Turn {
        let paced = endpoint
            .filter(|e| !e.deleted && e.enabled)
            .and_then(|e| Some((e, self.sinks.of(&e.kind)?)))
            .and_then(|(e, sink)| Some((e, sink, sink.pace(e)?)));
        let Some((endpoint, sink, pace)) = paced else {
            return Turn::Sent(self.attempt(row, endpoint).await, Vec::new());
        };
        let now = now_ms();
        let pace_ms = pace.as_millis() as i64;
        match pace::take_slot(&self.db, endpoint.id, now, pace_ms).await {
            Ok(None) => shares.pause(endpoint.id, now + pace_ms),
            Ok(Some(until)) => {
                shares.pause(endpoint.id, until);
                if let Err(error) = pace::defer(&self.db, &[row.id], token, until).await {
                    tracing::warn!(%error, delivery = %row.uuid, "cannot put a paced row back; it is sent when its lease expires");
                }
                return Turn::Deferred;
            }
            Err(error) => {
                tracing::warn!(%error, endpoint = endpoint.id, "cannot take a paced endpoint's slot; the row is sent when its lease expires");
                return Turn::Deferred;
            }
        }
        let carried = match (endpoint.digest, row.build_id) {
            (true, Some(build)) => {
                match pace::take_build(&self.db, endpoint.id, build, now + lease_ms).await {
                    Ok(rows) => rows,
                    Err(error) => {
                        tracing::warn!(%error, "cannot gather a digest; sending the row alone");
                        Vec::new()
                    }
                }
            }
            _ => Vec::new(),
        };
        let mut all: Vec<&webhook_delivery::Model> = Vec::with_capacity(carried.len() + 1);
        all.push(row);
        all.extend(carried.iter());
        all.sort_by_key(|d| d.id);
        let outcome = sink.attempt_all(&all, endpoint).await;
        if let Some(pause) = outcome.pause {
            let until = now_ms() + pause.as_millis() as i64;
            shares.pause(endpoint.id, until);
            if let Err(error) = pace::push_back(&self.db, endpoint.id, until).await {
                tracing::warn!(%error, endpoint = endpoint.id, "cannot record a vendor's pause");
            }
        }
        Turn::Sent(outcome, carried)
    }
}
