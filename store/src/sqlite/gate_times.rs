//! What SQLite's write gate spends its time on, counted as it happens, for `/metrics`: how long
//! writers held it (ordinary writers and the dispatcher's priority ones apart), how long they
//! waited for it, and how long its commits took. Held close to 100% of the time while the CPU
//! is partly idle, the gate is what bounds writes; commits taking most of it point at the disk.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::OwnedMutexGuard;

/// The gate's counters, in nanoseconds where they are times.
#[derive(Default)]
pub(crate) struct GateTimes {
    held: [AtomicU64; 2],
    turns: [AtomicU64; 2],
    waited: AtomicU64,
    committing: AtomicU64,
    commits: AtomicU64,
}

/// A copy of the gate's counters (seconds where they are times), counted since the process
/// opened the database.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GateTimesNow {
    /// Held by ordinary writers (API calls, batched writes).
    pub held_ordinary_s: f64,
    /// Held by priority writers (the dispatcher's claims and records).
    pub held_priority_s: f64,
    /// Turns taken by ordinary and by priority writers.
    pub turns_ordinary: u64,
    pub turns_priority: u64,
    /// Spent by writers waiting for the gate, summed over writers.
    pub waited_s: f64,
    /// Spent in commits (the gate held meanwhile), and how many there were.
    pub committing_s: f64,
    pub commits: u64,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn seconds(ns: &AtomicU64) -> f64 {
    ns.load(Relaxed) as f64 / 1e9
}

impl GateTimes {
    pub(crate) fn waited(&self, since: Instant) {
        self.waited.fetch_add(nanos(since.elapsed()), Relaxed);
    }

    pub(crate) fn committed(&self, since: Instant) {
        self.commit_took(since.elapsed());
    }

    /// A commit that took `took` (SQLite's writer thread timed it).
    pub(crate) fn commit_took(&self, took: Duration) {
        self.committing.fetch_add(nanos(took), Relaxed);
        self.commits.fetch_add(1, Relaxed);
    }

    pub(crate) fn now(&self) -> GateTimesNow {
        GateTimesNow {
            held_ordinary_s: seconds(&self.held[0]),
            held_priority_s: seconds(&self.held[1]),
            turns_ordinary: self.turns[0].load(Relaxed),
            turns_priority: self.turns[1].load(Relaxed),
            waited_s: seconds(&self.waited),
            committing_s: seconds(&self.committing),
            commits: self.commits.load(Relaxed),
        }
    }
}

/// The gate's writer lock, counted as held from when it was taken until it is dropped.
pub(crate) struct Held {
    _guard: OwnedMutexGuard<()>,
    since: Instant,
    priority: bool,
    times: Arc<GateTimes>,
}

impl Held {
    pub(crate) fn new(guard: OwnedMutexGuard<()>, priority: bool, times: &Arc<GateTimes>) -> Self {
        Held {
            _guard: guard,
            since: Instant::now(),
            priority,
            times: times.clone(),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let times = &self.times;
        let i = usize::from(self.priority);
        times.held[i].fetch_add(nanos(self.since.elapsed()), Relaxed);
        times.turns[i].fetch_add(1, Relaxed);
    }
}
