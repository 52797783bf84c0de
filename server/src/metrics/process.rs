//! The standard `process_*` families (as Prometheus's own clients name them), read from
//! `/proc/self` at scrape time: CPU seconds, resident and virtual memory, open and allowed file
//! descriptors, threads, start time. Where `/proc` is missing (not Linux), nothing is shown.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Linux reports times in `/proc/<pid>/stat` in clock ticks of `USER_HZ`, 100 on every
/// architecture it runs on (`man 5 proc`).
const TICKS_PER_SECOND: f64 = 100.0;

/// What `/proc/self` says now.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Process {
    pub cpu_seconds: f64,
    pub resident_bytes: i64,
    pub virtual_bytes: i64,
    pub open_fds: i64,
    pub max_fds: Option<i64>,
    pub threads: i64,
    pub start_time_seconds: f64,
}

/// Reads `/proc/self`; `None` where it cannot be read.
pub fn read() -> Option<Process> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name, in parentheses, may hold spaces: fields are counted after its end.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    // `man 5 proc`: state is field 3, so field n is at index n - 3.
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<f64>().ok());
    let (utime, stime) = (field(14)?, field(15)?);
    let threads = field(20)? as i64;
    let start_ticks = field(22)?;
    let virtual_bytes = field(23)? as i64;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let resident_bytes = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        .map(|kb| kb * 1024)?;
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse::<f64>().ok())?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as i64;
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<i64>().ok())
        });
    Some(Process {
        cpu_seconds: (utime + stime) / TICKS_PER_SECOND,
        resident_bytes,
        virtual_bytes,
        open_fds,
        max_fds,
        threads,
        start_time_seconds: boot + start_ticks / TICKS_PER_SECOND,
    })
}

/// Registers the families with this scrape's values in `registry`.
pub fn register(registry: &mut Registry) {
    let Some(p) = read() else {
        return;
    };
    let cpu = Counter::<f64, AtomicU64>::default();
    cpu.inc_by(p.cpu_seconds);
    registry.register(
        "process_cpu_seconds",
        "Total user and system CPU time spent in seconds",
        cpu,
    );
    let gauge = |v: i64| {
        let g: Gauge = Gauge::default();
        g.set(v);
        g
    };
    registry.register(
        "process_resident_memory_bytes",
        "Resident memory size in bytes",
        gauge(p.resident_bytes),
    );
    registry.register(
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes",
        gauge(p.virtual_bytes),
    );
    registry.register(
        "process_open_fds",
        "Number of open file descriptors",
        gauge(p.open_fds),
    );
    if let Some(max) = p.max_fds {
        registry.register(
            "process_max_fds",
            "Maximum number of open file descriptors",
            gauge(max),
        );
    }
    registry.register("process_threads", "Number of OS threads", gauge(p.threads));
    let start = Gauge::<f64, AtomicU64>::default();
    start.set(p.start_time_seconds);
    registry.register(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds",
        start,
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let p = super::read().expect("/proc/self");
        assert!(p.resident_bytes > 0, "{p:?}");
        assert!(p.threads >= 1, "{p:?}");
        assert!(p.open_fds >= 3, "{p:?}");
        assert!(p.start_time_seconds > 1.6e9, "{p:?}");
    }
}
