//! Endpoint health, as the dispatcher sees it (issue 19): what a claimed row's endpoint says
//! about its retries ([`Health`]: its retry schedule, whether it is failing), and the
//! bookkeeping after a record cycle ([`Notes`]). Nothing is written for a delivery that succeeds
//! at an endpoint that is not failing (the all-2xx hot path costs one atomic load here); a
//! delivery that ends FAILED counts towards its endpoint's failing spell, the first success
//! after one ends it, and an endpoint whose deliveries have all failed for `disable_after` and
//! at least `disable_min_failures` in a row, or that answered `410 Gone`, is disabled with its
//! `endpoint.disabled` event (`schema::webhook::control`). The bookkeeping runs in a task of its
//! own, off the recorder's loop.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use buildhooks_entity::{webhook_delivery, webhook_endpoint};
use buildhooks_schema::clock::now_ms;
use buildhooks_schema::webhook::{control, schedule};

use super::record::Verdict;
use super::sink::Outcome;
use super::Sender;

/// When an endpoint whose deliveries all fail is disabled.
#[derive(Clone, Copy, Debug)]
pub struct DisablePolicy {
    /// How long every delivery must have failed (`BUILDHOOKS_DISABLE_AFTER`, default 5 days).
    pub after: Duration,
    /// And how many deliveries in a row, at least (`BUILDHOOKS_DISABLE_MIN_FAILURES`, 20).
    pub min_failures: i32,
}

/// The endpoints this process saw failing (so a success there ends the spell even when the
/// endpoint row it was sent with was read before the spell began).
#[derive(Default)]
pub struct Failing {
    count: AtomicUsize,
    ids: Mutex<HashSet<i32>>,
}

impl Failing {
    fn contains(&self, id: i32) -> bool {
        self.count.load(Ordering::Relaxed) > 0
            && self
                .ids
                .lock()
                .map(|ids| ids.contains(&id))
                .unwrap_or(false)
    }

    fn set(&self, id: i32, failing: bool) {
        if let Ok(mut ids) = self.ids.lock() {
            match failing {
                true => ids.insert(id),
                false => ids.remove(&id),
            };
            self.count.store(ids.len(), Ordering::Relaxed);
        }
    }
}

/// What a claimed row's endpoint says about its attempt's record.
#[derive(Clone, Debug, Default)]
pub struct Health {
    /// The endpoint's retry schedule, or `None` for Cirrus's rule.
    pub schedule: Option<Arc<[u32]>>,
    /// The endpoint was failing when the row was claimed.
    pub failing: bool,
}

impl Health {
    /// The health of `endpoint` (none known: Cirrus's rule, not failing). Allocates only for an
    /// endpoint with a schedule.
    pub fn of(endpoint: Option<&webhook_endpoint::Model>) -> Health {
        match endpoint {
            Some(e) => Health {
                schedule: e
                    .retry_schedule
                    .as_deref()
                    .and_then(|s| schedule::parse_stored(Some(s)))
                    .map(Arc::from),
                failing: e.failing_since.is_some(),
            },
            None => Health::default(),
        }
    }
}

/// The bookkeeping a record cycle calls for; empty (and free) when every attempt succeeded at a
/// healthy endpoint.
#[derive(Default)]
pub struct Notes {
    /// Endpoint, and whether the attempt was answered `410 Gone`, per delivery that ended FAILED.
    failed: Vec<(i32, bool)>,
    /// Endpoints whose failing spell a success ended.
    recovered: Vec<i32>,
}

impl Notes {
    /// Notes `delivery`'s recorded `verdict`. Test messages (`ping`) and deliveries that were
    /// never sent (endpoint disabled or removed: no sink made an attempt) do not count.
    pub fn see(
        &mut self,
        sender: &Sender,
        delivery: &webhook_delivery::Model,
        outcome: &Outcome,
        verdict: Verdict,
        health: &Health,
    ) {
        match verdict {
            Verdict::Delivered
                if (health.failing || sender.failing.contains(delivery.endpoint_id))
                    && delivery.kind != "ping" =>
            {
                self.recovered.push(delivery.endpoint_id);
            }
            Verdict::Failed if outcome.sink != "none" && delivery.kind != "ping" => {
                self.failed
                    .push((delivery.endpoint_id, outcome.status == Some(410)));
            }
            _ => {}
        }
    }

    /// Writes the bookkeeping in a task of its own; nothing when there is none.
    pub fn spawn(self, sender: &Sender) {
        if self.failed.is_empty() && self.recovered.is_empty() {
            return;
        }
        let sender = sender.clone();
        tokio::spawn(async move {
            if let Err(error) = self.write(&sender).await {
                tracing::warn!(%error, "cannot record endpoint health");
            }
        });
    }

    async fn write(self, sender: &Sender) -> buildhooks_schema::Result<()> {
        let db = &sender.db;
        if !self.recovered.is_empty() {
            let mut ids = self.recovered;
            ids.sort_unstable();
            ids.dedup();
            for id in &ids {
                sender.failing.set(*id, false);
            }
            let w = db.begin_write().await?;
            buildhooks_store::control::note_delivered(w.txn(), ids).await?;
            w.commit().await?;
        }
        // Per endpoint: how many failed, and whether one was answered 410.
        let mut failed: BTreeMap<i32, (i32, bool)> = BTreeMap::new();
        for (id, gone) in self.failed {
            let entry = failed.entry(id).or_default();
            entry.0 += 1;
            entry.1 |= gone;
        }
        let mut disabled = false;
        for (id, (n, gone)) in failed {
            sender.failing.set(id, true);
            // The count, the decision and the disabling (with its event) in one transaction.
            let w = db.begin_write().await?;
            let now = now_ms();
            let Some(endpoint) =
                buildhooks_store::control::note_failed(w.txn(), id, n, now).await?
            else {
                continue;
            };
            if let Some(reason) = sender.disable.reason(&endpoint, gone, now) {
                disabled |= control::disable(&w, id, &reason).await?;
            }
            w.commit().await?;
        }
        if disabled {
            // The `endpoint.disabled` rows are due now.
            sender.wake.notify_one();
        }
        Ok(())
    }
}

impl DisablePolicy {
    /// Why `endpoint` (as it is after counting its latest failures, at `now`) is to be disabled,
    /// if it is: it answered `410 Gone`, or every delivery failed for `after` and at least
    /// `min_failures` in a row.
    pub fn reason(
        &self,
        endpoint: &webhook_endpoint::Model,
        gone: bool,
        now: i64,
    ) -> Option<String> {
        if !endpoint.enabled || endpoint.deleted {
            return None;
        }
        if gone {
            return Some(control::GONE.to_owned());
        }
        let spell = endpoint.failing_since.map(|since| now - since)?;
        (spell >= self.after.as_millis() as i64 && endpoint.failed_deliveries >= self.min_failures)
            .then(|| control::failing_reason(endpoint.failed_deliveries, spell))
    }
}
