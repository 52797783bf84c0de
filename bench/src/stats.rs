//! Measurements for the benchmark: latency percentiles, CPU time (the whole machine's from
//! `/proc/stat`, this process's from `/proc/self/stat`), and this process's resident memory from
//! `/proc/self/status`.

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
fn machine_cpu_seconds() -> Option<f64> {
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

/// CPU time of this process so far (user and system, all threads), in seconds.
fn process_cpu_seconds() -> Option<f64> {
    cpu_of_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// utime + stime of a `/proc/<pid>/stat` line, in seconds (USER_HZ is 100 on Linux).
fn cpu_of_stat(stat: &str) -> Option<f64> {
    // The command name may hold spaces and parentheses: fields are counted after its last `)`.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: the 12th and 13th after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
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
