//! A spoofed SYN flood on the testbed (part of the testbed_e2e binary, so it runs in the
//! testbed's one-at-a-time group): 20 480 SYNs from random sources, 20 times the connection
//! table's capacity (`conn.max_per_core: 1024`, one worker), sent from the client's namespace
//! over about 8 s with a raw socket, while the client asks for a page every 200 ms and a
//! long-lived session carries data. NAT: the SYN proxy answers the flood with cookies; DR:
//! the flood's SYNs create no state. Nothing of the client's may fail.

use crate::common::testbed::*;
use crate::common::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Spoofed SYNs in the flood.
const FLOOD: u32 = 20_480;
/// Seconds the flood is spread over.
const FLOOD_SECS: f64 = 8.0;

/// A raw-socket SYN flood from dpt-client: `n` SYNs to VIP:`dport` from random sources in
/// 198.18.128.0/17 (routed nowhere: the answers die at the router), paced over `secs`.
const FLOOD_PY: &str = r#"
import random, socket, struct, sys, time
n, dport, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
vip = socket.inet_aton('198.18.0.100')
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
def csum(b):
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xffff)
    t += t >> 16
    return ~t & 0xffff
rnd = random.Random(16)
start = time.monotonic()
for i in range(n):
    src = bytes([198, 18, 128 + rnd.randrange(128), rnd.randrange(1, 255)])
    sport, seq = rnd.randrange(1024, 65535), rnd.getrandbits(32)
    tcp = struct.pack('!HHIIBBHHH', sport, dport, seq, 0, 5 << 4, 2, 29200, 0, 0)
    c = csum(src + vip + struct.pack('!BBH', 0, 6, 20) + tcp)
    tcp = tcp[:16] + struct.pack('!H', c) + tcp[18:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 40, 0, 0, 64, 6, 0, src, vip)
    s.sendto(ip + tcp, ('198.18.0.100', 0))
    wait = start + secs * (i + 1) / n - time.monotonic()
    if wait > 0.002:
        time.sleep(wait)
print('sent', n, 'in %.1f s' % (time.monotonic() - start))
"#;

fn start_flood() -> Child {
    Command::new("ip")
        .args(["netns", "exec", "dpt-client", "python3", "-c", FLOOD_PY])
        .args([FLOOD.to_string(), "80".into(), FLOOD_SECS.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the flood")
}

/// Runs the flood against `mode` (nat or dr) with curls every 200 ms and an echo session;
/// returns the appliance's exit summary.
fn flood(mode: &str) -> String {
    let _tb = Testbed::up(mode);
    let d = TestDir::new();
    let cfg = config_from(
        &format!("{mode}.yaml"),
        &[("max_per_core: 65536", "max_per_core: 1024")],
    );
    let (mut app, _) = start_appliance(&d, &cfg);
    let echo = start_echo_session(14);
    std::thread::sleep(Duration::from_millis(500));
    let mut flood = start_flood();
    let start = Instant::now();
    let (mut asked, mut failed) = (0, Vec::new());
    // Bounded: the flood's own pacing plus a margin, however slow the machine is.
    while start.elapsed() < Duration::from_secs(30) {
        let done = flood.try_wait().expect("flood").is_some();
        asked += 1;
        if curl().is_none() {
            failed.push(format!("{:.1}s", start.elapsed().as_secs_f64()));
        }
        if done {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = flood.wait_with_output().expect("flood");
    assert!(
        out.status.success(),
        "flood: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "{mode}: flood {}",
        String::from_utf8_lossy(&out.stdout).trim()
    );
    // A new client after the flood gets in too.
    let after = curl_from("198.18.0.3");
    finish_echo_session(echo);
    let (code, _, summary) = app.stop("TERM", Duration::from_secs(10));
    assert_eq!(code, Some(0), "{summary}");
    assert!(
        asked >= 20,
        "the flood ended too soon to mean anything ({asked} requests)"
    );
    assert_eq!(
        failed,
        Vec::<String>::new(),
        "{mode}: {} of {asked} requests failed during the flood\n{summary}",
        failed.len()
    );
    assert!(
        after.is_some(),
        "{mode}: a new client after the flood\n{summary}"
    );
    eprintln!("{mode}: {asked} of {asked} requests served during the flood\n{summary}");
    summary
}

fn worker(summary: &str, name: &str) -> u64 {
    summary_counter(summary, "worker ", name)
}

#[test]
fn a_syn_flood_on_a_nat_service_is_answered_with_cookies() {
    let s = flood("nat");
    // Above the default threshold (1024 / 8 = 128 half-open) every SYN got a cookie and
    // created nothing; the table never refused anyone.
    assert!(
        worker(&s, "syn_cookies_sent") >= u64::from(FLOOD) - 1024,
        "{s}"
    );
    assert_eq!(worker(&s, "conn_refused_full"), 0, "{s}");
    assert_eq!(worker(&s, "drop_bad_cookie"), 0, "{s}");
    // The client's connections during the flood went through the proxy, each one opened.
    assert!(worker(&s, "syn_cookie_acks") >= 1, "{s}");
    assert_eq!(
        worker(&s, "syn_proxy_opened"),
        worker(&s, "syn_cookie_acks"),
        "{s}"
    );
    assert!(worker(&s, "conn_new") < 1024, "{s}");
}

#[test]
fn a_syn_flood_on_a_dr_service_creates_no_state() {
    let s = flood("dr");
    assert!(
        worker(&s, "syn_stateless") >= u64::from(FLOOD) - 1024,
        "{s}"
    );
    assert_eq!(worker(&s, "conn_refused_full"), 0, "{s}");
    // The client's connections were created by their handshake's ACK.
    assert!(worker(&s, "conn_from_ack") >= 1, "{s}");
    assert!(worker(&s, "conn_new") < 1024, "{s}");
}
