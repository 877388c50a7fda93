//! VIP announcement through a real GoBGP daemon (docs/bgp.md) on the namespace testbed: gobgpd
//! runs in dpt-lb beside the appliance, on loopback only (gRPC on 127.0.0.1:50151, no BGP
//! listener), and the test reads its RIB with the gobgp CLI. The routes follow a real's health
//! (down: withdrawn, up: announced), come back after the daemon restarts, and are withdrawn on
//! `ctl drain` and on SIGTERM / SIGINT; a drain keeps forwarding an open connection (and takes
//! new ones) until it closes, then the appliance exits 0.
mod common;
use common::testbed::*;
use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const API_PORT: &str = "50151";
const NS: &str = "dpt-lb";
/// The second VIP: one service with one real whose health is a file the test creates.
const PROBE_VIP: &str = "198.18.0.101";

/// gobgpd in dpt-lb, killed on drop.
struct Gobgpd {
    child: Child,
}

impl Gobgpd {
    fn start(d: &TestDir) -> Gobgpd {
        let conf = d.write(
            "gobgpd.toml",
            "[global.config]\n  as = 64512\n  router-id = \"198.18.0.1\"\n  port = -1\n",
        );
        let _ = Command::new("ip")
            .args(["-n", NS, "link", "set", "lo", "up"])
            .status();
        let log = std::fs::File::create(d.path("gobgpd.log")).expect("log");
        let child = Command::new("ip")
            .args(["netns", "exec", NS, "gobgpd", "-f"])
            .arg(&conf)
            .args([
                &format!("--api-hosts=127.0.0.1:{API_PORT}"),
                "--pprof-disable",
                "-p",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start gobgpd (scripts/setup installs it)");
        let g = Gobgpd { child };
        wait_until("gobgpd answers", Duration::from_secs(20), || {
            rib().is_some()
        });
        g
    }
}

impl Drop for Gobgpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The daemon's IPv4 RIB: prefix -> next hop (None: the CLI failed).
fn rib() -> Option<BTreeMap<String, String>> {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            NS,
            "gobgp",
            "-u",
            "127.0.0.1",
            "-p",
            API_PORT,
        ])
        .args(["global", "rib", "-a", "ipv4", "-j"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() {
        return Some(BTreeMap::new());
    }
    let v: serde_json::Value = serde_json::from_str(text.trim()).ok()?;
    Some(
        v.as_object()?
            .iter()
            .map(|(p, paths)| {
                let nh = paths[0]["attrs"]
                    .as_array()
                    .and_then(|a| a.iter().find_map(|x| x["nexthop"].as_str()))
                    .unwrap_or("")
                    .to_string();
                (p.clone(), nh)
            })
            .collect(),
    )
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: not within {limit:?} (RIB {:?})", rib());
}

fn routes(list: &[&str]) -> BTreeMap<String, String> {
    list.iter()
        .map(|v| (format!("{v}/32"), "198.18.0.1".to_string()))
        .collect()
}

/// `dataplane ctl --json bgp`'s result.
fn ctl_bgp() -> serde_json::Value {
    let out = run(&["ctl", "--json", "bgp"], Duration::from_secs(10));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v["result"].clone()
}

/// One VIP's row of `ctl bgp`.
fn vip_row(v: &serde_json::Value, vip: &str) -> serde_json::Value {
    v["vips"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["vip"] == vip).cloned())
        .unwrap_or_else(|| panic!("no {vip} in {v}"))
}

/// A metric sample's value from the appliance's endpoint (127.0.0.1:9717 in dpt-lb).
fn metric(name_and_labels: &str) -> Option<f64> {
    let out = Command::new("ip")
        .args(["netns", "exec", NS, "curl", "-s", "-m", "5"])
        .arg("http://127.0.0.1:9717/metrics")
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let (k, v) = l.rsplit_once(' ')?;
        (k == name_and_labels).then(|| v.parse().ok())?
    })
}

/// configs/nat.yaml with a second VIP (health: `dir/up` exists), `bgp` on the test daemon
/// and a long drain grace (the drains here end by their connections, not the grace).
fn config(dir: &Path) -> String {
    let probe = format!(
        "services:\n  - name: probe\n    vip: {PROBE_VIP}\n    port: 80\n    \
         health_check: {{type: command, command: \"test -e {}/up\", interval: 300ms, \
         timeout: 200ms, rise: 1, fall: 1}}\n    reals: [{{ip: 198.19.0.11}}]\n",
        dir.display()
    );
    let mut s = config_from("nat.yaml", &[("services:\n", &probe)]);
    s.push_str(&format!(
        "bgp: {{api: \"127.0.0.1:{API_PORT}\", refresh: 1s}}\ndrain: {{grace: 120s}}\n"
    ));
    s
}

/// Waits for the appliance to exit by itself; its exit code and stdout (the summary).
fn wait_exit(app: &mut Appliance, limit: Duration) -> (Option<i32>, String) {
    let mut child = app.child.take().expect("running");
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            return (
                st.code(),
                std::fs::read_to_string(&app.out).unwrap_or_default(),
            );
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the appliance did not exit within {limit:?}:\n{}",
                app.stderr()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(app: &Appliance, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(app.pid().to_string())
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -{sig}");
}

#[test]
fn routes_follow_health_and_a_daemon_restart_then_ctl_drain_keeps_a_connection() {
    let _tb = Testbed::up("nat");
    let d = TestDir::new();
    let up = d.path("up");
    std::fs::write(&up, "").unwrap();
    let mut gobgpd = Some(Gobgpd::start(&d));
    let (mut app, _) = start_appliance(&d, &config(&d.path("")));
    let both = routes(&[VIP, PROBE_VIP]);
    wait_until("both VIPs announced", Duration::from_secs(15), || {
        rib() == Some(both.clone())
    });
    let v = ctl_bgp();
    assert_eq!(v["enabled"], true);
    assert_eq!(v["daemon_reachable"], true);
    assert_eq!(v["cli_errors"], 0);
    let row = vip_row(&v, PROBE_VIP);
    assert_eq!(row["announced"], true);
    assert_eq!(row["reason"], "1 healthy real");
    assert_eq!(row["next_hop"], "198.18.0.1");
    assert_eq!(
        metric(&format!("dataplane_bgp_announced{{vip=\"{PROBE_VIP}\"}}")),
        Some(1.0)
    );
    assert_eq!(metric("dataplane_draining"), Some(0.0));

    // The probe VIP's only real fails: its route goes, the other VIP's stays.
    std::fs::remove_file(&up).unwrap();
    let one = routes(&[VIP]);
    wait_until("the probe VIP withdrawn", Duration::from_secs(15), || {
        rib() == Some(one.clone())
    });
    let row = vip_row(&ctl_bgp(), PROBE_VIP);
    assert_eq!(row["announced"], false);
    assert_eq!(row["wanted"], false);
    assert_eq!(row["reason"], "no healthy real with a weight");
    assert_eq!(
        metric(&format!("dataplane_bgp_announced{{vip=\"{PROBE_VIP}\"}}")),
        Some(0.0)
    );
    std::fs::write(&up, "").unwrap();
    wait_until(
        "the probe VIP announced again",
        Duration::from_secs(15),
        || rib() == Some(both.clone()),
    );

    // The daemon restarts with an empty RIB: the next refresh puts the routes back.
    drop(gobgpd.take());
    wait_until("the daemon gone", Duration::from_secs(10), || {
        rib().is_none()
    });
    let g = Gobgpd::start(&d);
    wait_until(
        "routes re-asserted after the restart",
        Duration::from_secs(20),
        || rib() == Some(both.clone()),
    );
    assert!(
        app.stderr().contains("BGP announce"),
        "an announce log line:\n{}",
        app.stderr()
    );

    // A connection open across the drain keeps working; new connections are still taken.
    let echo = start_echo_session(6);
    std::thread::sleep(Duration::from_millis(1500));
    let out = run(&["ctl", "drain"], Duration::from_secs(10));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(
        "every VIP withdrawn on drain",
        Duration::from_secs(10),
        || rib() == Some(BTreeMap::new()),
    );
    let v = ctl_bgp();
    assert!(v["drain"].is_object(), "draining in ctl bgp: {v}");
    assert_eq!(v["drain"]["grace_ms"], 120_000);
    assert_eq!(vip_row(&v, VIP)["reason"], "draining");
    assert_eq!(metric("dataplane_draining"), Some(1.0));
    let out = run(&["ctl", "status"], Duration::from_secs(10));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("node: draining for "), "{text}");
    assert!(
        lines[0].ends_with(" ms of 120000 ms, 1 connections left"),
        "{text}"
    );
    assert_eq!(lines[1], "VIPs announced over BGP: 0 of 2");
    assert!(curl().is_some(), "a new connection during the drain");
    assert!(
        app.child.as_mut().unwrap().try_wait().unwrap().is_none(),
        "still running while the session is open"
    );
    finish_echo_session(echo);
    let (code, summary) = wait_exit(&mut app, Duration::from_secs(30));
    assert_eq!(code, Some(0), "{}", app.stderr());
    assert!(
        summary.lines().any(|l| l.starts_with("worker 0 (")),
        "{summary}"
    );
    assert!(
        app.stderr()
            .contains("drain over: stopping why=\"no connection left\""),
        "{}",
        app.stderr()
    );
    assert_eq!(rib(), Some(BTreeMap::new()));
    drop(g);
}

#[test]
fn sigterm_drains_a_second_sigterm_stops_and_sigint_withdraws_first() {
    let _tb = Testbed::up("nat");
    let d = TestDir::new();
    std::fs::write(d.path("up"), "").unwrap();
    let _g = Gobgpd::start(&d);
    let all = routes(&[VIP, PROBE_VIP]);

    // SIGTERM: withdrawn while a session is open, and still running; a second SIGTERM stops
    // at once (the session is cut: the operator asked for it).
    let (mut app, _) = start_appliance(&d, &config(&d.path("")));
    wait_until("announced", Duration::from_secs(15), || {
        rib() == Some(all.clone())
    });
    let held = start_echo_session(20);
    std::thread::sleep(Duration::from_millis(1000));
    signal(&app, "TERM");
    wait_until("withdrawn on SIGTERM", Duration::from_secs(10), || {
        rib() == Some(BTreeMap::new())
    });
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        app.child.as_mut().unwrap().try_wait().unwrap().is_none(),
        "draining, not stopped:\n{}",
        app.stderr()
    );
    assert_eq!(ctl_bgp()["vips"][0]["reason"], "draining");
    assert!(
        app.stderr().contains("draining: VIPs withdrawn")
            && app.stderr().contains("by=\"SIGTERM\""),
        "{}",
        app.stderr()
    );
    let t0 = Instant::now();
    signal(&app, "TERM");
    let (code, _) = wait_exit(&mut app, Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", app.stderr());
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert!(
        app.stderr()
            .contains("SIGTERM while draining: stopping at once"),
        "{}",
        app.stderr()
    );
    let _ = held.wait_with_output();

    // SIGINT: no drain; the routes are withdrawn before the process ends.
    let (mut app, _) = start_appliance(&d, &config(&d.path("")));
    wait_until("announced again", Duration::from_secs(15), || {
        rib() == Some(all.clone())
    });
    signal(&app, "INT");
    let (code, _) = wait_exit(&mut app, Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", app.stderr());
    assert_eq!(rib(), Some(BTreeMap::new()), "withdrawn before the exit");
    assert!(app.stderr().contains("BGP withdraw"), "{}", app.stderr());
}
