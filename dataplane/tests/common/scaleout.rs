//! The scale-out testbed (scripts/testbed-scaleout, docs/scale-out.md): a router running FRR
//! with ECMP in front of up to three appliances (configs/scaleout-{a,b,c}.yaml in dpt-lb,
//! dpt-lb2, dpt-lb3), each with a gobgpd beside it; clients in dpt-wan behind the router.
//! Helpers to start appliances and their daemons, read the router's RIB and FIB, and run kernel
//! clients (HTTP probes, long-lived echo sessions).
#![allow(dead_code)]

use super::ha::Ctl;
use super::{Appliance, TestDir};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const VIP: &str = "198.18.1.100";
/// The second VIP, whose only service has one real (real3).
pub const SOLO_VIP: &str = "198.18.1.101";
/// The client's source addresses in dpt-wan.
pub const CLIENTS: [&str; 8] = [
    "198.18.2.2",
    "198.18.2.3",
    "198.18.2.4",
    "198.18.2.5",
    "198.18.2.6",
    "198.18.2.7",
    "198.18.2.8",
    "198.18.2.9",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn script(args: &[&str]) -> Output {
    Command::new(repo().join("scripts/testbed-scaleout"))
        .args(args)
        .output()
        .expect("run scripts/testbed-scaleout")
}

fn script_ok(args: &[&str]) -> String {
    let out = script(args);
    assert!(
        out.status.success(),
        "testbed-scaleout {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The scale-out testbed, up; down on drop. Holds the testbed lock (tests/common/testbed.rs)
/// for its lifetime.
pub struct ScaleOut {
    _lock: std::fs::File,
}

impl ScaleOut {
    pub fn up(mode: &str) -> ScaleOut {
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open("/run/dpt-testbed.lock")
            .expect("open the testbed lock");
        lock.lock().expect("lock the testbed");
        script_ok(&["up", mode]);
        ScaleOut { _lock: lock }
    }

    pub fn server(&self, action: &str, real: &str) {
        let out = Command::new(repo().join("scripts/testbed"))
            .args(["server", action, real])
            .output()
            .expect("scripts/testbed server");
        assert!(out.status.success(), "server {action} {real}");
    }
}

impl Drop for ScaleOut {
    fn drop(&mut self) {
        let _ = script(&["down"]);
    }
}

/// The appliance's ext address (its routes' next hop) and namespace: "a", "b" or "c".
pub fn node_addr(node: &str) -> &'static str {
    match node {
        "a" => "198.18.0.1",
        "b" => "198.18.0.4",
        "c" => "198.18.0.6",
        _ => panic!("no node {node}"),
    }
}

fn node_ns(node: &str) -> &'static str {
    match node {
        "a" => "dpt-lb",
        "b" => "dpt-lb2",
        "c" => "dpt-lb3",
        _ => panic!("no node {node}"),
    }
}

/// One appliance of the scale-out, started from configs/scaleout-NODE.yaml (with this test's
/// control socket and `edits`), and the gobgpd beside it.
pub struct Node {
    pub app: Appliance,
    pub node: &'static str,
    sock: PathBuf,
}

impl Node {
    pub fn start(d: &TestDir, node: &'static str, edits: &[(&str, &str)]) -> Node {
        Node::start_from(d, "scaleout", node, edits)
    }

    /// From configs/BASE-NODE.yaml (`scaleout` or `scaleout-nat`), its control socket
    /// `/run/dataplane-so[-nat]-NODE.sock` replaced by this test's.
    pub fn start_from(d: &TestDir, base: &str, node: &'static str, edits: &[(&str, &str)]) -> Node {
        let name = format!("{base}-{node}.yaml");
        let mut s =
            std::fs::read_to_string(repo().join("configs").join(&name)).expect("read config");
        let sock = d.path(&format!("{node}.sock"));
        let own = format!(
            "socket: /run/dataplane-{}-{node}.sock",
            base.replace("scaleout", "so")
        );
        let own_to = format!("socket: {}", sock.display());
        for (from, to) in
            std::iter::once((own.as_str(), own_to.as_str())).chain(edits.iter().copied())
        {
            assert!(s.contains(from), "`{from}` not in configs/{name}");
            s = s.replacen(from, to, 1);
        }
        let cfg = d.write(&format!("so-{node}.yaml"), &s);
        // The daemon first, so the appliance's first announcement finds it (it retries anyway).
        script_ok(&["gobgp", "start", node]);
        let mut app = Appliance::start_in_netns(node_ns(node), &cfg, d, node);
        app.wait_for_log("running", Duration::from_secs(60));
        Node { app, node, sock }
    }

    pub fn ctl(&self) -> Ctl {
        Ctl::new(&self.sock)
    }

    /// The connections this appliance holds whose client is `client` ("ip:port").
    pub fn holds(&self, client: &str) -> bool {
        self.ctl().conns().iter().any(|c| c.0 == client)
    }

    /// `ctl drain` of the whole node (withdraw, serve what is open, stop).
    pub fn drain(&self) {
        self.ctl().request(r#"{"cmd":"drain_node"}"#);
    }

    /// `ctl bgp` (JSON).
    pub fn bgp(&self) -> serde_json::Value {
        self.ctl().request(r#"{"cmd":"bgp"}"#)
    }

    /// Whether `ctl bgp` says `vip` is announced.
    pub fn announced(&self, vip: &str) -> bool {
        let v = self.bgp();
        v["vips"]
            .as_array()
            .expect("vips")
            .iter()
            .any(|x| x["vip"] == vip && x["announced"] == true)
    }

    /// The health state ("up"/"down") of `real` in `service` as this appliance sees it.
    pub fn real_state(&self, service: &str, real: &str) -> String {
        let v = self.ctl().request(r#"{"cmd":"health"}"#);
        let row = v["reals"]
            .as_array()
            .expect("reals")
            .iter()
            .find(|r| {
                r["service"] == service
                    && r["real"]
                        .as_str()
                        .is_some_and(|s| s == real || s.starts_with(&format!("{real}:")))
            })
            .unwrap_or_else(|| panic!("no {service}/{real} in {v}"))
            .clone();
        row["state"].as_str().expect("state").to_string()
    }

    /// kill -9: the appliance dies, its gobgpd stays (its session to the router goes silent
    /// once the exception interface is gone). The instant the signal was sent.
    pub fn kill9(self) -> Instant {
        let Node { mut app, .. } = self;
        let t = Instant::now();
        let st = Command::new("kill")
            .args(["-KILL", &app.pid().to_string()])
            .status()
            .expect("kill");
        assert!(st.success(), "kill -9");
        if let Some(c) = app.child.as_mut() {
            let _ = c.wait();
        }
        drop(app);
        t
    }
}

/// The next hops of the router's kernel route for `vip` (what ECMP spreads over).
pub fn fib_next_hops(vip: &str) -> BTreeSet<String> {
    let text = script_ok(&["route", vip]);
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[0] == "via")
        .map(|w| w[1].to_string())
        .collect()
}

/// The next hops of the router's BGP RIB for `vip`/32 (FRR, `show ip bgp VIP/32 json`).
pub fn rib_next_hops(vip: &str) -> BTreeSet<String> {
    let out = Command::new("vtysh")
        .args(["--vty_socket", "/run/dpt/frr", "-c"])
        .arg(format!("show ip bgp {vip}/32 json"))
        .output()
        .expect("vtysh");
    assert!(out.status.success(), "vtysh: {:?}", out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let mut hops = BTreeSet::new();
    for p in v["paths"].as_array().into_iter().flatten() {
        for h in p["nexthops"].as_array().into_iter().flatten() {
            if let Some(ip) = h["ip"].as_str() {
                hops.insert(ip.to_string());
            }
        }
    }
    hops
}

pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Waits (bounded) until the router's kernel route for `vip` has exactly `want` as next hops;
/// how long it took.
pub fn wait_fib(vip: &str, want: &BTreeSet<String>, limit: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        let now = fib_next_hops(vip);
        if &now == want {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < limit,
            "route {vip} via {now:?}, not {want:?}, after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One HTTP GET of `vip` from dpt-wan with source `src`: the answering real, or None.
pub fn get(src: &str, vip: &str, max_s: u32) -> Option<String> {
    let out = Command::new("ip")
        .args(["netns", "exec", "dpt-wan", "curl", "-s", "--interface", src])
        .args(["--max-time", &max_s.to_string()])
        .arg(format!("http://{vip}/"))
        .output()
        .ok()?;
    let body = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !body.is_empty()).then_some(body)
}

/// One probe: when its curl started and ended, and the body if it was answered.
pub struct ProbeResult {
    pub start: Instant,
    pub end: Instant,
    pub body: Option<String>,
}

/// New connections one after another (each a new source port, GET with a 1 s limit) from the
/// client's addresses in turn, until stopped: each attempt's times and answer. Bounded to 2000.
pub struct Probe {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<ProbeResult>>,
}

impl Probe {
    pub fn start(vip: &'static str) -> Probe {
        Probe::start_with(vip, 1)
    }

    /// As [`Probe::start`], each GET limited to `max_s` seconds.
    pub fn start_with(vip: &'static str, max_s: u32) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut results = Vec::new();
            while !flag.load(Ordering::Relaxed) && results.len() < 2000 {
                let start = Instant::now();
                let src = CLIENTS[results.len() % CLIENTS.len()];
                let body = get(src, vip, max_s);
                let end = Instant::now();
                results.push(ProbeResult { start, end, body });
                std::thread::sleep(Duration::from_millis(50));
            }
            results
        });
        Probe { stop, handle }
    }

    pub fn finish(self) -> Vec<ProbeResult> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("probe")
    }
}

/// Long-lived echo sessions from dpt-wan (tests/testbed_scaleout/sessions.py).
pub struct Sessions {
    child: Child,
    stop: PathBuf,
    /// Reads the per-session results the script prints at the end.
    rest: JoinHandle<Vec<String>>,
    /// Each session's local address ("ip:port"), as the appliances list the client.
    pub locals: Vec<String>,
}

/// How one session ended.
#[derive(Debug)]
pub struct SessionEnd {
    pub local: String,
    pub ok: bool,
    pub lines: u64,
    pub gap_ms: u64,
    pub error: Option<String>,
}

impl Sessions {
    pub fn start(d: &TestDir, n: usize) -> Sessions {
        let stop = d.path("stop-sessions");
        let _ = std::fs::remove_file(&stop);
        let py =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/testbed_scaleout/sessions.py");
        let mut child = Command::new("ip")
            .args(["netns", "exec", "dpt-wan", "python3"])
            .arg(&py)
            .args([VIP, "7", &n.to_string()])
            .arg(&stop)
            .args(CLIENTS)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sessions");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut locals = Vec::new();
        while locals.len() < n {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("sessions ended after {} opened", locals.len()))
                .expect("read");
            let local = line.strip_prefix("open ").expect("open line").to_string();
            locals.push(local);
        }
        let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
        Sessions {
            child,
            stop,
            rest,
            locals,
        }
    }

    /// Ten more lines on each, then their ends.
    pub fn finish(mut self) -> Vec<SessionEnd> {
        std::fs::write(&self.stop, "").expect("stop file");
        let _ = self.child.wait();
        let rest = self.rest.join().expect("reader");
        rest.iter()
            .map(|l| {
                let v: serde_json::Value =
                    serde_json::from_str(l).unwrap_or_else(|_| panic!("session line {l}"));
                SessionEnd {
                    local: v["local"].as_str().expect("local").to_string(),
                    ok: v["ok"] == true,
                    lines: v["lines"].as_u64().expect("lines"),
                    gap_ms: v["gap_ms"].as_u64().expect("gap"),
                    error: v["error"].as_str().map(str::to_string),
                }
            })
            .collect()
    }
}

/// Which of `nodes` holds each session (by its connection table): node letter per session.
pub fn placement(nodes: &[&Node], locals: &[String]) -> Vec<Option<&'static str>> {
    let tables: Vec<(&'static str, Vec<String>)> = nodes
        .iter()
        .map(|n| (n.node, n.ctl().conns().into_iter().map(|c| c.0).collect()))
        .collect();
    locals
        .iter()
        .map(|l| {
            tables
                .iter()
                .find(|(_, conns)| conns.contains(l))
                .map(|(n, _)| *n)
        })
        .collect()
}

/// Waits (bounded) until `f` holds.
pub fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "no {what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    t0.elapsed()
}
