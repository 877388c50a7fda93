//! The names contrib/'s dashboard and alerting rules query are the ones a running appliance
//! serves: every `dataplane_*` metric they reference exists in a scrape, and every label value
//! they select on (`reason="no_real"`, `event=~"busy_polls|idle_polls"`) occurs on it. A
//! renamed metric or counter fails here.

use super::scrape;
use crate::common::testbed::*;
use crate::common::*;
use dataplane::mgmt::metrics::Sample;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

/// A metric a query references, with the label values it selects exactly.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Reference {
    name: String,
    /// (label, value) pairs of `=` and of plain-word `=~` alternatives.
    labels: Vec<(String, String)>,
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// The `dataplane_*` metrics of a PromQL expression (or Grafana's `label_values(...)`).
fn references(expr: &str) -> Vec<Reference> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            // Skip a string (label values are read with their selector below).
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += 1;
            }
            i += 1;
            continue;
        }
        if !is_ident(c) || (i > 0 && is_ident(chars[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_ident(chars[i]) {
            i += 1;
        }
        let name: String = chars[start..i].iter().collect();
        if !name.starts_with("dataplane_") {
            continue;
        }
        let mut labels = Vec::new();
        if chars.get(i) == Some(&'{') {
            let end = chars[i..].iter().position(|&c| c == '}').unwrap() + i;
            let body: String = chars[i + 1..end].iter().collect();
            for m in body.split(',') {
                let m = m.trim();
                let (k, op, v) = ["!~", "=~", "!=", "="]
                    .iter()
                    .find_map(|op| m.split_once(op).map(|(k, v)| (k, *op, v)))
                    .unwrap_or_else(|| panic!("matcher `{m}` in {expr}"));
                let v = v.trim().trim_matches('"');
                let words = v.split('|').all(|w| {
                    !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                });
                match op {
                    "=" => labels.push((k.trim().to_string(), v.to_string())),
                    "=~" | "!=" | "!~" if words => {
                        for w in v.split('|') {
                            labels.push((k.trim().to_string(), w.to_string()));
                        }
                    }
                    _ => {}
                }
            }
            i = end + 1;
        }
        out.push(Reference { name, labels });
    }
    out
}

fn contrib(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../contrib")
        .join(rel)
}

/// Every query of the dashboard and the rules.
fn contrib_queries() -> Vec<String> {
    let mut q = Vec::new();
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(contrib("grafana/dataplane.json")).unwrap())
            .unwrap();
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            q.push(t["expr"].as_str().unwrap().to_string());
        }
    }
    for v in dash["templating"]["list"].as_array().unwrap() {
        if let Some(d) = v["definition"].as_str() {
            q.push(d.to_string());
        }
    }
    let rules: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(contrib("prometheus/dataplane-rules.yml")).unwrap(),
    )
    .unwrap();
    for g in rules["groups"].as_sequence().unwrap() {
        for r in g["rules"].as_sequence().unwrap() {
            q.push(r["expr"].as_str().unwrap().to_string());
        }
    }
    q
}

#[test]
fn references_are_read_from_promql() {
    let r = references(
        r#"sum by (w) (rate(dataplane_worker_events_total{instance=~"$instance", event=~"busy_polls|idle_polls"}[5m])) / on (instance) dataplane_real_up * 8 > bool 0 or label_values(dataplane_real_weight, instance) + x_dataplane_y{a="dataplane_z"}"#,
    );
    let r: Vec<(String, Vec<(String, String)>)> =
        r.into_iter().map(|r| (r.name, r.labels)).collect();
    assert_eq!(
        r,
        [
            (
                "dataplane_worker_events_total".to_string(),
                vec![
                    ("event".to_string(), "busy_polls".to_string()),
                    ("event".to_string(), "idle_polls".to_string())
                ]
            ),
            ("dataplane_real_up".to_string(), vec![]),
            ("dataplane_real_weight".to_string(), vec![]),
        ]
    );
}

#[test]
fn contrib_dashboard_and_rules_use_served_metric_names() {
    let queries = contrib_queries();
    let refs: BTreeSet<Reference> = queries.iter().flat_map(|q| references(q)).collect();
    let names: BTreeSet<&str> = refs.iter().map(|r| r.name.as_str()).collect();
    println!("referenced: {names:?}");
    assert!(names.len() >= 15, "{names:?}");

    let _tb = Testbed::up("nat");
    let d = TestDir::new();
    let (mut app, _) = start_appliance(&d, &config_from("nat.yaml", &[]));
    let t = tally(4);
    assert_eq!(t.get("none"), None, "{t:?}");
    std::thread::sleep(Duration::from_millis(300));
    let served: Vec<Sample> = scrape();
    let served_names: BTreeSet<&str> = served.iter().map(|s| s.0.as_str()).collect();
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !served_names.contains(n))
        .collect();
    assert!(
        missing.is_empty(),
        "contrib/ queries metrics the appliance does not serve: {missing:?}"
    );
    for r in &refs {
        for (k, v) in &r.labels {
            assert!(
                served
                    .iter()
                    .any(|(n, l, _)| n == &r.name && l.iter().any(|(a, b)| a == k && b == v)),
                "contrib/ selects {}{{{k}=\"{v}\"}}, which the appliance does not serve",
                r.name
            );
        }
    }
    let (code, _, _) = app.stop("TERM", Duration::from_secs(5));
    assert_eq!(code, Some(0), "{}", app.stderr());
}
