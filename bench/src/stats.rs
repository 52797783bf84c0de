//! Measurements for the benchmark: latency percentiles (an HdrHistogram), CPU time (the whole
//! machine's from `/proc/stat`, this process's from `/proc/self/stat`), and this process's
//! resident memory from `/proc/self/status`.

use hdrhistogram::Histogram;

/// Significant figures the histogram keeps: a reported latency is within 0.1% of the sample's
/// (exact below 2.048 ms, where one microsecond is the unit).
const SIGNIFICANT_FIGURES: u8 = 3;

/// The longest latency the histogram tells apart, in microseconds (an hour); a longer one
/// counts as an hour.
const LONGEST_MICROS: u64 = 3_600_000_000;

/// p50, p90, p99 and max of `samples` (milliseconds), from an HdrHistogram of microseconds:
/// each is the highest value the histogram holds as equal to the sample at that quantile.
pub fn percentiles(samples: &[f64]) -> serde_json::Value {
    let Some(histogram) = histogram(samples) else {
        return serde_json::json!({ "p50": null, "p90": null, "p99": null, "max": null });
    };
    let ms = |micros: u64| round(micros as f64 / 1000.0);
    serde_json::json!({
        "p50": ms(histogram.value_at_quantile(0.50)),
        "p90": ms(histogram.value_at_quantile(0.90)),
        "p99": ms(histogram.value_at_quantile(0.99)),
        "max": ms(histogram.max()),
    })
}

/// The samples (milliseconds) in whole microseconds; `None` when there are none.
fn histogram(samples: &[f64]) -> Option<Histogram<u64>> {
    if samples.is_empty() {
        return None;
    }
    let mut histogram = Histogram::<u64>::new_with_bounds(1, LONGEST_MICROS, SIGNIFICANT_FIGURES)
        .expect("constant bounds that HdrHistogram accepts");
    for sample in samples {
        histogram.saturating_record((sample.max(0.0) * 1000.0).round() as u64);
    }
    Some(histogram)
}

/// Two decimals.
pub fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// CPU time spent by every process of the machine so far, in seconds (user, nice, system, irq,
/// softirq, steal of all cores), or `None` where `/proc/stat` is unreadable.
pub(crate) fn machine_cpu_seconds() -> Option<f64> {
    machine_ticks().map(|t| t.busy as f64 / 100.0)
}

/// The machine's CPU ticks so far (all cores; USER_HZ is 100 on Linux): busy, idle, and idle
/// with a disk read or write outstanding (iowait).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ticks {
    pub(crate) busy: u64,
    pub(crate) idle: u64,
    pub(crate) iowait: u64,
}

impl Ticks {
    /// The shares of the time from `self` to `end` the cores sat idle and waited on the disk,
    /// in percent of all cores' time.
    pub(crate) fn idle_iowait_pct(&self, end: &Ticks) -> (f64, f64) {
        let busy = end.busy.saturating_sub(self.busy);
        let idle = end.idle.saturating_sub(self.idle);
        let iowait = end.iowait.saturating_sub(self.iowait);
        let all = (busy + idle + iowait).max(1) as f64;
        (
            round(idle as f64 * 100.0 / all),
            round(iowait as f64 * 100.0 / all),
        )
    }
}

/// The machine's CPU ticks so far, or `None` where `/proc/stat` is unreadable.
pub(crate) fn machine_ticks() -> Option<Ticks> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let sum = |of: &[usize]| of.iter().filter_map(|i| fields.get(*i)).sum();
    Some(Ticks {
        busy: sum(&[0, 1, 2, 5, 6, 7]),
        idle: sum(&[3]),
        iowait: sum(&[4]),
    })
}

/// CPU time of this process so far (user and system, all threads), in seconds.
fn process_cpu_seconds() -> Option<f64> {
    cpu_of_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// utime + stime of a `/proc/<pid>/stat` line, in seconds (USER_HZ is 100 on Linux).
pub(crate) fn cpu_of_stat(stat: &str) -> Option<f64> {
    user_system_of_stat(stat).map(|(user, system)| user + system)
}

/// (utime, stime) of a `/proc/<pid>/stat` line, in seconds.
pub(crate) fn user_system_of_stat(stat: &str) -> Option<(f64, f64)> {
    // The command name may hold spaces and parentheses: fields are counted after its last `)`.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: the 12th and 13th after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime as f64 / 100.0, stime as f64 / 100.0))
}

/// The start of a measured window of CPU time: the whole machine's (every process, the database
/// included) and this process's (server, benchmark client and receivers).
pub struct CpuMeter {
    machine: Option<f64>,
    process: Option<f64>,
}

/// The CPU seconds a window used.
pub struct CpuUsed {
    machine: Option<f64>,
    process: Option<f64>,
}

impl CpuMeter {
    pub fn start() -> Self {
        CpuMeter {
            machine: machine_cpu_seconds(),
            process: process_cpu_seconds(),
        }
    }

    /// Ends the window.
    pub fn stop(&self) -> CpuUsed {
        CpuUsed {
            machine: self.machine.zip(machine_cpu_seconds()).map(|(a, b)| b - a),
            process: self.process.zip(process_cpu_seconds()).map(|(a, b)| b - a),
        }
    }
}

impl CpuUsed {
    /// CPU seconds per 1,000 of `units` into `report`: the machine, this process, and everything
    /// else (on PostgreSQL, mostly the database).
    pub fn report(&self, report: &mut serde_json::Value, units: usize) {
        let per_1000 = |s: f64| round(s * 1000.0 / units.max(1) as f64);
        let other = self
            .machine
            .zip(self.process)
            .map(|(m, p)| (m - p).max(0.0));
        report["machine_cpu_s_per_1000"] = serde_json::json!(self.machine.map(per_1000));
        report["process_cpu_s_per_1000"] = serde_json::json!(self.process.map(per_1000));
        report["other_cpu_s_per_1000"] = serde_json::json!(other.map(per_1000));
    }
}

/// (current, peak) resident set size of this process in MB.
pub fn rss_mb() -> (f64, f64) {
    rss_in(&std::fs::read_to_string("/proc/self/status").unwrap_or_default())
}

/// (current, peak) resident set size in MB from a `/proc/<pid>/status` text.
pub(crate) fn rss_in(status: &str) -> (f64, f64) {
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
    fn idle_and_disk_waits_are_shares_of_all_ticks_between_two_readings() {
        let a = Ticks {
            busy: 1_000,
            idle: 500,
            iowait: 20,
        };
        let b = Ticks {
            busy: 1_180,
            idle: 510,
            iowait: 30,
        };
        // 180 busy, 10 idle, 10 waiting on the disk: 200 ticks.
        assert_eq!(a.idle_iowait_pct(&b), (5.0, 5.0));
        // The same reading twice: nothing elapsed, no division by zero.
        assert_eq!(a.idle_iowait_pct(&a), (0.0, 0.0));
    }

    #[test]
    fn percentiles_of_microsecond_samples_are_exact() {
        // 0.01 ms .. 1.00 ms: below 2.048 ms every microsecond has its own bucket.
        let v: Vec<f64> = (1..=100).map(|i| f64::from(i) / 100.0).collect();
        let p = percentiles(&v);
        assert_eq!(p["p50"], 0.5);
        assert_eq!(p["p90"], 0.9);
        assert_eq!(p["p99"], 0.99);
        assert_eq!(p["max"], 1.0);
    }

    #[test]
    fn long_latencies_are_within_a_tenth_of_a_percent() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = percentiles(&v);
        for (field, exact) in [("p50", 50.0), ("p99", 99.0), ("max", 100.0)] {
            let got = p[field].as_f64().expect("a number");
            assert!(
                (got - exact).abs() <= exact / 1000.0 + 0.01,
                "{field}: {got}"
            );
        }
        assert_eq!(percentiles(&[])["p99"], serde_json::Value::Null);
        let capped = percentiles(&[5_000_000.0])["max"]
            .as_f64()
            .expect("a number");
        assert!(
            (capped - 3_600_000.0).abs() < 3_600.0,
            "capped at an hour: {capped}"
        );
    }

    #[test]
    fn process_cpu_is_utime_plus_stime_after_the_name() {
        // A name with a space and a parenthesis, and a negative tpgid (no terminal).
        let line =
            "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 2113 0 0 0 731 269 0 0 20 0 9 0 \
                    123 456789 1234 18446744073709551615";
        assert_eq!(cpu_of_stat(line), Some(10.0));
        assert_eq!(cpu_of_stat("garbage"), None);
    }
}
