//! Checks of a `/metrics` text from outside: Prometheus's own linter (`promtool check metrics`)
//! and the metric names the Grafana dashboard (`config/grafana/omnigate.json`) queries.

use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `promtool check metrics` on `text` (it parses the text format strictly and lints the
/// names, types and help texts) and fails on any complaint. Skipped, saying so, where promtool
/// is not installed (`.ci/test` installs Debian's `prometheus`, which has it).
pub fn promtool_accepts(text: &str) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "SKIPPED promtool check metrics: promtool is not installed \
                 (apt-get install prometheus); the text was checked by this test's parser only"
            );
            return;
        }
        Err(err) => panic!("cannot run promtool: {err}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let complaints = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && complaints.trim().is_empty(),
        "promtool check metrics: {complaints}\n--- the text ---\n{text}"
    );
}

/// Every metric name the dashboard's queries use (histograms by their family name, without
/// `_bucket`, `_sum` or `_count`), from each panel's `expr` and each variable's
/// `label_values(metric, label)`.
pub fn dashboard_metrics() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/grafana/omnigate.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut exprs = Vec::new();
    collect(&dashboard, "expr", &mut exprs);
    assert!(!exprs.is_empty(), "no expressions in {}", path.display());
    let mut names: BTreeSet<String> = exprs.iter().flat_map(|e| metric_names(e)).collect();
    let mut queries = Vec::new();
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        collect(variable, "query", &mut queries);
    }
    for query in queries {
        if let Some(args) = query.strip_prefix("label_values(") {
            let metric = args
                .split([',', '{', ')'])
                .next()
                .unwrap_or_default()
                .trim();
            names.insert(family(metric).to_owned());
        }
    }
    names
}

/// Every string under `key`, anywhere in `value`.
fn collect(value: &Value, key: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(s) if k == key => out.push(s.clone()),
                    other => collect(other, key, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, key, out)),
        _ => {}
    }
}

/// A histogram's family name from one of its series' names.
fn family(name: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name)
}

/// The metric names in a PromQL expression: what is left once strings, label matchers, ranges,
/// grouping clauses, Grafana variables, numbers, functions and keywords are taken out.
fn metric_names(expr: &str) -> Vec<String> {
    const KEYWORDS: [&str; 9] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "and",
    ];
    const OPERATORS: [&str; 2] = ["or", "unless"];
    // Aggregations may put their grouping before the parenthesis: `sum by (a) (x)`.
    const AGGREGATIONS: [&str; 12] = [
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "group",
    ];
    let mut cleaned = String::new();
    let mut chars = expr.chars().peekable();
    let mut depth_braces = 0;
    let mut depth_brackets = 0;
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' | '`' => {
                // A string: skipped whole, escapes included.
                while let Some(d) = chars.next() {
                    if d == '\\' {
                        chars.next();
                    } else if d == c {
                        break;
                    }
                }
            }
            '{' => depth_braces += 1,
            '}' => depth_braces -= 1,
            '[' => depth_brackets += 1,
            ']' => depth_brackets -= 1,
            '$' => {
                // `$model`, `${model}`, `$__rate_interval`.
                while chars
                    .peek()
                    .is_some_and(|d| d.is_ascii_alphanumeric() || matches!(d, '_' | '{' | '}'))
                {
                    chars.next();
                }
            }
            c if depth_braces == 0 && depth_brackets == 0 => cleaned.push(c),
            _ => {}
        }
    }
    // Grouping clauses name labels, not metrics: `by (a, b)`.
    let mut names = Vec::new();
    let tokens: Vec<(usize, &str)> = tokens(&cleaned);
    let mut skip_group = false;
    for &(end, token) in &tokens {
        let next = cleaned[end..].trim_start();
        if skip_group {
            if next.starts_with(')') {
                skip_group = false;
            }
            continue;
        }
        if KEYWORDS.contains(&token) || OPERATORS.contains(&token) {
            skip_group = next.starts_with('(') && token != "and" && token != "bool";
            continue;
        }
        let is_number = token.starts_with(|c: char| c.is_ascii_digit());
        let is_call = next.starts_with('(') || AGGREGATIONS.contains(&token);
        if !is_number && !is_call {
            names.push(family(token).to_owned());
        }
    }
    names
}

/// Identifier tokens with the offset just after each.
fn tokens(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
        let word = c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '.';
        match (start, word) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                out.push((i, &text[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    out
}

#[test]
fn promql_metric_names_are_found_and_labels_are_not() {
    let expr = r#"histogram_quantile(0.99, sum by (le, gen_ai_request_model) (rate(gen_ai_server_request_duration_seconds_bucket{gen_ai_request_model=~"$model", error_type=""}[$__rate_interval]))) / on (model) group_left omnigate_media_decode_slots > 0.5"#;
    assert_eq!(
        metric_names(expr),
        [
            "gen_ai_server_request_duration_seconds",
            "omnigate_media_decode_slots"
        ]
    );
    assert_eq!(
        metric_names("sum without (state) (omnigate_deployment_state == 1)"),
        ["omnigate_deployment_state"]
    );
}
