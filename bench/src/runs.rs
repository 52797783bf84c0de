//! `--runs N`: the same measurement N times, each on a fresh database, printed as one JSON object
//! whose figures are the medians of the runs (lost, duplicates, errors and refusals: their sums;
//! maximum latency: the highest), with each run's headline figures beside them so the spread
//! shows. The README's table is made of such medians. (RSS is the process's, added after all
//! runs: memory kept from earlier runs counts, so single runs measure it.)

use serde_json::{json, Map, Value};

/// Fields summed over the runs: every one must stay 0.
const SUMMED: [&str; 6] = [
    "lost",
    "duplicates",
    "api_errors",
    "non_2xx",
    "request_errors",
    "unexpected_deliveries",
];
/// Fields whose highest value is the honest summary.
const HIGHEST: [&str; 1] = ["max"];
/// Each run's figures listed under `each_run`.
const HEADLINE: [&str; 9] = [
    "transitions_per_s",
    "inbound_requests_per_s",
    "deliveries_per_s",
    "machine_cpu_s_per_1000",
    "ratio_to_raw",
    "webhook_deliveries_per_s",
    "webhook_machine_cpu_s_per_1000",
    "ratio_to_webhook",
    "seconds",
];

/// One report for `runs` (at least one): medians, sums and highs as above, plus `runs` and
/// `each_run`.
pub fn summarise(runs: &[Value]) -> Value {
    let all: Vec<&Value> = runs.iter().collect();
    let mut report = combine("", &all);
    report["runs"] = json!(runs.len());
    report["each_run"] = runs
        .iter()
        .map(|run| {
            HEADLINE
                .iter()
                .filter(|k| run.get(**k).is_some_and(|v| !v.is_null()))
                .map(|k| ((*k).to_owned(), run[*k].clone()))
                .collect::<Map<String, Value>>()
                .into()
        })
        .collect::<Vec<Value>>()
        .into();
    report
}

/// The summary of one field across the runs; objects field by field, text from the first run.
fn combine(key: &str, values: &[&Value]) -> Value {
    let Some(first) = values.first() else {
        return Value::Null;
    };
    if let Some(object) = first.as_object() {
        return object
            .keys()
            .map(|k| {
                let field: Vec<&Value> = values.iter().map(|v| &v[k.as_str()]).collect();
                (k.clone(), combine(k, &field))
            })
            .collect::<Map<String, Value>>()
            .into();
    }
    let Some(mut numbers) = values
        .iter()
        .map(|v| v.as_f64())
        .collect::<Option<Vec<f64>>>()
    else {
        return (*first).clone();
    };
    numbers.sort_by(f64::total_cmp);
    let whole = values.iter().all(|v| v.is_u64());
    let value = if SUMMED.contains(&key) {
        numbers.iter().sum()
    } else if HIGHEST.contains(&key) {
        numbers[numbers.len() - 1]
    } else {
        let mid = numbers.len() / 2;
        if numbers.len() % 2 == 1 {
            numbers[mid]
        } else {
            (numbers[mid - 1] + numbers[mid]) / 2.0
        }
    };
    if whole {
        json!(value.round() as u64)
    } else {
        json!(crate::stats::round(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_sums_and_highs() {
        let run = |tps: f64, lost: u64, p99: f64, max: f64| {
            json!({ "mode": "e2e", "events": 100, "transitions_per_s": tps, "lost": lost,
                    "duplicates": 0, "latency_ms": { "p99": p99, "max": max },
                    "ratio_to_raw": null })
        };
        let report = summarise(&[
            run(1000.0, 0, 2.0, 9.0),
            run(3000.0, 1, 1.0, 5.0),
            run(2000.0, 0, 3.0, 7.0),
        ]);
        assert_eq!(report["transitions_per_s"], 2000.0);
        assert_eq!(report["latency_ms"]["p99"], 2.0);
        assert_eq!(report["latency_ms"]["max"], 9.0);
        assert_eq!(report["lost"], 1);
        assert_eq!(report["events"], 100);
        assert_eq!(report["mode"], "e2e");
        assert!(report["ratio_to_raw"].is_null());
        assert_eq!(report["runs"], 3);
        let each = report["each_run"].as_array().expect("each_run");
        assert_eq!(each.len(), 3);
        assert_eq!(each[1]["transitions_per_s"], 3000.0);
        assert!(each[1].get("ratio_to_raw").is_none());
    }

    #[test]
    fn an_even_count_takes_the_mean_of_the_middle_two() {
        let report = summarise(&[json!({ "seconds": 1.0 }), json!({ "seconds": 2.0 })]);
        assert_eq!(report["seconds"], 1.5);
    }
}
