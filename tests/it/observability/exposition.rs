//! Reading the `/metrics` text in the observability tests: one series' value, and a check that
//! every line parses (the exposition's grammar, whether or not promtool is installed).

/// The value of the series `series` (its name and labels exactly), if shown.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Every line of the exposition is a `# HELP`, `# TYPE` or `# UNIT` line or a sample whose value
/// parses, and it ends with `# EOF` in OpenMetrics (not in the classic format); every sample
/// belongs to a family announced before it.
pub fn assert_parses(text: &str, openmetrics: bool) {
    let mut families: Vec<(String, String)> = Vec::new();
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last() == Some(&"# EOF"), openmetrics, "{text}");
    if openmetrics {
        lines.pop();
    }
    for line in &lines {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                ["counter", "gauge", "histogram", "info", "unknown"].contains(&kind),
                "{line}"
            );
            families.push((name.to_owned(), kind.to_owned()));
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment: {line}");
        let (series, value) = line.rsplit_once(' ').expect("series value");
        assert!(value.parse::<f64>().is_ok(), "value of {line}");
        let name = series.split('{').next().expect("name");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
            }
        }
        let known = families.iter().any(|(family, kind)| {
            let suffixes: &[&str] = match kind.as_str() {
                "counter" => &["", "_total", "_created"],
                "histogram" => &["_bucket", "_sum", "_count", "_created"],
                _ => &[""],
            };
            suffixes.iter().any(|s| name == format!("{family}{s}"))
        });
        assert!(known, "{line} belongs to no family announced before it");
    }
}
