//! Measurements for the benchmark: latency percentiles, whole-machine CPU time from `/proc/stat`,
//! and this process's resident memory from `/proc/self/status`.

/// p50, p90, p99 and max of `samples` (milliseconds), nearest-rank.
pub fn percentiles(samples: &mut [f64]) -> serde_json::Value {
    if samples.is_empty() {
        return serde_json::json!({ "p50": null, "p90": null, "p99": null, "max": null });
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
        round(samples[rank - 1])
    };
    serde_json::json!({
        "p50": at(0.50),
        "p90": at(0.90),
        "p99": at(0.99),
        "max": round(samples[samples.len() - 1]),
    })
}

/// Two decimals.
pub fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// CPU time spent by every process of the machine so far, in seconds (user, nice, system, irq,
/// softirq, steal of all cores), or `None` where `/proc/stat` is unreadable.
pub fn machine_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|i| fields.get(*i))
        .sum();
    // USER_HZ is 100 on Linux.
    Some(busy as f64 / 100.0)
}

/// (current, peak) resident set size of this process in MB.
pub fn rss_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| round(kb / 1024.0))
            .unwrap_or(0.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = percentiles(&mut v);
        assert_eq!(p["p50"], 50.0);
        assert_eq!(p["p99"], 99.0);
        assert_eq!(p["max"], 100.0);
    }
}
