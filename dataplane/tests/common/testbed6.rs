//! The client's side of the testbed over IPv6 (`scripts/testbed up MODE --ipv6`): curl -6, ping
//! -6 and python sockets from dpt-client to the IPv6 VIP, and the appliance's counters by name
//! from its metrics endpoint (so a test reads exact deltas around what it did).
#![allow(dead_code)]

use super::testbed::start_echo_session_at;
use super::{Appliance, TestDir};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const VIP6: &str = "2001:db8::100";
/// The client's first IPv6 address (its second is 2001:db8::3).
pub const CLIENT6: &str = "2001:db8::2";

/// One HTTP GET of http://[VIP6]:`port`/ from the client; the body (the real's name), or None.
pub fn curl6(port: u16) -> Option<String> {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            "dpt-client",
            "curl",
            "-6",
            "-g",
            "-s",
            "--max-time",
            "3",
            "--interface",
            CLIENT6,
        ])
        .arg(format!("http://[{VIP6}]:{port}/"))
        .output()
        .ok()?;
    let body = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !body.is_empty()).then_some(body)
}

/// `n` GETs of the IPv6 VIP's `port`; how many each real answered (a failure counts as "none").
pub fn tally6(n: usize, port: u16) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for _ in 0..n {
        *m.entry(curl6(port).unwrap_or_else(|| "none".into()))
            .or_insert(0) += 1;
    }
    m
}

/// `count` echo requests to the IPv6 VIP; true when every one was answered.
pub fn ping6_vip(count: u32) -> bool {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            "dpt-client",
            "ping",
            "-6",
            "-i",
            "0.2",
            "-W",
            "2",
            "-c",
        ])
        .arg(count.to_string())
        .arg(VIP6)
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A UDP query to [VIP6]:53; the reply ("realN <query>") or None.
pub fn udp6_query(q: &str) -> Option<String> {
    let script = format!(
        "import socket,sys\ns=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\ns.settimeout(2)\n\
         s.sendto(b'{q}',('{VIP6}',53))\ntry:\n    print(s.recvfrom(2048)[0].decode())\nexcept Exception:\n    sys.exit(1)\n"
    );
    let out = Command::new("ip")
        .args(["netns", "exec", "dpt-client", "python3", "-c", &script])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A long-lived TCP connection to [VIP6]:7 (a line every 100 ms for `secs` seconds, every echo
/// checked, none slower than `worst_s`); `finish_echo_session` collects it.
pub fn start_echo6_session(secs: u32, worst_s: f64) -> Child {
    start_echo_session_at(VIP6, secs * 10, worst_s)
}

/// Starts the appliance inside dpt-lb and waits until the IPv6 VIP serves HTTP on port 80.
pub fn start_appliance6(d: &TestDir, yaml: &str) -> (Appliance, PathBuf) {
    let cfg = d.write("lb.yaml", yaml);
    let mut app = Appliance::start_in_netns("dpt-lb", &cfg, d, "lb");
    app.wait_for_log("running", Duration::from_secs(30));
    // The appliance resolves its reals by neighbour discovery first.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if curl6(80).is_some() {
            return (app, cfg);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("the IPv6 VIP never answered:\n{}", app.stderr());
}

/// The appliance's metrics (from dpt-lb, 127.0.0.1:9717), checked by promtool's rules.
pub fn scrape() -> Vec<dataplane::mgmt::metrics::Sample> {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            "dpt-lb",
            "curl",
            "-s",
            "--max-time",
            "5",
            "http://127.0.0.1:9717/metrics",
        ])
        .output()
        .expect("curl");
    assert!(out.status.success(), "metrics scrape failed");
    let text = format!("{}\n", String::from_utf8_lossy(&out.stdout));
    if let Err(e) = dataplane::mgmt::metrics::promtool_check(&text) {
        panic!("{e}\n{text}");
    }
    dataplane::mgmt::metrics::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Worker counters by name, summed over the workers.
#[derive(Debug)]
pub struct Counters(Vec<dataplane::mgmt::metrics::Sample>);

impl Counters {
    /// The counters once the workers' figures stop moving (they publish every 100 ms; two
    /// scrapes 300 ms apart that agree, within a bound of 5 s).
    pub fn settled() -> Counters {
        let start = Instant::now();
        let mut last = scrape();
        loop {
            std::thread::sleep(Duration::from_millis(300));
            let now = scrape();
            let same = ["conn_new", "echo_replies"]
                .iter()
                .all(|e| event_of(&now, e) == event_of(&last, e));
            if same || start.elapsed() > Duration::from_secs(5) {
                return Counters(now);
            }
            last = now;
        }
    }

    /// dataplane_worker_events_total{event=`name`}.
    pub fn event(&self, name: &str) -> u64 {
        event_of(&self.0, name)
    }

    /// dataplane_worker_drops_total{reason=`reason`}.
    pub fn drops(&self, reason: &str) -> u64 {
        dataplane::mgmt::metrics::sum(
            &self.0,
            "dataplane_worker_drops_total",
            &[("reason", reason)],
        ) as u64
    }
}

fn event_of(s: &[dataplane::mgmt::metrics::Sample], name: &str) -> u64 {
    dataplane::mgmt::metrics::sum(s, "dataplane_worker_events_total", &[("event", name)]) as u64
}
