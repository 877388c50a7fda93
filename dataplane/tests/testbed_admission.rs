//! Admission end to end on the namespace testbed (NAT): the web service denies the client's
//! second address by its acl (that client's connect fails, the first address's succeeds,
//! `drop_acl_denied` counts it), and real1 with `upper_threshold: 2, lower_threshold: 1` stops
//! getting new connections at two held-open sessions, is marked overloaded in `ctl list` and
//! the metrics, stays so with one session left, and takes connections again with none. A
//! reload changes the acl live (and a bad one is refused, naming its key).
mod common;
use common::testbed::*;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const REAL1: &str = "198.19.0.11";

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

/// The web service's real at `addr` from `ctl list --json`.
fn web_real(sock: &Path, addr: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&ctl(sock, &["list", "--json"])).expect("JSON");
    v["result"]["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["name"] == "web")
        .expect("service web")["reals"]
        .as_array()
        .expect("reals")
        .iter()
        .find(|r| r["addr"] == addr)
        .unwrap_or_else(|| panic!("no real {addr}"))
        .clone()
}

/// (connections, overloaded) of real1: active + inactive, summed over workers.
fn real1_state(sock: &Path) -> (u64, bool) {
    let r = web_real(sock, REAL1);
    let n = |k: &str| r[k].as_u64().expect("count");
    (
        n("active") + n("inactive"),
        r["overloaded"].as_bool().expect("overloaded"),
    )
}

/// Waits (bounded) until real1 is in `want` as `ctl list` shows it.
fn wait_real1(app: &mut Appliance, sock: &Path, want: (u64, bool)) {
    let start = Instant::now();
    loop {
        let got = real1_state(sock);
        if got == want {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "real1 stayed {got:?}, not {want:?}:\n{}",
            app.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One TCP connect to VIP:80 from the client's address `src` with a 0.5 s timeout, so that
/// exactly one SYN is sent (the kernel's first retransmission is 1 s later): true if it
/// connected.
fn connects_from(src: &str) -> bool {
    let script = format!(
        "import socket,sys\ns=socket.socket()\ns.bind(('{src}',0))\ns.settimeout(0.5)\n\
         try:\n    s.connect(('{VIP}',80))\nexcept OSError:\n    sys.exit(1)\ns.close()\n"
    );
    Command::new("ip")
        .args(["netns", "exec", "dpt-client", "python3", "-c", &script])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// An allowed client's connect, given three tries (a loaded machine may be slow to answer;
/// allowed SYNs are not counted as drops, so retrying changes no expected count).
fn connects_soon(src: &str) -> bool {
    (0..3).any(|_| connects_from(src))
}

/// Keep-alive HTTP sessions to the VIP held open from the client: it opens `n`, reports which
/// real answered each, and closes one per line `close I` on its stdin (killed on drop).
struct Holder {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

const HOLDER: &str = r#"
import socket, sys
n = int(sys.argv[1])
socks = []
for i in range(n):
    s = socket.create_connection((sys.argv[2], 80), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: vip\r\nConnection: keep-alive\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    head, body = data.split(b"\r\n\r\n", 1)
    length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0]
    while len(body) < length:
        body += s.recv(4096)
    socks.append(s)
    print(i, body.decode().strip(), flush=True)
for line in sys.stdin:
    i = int(line.split()[1])
    socks[i].close()
    print("closed", i, flush=True)
"#;

impl Holder {
    /// Opens `n` sessions; returns the holder and the real that answered each.
    fn open(n: usize) -> (Holder, Vec<String>) {
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                "dpt-client",
                "timeout",
                "120",
                "python3",
                "-c",
            ])
            .args([HOLDER, &n.to_string(), VIP])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the session holder");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut h = Holder {
            child,
            stdin,
            stdout,
        };
        let reals = (0..n)
            .map(|i| {
                let line = h.line();
                let (idx, real) = line.split_once(' ').unwrap_or(("", ""));
                assert_eq!(idx, i.to_string(), "holder said `{line}`");
                real.to_string()
            })
            .collect();
        (h, reals)
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.stdout.read_line(&mut l).expect("holder output");
        assert!(!l.is_empty(), "the session holder ended early");
        l.trim().to_string()
    }

    fn close(&mut self, i: usize) {
        writeln!(self.stdin, "close {i}").expect("holder stdin");
        self.stdin.flush().expect("holder stdin");
        assert_eq!(self.line(), format!("closed {i}"));
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// configs/nat.yaml with the web service's acl denying 198.18.0.3, real1's thresholds, short
/// closing timeouts (a closed session stops counting a second after it ends) and the control
/// socket at `sock`.
fn config(sock: &Path) -> String {
    let yaml = config_from(
        "nat.yaml",
        &[
            (
                "  max_per_core: 65536\n",
                "  max_per_core: 65536\n  timeouts: {tcp_fin_wait: 1s, tcp_time_wait: 1s, tcp_close: 1s, tcp_close_wait: 1s, tcp_last_ack: 1s}\n",
            ),
            (
                "    forward: nat\n    reals:\n      - {ip: 198.19.0.11, weight: 1}\n",
                "    forward: nat\n    acl: {deny: [198.18.0.3/32]}\n    reals:\n      - {ip: 198.19.0.11, weight: 1, upper_threshold: 2, lower_threshold: 1}\n",
            ),
        ],
    );
    format!("{yaml}\ncontrol: {{socket: {}}}\n", sock.display())
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
fn acl_and_real_thresholds_through_the_binary() {
    let _tb = Testbed::up("nat");
    let d = TestDir::new();
    let sock = d.path("ctl.sock");
    let yaml = config(&sock);
    let (mut app, cfg_path) = start_appliance(&d, &yaml);

    // The acl: the denied address's SYN is dropped, the other address connects.
    assert!(!connects_from("198.18.0.3"), "198.18.0.3 is denied");
    assert!(connects_soon("198.18.0.2"), "198.18.0.2 is allowed");

    // Until start-up's requests have ended, real1 counts them.
    wait_real1(&mut app, &sock, (0, false));
    // Six sessions held open: real1 takes two and is overloaded, real2 takes the rest.
    let (mut held, reals) = Holder::open(6);
    let on_real1: Vec<usize> = (0..6).filter(|&i| reals[i] == "real1").collect();
    assert_eq!(on_real1.len(), 2, "sessions per real: {reals:?}");
    assert_eq!(reals.iter().filter(|r| *r == "real2").count(), 4);
    wait_real1(&mut app, &sock, (2, true));
    let list = ctl(&sock, &["list"]);
    let line = list
        .lines()
        .find(|l| l.contains("198.19.0.11:80") && l.contains("Masq"))
        .unwrap_or_else(|| panic!("no real1 in\n{list}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(f[4..], ["2", "0", "up", "overloaded"], "{line}");
    let web1 = [("service", "web"), ("real", "198.19.0.11:80")];
    let web2 = [("service", "web"), ("real", "198.19.0.12:80")];
    assert_eq!(metric("dataplane_real_overloaded", &web1), 1.0);
    assert_eq!(metric("dataplane_real_overloaded", &web2), 0.0);
    let t = tally(4);
    assert_eq!(t.get("real2"), Some(&4), "real1 is overloaded: {t:?}");

    // One of real1's sessions ends: 1 is not below the lower threshold 1.
    held.close(on_real1[0]);
    wait_real1(&mut app, &sock, (1, true));
    let t = tally(2);
    assert_eq!(t.get("real2"), Some(&2), "still overloaded: {t:?}");

    // The other ends: 0 < 1, real1 takes new connections again.
    held.close(on_real1[1]);
    wait_real1(&mut app, &sock, (0, false));
    assert_eq!(metric("dataplane_real_overloaded", &web1), 0.0);
    let t = tally(2);
    assert_eq!(
        (t.get("real1"), t.get("real2")),
        (Some(&1), Some(&1)),
        "real1 is back: {t:?}"
    );
    // Marked once so far (later traffic may mark it again: the reload section below).
    let marks = [("event", "real_overloaded")];
    assert_eq!(metric("dataplane_worker_events_total", &marks), 1.0);
    drop(held);

    // Live: a reload moves the deny to 198.18.0.2; an acl with host bits set is refused,
    // naming its key, and the running one stays.
    let bad = yaml.replace("deny: [198.18.0.3/32]", "deny: [198.18.0.3/24]");
    std::fs::write(&cfg_path, bad).expect("write the config");
    let out = run(
        &["ctl", "--socket", sock.to_str().unwrap(), "reload"],
        Duration::from_secs(20),
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("services[0].acl.deny[0]"), "{said}");
    assert!(!connects_from("198.18.0.3"), "the running acl stays");
    let moved = yaml.replace("deny: [198.18.0.3/32]", "deny: [198.18.0.2/32]");
    std::fs::write(&cfg_path, moved).expect("write the config");
    ctl(&sock, &["reload"]);
    assert!(connects_soon("198.18.0.3"), "198.18.0.3 is allowed now");
    assert!(!connects_from("198.18.0.2"), "198.18.0.2 is denied now");

    let (code, _, summary) = app.stop("TERM", Duration::from_secs(5));
    assert_eq!(code, Some(0), "{}", app.stderr());
    println!("{summary}");
    // The denied connects, one SYN each.
    assert_eq!(summary_counter(&summary, "worker ", "drop_acl_denied"), 3);
    assert_eq!(
        summary_counter(&summary, "worker ", "drop_reals_overloaded"),
        0
    );
}
