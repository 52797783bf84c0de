//! `GET /metrics`: the exposition in OpenMetrics text (the Prometheus project's
//! `prometheus-client` crate). [`Metrics`] holds the families this process counts as things
//! happen (`delivery`: attempts and deliveries; `api`: GraphQL and HTTP requests); `scrape` reads
//! the rest when Prometheus asks (the outbox and failing endpoints from the database, counters
//! kept elsewhere); `process` the standard `process_*` families from `/proc/self`.

pub mod api;
pub mod delivery;
pub mod process;
pub mod scrape;

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::registry::Registry;

use crate::AppState;

/// The content type of the OpenMetrics exposition (what Prometheus asks for when it scrapes).
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of the classic text exposition (for any other client: curl, `promtool`).
pub const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The families this process counts.
pub struct Metrics {
    registry: Registry,
    pub deliveries: delivery::Deliveries,
    pub requests: api::Requests,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let deliveries = delivery::Deliveries::register(&mut registry);
        let requests = api::Requests::register(&mut registry);
        Metrics {
            registry,
            deliveries,
            requests,
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// The whole exposition in OpenMetrics text: this process's families, then those read now.
    pub async fn render(&self, state: &AppState) -> buildhooks_store::Result<String> {
        let mut scraped = Registry::default();
        scrape::database(state.store.db(), &mut scraped).await?;
        scrape::process_state(state, &mut scraped);
        process::register(&mut scraped);
        let mut out = String::with_capacity(16 * 1024);
        // Writing to a String cannot fail.
        let _ = encode_registry(&mut out, &self.registry);
        let _ = encode_registry(&mut out, &scraped);
        let _ = encode_eof(&mut out);
        Ok(out)
    }
}

/// The classic text format (0.0.4) of an OpenMetrics exposition. The two differ, for what
/// `prometheus-client` writes, in two points: a counter family is named without `_total` in
/// OpenMetrics and with it in the classic format (its samples are `_total` in both), and only
/// OpenMetrics ends with `# EOF`.
pub fn classic_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(line) => out.push_str(&line),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_classic_text_names_counter_families_with_total_and_has_no_eof() {
        let open = "# HELP a_b Things.\n# TYPE a_b counter\na_b_total{k=\"v\"} 1\n\
                    # HELP g A gauge.\n# TYPE g gauge\ng 2\n# EOF\n";
        assert_eq!(
            super::classic_text(open),
            "# HELP a_b_total Things.\n# TYPE a_b_total counter\na_b_total{k=\"v\"} 1\n\
             # HELP g A gauge.\n# TYPE g gauge\ng 2\n"
        );
    }
}
