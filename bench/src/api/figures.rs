//! The figures of a `--mode api` run: from the calls as sent (the warm-up's and the measured
//! ones) and the deliveries as received, the rates, the latency percentiles, and the lost,
//! failed, duplicated and unexpected deliveries. `BUILDHOOKS_BENCH_CALLS=<file>` also writes
//! every measured call's times there, one line each (due or sent, answered, first received,
//! began to go out; ns since the epoch, 0 when never received): where a tail comes from.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};

use super::load::Sent;
use super::receive;
use crate::stats;

/// The variable naming the file for every measured call's times.
const CALLS_FILE: &str = "BUILDHOOKS_BENCH_CALLS";

/// Rates, latencies, lost, duplicated and unexpected deliveries into `report`; returns the
/// number of distinct deliveries of the measured calls. The warm-up's calls count only in lost,
/// failed, duplicated and unexpected deliveries.
pub(super) fn figures(
    report: &mut Value,
    sent: &[Sent],
    warmup: &[Sent],
    arrivals: &[receive::Arrival],
    start_ns: u64,
) -> usize {
    let warm: HashSet<&str> = warmup
        .iter()
        .filter(|s| !s.subject.is_empty())
        .map(|s| s.subject.as_str())
        .collect();
    let mut first: HashMap<&str, u64> = HashMap::with_capacity(arrivals.len());
    let mut ids = HashSet::with_capacity(arrivals.len());
    let mut all_ids = HashSet::with_capacity(arrivals.len());
    for (subject, id, at) in arrivals {
        all_ids.insert(id.as_str());
        if warm.contains(subject.as_str()) {
            first.entry(subject.as_str()).or_insert(*at);
            continue;
        }
        ids.insert(id.as_str());
        let entry = first.entry(subject.as_str()).or_insert(*at);
        *entry = (*entry).min(*at);
    }
    let ms = |ns: i128| ns as f64 / 1e6;
    let (mut send_to_receipt, mut ack_to_receipt, mut send_to_ack) = (vec![], vec![], vec![]);
    let mut late: Vec<f64> = Vec::with_capacity(sent.len());
    let (mut lost, mut failed, mut before_ack) = (0usize, 0usize, 0usize);
    let mut subjects = HashSet::with_capacity(sent.len());
    for call in sent {
        send_to_ack.push(ms(i128::from(call.acked_ns) - i128::from(call.sent_ns)));
        late.push(ms(i128::from(call.started_ns) - i128::from(call.sent_ns)));
        if call.subject.is_empty() {
            failed += 1;
            continue;
        }
        subjects.insert(call.subject.as_str());
        let Some(at) = first.get(call.subject.as_str()) else {
            lost += 1;
            continue;
        };
        send_to_receipt.push(ms(i128::from(*at) - i128::from(call.sent_ns)));
        let after_ack = i128::from(*at) - i128::from(call.acked_ns);
        before_ack += usize::from(after_ack < 0);
        ack_to_receipt.push(ms(after_ack.max(0)));
    }
    for call in warmup {
        if call.subject.is_empty() {
            failed += 1;
        } else if !first.contains_key(call.subject.as_str()) {
            lost += 1;
        }
    }
    if let Ok(path) = std::env::var(CALLS_FILE) {
        write_calls(&path, sent, &first);
    }
    let unexpected = first
        .keys()
        .filter(|s| !subjects.contains(*s) && !warm.contains(*s))
        .count();
    let last_arrival = arrivals
        .iter()
        .filter(|a| !warm.contains(a.0.as_str()))
        .map(|a| a.2)
        .max()
        .unwrap_or(start_ns);
    let last_ack = sent.iter().map(|s| s.acked_ns).max().unwrap_or(start_ns);
    let seconds = (last_arrival.max(last_ack) - start_ns) as f64 / 1e9;
    let calls_seconds = (last_ack - start_ns) as f64 / 1e9;
    let distinct = ids.len();
    report["calls"] = json!(sent.len());
    report["deliveries"] = json!(distinct);
    report["seconds"] = json!(stats::round(seconds));
    report["calls_per_s"] = json!(stats::round(sent.len() as f64 / calls_seconds.max(1e-9)));
    report["deliveries_per_s"] = json!(stats::round(distinct as f64 / seconds.max(1e-9)));
    report["send_to_receipt_ms"] = stats::percentiles(&send_to_receipt);
    report["ack_to_receipt_ms"] = stats::percentiles(&ack_to_receipt);
    report["send_to_ack_ms"] = stats::percentiles(&send_to_ack);
    // The client's own delay from a call's due time to its request going out (open loop; 0 in
    // a closed loop), inside every latency above: how far the load generator itself is late.
    report["client_late_ms"] = stats::percentiles(&late);
    report["received_before_ack"] = json!(before_ack);
    report["lost"] = json!(lost);
    report["duplicates"] = json!(arrivals.len() - all_ids.len());
    report["unexpected_deliveries"] = json!(unexpected);
    report["request_errors"] = json!(failed);
    distinct
}

/// Every measured call's times, one line each, into `path` (a diagnosis aid: errors ignored).
fn write_calls(path: &str, sent: &[Sent], first: &HashMap<&str, u64>) {
    let mut out = String::with_capacity(sent.len() * 80);
    for call in sent {
        let at = first.get(call.subject.as_str()).copied().unwrap_or(0);
        out.push_str(&format!(
            "{} {} {} {}\n",
            call.sent_ns, call.acked_ns, at, call.started_ns
        ));
    }
    if let Err(error) = std::fs::write(path, out) {
        eprintln!("{CALLS_FILE}: cannot write {path}: {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(subject: &str, sent_ns: u64, acked_ns: u64) -> Sent {
        Sent {
            subject: subject.to_owned(),
            sent_ns,
            started_ns: sent_ns + 100_000,
            acked_ns,
        }
    }

    fn arrival(subject: &str, id: &str, at: u64) -> receive::Arrival {
        (subject.to_owned(), id.to_owned(), at)
    }

    #[test]
    fn the_warm_up_counts_in_losses_and_duplicates_but_not_in_rates_or_latencies() {
        const MS: u64 = 1_000_000;
        let warmup = [call("w1", 0, MS), call("w2", 0, MS), call("", 0, MS)];
        let sent = [call("a", 100 * MS, 101 * MS), call("b", 100 * MS, 102 * MS)];
        let arrivals = [
            arrival("w1", "d-w1", 500 * MS),
            arrival("w1", "d-w1", 600 * MS),
            arrival("a", "d-a", 103 * MS),
            arrival("b", "d-b", 104 * MS),
        ];
        let mut report = json!({});
        let delivered = figures(&mut report, &sent, &warmup, &arrivals, 100 * MS);
        assert_eq!(delivered, 2, "{report}");
        assert_eq!(report["deliveries"], 2);
        // w2 never arrived; the warm-up's third call failed; w1 came twice.
        assert_eq!(report["lost"], 1);
        assert_eq!(report["request_errors"], 1);
        assert_eq!(report["duplicates"], 1);
        assert_eq!(report["unexpected_deliveries"], 0);
        // Latencies of a (3 ms) and b (4 ms) only; the rate over 4 ms, not from w1's 600 ms.
        assert_eq!(report["send_to_receipt_ms"]["max"], 4.0);
        assert_eq!(report["deliveries_per_s"], 500.0);
        assert_eq!(report["client_late_ms"]["max"], 0.1);
    }
}
