//! Delivery metrics kept in process (counters and an attempt-duration histogram) and rendered in
//! Prometheus text format with the outbox gauges read from the database at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use buildhooks_schema::clock::now_ms;
use buildhooks_schema::Result;
use buildhooks_store::Db;

use super::record::Verdict;

/// Upper bounds of the attempt duration histogram, in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Counters shared by every delivery task of this process.
#[derive(Default)]
pub struct Metrics {
    delivered: AtomicU64,
    retried: AtomicU64,
    rate_limited: AtomicU64,
    failed: AtomicU64,
    stale: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    duration_count: AtomicU64,
    duration_sum_ms: AtomicU64,
    /// Attempts by (sink kind, outcome): a handful of fixed names, so bounded.
    by_kind: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

fn outcome_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Delivered => "delivered",
        Verdict::Retry => "retry",
        Verdict::RateLimited => "rate_limited",
        Verdict::Failed => "failed",
        Verdict::Stale => "stale",
    }
}

impl Metrics {
    /// Counts one recorded attempt made by the sink of `kind`.
    pub fn observe(&self, verdict: Verdict, duration_ms: i64, kind: &'static str) {
        *self
            .by_kind
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((kind, outcome_name(verdict)))
            .or_default() += 1;
        let counter = match verdict {
            Verdict::Delivered => &self.delivered,
            Verdict::Retry => &self.retried,
            Verdict::RateLimited => &self.rate_limited,
            Verdict::Failed => &self.failed,
            Verdict::Stale => &self.stale,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let seconds = duration_ms.max(0) as f64 / 1000.0;
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.duration_count.fetch_add(1, Ordering::Relaxed);
        self.duration_sum_ms
            .fetch_add(duration_ms.max(0) as u64, Ordering::Relaxed);
    }

    /// The Prometheus exposition.
    pub async fn render(&self, db: &Db) -> Result<String> {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP buildhooks_delivery_attempts_total Recorded delivery attempts by outcome."
        );
        let _ = writeln!(out, "# TYPE buildhooks_delivery_attempts_total counter");
        for (outcome, counter) in [
            ("delivered", &self.delivered),
            ("retry", &self.retried),
            ("rate_limited", &self.rate_limited),
            ("failed", &self.failed),
            ("stale", &self.stale),
        ] {
            let _ = writeln!(
                out,
                "buildhooks_delivery_attempts_total{{outcome=\"{outcome}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP buildhooks_delivery_attempts_by_kind_total Recorded delivery attempts by endpoint kind and outcome."
        );
        let _ = writeln!(
            out,
            "# TYPE buildhooks_delivery_attempts_by_kind_total counter"
        );
        let by_kind = self
            .by_kind
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for ((kind, outcome), n) in by_kind {
            let _ = writeln!(
                out,
                "buildhooks_delivery_attempts_by_kind_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP buildhooks_delivery_attempt_duration_seconds Duration of delivery attempts."
        );
        let _ = writeln!(
            out,
            "# TYPE buildhooks_delivery_attempt_duration_seconds histogram"
        );
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "buildhooks_delivery_attempt_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.duration_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "buildhooks_delivery_attempt_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "buildhooks_delivery_attempt_duration_seconds_sum {}",
            self.duration_sum_ms.load(Ordering::Relaxed) as f64 / 1000.0
        );
        let _ = writeln!(
            out,
            "buildhooks_delivery_attempt_duration_seconds_count {count}"
        );

        let _ = writeln!(out, "# HELP buildhooks_unparsable_stored_values_total Stored values that failed to parse (an error each, never a made-up value).");
        let _ = writeln!(
            out,
            "# TYPE buildhooks_unparsable_stored_values_total counter"
        );
        let _ = writeln!(
            out,
            "buildhooks_unparsable_stored_values_total{{what=\"status\"}} {}",
            buildhooks_schema::status::unparsable_statuses()
        );
        let _ = writeln!(
            out,
            "buildhooks_unparsable_stored_values_total{{what=\"event_patterns\"}} {}",
            buildhooks_schema::webhook::pattern::unparsable_patterns()
        );
        let (pending, oldest) = buildhooks_store::outbox::gauges::backlog(db).await?;
        let age = oldest
            .map(|t| (now_ms() - t).max(0) as f64 / 1000.0)
            .unwrap_or(0.0);
        let _ = writeln!(
            out,
            "# HELP buildhooks_outbox_pending Outbox rows not yet delivered or failed."
        );
        let _ = writeln!(out, "# TYPE buildhooks_outbox_pending gauge");
        let _ = writeln!(out, "buildhooks_outbox_pending {pending}");
        let _ = writeln!(out, "# HELP buildhooks_outbox_oldest_pending_age_seconds Age of the oldest pending outbox row.");
        let _ = writeln!(
            out,
            "# TYPE buildhooks_outbox_oldest_pending_age_seconds gauge"
        );
        let _ = writeln!(out, "buildhooks_outbox_oldest_pending_age_seconds {age}");
        Ok(out)
    }
}

/// The inbound hooks' counters: requests by source kind and result, refusals by reason.
pub fn render_inbound(counters: &buildhooks_schema::inbound::counters::Counters, out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP buildhooks_inbound_requests_total Inbound hook requests to a known source by source kind and result."
    );
    let _ = writeln!(out, "# TYPE buildhooks_inbound_requests_total counter");
    for (kind, result, n) in counters.requests() {
        let _ = writeln!(
            out,
            "buildhooks_inbound_requests_total{{kind=\"{kind}\",result=\"{result}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP buildhooks_inbound_refusals_total Inbound hook requests refused, by reason."
    );
    let _ = writeln!(out, "# TYPE buildhooks_inbound_refusals_total counter");
    for (reason, n) in counters.refusals() {
        let _ = writeln!(
            out,
            "buildhooks_inbound_refusals_total{{reason=\"{reason}\"}} {n}"
        );
    }
}

/// `buildhooks_broker_up{kind, broker}`: 1 when the broker answered its latest attempt, 0 when
/// it could not be reached or did not answer in time; brokers not tried yet are left out.
pub fn render_brokers(brokers: &[(&'static str, String, Option<bool>)], out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP buildhooks_broker_up Whether the broker answered its latest publish (1) or could not be reached (0)."
    );
    let _ = writeln!(out, "# TYPE buildhooks_broker_up gauge");
    for (kind, name, up) in brokers {
        if let Some(up) = up {
            let _ = writeln!(
                out,
                "buildhooks_broker_up{{kind=\"{kind}\",broker=\"{name}\"}} {}",
                u8::from(*up)
            );
        }
    }
}
