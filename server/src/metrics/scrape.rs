//! Families read at scrape time into a registry of their own: the outbox (from the database),
//! failing endpoints (the worst [`TOP_FAILING`] by name, the rest as one aggregate), values that
//! did not parse, the inbound hooks' counters, brokers, retention, the write gate, the WAL's
//! checkpoints and the process.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use buildhooks_schema::clock::now_ms;
use buildhooks_store::outbox::gauges;
use buildhooks_store::Db;

use crate::AppState;

/// How many failing endpoints are named by id; the others are summed under
/// `endpoint_id="other"`, so the family has at most `TOP_FAILING + 1` series.
pub const TOP_FAILING: u64 = 20;

type Labels = Vec<(&'static str, String)>;

/// A counter read at scrape time: `n` so far.
fn count(n: u64) -> Counter {
    let c = Counter::default();
    c.inc_by(n);
    c
}

/// A counter of seconds read at scrape time: `s` so far.
fn seconds(s: f64) -> Counter<f64, AtomicU64> {
    let c = Counter::default();
    c.inc_by(s);
    c
}

fn gauge_family() -> Family<Labels, Gauge> {
    Family::default()
}

fn seconds_family() -> Family<Labels, Gauge<f64, AtomicU64>> {
    Family::default()
}

fn age_seconds(oldest_ms: i64, now: i64) -> f64 {
    (now - oldest_ms).max(0) as f64 / 1000.0
}

/// The outbox and failing endpoints, from the database.
pub async fn database(db: &Db, registry: &mut Registry) -> buildhooks_store::Result<()> {
    let now = now_ms();
    let (pending, oldest) = gauges::backlog(db).await?;
    let total: Gauge = Gauge::default();
    total.set(pending);
    registry.register(
        "buildhooks_outbox_pending",
        "Outbox rows not yet delivered or failed",
        total,
    );
    let age = Gauge::<f64, AtomicU64>::default();
    age.set(oldest.map(|t| age_seconds(t, now)).unwrap_or(0.0));
    registry.register(
        "buildhooks_outbox_oldest_pending_age_seconds",
        "Age of the oldest pending outbox row",
        age,
    );

    let (rows, ages) = (gauge_family(), seconds_family());
    for w in gauges::waiting(db).await? {
        let labels: Labels = vec![("state", w.state), ("kind", w.kind.to_lowercase())];
        rows.get_or_create(&labels).set(w.rows);
        ages.get_or_create(&labels).set(age_seconds(w.oldest, now));
    }
    registry.register(
        "buildhooks_outbox_rows",
        "Outbox rows waiting, by state (PENDING, IN_FLIGHT) and endpoint kind",
        rows,
    );
    registry.register(
        "buildhooks_outbox_oldest_age_seconds",
        "Age of the oldest waiting outbox row, by state and endpoint kind",
        ages,
    );

    let failing = gauges::failing(db, TOP_FAILING).await?;
    let each = gauge_family();
    let mut named = 0;
    for (id, n) in &failing.top {
        each.get_or_create(&vec![("endpoint_id", id.to_string())])
            .set(*n);
        named += n;
    }
    if failing.endpoints > failing.top.len() as i64 {
        each.get_or_create(&vec![("endpoint_id", "other".to_owned())])
            .set(failing.failures - named);
    }
    registry.register(
        "buildhooks_endpoint_consecutive_failures",
        "Deliveries failed in a row at each failing endpoint: the 20 worst by id, the rest summed as endpoint_id other",
        each,
    );
    let count: Gauge = Gauge::default();
    count.set(failing.endpoints);
    registry.register(
        "buildhooks_endpoints_failing",
        "Endpoints in a failing spell (their latest delivery failed)",
        count,
    );
    Ok(())
}

/// The in-process counters and states kept outside this module.
pub fn process_state(state: &AppState, registry: &mut Registry) {
    let unparsable: Family<[(&'static str, &'static str); 1], Counter> = Family::default();
    unparsable
        .get_or_create(&[("what", "status")])
        .inc_by(buildhooks_schema::status::unparsable_statuses());
    unparsable
        .get_or_create(&[("what", "event_patterns")])
        .inc_by(buildhooks_schema::webhook::pattern::unparsable_patterns());
    registry.register(
        "buildhooks_unparsable_stored_values",
        "Stored values that failed to parse (an error each, never a made-up value)",
        unparsable,
    );

    let counters = state.store.inbound_counters();
    let requests: Family<[(&'static str, &'static str); 2], Counter> = Family::default();
    for (kind, result, n) in counters.requests() {
        requests
            .get_or_create(&[("kind", kind), ("result", result)])
            .inc_by(n);
    }
    registry.register(
        "buildhooks_inbound_requests",
        "Inbound hook requests to a known source by source kind and result",
        requests,
    );
    let refusals: Family<[(&'static str, &'static str); 1], Counter> = Family::default();
    for (reason, n) in counters.refusals() {
        refusals.get_or_create(&[("reason", reason)]).inc_by(n);
    }
    registry.register(
        "buildhooks_inbound_refusals",
        "Inbound hook requests refused, by reason",
        refusals,
    );

    // Brokers not tried yet are left out.
    let up = gauge_family();
    for (kind, name, answered) in state.sender.sinks.brokers() {
        if let Some(answered) = answered {
            up.get_or_create(&vec![("kind", kind.to_owned()), ("broker", name)])
                .set(i64::from(answered));
        }
    }
    registry.register(
        "buildhooks_broker_up",
        "Whether the broker answered its latest publish (1) or could not be reached (0)",
        up,
    );

    write_gate(state.store.db(), registry);
    checkpoints(state.store.db(), registry);
    new_builds(state.store.db(), registry);

    let stats = &state.retention;
    let pruned: Family<[(&'static str, &'static str); 1], Counter> = Family::default();
    for (table, n) in stats.pruned() {
        pruned.get_or_create(&[("table", table)]).inc_by(n);
    }
    registry.register(
        "buildhooks_retention_pruned_rows",
        "Rows deleted by retention, by table",
        pruned,
    );
    registry.register(
        "buildhooks_retention_batches",
        "Retention batches run (one short transaction each)",
        count(stats.batches()),
    );
    let rows = gauge_family();
    if let Some(counted) = stats.rows() {
        for (table, n) in counted.by_table() {
            rows.get_or_create(&vec![("table", table.to_owned())])
                .set(n);
        }
    }
    registry.register(
        "buildhooks_table_rows",
        "Rows of the tables retention prunes, as last counted (an estimate for very large tables)",
        rows,
    );
}

/// The database's single-writer gate (absent where the database takes concurrent writers): held
/// close to 100% of the time while the CPU is partly idle, it is what bounds writes; its commits'
/// share tells whether the disk is the limit.
fn write_gate(db: &Db, registry: &mut Registry) {
    let Some(times) = db.write_gate_times() else {
        return;
    };
    let held: Family<[(&'static str, &'static str); 1], Counter<f64, AtomicU64>> =
        Family::default();
    let turns: Family<[(&'static str, &'static str); 1], Counter> = Family::default();
    for (writer, s, n) in [
        ("ordinary", times.held_ordinary_s, times.turns_ordinary),
        ("priority", times.held_priority_s, times.turns_priority),
    ] {
        held.get_or_create(&[("writer", writer)]).inc_by(s);
        turns.get_or_create(&[("writer", writer)]).inc_by(n);
    }
    registry.register(
        "buildhooks_write_gate_held_seconds",
        "Time the single-writer gate was held, by writer kind (priority: the dispatcher's pacing)",
        held,
    );
    registry.register(
        "buildhooks_write_gate_turns",
        "Turns taken at the single-writer gate, by writer kind",
        turns,
    );
    registry.register(
        "buildhooks_write_gate_waited_seconds",
        "Time writers spent waiting for the single-writer gate, summed over writers",
        seconds(times.waited_s),
    );
    registry.register(
        "buildhooks_write_gate_commit_seconds",
        "Time the gate's group commits took (the gate held meanwhile)",
        seconds(times.committing_s),
    );
    registry.register(
        "buildhooks_write_gate_commits",
        "Group commits at the single-writer gate (each for one or more writers)",
        count(times.commits),
    );
}

/// The checkpointer that copies the write-ahead log back into the database file beside the
/// writer (absent where the database does it itself): the WAL's size should stay small.
fn checkpoints(db: &Db, registry: &mut Registry) {
    let Some(now) = db.checkpoints() else {
        return;
    };
    registry.register(
        "buildhooks_checkpoint_runs",
        "Checkpoints of the write-ahead log run beside the writer",
        count(now.runs),
    );
    registry.register(
        "buildhooks_checkpoint_pages",
        "Pages copied from the write-ahead log into the database file",
        count(now.pages),
    );
    registry.register(
        "buildhooks_checkpoint_seconds",
        "Time spent checkpointing, file syncs included",
        seconds(now.seconds),
    );
    registry.register(
        "buildhooks_checkpoint_writer_runs",
        "Checkpoints the writer ran between two batches so that the write-ahead log restarts",
        count(now.writer_runs),
    );
    let wal: Gauge = Gauge::default();
    wal.set(i64::try_from(now.wal_pages).unwrap_or(i64::MAX));
    registry.register(
        "buildhooks_checkpoint_wal_pages",
        "Pages in the write-ahead log after the last checkpoint",
        wal,
    );
}

/// New builds of concurrent calls written together (absent where one writer takes them in
/// turns anyway): builds per statement is the batches' mean size.
fn new_builds(db: &Db, registry: &mut Registry) {
    let Some(now) = db.new_builds_written() else {
        return;
    };
    registry.register(
        "buildhooks_new_build_statements",
        "Statements that wrote new builds (one call's, or several calls' together)",
        count(now.statements),
    );
    registry.register(
        "buildhooks_new_build_builds",
        "New builds written by those statements",
        count(now.builds),
    );
    registry.register(
        "buildhooks_new_build_batches_failed",
        "Statements of several calls' builds that failed, each call then written alone",
        count(now.failed_batches),
    );
}
