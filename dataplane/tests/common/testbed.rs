//! The namespace testbed (scripts/testbed) around a real appliance: bring it up, run the
//! appliance in dpt-lb, and act as the client with real tools (curl, ping, python sockets).
#![allow(dead_code)]

use super::{Appliance, TestDir};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const VIP: &str = "198.18.0.100";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn testbed(args: &[&str]) -> Output {
    Command::new(repo().join("scripts/testbed"))
        .args(args)
        .output()
        .expect("run scripts/testbed")
}

/// The testbed, up in one mode; down again on drop. Its namespaces have fixed names (dpt-*), so
/// it holds an exclusive lock on a file for its lifetime: test binaries and checkouts that run
/// at the same time on one machine take turns instead of tearing down each other's network.
pub struct Testbed {
    _lock: std::fs::File,
}

const LOCK: &str = "/run/dpt-testbed.lock";

impl Testbed {
    pub fn up(mode: &str) -> Testbed {
        Testbed::up_with(&[mode])
    }

    /// The testbed in `mode` with IPv6 on the same topology (`scripts/testbed up MODE --ipv6`).
    pub fn up_ipv6(mode: &str) -> Testbed {
        Testbed::up_with(&[mode, "--ipv6"])
    }

    fn up_with(args: &[&str]) -> Testbed {
        let mode = args.join(" ");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(LOCK)
            .expect("open the testbed lock");
        lock.lock().expect("lock the testbed");
        let mut up = vec!["up"];
        up.extend_from_slice(args);
        let out = testbed(&up);
        assert!(
            out.status.success(),
            "testbed up {mode}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Testbed { _lock: lock }
    }

    pub fn server(&self, action: &str, real: &str) {
        let out = testbed(&["server", action, real]);
        assert!(
            out.status.success(),
            "server {action} {real}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `scripts/testbed lb2`: dpt-lb2 on both segments, the HA pair's second director (after
/// `Testbed::up`; `down` removes it with the rest).
pub fn lb2_up() {
    let out = testbed(&["lb2"]);
    assert!(
        out.status.success(),
        "testbed lb2: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Drop for Testbed {
    fn drop(&mut self) {
        let _ = testbed(&["down"]);
    }
}

/// A repository config with text substitutions (each must apply).
pub fn config_from(name: &str, edits: &[(&str, &str)]) -> String {
    let mut s = std::fs::read_to_string(repo().join("configs").join(name)).expect("read config");
    for (from, to) in edits {
        assert!(s.contains(from), "`{from}` not in configs/{name}");
        s = s.replacen(from, to, 1);
    }
    s
}

/// Two workers on this 2-CPU machine: lcore 0 (management) and 2 share CPU 0.
pub const TWO_WORKERS: [(&str, &str); 2] = [
    ("lcores: \"0-1\"", "lcores: \"0@0,1@1,2@0\""),
    ("cores: [1]", "cores: [1, 2]"),
];

/// Starts the appliance inside dpt-lb and waits until the VIP serves HTTP.
pub fn start_appliance(d: &TestDir, yaml: &str) -> (Appliance, PathBuf) {
    let cfg = d.write("lb.yaml", yaml);
    let app = Appliance::start_in_netns("dpt-lb", &cfg, d, "lb");
    let start = Instant::now();
    let mut app = app;
    app.wait_for_log("running", Duration::from_secs(30));
    // The appliance resolves its real servers by ARP first; a few hundred ms at most.
    while start.elapsed() < Duration::from_secs(15) {
        if curl().is_some() {
            return (app, cfg);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the VIP never answered:\n{}", app.stderr());
}

/// One HTTP GET of the VIP from the client; the body (the real's name), or None.
pub fn curl() -> Option<String> {
    curl_from("198.18.0.2")
}

pub fn curl_from(src: &str) -> Option<String> {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            "dpt-client",
            "curl",
            "-s",
            "--max-time",
            "2",
            "--interface",
            src,
        ])
        .arg(format!("http://{VIP}/"))
        .output()
        .ok()?;
    let body = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !body.is_empty()).then_some(body)
}

/// `n` GETs; how many each real answered (a failed request counts as "none").
pub fn tally(n: usize) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for _ in 0..n {
        *m.entry(curl().unwrap_or_else(|| "none".into()))
            .or_insert(0) += 1;
    }
    m
}

pub fn ping_vip() -> bool {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            "dpt-client",
            "ping",
            "-c",
            "2",
            "-i",
            "0.2",
            "-W",
            "1",
            VIP,
        ])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A UDP query to VIP:53; the reply ("realN <query>") or None.
pub fn udp_query(q: &str) -> Option<String> {
    let script = format!(
        "import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(2)\n\
         s.sendto(b'{q}',('{VIP}',53))\ntry:\n    print(s.recvfrom(2048)[0].decode())\nexcept Exception:\n    sys.exit(1)\n"
    );
    let out = Command::new("ip")
        .args(["netns", "exec", "dpt-client", "python3", "-c", &script])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A long-lived TCP connection to the echo service (VIP:7): sends a line every 100 ms for
/// `secs` seconds and checks every echo; fails if any echo takes longer than 500 ms (a gap).
pub fn start_echo_session(secs: u32) -> Child {
    start_echo_session_within(secs * 10, 0.5)
}

/// The same for `lines` lines (one every 100 ms), failing on a mismatch, a lost line or an echo
/// slower than `worst_s` seconds (a test that floods the machine allows more than 0.5 s).
pub fn start_echo_session_within(lines: u32, worst_s: f64) -> Child {
    start_echo_session_at(VIP, lines, worst_s)
}

/// The same to the echo service at `host` (an IPv4 or IPv6 address), port 7.
pub fn start_echo_session_at(host: &str, lines: u32, worst_s: f64) -> Child {
    let script = format!(
        "import socket,sys,time\n\
         s=socket.create_connection(('{host}',7),timeout=5)\n\
         f=s.makefile('rwb')\n\
         worst=0.0\n\
         for i in range({lines}):\n\
         \x20   msg=('line %d ' % i).encode()*20+b'\\n'\n\
         \x20   t=time.monotonic()\n\
         \x20   f.write(msg); f.flush()\n\
         \x20   back=f.readline()\n\
         \x20   worst=max(worst,time.monotonic()-t)\n\
         \x20   if back!=msg:\n\
         \x20       print('mismatch at', i, back[:40]); sys.exit(2)\n\
         \x20   time.sleep(0.1)\n\
         print('ok', {lines}, 'worst round trip %.3f s' % worst)\n\
         sys.exit(0 if worst < {worst_s} else 3)\n"
    );
    Command::new("ip")
        .args(["netns", "exec", "dpt-client", "python3", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start echo session")
}

pub fn finish_echo_session(c: Child) {
    let out = c.wait_with_output().expect("echo session");
    assert!(
        out.status.success(),
        "long-lived connection failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
