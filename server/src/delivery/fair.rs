//! Fair shares of the dispatcher: no endpoint and no organization may hold more than its share of
//! the deliveries in flight in this process. An endpoint holds at most its `max_in_flight`
//! (default 4), an organization at most `org_cap`; a row whose endpoint or organization is full
//! is not started but given back to the outbox, and claims take no more than the room left (`claim_filter`) until
//! one of their attempts ends. Attempts that outlast `slow_after` move from the fast slots to a
//! larger pool of slow ones, so receivers that hang hold no slot a healthy one needs. A paced
//! endpoint (a chat robot) whose next send slot is ahead is left out of claims until then
//! (`pause`), so its waiting rows are not claimed only to be put back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};
use std::sync::Mutex;
use std::time::Duration;

use buildhooks_schema::webhook::settings::DEFAULT_IN_FLIGHT;

/// The dispatcher's fairness settings.
#[derive(Clone, Copy, Debug)]
pub struct FairConfig {
    /// Most deliveries of one organization in flight at once (fast and slow).
    pub org_cap: usize,
    /// An attempt running longer than this leaves its fast slot for a slow one.
    pub slow_after: Duration,
    /// Slow slots: attempts past `slow_after`, in this process.
    pub slow_slots: usize,
}

impl FairConfig {
    /// The defaults for `concurrency` fast slots: an organization may hold half of them, an
    /// attempt becomes slow after one second, and there are sixteen slow slots per fast one.
    pub fn for_concurrency(concurrency: usize) -> Self {
        FairConfig {
            org_cap: (concurrency / 2).max(1),
            slow_after: Duration::from_secs(1),
            slow_slots: concurrency.max(1) * 16,
        }
    }
}

/// Deliveries in flight per endpoint (with its cap) and per organization.
#[derive(Default)]
struct Counts {
    endpoints: HashMap<i32, (usize, usize)>,
    orgs: HashMap<i32, usize>,
    /// Paced endpoints whose next send slot is ahead: endpoint id -> its time (ms).
    paused: HashMap<i32, i64>,
}

/// The shares in use in this process.
pub struct Shares {
    counts: Mutex<Counts>,
    org_cap: usize,
    /// Slots given back by a full endpoint or organization so far: a claim that came back short
    /// says nothing of the rows such a slot let in after its filter was read.
    frees: AtomicU64,
}

/// An endpoint's cap from its row (`None`: the endpoint was removed; its attempt is refused at
/// once, under the default cap).
pub fn cap_of(max_in_flight: Option<i32>) -> usize {
    max_in_flight.unwrap_or(DEFAULT_IN_FLIGHT).max(1) as usize
}

impl Shares {
    pub fn new(org_cap: usize) -> Self {
        Shares {
            counts: Mutex::default(),
            org_cap: org_cap.max(1),
            frees: AtomicU64::new(0),
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        // The counts stay consistent even if a holder panicked: each update is one statement.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a slot for a delivery of `org` to `endpoint` (capped at `cap`); false when the
    /// endpoint or the organization has none free.
    pub fn try_take(&self, org: i32, endpoint: i32, cap: usize) -> bool {
        let mut counts = self.counts();
        let in_org = counts.orgs.get(&org).copied().unwrap_or(0);
        let (in_endpoint, _) = counts.endpoints.get(&endpoint).copied().unwrap_or((0, cap));
        if in_endpoint >= cap || in_org >= self.org_cap {
            return false;
        }
        counts.endpoints.insert(endpoint, (in_endpoint + 1, cap));
        counts.orgs.insert(org, in_org + 1);
        true
    }

    /// Whether a row of `org` to `endpoint` could start now (a look, nothing taken).
    pub fn has_room(&self, org: i32, endpoint: i32) -> bool {
        let counts = self.counts();
        counts
            .endpoints
            .get(&endpoint)
            .is_none_or(|(n, cap)| n < cap)
            && counts.orgs.get(&org).is_none_or(|n| *n < self.org_cap)
    }

    /// Gives a slot back when an attempt ends; true when the endpoint or the organization was
    /// full, so rows given back for it may be claimed now.
    pub fn give_back(&self, org: i32, endpoint: i32) -> bool {
        let mut counts = self.counts();
        let mut was_full = false;
        if let Some((n, cap)) = counts.endpoints.get_mut(&endpoint) {
            was_full |= *n >= *cap;
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.endpoints.remove(&endpoint);
            }
        }
        if let Some(n) = counts.orgs.get_mut(&org) {
            was_full |= *n >= self.org_cap;
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.orgs.remove(&org);
            }
        }
        if was_full {
            self.frees.fetch_add(1, AtomicOrdering::SeqCst);
        }
        was_full
    }

    /// How many slots full endpoints and organizations have given back so far: read before a
    /// claim's filter (for [`Shares::settle`]) or a lease's room checks.
    pub fn frees(&self) -> u64 {
        self.frees.load(AtomicOrdering::SeqCst)
    }

    /// After a claim that came back short (its filter read after `frees` was): clears
    /// `claimable`, unless a full endpoint or organization gave a slot back since, whose rows
    /// the claim could not see; returns whether due rows may still be waiting. Cleared first and
    /// checked after, so a slot given back meanwhile (which sets `claimable` after counting
    /// itself) is never overwritten.
    pub fn settle(&self, claimable: &AtomicBool, frees: u64) -> bool {
        claimable.store(false, AtomicOrdering::SeqCst);
        if self.frees() != frees {
            claimable.store(true, AtomicOrdering::SeqCst);
            return true;
        }
        false
    }

    /// Leaves endpoint `id` out of claims until `until` (ms since the epoch): its next send
    /// slot.
    pub fn pause(&self, id: i32, until: i64) {
        let mut counts = self.counts();
        let at = counts.paused.entry(id).or_insert(until);
        *at = (*at).max(until);
    }

    /// When the earliest paused endpoint's slot comes (ms since the epoch), if any is paused.
    pub fn next_unpause(&self) -> Option<i64> {
        self.counts().paused.values().min().copied()
    }

    /// What a claim may take, as the claim statements read it: the endpoints and organizations
    /// without a free slot (`e`, `o`; paced endpoints before their slot count as full), the
    /// free room of those with deliveries in flight (`re`, `ro`: id -> room) and an
    /// organization's whole share (`d`).
    pub fn claim_filter(&self) -> String {
        let mut counts = self.counts();
        if !counts.paused.is_empty() {
            let now = buildhooks_schema::clock::now_ms();
            counts.paused.retain(|_, until| *until > now);
        }
        if counts.endpoints.is_empty() && counts.orgs.is_empty() && counts.paused.is_empty() {
            return format!(
                r#"{{"e":[],"o":[],"re":{{}},"ro":{{}},"d":{}}}"#,
                self.org_cap
            );
        }
        let mut full_endpoints: Vec<i32> = counts.paused.keys().copied().collect();
        let mut endpoint_room = serde_json::Map::new();
        for (id, (n, cap)) in &counts.endpoints {
            if counts.paused.contains_key(id) {
                continue;
            }
            if n >= cap {
                full_endpoints.push(*id);
            } else {
                endpoint_room.insert(id.to_string(), (cap - n).into());
            }
        }
        let mut full_orgs = Vec::new();
        let mut org_room = serde_json::Map::new();
        for (id, n) in &counts.orgs {
            if *n >= self.org_cap {
                full_orgs.push(*id);
            } else {
                org_room.insert(id.to_string(), (self.org_cap - n).into());
            }
        }
        serde_json::json!({
            "e": full_endpoints, "o": full_orgs, "re": endpoint_room, "ro": org_room,
            "d": self.org_cap,
        })
        .to_string()
    }

    /// Deliveries in flight to `endpoint` (for tests and metrics).
    pub fn in_flight(&self, endpoint: i32) -> usize {
        self.counts()
            .endpoints
            .get(&endpoint)
            .map_or(0, |(n, _)| *n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_claim_leaves_rows_claimable_when_a_full_share_freed_after_its_filter() {
        let shares = Shares::new(8);
        let claimable = AtomicBool::new(true);
        assert!(shares.try_take(1, 10, 1));
        // A claim reads its filter (endpoint 10 full) and comes back short; nothing freed.
        let frees = shares.frees();
        assert!(!shares.settle(&claimable, frees));
        assert!(!claimable.load(AtomicOrdering::SeqCst));
        // The next claim reads its filter; endpoint 10's attempt ends before the claim returns:
        // its rows were left out of the claim, so they stay claimable.
        claimable.store(true, AtomicOrdering::SeqCst);
        let frees = shares.frees();
        assert!(shares.give_back(1, 10), "endpoint 10 was full");
        assert!(shares.settle(&claimable, frees));
        assert!(claimable.load(AtomicOrdering::SeqCst));
        // A slot of an endpoint that was not full changes nothing.
        assert!(shares.try_take(1, 11, 2));
        let frees = shares.frees();
        assert!(!shares.give_back(1, 11));
        assert!(!shares.settle(&claimable, frees));
        assert!(!claimable.load(AtomicOrdering::SeqCst));
    }

    #[test]
    fn endpoint_and_org_caps() {
        let shares = Shares::new(3);
        let filter = |s: &Shares| -> serde_json::Value {
            serde_json::from_str(&s.claim_filter()).expect("JSON")
        };
        assert_eq!(
            filter(&shares),
            serde_json::json!({"e": [], "o": [], "re": {}, "ro": {}, "d": 3})
        );
        assert!(shares.try_take(1, 10, 2));
        assert_eq!(filter(&shares)["re"], serde_json::json!({"10": 1}));
        assert!(shares.try_take(1, 10, 2));
        assert!(!shares.try_take(1, 10, 2), "endpoint 10 is full");
        assert!(!shares.has_room(1, 10) && shares.has_room(2, 21));
        assert_eq!(filter(&shares)["e"], serde_json::json!([10]));
        assert_eq!(filter(&shares)["ro"], serde_json::json!({"1": 1}));
        assert!(shares.try_take(1, 11, 2));
        assert!(!shares.try_take(1, 12, 2), "organization 1 is full");
        assert!(shares.try_take(2, 20, 2), "another organization is not");
        assert_eq!(filter(&shares)["o"], serde_json::json!([1]));
        assert!(
            shares.give_back(1, 10),
            "endpoint 10 and organization 1 were full"
        );
        assert!(!shares.give_back(2, 20));
        assert_eq!(shares.in_flight(10), 1);
        assert_eq!(shares.in_flight(20), 0);
        assert_eq!(filter(&shares)["e"], serde_json::json!([]));
        assert_eq!(filter(&shares)["o"], serde_json::json!([]));
    }

    #[test]
    fn a_paused_endpoint_is_left_out_until_its_slot() {
        let shares = Shares::new(3);
        let now = buildhooks_schema::clock::now_ms();
        shares.pause(7, now + 60_000);
        shares.pause(8, now - 1);
        let filter: serde_json::Value = serde_json::from_str(&shares.claim_filter()).expect("JSON");
        assert_eq!(filter["e"], serde_json::json!([7]), "8's slot has come");
        assert_eq!(shares.next_unpause(), Some(now + 60_000));
    }
}
