//! IPv6 on the namespace testbed (issue 11, the control plane's part): the testbed's IPv6
//! addressing (`scripts/testbed up MODE --ipv6`), and an appliance whose config has IPv6
//! services: `ctl` and the metrics show them with bracketed addresses, `ctl weight` takes
//! `[IPv6]:PORT`, and health checks reach the IPv6 reals through the exception path, taking a
//! stopped real down and back up. Traffic to the IPv6 VIPs (NAT66, DR, TUN6, NAT64) is in
//! testbed_ipv6_e2e.rs.
mod common;
use common::testbed::*;
use common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn in_ns(ns: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .expect("ip netns exec");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

/// An HTTP GET from `ns` to `url`: the body (a real's name), or None.
fn get(ns: &str, url: &str) -> Option<String> {
    let (ok, body) = in_ns(ns, &["curl", "-s", "-g", "--max-time", "3", url]);
    (ok && !body.is_empty()).then_some(body)
}

/// With --ipv6 every host has its IPv6 address, the router routes between the two segments,
/// and the real servers serve HTTP on IPv6: from the client, across the router (DR mode: the
/// reals' IPv6 default route is the router), each real answers with its name.
#[test]
fn ipv6_addressing_routes_and_servers() {
    let _tb = Testbed::up_ipv6("dr");
    let (ok, out) = in_ns(
        "dpt-client",
        &[
            "ping",
            "-6",
            "-c",
            "2",
            "-i",
            "0.2",
            "-W",
            "2",
            "2001:db8:1::11",
        ],
    );
    assert!(ok, "client -> real1 over IPv6 through the router: {out}");
    for (real, name) in [("2001:db8:1::11", "real1"), ("2001:db8:1::12", "real2")] {
        assert_eq!(
            get("dpt-client", &format!("http://[{real}]/")).as_deref(),
            Some(name),
            "{real}"
        );
    }
    // The DR reals hold the IPv6 VIP on lo (and would never answer ND for it there).
    let (ok, addrs) = in_ns(
        "dpt-real1",
        &["ip", "-6", "-br", "addr", "show", "dev", "lo"],
    );
    assert!(ok);
    assert!(
        addrs.split_whitespace().any(|a| a == "2001:db8::100/128"),
        "{addrs}"
    );
    // The balancer's PMD interfaces keep IPv6 off.
    let (ok, off) = in_ns(
        "dpt-lb",
        &["cat", "/proc/sys/net/ipv6/conf/lb-int/disable_ipv6"],
    );
    assert!(ok);
    assert_eq!(off, "1");
}

/// `dataplane ctl --socket SOCK ARGS... --json`, its `result`.
fn ctl_json(sock: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["ctl", "--socket", sock.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    all.push("--json");
    let out = run(&all, Duration::from_secs(20));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ctl {args:?}: {text}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("ctl --json prints JSON");
    assert_eq!(v["ok"], true, "{v}");
    v["result"].clone()
}

fn ctl_text(sock: &Path, args: &[&str]) -> String {
    let mut all = vec!["ctl", "--socket", sock.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    let out = run(&all, Duration::from_secs(20));
    assert!(out.status.success(), "ctl {args:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn scrape() -> Vec<dataplane::mgmt::metrics::Sample> {
    let (ok, text) = in_ns(
        "dpt-lb",
        &[
            "curl",
            "-s",
            "--max-time",
            "5",
            "http://127.0.0.1:9717/metrics",
        ],
    );
    assert!(ok, "metrics scrape failed");
    if let Err(e) = dataplane::mgmt::metrics::promtool_check(&format!("{text}\n")) {
        panic!("{e}\n{text}");
    }
    dataplane::mgmt::metrics::parse(&format!("{text}\n")).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn metric(s: &[dataplane::mgmt::metrics::Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    dataplane::mgmt::metrics::sum(s, name, labels)
}

/// `ctl health`'s (available, state) of `real` in `service`.
fn health_of(sock: &Path, service: &str, real: &str) -> (bool, String) {
    let h = ctl_json(sock, &["health"]);
    let row = h["reals"]
        .as_array()
        .expect("reals")
        .iter()
        .find(|r| r["service"] == service && r["real"] == real)
        .unwrap_or_else(|| panic!("no {real} of {service} in {h}"))
        .clone();
    (
        row["available"].as_bool().expect("available"),
        row["state"].as_str().expect("state").to_string(),
    )
}

#[test]
fn ipv6_services_in_ctl_and_metrics_and_health_checks_to_ipv6_reals() {
    let tb = Testbed::up_ipv6("nat");
    let d = TestDir::new();
    let sock = d.path("ctl.sock");
    // Quicker checks than the shipped 2 s.
    let shipped = "health_check: {type: http, path: /, expect: 200, interval: 2s, timeout: 1s, rise: 2, fall: 3}";
    let quick = "health_check: {type: http, path: /, expect: 200, interval: 500ms, timeout: 300ms, rise: 2, fall: 2}";
    let yaml = format!(
        "{}\ncontrol: {{socket: {}}}\n",
        config_from("nat6.yaml", &[(shipped, quick), (shipped, quick)]),
        sock.display()
    );
    let (mut app, _) = start_appliance(&d, &yaml);

    // ctl list: the IPv6 services after the IPv4 one, addresses as written.
    let list = ctl_json(&sock, &["list"]);
    let names: Vec<&str> = list["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["web", "web6", "web64"]);
    let web6 = &list["services"][1];
    assert_eq!(web6["vip"], "2001:db8::100");
    assert_eq!(web6["port"], 80);
    assert_eq!(web6["protocol"], "tcp");
    assert_eq!(web6["scheduler"], "wrr");
    assert_eq!(web6["forward"], "nat");
    let reals: Vec<(String, u64, u64, bool)> = web6["reals"]
        .as_array()
        .expect("reals")
        .iter()
        .map(|r| {
            (
                r["addr"].as_str().expect("addr").to_string(),
                r["port"].as_u64().expect("port"),
                r["weight"].as_u64().expect("weight"),
                r["available"].as_bool().expect("available"),
            )
        })
        .collect();
    assert_eq!(
        reals,
        [
            ("2001:db8:1::11".to_string(), 80, 1, true),
            ("2001:db8:1::12".to_string(), 80, 2, true)
        ]
    );
    let web64 = &list["services"][2];
    assert_eq!(
        (web64["vip"].as_str(), web64["port"].as_u64()),
        (Some("2001:db8::100"), Some(8080))
    );
    assert_eq!(web64["reals"][0]["addr"], "198.19.0.11");
    assert_eq!(web64["reals"][0]["port"], 80);
    let text = ctl_text(&sock, &["list"]);
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    assert!(
        lines.contains(&"TCP  [2001:db8::100]:80 wrr  (web6)"),
        "{text}"
    );
    let real_line = lines
        .iter()
        .find(|l| l.trim_start().starts_with("-> [2001:db8:1::12]:80 "))
        .unwrap_or_else(|| panic!("{text}"));
    let cols: Vec<&str> = real_line.split_whitespace().collect();
    assert_eq!(
        cols[..4],
        ["->", "[2001:db8:1::12]:80", "Masq", "2"],
        "{real_line}"
    );

    // Metrics: the IPv6 reals by bracketed address, with their weights and health.
    let r1 = [("service", "web6"), ("real", "[2001:db8:1::11]:80")];
    let r2 = [("service", "web6"), ("real", "[2001:db8:1::12]:80")];
    let s = scrape();
    assert_eq!(metric(&s, "dataplane_real_weight", &r1), 1.0);
    assert_eq!(metric(&s, "dataplane_real_weight", &r2), 2.0);
    assert_eq!(metric(&s, "dataplane_real_up", &r2), 1.0);
    assert_eq!(
        metric(
            &s,
            "dataplane_real_up",
            &[("service", "web64"), ("real", "198.19.0.12:80")]
        ),
        1.0
    );

    // ctl weight with [IPv6]:PORT changes the running config.
    let w = ctl_json(&sock, &["weight", "web6", "[2001:db8:1::12]:80", "5"]);
    assert!(w["message"].is_string(), "{w}");
    assert_eq!(
        metric(&scrape(), "dataplane_real_weight", &r2),
        5.0,
        "weight 5 published"
    );
    let bad = run(
        &[
            "ctl",
            "--socket",
            sock.to_str().unwrap(),
            "weight",
            "web6",
            "[2001:db8:1::99]:80",
            "1",
        ],
        Duration::from_secs(20),
    );
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("service `web6` has no real [2001:db8:1::99]:80"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    // Health checks over IPv6 through dp-int: a stopped real goes down, a restarted one up.
    let down6 = "real [2001:db8:1::12]:80 of web6 down:";
    let up6 = "real [2001:db8:1::12]:80 of web6 up:";
    tb.server("stop", "real2");
    app.wait_for_log(down6, Duration::from_secs(10));
    assert_eq!(
        health_of(&sock, "web6", "[2001:db8:1::12]:80"),
        (false, "down".to_string())
    );
    // Published with the next management tick; bounded wait for the scrape to show it.
    let start = Instant::now();
    while metric(&scrape(), "dataplane_real_up", &r2) != 0.0 {
        assert!(start.elapsed() < Duration::from_secs(5), "real_up stays 1");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(metric(&scrape(), "dataplane_real_up", &r1), 1.0);
    tb.server("start", "real2");
    app.wait_for_log(up6, Duration::from_secs(10));
    assert_eq!(
        health_of(&sock, "web6", "[2001:db8:1::12]:80"),
        (true, "up".to_string())
    );
    let log = app.stderr();
    assert_eq!(log.matches(down6).count(), 1, "{log}");
    assert_eq!(log.matches(up6).count(), 1, "{log}");
    // real1 answered every IPv6 check all along: it never went down.
    assert!(
        !log.contains("real [2001:db8:1::11]:80 of web6 down"),
        "{log}"
    );
    let (code, _, _) = app.stop("TERM", Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", app.stderr());
}
