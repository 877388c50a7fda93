//! `dataplane ctl` and the metrics endpoint against a real appliance on the testbed (part of
//! the testbed_e2e binary, so it runs in the testbed's one-at-a-time group).

mod metric_names;

use crate::common::testbed::*;
use crate::common::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// `dataplane ctl --socket SOCK ARGS...`: (success, stdout, stderr).
fn ctl(sock: &Path, args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["ctl", "--socket", sock.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    let out = run(&all, Duration::from_secs(20));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `ctl ... --json`, its `result`.
fn ctl_json(sock: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    let (ok, out, err) = ctl(sock, &a);
    assert!(ok, "ctl {args:?} failed: {err}{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("ctl --json prints JSON");
    assert_eq!(v["ok"], true, "{v}");
    v["result"].clone()
}

fn service<'a>(list: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    list["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no service {name} in {list}"))
}

fn sum_reals(svc: &serde_json::Value, key: &str) -> u64 {
    svc["reals"]
        .as_array()
        .expect("reals")
        .iter()
        .map(|r| r["stats"][key].as_u64().unwrap_or(0))
        .sum()
}

fn scrape() -> Vec<dataplane::mgmt::metrics::Sample> {
    let out = Command::new("ip")
        .args(["netns", "exec", "dpt-lb", "curl", "-s", "--max-time", "5"])
        .arg("http://127.0.0.1:9717/metrics")
        .output()
        .expect("curl the metrics");
    assert!(out.status.success(), "metrics scrape failed");
    let text = String::from_utf8_lossy(&out.stdout);
    if let Err(e) = dataplane::mgmt::metrics::promtool_check(&text) {
        panic!("{e}\n{text}");
    }
    dataplane::mgmt::metrics::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn metric(s: &[dataplane::mgmt::metrics::Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    dataplane::mgmt::metrics::sum(s, name, labels)
}

#[test]
fn ctl_list_conns_weight_reload_and_metrics() {
    let _tb = Testbed::up("nat");
    let d = TestDir::new();
    let sock = d.path("ctl.sock");
    let yaml = format!(
        "{}\ncontrol: {{socket: {}}}\n",
        config_from("nat.yaml", &[]),
        sock.display()
    );
    let (mut app, cfg_path) = start_appliance(&d, &yaml);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&sock)
            .expect("socket exists")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the control socket is root-only");

    let t = tally(10);
    assert_eq!(t.get("none"), None, "every request answered: {t:?}");
    // Workers publish per-real figures every 100 ms.
    std::thread::sleep(Duration::from_millis(300));

    // list --json matches the config and counts the traffic.
    let list = ctl_json(&sock, &["list", "--stats"]);
    let names: Vec<&str> = list["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web", "echo", "dns"]);
    let web = service(&list, "web");
    assert_eq!(web["protocol"], "tcp");
    assert_eq!(web["vip"], VIP);
    assert_eq!(web["port"], 80);
    assert_eq!(web["scheduler"], "wrr");
    let reals: Vec<(String, u64, u64, bool)> = web["reals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["addr"].as_str().unwrap().to_string(),
                r["port"].as_u64().unwrap(),
                r["weight"].as_u64().unwrap(),
                r["available"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reals,
        [
            ("198.19.0.11".to_string(), 80, 1, true),
            ("198.19.0.12".to_string(), 80, 1, true)
        ]
    );
    let conns = sum_reals(web, "conns");
    assert!(
        conns >= 10,
        "10 curls (and the start-up probe): {conns}\n{list}"
    );
    assert_eq!(web["stats"]["conns"].as_u64().unwrap(), conns);
    assert!(sum_reals(web, "pkts_in") >= 5 * conns, "{list}");
    assert!(sum_reals(web, "bytes_out") > 0, "{list}");
    let inactive: u64 = web["reals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["inactive"].as_u64().unwrap() + r["active"].as_u64().unwrap())
        .sum();
    assert!(
        inactive >= 10,
        "closed connections wait in TIME_WAIT: {list}"
    );

    // Human output, like ipvsadm -Ln.
    let (ok, text, err) = ctl(&sock, &["list"]);
    assert!(ok, "{err}");
    assert!(text.contains("TCP  198.18.0.100:80 wrr"), "{text}");
    assert!(text.contains("UDP  198.18.0.100:53 rr"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("-> 198.19.0.11:80") && l.contains("Masq")),
        "{text}"
    );

    let (_, stats_text, _) = ctl(&sock, &["list", "--stats"]);
    println!("{text}\n{stats_text}");

    // Connections, like ipvsadm -Lnc, and filtered.
    let cv = ctl_json(&sock, &["conns", "--service", "web"]);
    assert_eq!(cv["complete"], true);
    let listed = cv["conns"].as_array().unwrap();
    assert!(listed.len() >= 10, "{cv}");
    assert!(listed
        .iter()
        .all(|c| c["vip"] == "198.18.0.100:80" && c["proto"] == "TCP"));
    let (ok, text, err) = ctl(&sock, &["conns", "--real", "198.19.0.12"]);
    assert!(ok, "{err}");
    assert!(text.starts_with("IPVS connection entries"), "{text}");
    let rows: Vec<&str> = text.lines().skip(2).collect();
    assert!(!rows.is_empty(), "{text}");
    assert!(rows.iter().all(|l| l.ends_with("198.19.0.12:80")), "{text}");
    println!("{text}");
    let none = ctl_json(&sock, &["conns", "--client", "203.0.113.9"]);
    assert_eq!(none["conns"].as_array().unwrap().len(), 0);

    // Metrics: parse, and count what was sent.
    let m = scrape();
    let web_conns = metric(
        &m,
        "dataplane_real_connections_total",
        &[("service", "web")],
    );
    assert_eq!(web_conns as u64, conns, "metrics and ctl agree");
    assert_eq!(
        metric(
            &m,
            "dataplane_real_weight",
            &[("real", "198.19.0.11:80"), ("service", "web")]
        ),
        1.0
    );
    assert_eq!(metric(&m, "dataplane_real_up", &[("service", "web")]), 2.0);
    assert!(
        metric(
            &m,
            "dataplane_port_packets_total",
            &[("port", "ext"), ("direction", "rx")]
        ) >= 50.0
    );
    assert!(metric(&m, "dataplane_worker_packets_total", &[("direction", "rx")]) >= 100.0);
    assert!(m
        .iter()
        .any(|(n, l, _)| n == "dataplane_port_xstat"
            && l.iter().any(|(k, v)| k == "port" && v == "int")));
    assert!(metric(&m, "dataplane_worker_connections", &[]) >= 10.0);
    assert!(
        metric(
            &m,
            "dataplane_management_events_total",
            &[("event", "garps")]
        ) >= 1.0,
        "a gratuitous ARP for the VIP at start"
    );

    // ctl stats: the same counters by their declared names (no traffic now: they agree).
    let st = ctl_json(&sock, &["stats"]);
    let workers = |name: &str| -> u64 {
        st["workers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w[name].as_u64().unwrap_or_else(|| panic!("{name} in {st}")))
            .sum()
    };
    assert!(workers("conn_new") >= conns, "{st}");
    assert_eq!(
        workers("conn_new") as f64,
        metric(
            &m,
            "dataplane_worker_events_total",
            &[("event", "conn_new")]
        ),
        "ctl stats and metrics agree: {st}"
    );
    assert_eq!(
        workers("nat_in") as f64,
        metric(&m, "dataplane_worker_events_total", &[("event", "nat_in")]),
        "{st}"
    );
    assert!(st["management"]["garps"].as_u64().unwrap() >= 1, "{st}");
    let ext = st["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["port"] == "ext")
        .unwrap_or_else(|| panic!("port ext in {st}"));
    assert!(ext["stats"]["rx_packets"].as_u64().unwrap() >= 50, "{st}");
    let (ok, text, err) = ctl(&sock, &["stats"]);
    assert!(ok, "{err}");
    let row = text
        .lines()
        .find(|l| l.starts_with("conn_new "))
        .unwrap_or_else(|| panic!("no conn_new row:\n{text}"));
    let total: u64 = row.split_whitespace().last().unwrap().parse().unwrap();
    assert_eq!(total, workers("conn_new"), "{text}");
    println!("{text}");

    // weight web real1 0: new connections avoid it.
    let (ok, text, err) = ctl(&sock, &["weight", "web", "198.19.0.11", "0"]);
    assert!(ok, "{err}");
    assert!(text.contains("weight 1 -> 0"), "{text}");
    let t = tally(10);
    assert_eq!(t.get("real2"), Some(&10), "real1 quiesced: {t:?}");
    let list = ctl_json(&sock, &["list"]);
    assert_eq!(service(&list, "web")["reals"][0]["weight"], 0);

    // drain, and errors that name the problem.
    let (ok, text, err) = ctl(&sock, &["drain", "echo", "198.19.0.12:7"]);
    assert!(ok, "{err}");
    assert!(text.contains("weight 1 -> 0"), "{text}");
    let (ok, _, err) = ctl(&sock, &["weight", "nope", "198.19.0.11", "1"]);
    assert!(!ok && err.contains("no service named `nope`"), "{err}");
    let (ok, _, err) = ctl(&sock, &["weight", "web", "198.19.0.99", "1"]);
    assert!(!ok && err.contains("has no real 198.19.0.99"), "{err}");
    let (ok, _, err) = ctl(&sock, &["weight", "web", "198.19.0.11", "70000"]);
    assert!(!ok && err.contains("between 0 and 65535"), "{err}");

    // reload from the file: its weights come back; a broken file is refused with the reason.
    let (ok, text, err) = ctl(&sock, &["reload"]);
    assert!(ok, "{err}");
    assert!(text.contains("reloaded"), "{text}");
    let list = ctl_json(&sock, &["list"]);
    assert_eq!(service(&list, "web")["reals"][0]["weight"], 1);
    assert_eq!(service(&list, "echo")["reals"][1]["weight"], 1);
    std::fs::write(
        &cfg_path,
        yaml.replace("scheduler: wrr", "scheduler: fastest"),
    )
    .expect("write config");
    let (ok, _, err) = ctl(&sock, &["reload"]);
    assert!(
        !ok && err.contains("reload refused") && err.contains("fastest"),
        "{err}"
    );
    std::fs::write(
        &cfg_path,
        yaml.replace("cores: [1]", "cores: [1]\n  burst: 16"),
    )
    .expect("write config");
    let (ok, _, err) = ctl(&sock, &["reload"]);
    assert!(
        !ok && err.contains("workers.burst: changing it needs a restart"),
        "{err}"
    );

    // Rates: per second over the last sample interval.
    let _ = tally(5);
    std::thread::sleep(Duration::from_millis(1200));
    let r = ctl_json(&sock, &["list", "--rate"]);
    assert!(r["rate_interval_ms"].as_u64().unwrap() >= 900, "{r}");
    assert!(service(&r, "web")["rate"]["cps"].as_f64().is_some(), "{r}");
    let (ok, text, _) = ctl(&sock, &["health"]);
    assert!(
        ok && text.contains("198.19.0.11:80") && text.contains("up"),
        "{text}"
    );

    let (code, _, _) = app.stop("TERM", Duration::from_secs(5));
    assert_eq!(code, Some(0), "{}", app.stderr());
    assert!(!sock.exists(), "the socket is removed at exit");
    let (ok, _, err) = ctl(&sock, &["list"]);
    assert!(!ok);
    assert!(
        err.contains("is the appliance running? no socket at"),
        "{err}"
    );
}

#[test]
fn ctl_sums_and_lists_over_two_workers() {
    let _tb = Testbed::up("nat");
    let d = TestDir::new();
    let sock = d.path("ctl.sock");
    let yaml = format!(
        "{}\ncontrol: {{socket: {}}}\n",
        config_from("nat.yaml", &TWO_WORKERS),
        sock.display()
    );
    let (mut app, _) = start_appliance(&d, &yaml);
    let t = tally(20);
    assert_eq!(t.get("none"), None, "{t:?}");
    std::thread::sleep(Duration::from_millis(300));
    let list = ctl_json(&sock, &["list", "--stats"]);
    let conns = sum_reals(service(&list, "web"), "conns");
    assert!(conns >= 20, "{list}");
    let cv = ctl_json(&sock, &["conns", "--service", "web"]);
    assert_eq!(cv["complete"], true);
    let listed = cv["conns"].as_array().unwrap();
    assert_eq!(
        listed.len() as u64,
        conns,
        "every connection listed once: {cv}"
    );
    let mut workers: Vec<u64> = listed
        .iter()
        .map(|c| c["worker"].as_u64().unwrap())
        .collect();
    workers.sort();
    workers.dedup();
    assert_eq!(workers, [0, 1], "both workers own connections: {cv}");
    let m = scrape();
    let per_worker: Vec<f64> = ["0", "1"]
        .iter()
        .map(|w| metric(&m, "dataplane_worker_connections", &[("worker", w)]))
        .collect();
    assert_eq!(
        per_worker.iter().sum::<f64>() as u64,
        listed.len() as u64,
        "{per_worker:?}"
    );

    // ctl top: one row per worker, rates between samples, the table occupancy as listed.
    let (ok, text, err) = ctl(&sock, &["top", "--interval", "200ms", "--count", "2"]);
    assert!(ok, "{err}");
    let frames: Vec<&str> = text.split("\n\n").collect();
    assert_eq!(frames.len(), 2, "{text}");
    for f in &frames {
        let lines: Vec<&str> = f.lines().collect();
        assert!(
            lines[0].starts_with("Every 200ms: dataplane ctl top    "),
            "{f}"
        );
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            [
                "Worker",
                "Load",
                "RxPPS",
                "TxPPS",
                "DropPPS",
                "HandoffOutPPS",
                "HandoffInPPS",
                "Connections"
            ]
        );
        let rows: Vec<Vec<&str>> = lines[2..]
            .iter()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            rows.iter().map(|r| r[0]).collect::<Vec<_>>(),
            ["0", "1"],
            "{f}"
        );
        let conns: u64 = rows.iter().map(|r| r[7].parse::<u64>().unwrap()).sum();
        assert_eq!(conns, listed.len() as u64, "{f}");
        for r in &rows {
            let load: f64 = r[1].trim_end_matches('%').parse().unwrap();
            assert!((0.0..=100.0).contains(&load), "{f}");
        }
    }
    let w = ctl_json(&sock, &["top"]);
    let rx: Vec<u64> = w["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["rx"].as_u64().unwrap())
        .collect();
    assert_eq!(rx.len(), 2, "{w}");
    // Health checks keep packets flowing, so the later scrape may count a few more.
    let ctl_rx = rx.iter().sum::<u64>();
    let scraped = metric(
        &scrape(),
        "dataplane_worker_packets_total",
        &[("direction", "rx")],
    );
    assert!(
        ctl_rx > 0 && ctl_rx as f64 <= scraped,
        "ctl and the metrics count the same packets: {ctl_rx} vs {scraped}"
    );
    let (code, _, _) = app.stop("TERM", Duration::from_secs(5));
    assert_eq!(code, Some(0), "{}", app.stderr());
}

/// The web service's row for `real` in one `ctl list --watch` frame, split into words.
fn watch_row<'a>(frame: &'a str, real: &str) -> Vec<&'a str> {
    let mut in_web = false;
    for line in frame.lines() {
        if !line.starts_with("  ->") {
            in_web = line.ends_with("(web)") || line.contains("(web) ");
            continue;
        }
        if in_web && line.split_whitespace().nth(1) == Some(real) {
            return line.split_whitespace().collect();
        }
    }
    panic!("no row for {real} of web in\n{frame}");
}

/// `ctl list --watch` into a pipe: frames follow one another, each with its header, rates per
/// real and health; real2 is shown DOWN once its check fails; Ctrl-C ends it with status 0.
#[test]
fn ctl_list_watch_shows_a_stopped_real_down() {
    let tb = Testbed::up("nat");
    let d = TestDir::new();
    let sock = d.path("ctl.sock");
    let shipped = "    health_check: {type: http, path: /, expect: 200, interval: 2s, timeout: 1s, rise: 2, fall: 3}\n";
    let quick =
        "    health_check: {type: http, interval: 500ms, timeout: 300ms, rise: 2, fall: 2}\n";
    let yaml = format!(
        "{}\ncontrol: {{socket: {}}}\n",
        config_from("nat.yaml", &[(shipped, quick)]),
        sock.display()
    );
    let (mut app, _) = start_appliance(&d, &yaml);
    let out_path = d.path("watch.out");
    let mut watch = Command::new(bin())
        .args(["ctl", "--socket", sock.to_str().unwrap()])
        .args(["list", "--watch", "--interval", "200ms", "--count", "150"])
        .stdout(std::fs::File::create(&out_path).expect("watch output file"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ctl list --watch");
    let t = tally(4);
    assert_eq!(t.get("none"), None, "{t:?}");
    std::thread::sleep(Duration::from_millis(1200));

    tb.server("stop", "real2");
    app.wait_for_log("real 198.19.0.12:80 of web down:", Duration::from_secs(6));
    // A few frames after the change.
    std::thread::sleep(Duration::from_millis(1000));
    let _ = Command::new("kill")
        .args(["-INT", &watch.id().to_string()])
        .status();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = watch.try_wait().expect("wait") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "--watch did not end on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut watch.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        status.success(),
        "--watch ends cleanly on Ctrl-C: {status} {err}"
    );

    let text = std::fs::read_to_string(&out_path).expect("watch output");
    let frames: Vec<&str> = text.split("\n\n").collect();
    assert!(
        frames.len() >= 5,
        "several frames: {}\n{text}",
        frames.len()
    );
    assert!(frames.len() < 150, "ended by SIGINT, not --count");
    for f in &frames {
        assert!(
            f.starts_with("Every 200ms: dataplane ctl list --watch    "),
            "{f}"
        );
        assert!(f.ends_with(" UTC\n") || f.contains(" UTC\n"), "{f}");
        // Forward, weight, active, inactive, five rates, health.
        let r1 = watch_row(f, "198.19.0.11:80");
        assert_eq!(r1.len(), 12, "{r1:?}");
        assert_eq!((r1[2], r1[3]), ("Masq", "1"));
        assert_eq!(r1[11], "up", "real1 stays up: {f}");
    }
    assert_eq!(watch_row(frames[0], "198.19.0.12:80")[11], "up");
    let last = frames.last().unwrap();
    assert_eq!(watch_row(last, "198.19.0.12:80")[11], "DOWN", "{last}");
    // Once DOWN, every later frame says so (no flapping back in the table).
    let first_down = frames
        .iter()
        .position(|f| watch_row(f, "198.19.0.12:80")[11] == "DOWN")
        .unwrap();
    assert!(frames[first_down..]
        .iter()
        .all(|f| watch_row(f, "198.19.0.12:80")[11] == "DOWN"));
    println!("{}", frames[first_down]);
    tb.server("start", "real2");
    let (code, _, _) = app.stop("TERM", Duration::from_secs(5));
    assert_eq!(code, Some(0), "{}", app.stderr());
}
