//! Delivery families counted as attempts are recorded: attempts by outcome and by sink kind, the
//! attempt duration, commit-to-2xx latency, and deliveries by final state. Every label is one of
//! a handful of fixed names (verdicts, sink kinds), so the series stay bounded.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use buildhooks_entity::webhook_delivery;

use crate::delivery::record::Verdict;
use crate::delivery::sink::Outcome;

/// Upper bounds of the attempt duration histogram, in seconds.
const ATTEMPT_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
/// Upper bounds of the commit-to-2xx histogram, in seconds: from a hand-off in milliseconds to
/// a retry schedule's hours.
const LATENCY_BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
    7200.0,
];

type One = [(&'static str, &'static str); 1];
type Two = [(&'static str, &'static str); 2];

fn attempt_histogram() -> Histogram {
    Histogram::new(ATTEMPT_BUCKETS)
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The delivery families of this process.
pub struct Deliveries {
    attempts: Family<One, Counter>,
    by_kind: Family<Two, Counter>,
    duration: Histogram,
    commit_to_success: Family<One, Histogram, fn() -> Histogram>,
    finished: Family<Two, Counter>,
}

/// The stable name of a verdict (the `outcome` label and the log's `verdict`).
pub fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Delivered => "delivered",
        Verdict::Retry => "retry",
        Verdict::RateLimited => "rate_limited",
        Verdict::Failed => "failed",
        Verdict::Stale => "stale",
    }
}

impl Deliveries {
    /// The families, registered in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let this = Deliveries {
            attempts: Family::default(),
            by_kind: Family::default(),
            duration: attempt_histogram(),
            commit_to_success: Family::new_with_constructor(latency_histogram),
            finished: Family::default(),
        };
        // Every outcome shows from the start, 0 until it happens (dashboards and the tests read
        // `outcome="delivered"` before the first delivery).
        for verdict in [
            Verdict::Delivered,
            Verdict::Retry,
            Verdict::RateLimited,
            Verdict::Failed,
            Verdict::Stale,
        ] {
            let _ = this
                .attempts
                .get_or_create(&[("outcome", verdict_name(verdict))]);
        }
        registry.register(
            "buildhooks_delivery_attempts",
            "Recorded delivery attempts by outcome",
            this.attempts.clone(),
        );
        registry.register(
            "buildhooks_delivery_attempts_by_kind",
            "Recorded delivery attempts by endpoint kind and outcome",
            this.by_kind.clone(),
        );
        registry.register(
            "buildhooks_delivery_attempt_duration_seconds",
            "Duration of delivery attempts",
            this.duration.clone(),
        );
        registry.register(
            "buildhooks_delivery_commit_to_success_seconds",
            "From the commit of the transition that queued a delivery to the end of its 2xx attempt, by endpoint kind",
            this.commit_to_success.clone(),
        );
        registry.register(
            "buildhooks_deliveries_finished",
            "Deliveries that reached a final state (delivered or failed), by endpoint kind",
            this.finished.clone(),
        );
        this
    }

    /// Counts one recorded attempt of `delivery`.
    pub fn observe(&self, delivery: &webhook_delivery::Model, verdict: Verdict, outcome: &Outcome) {
        let name = verdict_name(verdict);
        self.attempts.get_or_create(&[("outcome", name)]).inc();
        self.by_kind
            .get_or_create(&[("kind", outcome.sink), ("outcome", name)])
            .inc();
        self.duration
            .observe(outcome.duration_ms.max(0) as f64 / 1000.0);
        match verdict {
            Verdict::Delivered => {
                // `created_at` is written in the transition's transaction: its commit time.
                let end = outcome.started_at + outcome.duration_ms.max(0);
                let seconds = (end - delivery.created_at).max(0) as f64 / 1000.0;
                self.commit_to_success
                    .get_or_create(&[("kind", outcome.sink)])
                    .observe(seconds);
                self.finished
                    .get_or_create(&[("kind", outcome.sink), ("state", "delivered")])
                    .inc();
            }
            Verdict::Failed => {
                self.finished
                    .get_or_create(&[("kind", outcome.sink), ("state", "failed")])
                    .inc();
            }
            _ => {}
        }
    }
}
