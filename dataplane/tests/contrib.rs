//! contrib/: the Prometheus alerting rules pass `promtool check rules` and their unit tests
//! (`promtool test rules`), and every query of the Grafana dashboard is valid PromQL (checked by
//! promtool as recording rules). promtool comes with Debian's `prometheus` package
//! (scripts/setup). That the names they use are the ones the appliance serves is checked
//! against a running appliance in testbed_ctl/metric_names.rs.
use std::path::PathBuf;
use std::process::Command;

fn contrib(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../contrib")
        .join(rel)
}

fn promtool(args: &[&str]) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .output()
        .expect("promtool (Debian package prometheus; run scripts/setup)");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn alerting_rules_pass_promtool_check_and_their_unit_tests() {
    let rules = contrib("prometheus/dataplane-rules.yml");
    let (ok, out) = promtool(&["check", "rules", rules.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(
        out.lines().any(|l| l.trim() == "SUCCESS: 5 rules found"),
        "{out}"
    );
    let alerts: Vec<String> = {
        let v: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(&rules).unwrap()).unwrap();
        v["groups"][0]["rules"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|r| r["alert"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        alerts,
        [
            "DataplaneRealDown",
            "DataplaneServiceWithoutHealthyReal",
            "DataplaneDropsRising",
            "DataplaneConnectionTableNearFull",
            "DataplaneConnectionTableFull"
        ]
    );
    // The unit tests make each alert fire (and stay quiet) on made-up series.
    let tests = contrib("prometheus/dataplane-rules.test.yml");
    let (ok, out) = promtool(&["test", "rules", tests.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(out.lines().any(|l| l.trim() == "SUCCESS"), "{out}");
    let test_text = std::fs::read_to_string(&tests).unwrap();
    for a in &alerts {
        assert!(
            test_text.contains(&format!("alertname: {a}\n")),
            "{a} has no unit test"
        );
    }
}

#[test]
fn dashboard_queries_are_valid_promql() {
    let text = std::fs::read_to_string(contrib("grafana/dataplane.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert_eq!(dash["uid"], "dataplane-lb");
    let panels = dash["panels"].as_array().unwrap();
    let mut ids: Vec<u64> = panels.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
    let titles: Vec<&str> = panels
        .iter()
        .filter(|p| p["type"] == "row")
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "Services",
            "Real servers and health",
            "Drops",
            "Workers",
            "Ports"
        ]
    );
    let mut exprs = Vec::new();
    for p in panels.iter().filter(|p| p["type"] != "row") {
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{} has no query", p["title"]);
        for t in targets {
            exprs.push(t["expr"].as_str().unwrap().to_string());
        }
    }
    assert!(exprs.len() >= 20, "{}", exprs.len());
    // Grafana's variables as Prometheus would see them after substitution.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, e) in exprs.iter().enumerate() {
        let e = e
            .replace("$__rate_interval", "1m")
            .replace("$instance", ".*");
        rules.push_str(&format!(
            "      - record: dashboard:q{i}\n        expr: {}\n",
            serde_json::to_string(&e).unwrap()
        ));
    }
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("dashboard-rules.yml");
    std::fs::write(&f, rules).unwrap();
    let (ok, out) = promtool(&["check", "rules", f.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(
        out.lines()
            .any(|l| l.trim() == format!("SUCCESS: {} rules found", exprs.len())),
        "{out}"
    );
}
