//! The local node end to end on the namespace testbed: a real at the appliance's own address
//! (198.19.0.1:8080, the int port's) is served by a kernel HTTP server in the appliance's
//! namespace (dpt-lb). The client's curl to the VIP is answered by real1, real2 and the local
//! server by weight; `ctl list` shows the local real as `Local` with its traffic; its health
//! check (run from the appliance's namespace) takes it out and back.
mod common;
use common::testbed::*;
use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LOCAL: &str = "198.19.0.1";
const LOCAL_PORT: u64 = 8080;

/// The kernel HTTP server of the local real, inside dpt-lb; killed on drop.
struct LocalServer(Child);

impl LocalServer {
    fn start(dir: &Path) -> LocalServer {
        let child = Command::new("ip")
            .args(["netns", "exec", "dpt-lb", "python3", "-m", "http.server"])
            .args(["8080", "--bind", LOCAL, "--directory"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m http.server in dpt-lb");
        LocalServer(child)
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `dataplane ctl --socket SOCK ARGS...`: its stdout (it must succeed).
fn ctl(sock: &Path, args: &[&str]) -> String {
    let mut all = vec!["ctl", "--socket", sock.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    let out = run(&all, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "ctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The web service's reals from `ctl list --stats --json`, by address.
fn web_reals(sock: &Path) -> BTreeMap<String, serde_json::Value> {
    let v: serde_json::Value =
        serde_json::from_str(&ctl(sock, &["list", "--stats", "--json"])).expect("JSON");
    let web = v["result"]["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["name"] == "web")
        .expect("service web")
        .clone();
    web["reals"]
        .as_array()
        .expect("reals")
        .iter()
        .map(|r| (r["addr"].as_str().expect("addr").to_string(), r.clone()))
        .collect()
}

fn stat(r: &serde_json::Value, key: &str) -> u64 {
    r["stats"][key].as_u64().unwrap_or(0)
}

/// Counter `name` of the summary's worker lines, summed over workers.
fn counter(summary: &str, name: &str) -> u64 {
    summary
        .lines()
        .filter(|l| l.starts_with("worker "))
        .flat_map(|l| l.split(", "))
        .filter_map(|seg| {
            let seg = seg.rsplit(": ").next().unwrap_or(seg);
            let seg = seg.trim_end_matches(" pkts");
            let (k, v) = seg.rsplit_once(' ')?;
            (k == name).then(|| v.parse::<u64>().ok()).flatten()
        })
        .sum()
}

/// Size of the bulk file the local server serves.
const BIG: usize = 300_000;

/// One HTTP GET of `path` on the VIP from the client: the body (empty on failure).
fn get(path: &str) -> Vec<u8> {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            "dpt-client",
            "curl",
            "-s",
            "--max-time",
            "10",
        ])
        .arg(format!("http://{VIP}{path}"))
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default()
}

/// Waits until the log holds `needle` `n` times (the health check logs each change once).
fn wait_for_nth(app: &mut Appliance, needle: &str, n: usize, limit: Duration) {
    let start = Instant::now();
    while app.stderr().matches(needle).count() < n {
        assert!(
            start.elapsed() < limit,
            "no {n}th `{needle}` within {limit:?}:\n{}",
            app.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// configs/nat.yaml with the local real 198.19.0.1:8080 (weight 2) in web, a quick health
/// check, the control socket at `sock`, and one or two workers.
fn config(sock: &Path, two_workers: bool) -> String {
    let shipped = "    health_check: {type: http, path: /, expect: 200, interval: 2s, timeout: 1s, rise: 2, fall: 3}\n";
    let quick =
        "    health_check: {type: http, interval: 500ms, timeout: 300ms, rise: 2, fall: 2}\n";
    let mut edits = vec![
        (shipped, quick),
        (
            "      - {ip: 198.19.0.12, weight: 1}\n",
            "      - {ip: 198.19.0.12, weight: 1}\n      - {ip: 198.19.0.1, port: 8080, weight: 2}\n",
        ),
    ];
    if two_workers {
        edits.extend(TWO_WORKERS);
    }
    format!(
        "{}\ncontrol: {{socket: {}}}\n",
        config_from("nat.yaml", &edits),
        sock.display()
    )
}

/// The local server's directory: its page says "local".
fn site(d: &TestDir) -> std::path::PathBuf {
    let site = d.path("site");
    std::fs::create_dir_all(&site).expect("site directory");
    std::fs::write(site.join("index.html"), "local\n").expect("index.html");
    site
}

/// Until the local server listens and its health check has it up, it may miss requests: waits
/// (bounded) until it is up and has served a request.
fn wait_serving(app: &mut Appliance, sock: &Path) {
    let start = Instant::now();
    loop {
        let up = web_reals(sock)
            .get(LOCAL)
            .is_some_and(|r| r["available"] == true);
        if up && tally(4).contains_key("local") {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the local real never served:\n{}",
            app.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A metrics sample summed over the series that carry `labels`.
fn metric(name: &str, labels: &[(&str, &str)]) -> f64 {
    let out = Command::new("ip")
        .args(["netns", "exec", "dpt-lb", "curl", "-s", "--max-time", "5"])
        .arg("http://127.0.0.1:9717/metrics")
        .output()
        .expect("curl the metrics");
    assert!(out.status.success(), "metrics scrape failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let samples = dataplane::mgmt::metrics::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    dataplane::mgmt::metrics::sum(&samples, name, labels)
}

#[test]
fn local_real_serves_beside_real1_and_real2() {
    let _tb = Testbed::up("nat");
    let d = TestDir::new();
    let sock = d.path("ctl.sock");
    let shipped = "    health_check: {type: http, path: /, expect: 200, interval: 2s, timeout: 1s, rise: 2, fall: 3}\n";
    let quick =
        "    health_check: {type: http, interval: 500ms, timeout: 300ms, rise: 2, fall: 2}\n";
    let yaml = format!(
        "{}\ncontrol: {{socket: {}}}\n",
        config_from(
            "nat.yaml",
            &[
                (shipped, quick),
                (
                    "      - {ip: 198.19.0.12, weight: 1}\n",
                    "      - {ip: 198.19.0.12, weight: 1}\n      - {ip: 198.19.0.1, port: 8080, weight: 2}\n",
                ),
            ],
        ),
        sock.display()
    );
    let (mut app, _) = start_appliance(&d, &yaml);
    let site = d.path("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "local\n").unwrap();
    let mut server = Some(LocalServer::start(&site));

    // Until the local server listens and its health check has it up, it may miss requests.
    let start = Instant::now();
    loop {
        let up = web_reals(&sock)
            .get(LOCAL)
            .is_some_and(|r| r["available"] == true);
        if up && tally(4).contains_key("local") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the local real never served:\n{}",
            app.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // wrr 1:1:2 over whole rounds, one worker: exact, whatever the round's starting point.
    std::thread::sleep(Duration::from_millis(300));
    let before = web_reals(&sock);
    let t = tally(20);
    let want: BTreeMap<String, usize> = [("real1", 5), ("real2", 5), ("local", 10)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    assert_eq!(t, want, "curl from the client, by weight");
    // Workers publish per-real figures every 100 ms.
    std::thread::sleep(Duration::from_millis(400));
    let after = web_reals(&sock);
    for (addr, n) in [("198.19.0.11", 5), ("198.19.0.12", 5), (LOCAL, 10)] {
        let conns = stat(&after[addr], "conns") - stat(&before[addr], "conns");
        assert_eq!(conns, n, "connections of {addr}");
    }
    let local = &after[LOCAL];
    assert_eq!(local["port"].as_u64(), Some(LOCAL_PORT));
    assert_eq!(local["forward"], "local", "{local}");
    assert_eq!(local["weight"].as_u64(), Some(2));
    // Each HTTP exchange is at least SYN, ACK, request, FIN in and SYN-ACK, response, FIN out.
    let pkts_in = stat(local, "pkts_in") - stat(&before[LOCAL], "pkts_in");
    let pkts_out = stat(local, "pkts_out") - stat(&before[LOCAL], "pkts_out");
    assert!(pkts_in >= 40 && pkts_out >= 30, "{local}");

    // ipvsadm's listing: the local real's forwarding is `Local`.
    let text = ctl(&sock, &["list"]);
    let line = text
        .lines()
        .find(|l| l.contains("198.19.0.1:8080"))
        .unwrap_or_else(|| panic!("no local real in\n{text}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(f.len(), 7, "{line}");
    assert_eq!(
        (f[0], f[1], f[2], f[3], f[6]),
        ("->", "198.19.0.1:8080", "Local", "2", "up")
    );

    // Bulk from the kernel (many full-size segments through the exception path): of 4 GETs
    // (one wrr round) the local server answers 2, each byte for byte.
    let big: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
    std::fs::write(site.join("big.bin"), &big).unwrap();
    let whole = (0..4).filter(|_| get("/big.bin") == big).count();
    assert_eq!(whole, 2, "the local real's share of a wrr round, whole");

    // Its health check sees the kernel server stop and start again.
    let down = "real 198.19.0.1:8080 of web down:";
    let up = "real 198.19.0.1:8080 of web up:";
    let (downs, ups) = (
        app.stderr().matches(down).count(),
        app.stderr().matches(up).count(),
    );
    server.take();
    wait_for_nth(&mut app, down, downs + 1, Duration::from_secs(5));
    let t = tally(8);
    assert_eq!(
        (t.get("real1"), t.get("real2"), t.get("local")),
        (Some(&4), Some(&4), None),
        "a down local real gets no new connections: {t:?}"
    );
    let _server = LocalServer::start(&site);
    wait_for_nth(&mut app, up, ups + 1, Duration::from_secs(8));
    let t = tally(4);
    assert_eq!(t.get("local"), Some(&2), "back up: {t:?}");

    // The workers' counters agree with the real's figures, packet for packet.
    std::thread::sleep(Duration::from_millis(400));
    let last = web_reals(&sock);
    let local_real = [("service", "web"), ("real", "198.19.0.1:8080")];
    let conns = stat(&last[LOCAL], "conns") as f64;
    assert_eq!(
        metric("dataplane_real_connections_total", &local_real),
        conns
    );
    assert_eq!(metric("dataplane_real_up", &local_real), 1.0);
    let (code, _, summary) = app.stop("TERM", Duration::from_secs(5));
    assert_eq!(code, Some(0), "{}", app.stderr());
    println!("{summary}");
    assert_eq!(counter(&summary, "local_in"), stat(&last[LOCAL], "pkts_in"));
    assert_eq!(
        counter(&summary, "local_out"),
        stat(&last[LOCAL], "pkts_out")
    );
}

/// Two workers: the kernel's replies reach worker 0 and go to each connection's owner over the
/// handoff ring; every request is answered, and each real's connection count is exactly what
/// the client saw from it.
#[test]
fn local_real_with_two_workers() {
    let _tb = Testbed::up("nat");
    let d = TestDir::new();
    let sock = d.path("ctl.sock");
    let (mut app, _) = start_appliance(&d, &config(&sock, true));
    let _server = LocalServer::start(&site(&d));
    wait_serving(&mut app, &sock);
    std::thread::sleep(Duration::from_millis(300));
    let before = web_reals(&sock);
    let t = tally(40);
    assert_eq!(t.get("none"), None, "every request answered: {t:?}");
    let local = t.get("local").copied().unwrap_or(0);
    // Each worker keeps its own wrr position: about half the requests, never none.
    assert!(
        (14..=26).contains(&local),
        "wrr 1:1:2 with two workers: {t:?}"
    );
    std::thread::sleep(Duration::from_millis(400));
    let after = web_reals(&sock);
    for (addr, name) in [
        ("198.19.0.11", "real1"),
        ("198.19.0.12", "real2"),
        (LOCAL, "local"),
    ] {
        let conns = stat(&after[addr], "conns") - stat(&before[addr], "conns");
        assert_eq!(conns as usize, t.get(name).copied().unwrap_or(0), "{addr}");
    }
    let (code, _, summary) = app.stop("TERM", Duration::from_secs(5));
    assert_eq!(code, Some(0), "{}", app.stderr());
    println!("{summary}");
    assert!(counter(&summary, "handoff_in") > 0, "{summary}");
    assert_eq!(
        counter(&summary, "local_in"),
        stat(&after[LOCAL], "pkts_in")
    );
    assert_eq!(
        counter(&summary, "local_out"),
        stat(&after[LOCAL], "pkts_out")
    );
}
