//! Connection sync through the real binary on the namespace testbed (docs/sync.md).
//!
//! Director A (role master) forwards a long-lived TCP session; a listener in the client
//! namespace, a peer on the sync segment, collects A's multicast sync datagrams and asks A for
//! a full resync. A is killed with SIGKILL; director B (role backup, a second instance on the
//! same ports) starts and receives A's own datagrams: it installs the session, the session goes
//! on through B with every line echoed, and forged, replayed, stale, truncated, wrong-version and
//! garbage datagrams are dropped by reason with B's table unchanged; then a flood of garbage and
//! forged datagrams, while a session runs through B, is dropped by reason, changes nothing and
//! does not disturb the session.
//! Shares the dpt-* namespaces: runs in the testbed's one-at-a-time group.
mod common;
use common::testbed::*;
use common::*;
use dataplane::config::ForwardMode;
use dataplane::lb::conn::TcpState;
use dataplane::lb::sync::{
    emit_datagram, parse_datagram, DatagramKind, Header, Key, Record, MAX_DATAGRAM,
};
use dataplane::lb::types::Protocol;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &[u8] = b"testbed sync key: 32 bytes long!";
const GROUP: &str = "239.18.0.81";
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const CLIENT2: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 3);
const VIP4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const REAL1: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 11);

fn ctl_json(sock: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["ctl", "--socket", sock.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    all.push("--json");
    let out = run(&all, Duration::from_secs(20));
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "ctl {args:?}: {e}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(v["ok"], true, "{v}");
    v["result"].clone()
}

/// `ctl sync`'s counters by name.
fn sync_counters(sock: &Path) -> BTreeMap<String, u64> {
    let r = ctl_json(sock, &["sync"]);
    assert_eq!(r["enabled"], true, "{r}");
    r["counters"]
        .as_object()
        .expect("counters")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("a number")))
        .collect()
}

fn counter(c: &BTreeMap<String, u64>, name: &str) -> u64 {
    *c.get(name)
        .unwrap_or_else(|| panic!("no counter {name}: {c:?}"))
}

/// Waits until `f` holds (bounded).
fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

fn config(d: &TestDir, role: &str, sender: u32, sock: &Path, extra: &str) -> String {
    let key = d.write("sync.key", "");
    std::fs::write(&key, KEY).expect("key file");
    format!(
        "{}\ncontrol: {{socket: {}}}\nsync: {{role: {role}, key_file: {}, sender_id: {sender}{extra}}}\n",
        config_from("nat.yaml", &[]),
        sock.display(),
        key.display()
    )
}

/// Python in dpt-client: every UDP datagram to port 8848 (the group joined on eth0), one line
/// each (`source hex`), until `stop` exists or 150 s passed.
fn start_listener(out: &Path, stop: &Path) -> Child {
    let script = format!(
        "import socket,time,os\n\
         s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         s.bind(('',8848))\n\
         s.setsockopt(socket.IPPROTO_IP,socket.IP_ADD_MEMBERSHIP,socket.inet_aton('{GROUP}')+socket.inet_aton('{CLIENT}'))\n\
         s.settimeout(0.2)\n\
         end=time.time()+150\n\
         f=open('{out}','a')\n\
         while time.time()<end and not os.path.exists('{stop}'):\n\
         \x20   try: d,a=s.recvfrom(4096)\n\
         \x20   except socket.timeout: continue\n\
         \x20   f.write(a[0]+' '+d.hex()+'\\n'); f.flush()\n",
        out = out.display(),
        stop = stop.display()
    );
    Command::new("ip")
        .args(["netns", "exec", "dpt-client", "python3", "-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the sync listener")
}

/// The datagrams the listener has seen from `src`, in order.
fn heard(out: &Path, src: &str) -> Vec<Vec<u8>> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(a, _)| *a == src)
        .map(|(_, h)| {
            (0..h.len() / 2)
                .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).expect("hex"))
                .collect()
        })
        .collect()
}

/// Sends each datagram from dpt-client (198.18.0.2) to `dest`:8848, 20 ms apart.
fn send_from_client(dest: &str, datagrams: &[Vec<u8>]) {
    let hex: Vec<String> = datagrams
        .iter()
        .map(|d| d.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    let script = format!(
        "import socket,sys,time\n\
         s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         s.setsockopt(socket.IPPROTO_IP,socket.IP_MULTICAST_IF,socket.inet_aton('{CLIENT}'))\n\
         s.setsockopt(socket.IPPROTO_IP,socket.IP_MULTICAST_TTL,1)\n\
         s.setsockopt(socket.IPPROTO_IP,socket.IP_MULTICAST_LOOP,0)\n\
         for h in sys.argv[1:]:\n\
         \x20   s.sendto(bytes.fromhex(h),('{dest}',8848)); time.sleep(0.02)\n"
    );
    let st = Command::new("ip")
        .args(["netns", "exec", "dpt-client", "python3", "-c", &script])
        .args(&hex)
        .status()
        .expect("send sync datagrams");
    assert!(st.success());
}

/// A TCP session to the echo service: a line every 100 ms, each awaited (30 s each, across a
/// failover); after `stop` exists, ten more lines, then `ok N`. Bounded to 150 s.
fn start_session(stop: &Path) -> Child {
    let script = format!(
        "import socket,sys,time,os\n\
         s=socket.create_connection(('{VIP}',7),timeout=30)\n\
         f=s.makefile('rwb')\n\
         i=0; after=None; end=time.time()+150\n\
         while time.time()<end:\n\
         \x20   msg=('line %d ' % i).encode()*10+b'\\n'\n\
         \x20   f.write(msg); f.flush()\n\
         \x20   back=f.readline()\n\
         \x20   if back!=msg:\n\
         \x20       print('mismatch at', i, back[:40]); sys.exit(2)\n\
         \x20   i+=1\n\
         \x20   if after is None and os.path.exists('{stop}'): after=i\n\
         \x20   if after is not None and i>=after+10: print('ok', i); sys.exit(0)\n\
         \x20   time.sleep(0.1)\n\
         print('timeout', i); sys.exit(3)\n",
        stop = stop.display()
    );
    Command::new("ip")
        .args(["netns", "exec", "dpt-client", "python3", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the session")
}

/// Datagrams in the garbage flood: half random bytes (bad magic), half one forged datagram
/// sent again and again (bad MAC).
const FLOOD: u64 = 6000;

/// Sends `n` datagrams from dpt-client to `dest`:8848, alternating 128 random bytes and
/// `forged`, about 5 000 a second (under the exception path's rate limit, bounded in time).
fn flood_from_client(dest: &str, forged: &[u8], n: u64) {
    let hex: String = forged.iter().map(|b| format!("{b:02x}")).collect();
    let script = format!(
        "import socket,sys,time,os\n\
         s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         s.setsockopt(socket.IPPROTO_IP,socket.IP_MULTICAST_IF,socket.inet_aton('{CLIENT}'))\n\
         s.setsockopt(socket.IPPROTO_IP,socket.IP_MULTICAST_TTL,1)\n\
         s.setsockopt(socket.IPPROTO_IP,socket.IP_MULTICAST_LOOP,0)\n\
         forged=bytes.fromhex(sys.argv[1]); end=time.time()+60\n\
         for i in range(int(sys.argv[2])):\n\
         \x20   d=forged if i%2 else b'X'+os.urandom(127)\n\
         \x20   s.sendto(d,('{dest}',8848))\n\
         \x20   if i%10==9: time.sleep(0.002)\n\
         \x20   if time.time()>end: sys.exit(1)\n"
    );
    let st = Command::new("ip")
        .args([
            "netns",
            "exec",
            "dpt-client",
            "python3",
            "-c",
            &script,
            &hex,
        ])
        .arg(n.to_string())
        .status()
        .expect("flood the sync port");
    assert!(st.success(), "the flood did not finish in time");
}

/// UDP datagrams the kernel of namespace `ns` dropped for a full receive buffer (`Udp:
/// RcvbufErrors` in /proc/net/snmp).
fn udp_rcvbuf_errors(ns: &str) -> u64 {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "cat", "/proc/net/snmp"])
        .output()
        .expect("read /proc/net/snmp");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut udp = text.lines().filter(|l| l.starts_with("Udp: "));
    let (names, values) = (
        udp.next().expect("Udp header"),
        udp.next().expect("Udp values"),
    );
    let i = names
        .split_whitespace()
        .position(|n| n == "RcvbufErrors")
        .expect("RcvbufErrors");
    values
        .split_whitespace()
        .nth(i)
        .and_then(|v| v.parse().ok())
        .expect("a count")
}

fn key() -> Key {
    Key::new(KEY)
}

fn datagram(sender: u32, seq: u64, kind: DatagramKind, recs: &[Record], k: &Key) -> Vec<u8> {
    let mut b = vec![0u8; MAX_DATAGRAM];
    let (n, _) = emit_datagram(&mut b, &Header { kind, sender, seq }, recs, k);
    b.truncate(n);
    b
}

fn record(client: Ipv4Addr, cport: u16, vport: u16) -> Record {
    Record {
        proto: Protocol::Tcp,
        state: TcpState::Established,
        mode: ForwardMode::Nat,
        template: false,
        vip: IpAddr::V4(VIP4),
        vport,
        client: IpAddr::V4(client),
        cport,
        real: IpAddr::V4(REAL1),
        rport: vport,
        timeout: 600,
    }
}

/// The records in `datagrams` (all must verify), with each datagram's kind.
fn records_of(datagrams: &[Vec<u8>]) -> Vec<(DatagramKind, Vec<Record>)> {
    datagrams
        .iter()
        .map(|d| {
            let p = parse_datagram(d, &key()).expect("A's datagrams verify");
            (p.header.kind, p.records().collect())
        })
        .collect()
}

fn session_records(recs: &[(DatagramKind, Vec<Record>)]) -> Vec<Record> {
    recs.iter()
        .flat_map(|(_, r)| r.iter().copied())
        .filter(|r| r.client == IpAddr::V4(CLIENT) && r.vport == 7)
        .collect()
}

fn conns_from(sock: &Path, client: Ipv4Addr) -> Vec<serde_json::Value> {
    let v = ctl_json(sock, &["conns"]);
    v["conns"]
        .as_array()
        .expect("conns")
        .iter()
        .filter(|c| {
            c["client"]
                .as_str()
                .is_some_and(|s| s.starts_with(&format!("{client}:")))
        })
        .cloned()
        .collect()
}

#[test]
fn a_session_synced_from_a_killed_director_goes_on_through_the_next() {
    let t0 = Instant::now();
    let _tb = Testbed::up("nat");
    let d = TestDir::new();
    let (heard_file, stop_listener, stop_session) = (
        d.path("heard"),
        d.path("stop-listener"),
        d.path("stop-session"),
    );
    let mut listener = start_listener(&heard_file, &stop_listener);

    // Director A, master.
    let sock_a = d.path("a.sock");
    let (mut a, _) = start_appliance(&d, &config(&d, "master", 1, &sock_a, ", refresh: 1s"));
    eprintln!("stage 0: {:?}", t0.elapsed());
    let session = start_session(&stop_session);
    let from_a = "198.18.0.1";
    wait_until(
        "A's sync datagram with the ESTABLISHED session",
        Duration::from_secs(20),
        || {
            session_records(&records_of(&heard(&heard_file, from_a)))
                .iter()
                .any(|r| r.state == TcpState::Established)
        },
    );
    // The refresh (every 1 s here) sends the established session again with no packet of it
    // needed: a backup's copy never runs out first.
    wait_until(
        "A's refresh of the session",
        Duration::from_secs(20),
        || {
            session_records(&records_of(&heard(&heard_file, from_a)))
                .iter()
                .filter(|r| r.state == TcpState::Established)
                .count()
                >= 3
        },
    );
    let live = heard(&heard_file, from_a).len();
    let c = sync_counters(&sock_a);
    assert!(counter(&c, "sync_records_sent") >= 2, "{c:?}");
    assert!(counter(&c, "sync_events") >= 2, "{c:?}");
    assert_eq!(counter(&c, "sync_events_lost"), 0, "{c:?}");

    eprintln!("stage 1: {:?}", t0.elapsed());
    // A peer asks A for the whole table: the stream holds the session and ends with "done".
    send_from_client(
        from_a,
        &[datagram(3, 1, DatagramKind::ResyncRequest, &[], &key())],
    );
    wait_until(
        "A's resync stream and its end",
        Duration::from_secs(20),
        || {
            records_of(&heard(&heard_file, from_a)[live..])
                .iter()
                .any(|(k, _)| *k == DatagramKind::ResyncDone)
        },
    );
    let stream = records_of(&heard(&heard_file, from_a)[live..]);
    let done_at = stream
        .iter()
        .position(|(k, _)| *k == DatagramKind::ResyncDone)
        .expect("done");
    assert!(
        session_records(&stream[..done_at])
            .iter()
            .any(|r| r.state == TcpState::Established),
        "the stream before `done` holds the session: {stream:?}"
    );
    let c = sync_counters(&sock_a);
    assert_eq!(counter(&c, "sync_resync_requests_received"), 1, "{c:?}");
    let st = ctl_json(&sock_a, &["sync"]);
    assert_eq!(st["status"]["streams_sent"], 1, "{st}");
    assert_eq!(st["status"]["role"], "master", "{st}");

    eprintln!("stage 2: {:?}", t0.elapsed());
    // A dies; B starts on the same ports and hears A's datagrams (replayed by the peer).
    let captured = heard(&heard_file, from_a);
    let (code, _, _) = a.stop("KILL", Duration::from_secs(10));
    assert_eq!(code, None, "killed by the signal");
    drop(a);
    let sock_b = d.path("b.sock");
    let cfg_b = d.write("b.yaml", &config(&d, "backup", 2, &sock_b, ""));
    let mut b = Appliance::start_in_netns("dpt-lb", &cfg_b, &d, "b");
    b.wait_for_log("running", Duration::from_secs(60));
    let st = ctl_json(&sock_b, &["sync"]);
    assert_eq!(st["status"]["resync"], "waiting", "{st}");
    eprintln!("stage 3: {:?}", t0.elapsed());
    send_from_client(GROUP, &captured);
    wait_until("B installs the session", Duration::from_secs(20), || {
        conns_from(&sock_b, CLIENT)
            .iter()
            .any(|c| c["vip"] == format!("{VIP}:7") && c["state"] == "ESTABLISHED")
    });
    // (The web connection start_appliance's readiness check made is synced too.)
    let installed: Vec<_> = conns_from(&sock_b, CLIENT)
        .into_iter()
        .filter(|c| c["vip"] == format!("{VIP}:7"))
        .collect();
    assert_eq!(installed.len(), 1, "{installed:?}");
    assert_eq!(
        installed[0]["real"], "198.19.0.11:7",
        "bound to its real: {installed:?}"
    );

    eprintln!("stage 4: {:?}", t0.elapsed());
    // The session goes on through B: every line echoed, no reset.
    std::fs::write(&stop_session, "").unwrap();
    let out = session.wait_with_output().expect("session");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.starts_with("ok "),
        "the session broke across the failover: {text}{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        b.stderr()
    );
    eprintln!("stage 5: {:?}", t0.elapsed());
    let before = sync_counters(&sock_b);
    assert_eq!(
        counter(&before, "sync_received"),
        captured.len() as u64,
        "{before:?}"
    );
    assert!(counter(&before, "sync_installed") >= 1, "{before:?}");
    assert!(
        counter(&before, "sync_resync_requests_sent") >= 1,
        "{before:?}"
    );

    // Bad datagrams: each dropped under its reason; only the one good record installs.
    let good = datagram(
        9,
        1000,
        DatagramKind::Records,
        &[record(CLIENT2, 5555, 80)],
        &key(),
    );
    let mut forged = datagram(
        9,
        1001,
        DatagramKind::Records,
        &[record(CLIENT2, 5557, 80)],
        &key(),
    );
    forged[30] ^= 0x01;
    let other_key = datagram(
        9,
        1002,
        DatagramKind::Records,
        &[record(CLIENT2, 5558, 80)],
        &Key::new(b"a different key of 32 bytes....."),
    );
    let stale = datagram(
        9,
        900,
        DatagramKind::Records,
        &[record(CLIENT2, 5556, 80)],
        &key(),
    );
    let mut truncated = datagram(
        9,
        1003,
        DatagramKind::Records,
        &[record(CLIENT2, 5559, 80)],
        &key(),
    );
    truncated.truncate(truncated.len() - 5);
    let mut v2 = datagram(
        9,
        1004,
        DatagramKind::Records,
        &[record(CLIENT2, 5560, 80)],
        &key(),
    );
    v2[4] = 2;
    let unknown = datagram(
        9,
        1005,
        DatagramKind::Records,
        &[record(CLIENT2, 5561, 81)],
        &key(),
    );
    let done = datagram(9, 1006, DatagramKind::ResyncDone, &[], &key());
    // To the group: on the testbed the kernel in dpt-lb also sees unicast on lb-ext (the veth
    // the af_packet PMD reads) and would hand every unicast datagram to the socket a second
    // time (caught as a replay, but it doubles the counts); it joined the group on dp-ext only.
    send_from_client(
        GROUP,
        &[
            good.clone(),
            good,
            stale,
            forged,
            other_key,
            truncated,
            v2,
            vec![0x42; 120],
            unknown,
            done,
        ],
    );
    let mut last = BTreeMap::new();
    let t1 = Instant::now();
    while t1.elapsed() < Duration::from_secs(20) {
        last = sync_counters(&sock_b);
        if counter(&last, "sync_received") == before["sync_received"] + 3
            && counter(&last, "sync_drop_bad_magic") == 1
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        t1.elapsed() < Duration::from_secs(20),
        "B did not count every datagram: {last:?}\nbefore: {before:?}"
    );
    eprintln!("stage 6: {:?}", t0.elapsed());
    let c = sync_counters(&sock_b);
    for (name, want) in [
        ("sync_drop_replayed", 1),
        ("sync_drop_stale", 1),
        ("sync_drop_bad_mac", 2),
        ("sync_drop_truncated", 1),
        ("sync_drop_wrong_version", 1),
        ("sync_drop_bad_magic", 1),
        ("sync_drop_malformed", 0),
        ("sync_drop_own_sender", 0),
        ("sync_records_unknown", 1),
        ("sync_installed", before["sync_installed"] + 1),
    ] {
        assert_eq!(counter(&c, name), want, "{name}: {c:?}");
    }
    let from2 = conns_from(&sock_b, CLIENT2);
    assert_eq!(from2.len(), 1, "only the good record installs: {from2:?}");
    assert_eq!(from2[0]["client"], "198.18.0.3:5555");
    assert_eq!(from2[0]["state"], "ESTABLISHED");
    let st = ctl_json(&sock_b, &["sync"]);
    assert_eq!(st["status"]["resync"], "done", "{st}");
    // The text view names the state.
    let out = run(
        &["ctl", "--socket", sock_b.to_str().unwrap(), "sync"],
        Duration::from_secs(20),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("role backup, sender id 2\nresync: done, "),
        "{text}"
    );

    eprintln!("stage 7: {:?}", t0.elapsed());
    // A garbage flood on the sync port while a session runs through B: every datagram that
    // reached the sync socket is dropped under its reason (the rest the kernel counts as a full
    // receive buffer), B's table and install count do not move, and the session loses no line.
    let stop2 = d.path("stop-session-2");
    let session2 = start_session(&stop2);
    std::thread::sleep(Duration::from_secs(1));
    let before = sync_counters(&sock_b);
    let synced = |sock: &Path| {
        let mut v: Vec<String> = conns_from(sock, CLIENT2)
            .iter()
            .map(|c| format!("{} {} {}", c["client"], c["vip"], c["real"]))
            .collect();
        v.sort();
        v
    };
    let table_before = synced(&sock_b);
    assert_eq!(table_before.len(), 1, "{table_before:?}");
    let rcvbuf_before = udp_rcvbuf_errors("dpt-lb");
    let forged = {
        let mut f = datagram(
            9,
            5000,
            DatagramKind::Records,
            &[record(CLIENT2, 6000, 80)],
            &key(),
        );
        let at = f.len() - 1;
        f[at] ^= 0x80;
        f
    };
    flood_from_client(GROUP, &forged, FLOOD);
    let mut last = BTreeMap::new();
    let mut rcvbuf = 0;
    let t2 = Instant::now();
    let delta = |c: &BTreeMap<String, u64>, name: &str| counter(c, name) - before[name];
    while t2.elapsed() < Duration::from_secs(30) {
        last = sync_counters(&sock_b);
        rcvbuf = udp_rcvbuf_errors("dpt-lb") - rcvbuf_before;
        if delta(&last, "sync_drop_bad_magic") + delta(&last, "sync_drop_bad_mac") + rcvbuf == FLOOD
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let (magic, mac) = (
        delta(&last, "sync_drop_bad_magic"),
        delta(&last, "sync_drop_bad_mac"),
    );
    eprintln!("flood of {FLOOD}: bad_magic {magic}, bad_mac {mac}, receive buffer full {rcvbuf}");
    assert_eq!(
        magic + mac + rcvbuf,
        FLOOD,
        "every flood datagram accounted: {last:?}"
    );
    assert!(
        magic > 0 && mac > 0,
        "both kinds reached the socket: {last:?}"
    );
    for name in [
        "sync_received",
        "sync_installed",
        "sync_drop_replayed",
        "sync_drop_stale",
        "sync_drop_truncated",
        "sync_drop_wrong_version",
        "sync_drop_malformed",
    ] {
        assert_eq!(delta(&last, name), 0, "{name}: {last:?}");
    }
    std::fs::write(&stop2, "").unwrap();
    let out = session2.wait_with_output().expect("session 2");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.starts_with("ok "),
        "the session broke during the flood: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The synced connections are what they were (the forged records named CLIENT2 too).
    assert_eq!(synced(&sock_b), table_before, "the flood changed B's table");

    let (code, _, summary) = b.stop("TERM", Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", b.stderr());
    println!("{summary}");
    std::fs::write(&stop_listener, "").unwrap();
    let _ = listener.wait();
}

/// Director B's config: nat.yaml's services on one port, `int` on dpt-lb2's lb2-int
/// (198.19.0.2), syncing over the internal segment.
fn peer_config(d: &TestDir, sock: &Path) -> String {
    let key = d.path("sync.key");
    std::fs::write(&key, KEY).expect("key file");
    format!(
        "{}\ncontrol: {{socket: {}}}\n\
         sync: {{role: backup, key_file: {}, sender_id: 2, via: int}}\n",
        config_from(
            "nat.yaml",
            &[
                (
                    "  - name: ext               # client side\n    device: \"net_af_packet0,iface=lb-ext\"\n",
                    "",
                ),
                (
                    "    ip: 198.18.0.1/24       # the director's own address; the exception interface dp-ext carries it\n",
                    "",
                ),
                ("net_af_packet1,iface=lb-int", "net_af_packet0,iface=lb2-int"),
                ("ip: 198.19.0.1/24", "ip: 198.19.0.2/24"),
                ("via: 198.18.0.254", "via: 198.19.0.254"),
            ]
        ),
        sock.display(),
        key.display()
    )
}

/// (client, vip, real, state) of every connection in a `ctl conns` listing.
fn conn_set(sock: &Path) -> Vec<(String, String, String, String)> {
    let v = ctl_json(sock, &["conns"]);
    let s = |c: &serde_json::Value, k: &str| c[k].as_str().unwrap_or_default().to_string();
    let mut all: Vec<_> = v["conns"]
        .as_array()
        .expect("conns")
        .iter()
        .map(|c| (s(c, "client"), s(c, "vip"), s(c, "real"), s(c, "state")))
        .collect();
    all.sort();
    all
}

#[test]
fn a_backup_started_later_gets_the_table_by_resync_then_live_events() {
    let _tb = Testbed::up("nat");
    lb2_up();
    let d = TestDir::new();
    let stop_session = d.path("stop-session");
    // A (master, syncing on its int port) with a session and a few finished web requests.
    let sock_a = d.path("a.sock");
    let (mut a, _) = start_appliance(&d, &config(&d, "master", 1, &sock_a, ", via: int"));
    let session = start_session(&stop_session);
    for _ in 0..3 {
        assert!(curl().is_some(), "the VIP answers");
    }
    wait_until(
        "A's session is ESTABLISHED",
        Duration::from_secs(20),
        || {
            conn_set(&sock_a)
                .iter()
                .any(|c| c.1 == format!("{VIP}:7") && c.3 == "ESTABLISHED")
        },
    );
    // B starts afterwards (sharing the CPUs: lcore 1 on CPU 1 like A's, adaptive back-off) and
    // asks for the table.
    let sock_b = d.path("b.sock");
    let cfg_b = d.write("b.yaml", &peer_config(&d, &sock_b));
    let mut b = Appliance::start_in_netns("dpt-lb2", &cfg_b, &d, "b");
    b.wait_for_log("running", Duration::from_secs(60));
    wait_until("B's resync completes", Duration::from_secs(30), || {
        ctl_json(&sock_b, &["sync"])["status"]["resync"] == "done"
    });
    let st = ctl_json(&sock_b, &["sync"]);
    assert!(
        st["status"]["resync_records"].as_u64().unwrap() >= 4,
        "{st}"
    );
    let sa = ctl_json(&sock_a, &["sync"]);
    assert_eq!(sa["status"]["streams_sent"], 1, "{sa}");
    assert_eq!(
        sa["counters"]["sync_resync_requests_received"], 1,
        "one request answered: {sa}"
    );
    // B holds the session, bound to the same real as on A.
    let on_a: Vec<_> = conn_set(&sock_a)
        .into_iter()
        .filter(|c| c.1 == format!("{VIP}:7"))
        .collect();
    wait_until("B lists A's session", Duration::from_secs(10), || {
        let on_b = conn_set(&sock_b);
        on_a.iter().all(|c| on_b.contains(c))
    });
    // Live: a connection opened now on A is installed on B without another resync.
    let before: Vec<_> = conn_set(&sock_a);
    assert!(curl().is_some());
    let new_on_a: Vec<_> = conn_set(&sock_a)
        .into_iter()
        .filter(|c| c.1 == format!("{VIP}:80") && !before.iter().any(|o| o.0 == c.0))
        .collect();
    assert_eq!(new_on_a.len(), 1, "{new_on_a:?}");
    wait_until(
        "B installs A's new connection",
        Duration::from_secs(10),
        || {
            conn_set(&sock_b)
                .iter()
                .any(|c| c.0 == new_on_a[0].0 && c.2 == new_on_a[0].2)
        },
    );
    std::fs::write(&stop_session, "").unwrap();
    let out = session.wait_with_output().expect("session");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (code, _, summary_b) = b.stop("TERM", Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", b.stderr());
    let (code, _, summary_a) = a.stop("TERM", Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", a.stderr());
    println!("A:\n{summary_a}\nB:\n{summary_b}");
    assert_eq!(
        summary_counter(&summary_b, "worker 0", "nat_in"),
        0,
        "B forwards nothing"
    );
    assert_eq!(
        summary_counter(&summary_a, "worker 0", "sync_events_lost"),
        0
    );
}

/// Sends each datagram from namespace `ns` to `dest`:8848 (unicast), 5 ms apart.
fn send_from(ns: &str, dest: &str, datagrams: &[Vec<u8>]) {
    let hex: Vec<String> = datagrams
        .iter()
        .map(|d| d.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    let script = format!(
        "import socket,sys,time\n\
         s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         for h in sys.argv[1:]:\n\
         \x20   s.sendto(bytes.fromhex(h),('{dest}',8848)); time.sleep(0.005)\n"
    );
    let st = Command::new("ip")
        .args(["netns", "exec", ns, "python3", "-c", &script])
        .args(&hex)
        .status()
        .expect("send sync datagrams");
    assert!(st.success());
}

/// A resync streams the whole table, connections a peer synced to the sender included (the
/// failback case: they exist only there), and every record is installed: director A (role
/// both) is given 3 000 connections by sync datagrams from a real server's namespace, then B
/// starts, asks, and lists every one of them.
#[test]
fn a_resync_of_thousands_installs_every_record_peers_connections_included() {
    const N: u16 = 3000;
    let _tb = Testbed::up("nat");
    lb2_up();
    let d = TestDir::new();
    let sock_a = d.path("a.sock");
    let (mut a, _) = start_appliance(&d, &config(&d, "both", 1, &sock_a, ", via: int"));
    // 3 000 ESTABLISHED connections of a third director (sender 9), 48 to a datagram.
    let peer = Ipv4Addr::new(198, 18, 7, 0);
    let recs: Vec<Record> = (0..N)
        .map(|i| {
            record(
                Ipv4Addr::from(u32::from(peer) + u32::from(i / 100)),
                20000 + i,
                80,
            )
        })
        .collect();
    let seq0 = 1_000_000;
    let datagrams: Vec<Vec<u8>> = recs
        .chunks(48)
        .enumerate()
        .map(|(i, c)| datagram(9, seq0 + i as u64, DatagramKind::Records, c, &key()))
        .collect();
    send_from("dpt-real1", "198.19.0.1", &datagrams);
    wait_until(
        "A installs the peer's connections",
        Duration::from_secs(30),
        || counter(&sync_counters(&sock_a), "sync_installed") == u64::from(N),
    );
    // The table by counters (a listing of thousands is slow on a loaded machine), and two of
    // the clients' connections listed on both.
    let sample = |sock: &Path, client: &str| -> Vec<(String, String, String, String)> {
        let v = ctl_json(sock, &["conns", "--client", client]);
        let s = |c: &serde_json::Value, k: &str| c[k].as_str().unwrap_or_default().to_string();
        let mut all: Vec<_> = v["conns"]
            .as_array()
            .expect("conns")
            .iter()
            .map(|c| (s(c, "client"), s(c, "vip"), s(c, "real"), s(c, "state")))
            .collect();
        all.sort();
        all
    };
    let first_a = sample(&sock_a, "198.18.7.0");
    let last_a = sample(&sock_a, "198.18.7.29");
    assert_eq!((first_a.len(), last_a.len()), (100, 100));
    // B starts afterwards and asks for the table: it gets every connection A holds.
    let sock_b = d.path("b.sock");
    let cfg_b = d.write("b.yaml", &peer_config(&d, &sock_b));
    let mut b = Appliance::start_in_netns("dpt-lb2", &cfg_b, &d, "b");
    b.wait_for_log("running", Duration::from_secs(60));
    wait_until("B's resync completes", Duration::from_secs(60), || {
        ctl_json(&sock_b, &["sync"])["status"]["resync"] == "done"
    });
    wait_until(
        "B installs every record it received",
        Duration::from_secs(20),
        || {
            let c = sync_counters(&sock_b);
            counter(&c, "sync_installed") == counter(&c, "sync_records_received")
        },
    );
    let st = ctl_json(&sock_b, &["sync"]);
    assert!(
        st["status"]["resync_records"].as_u64().unwrap() >= u64::from(N),
        "{st}"
    );
    let c = sync_counters(&sock_b);
    assert!(counter(&c, "sync_installed") >= u64::from(N), "{c:?}");
    assert_eq!(counter(&c, "sync_install_queue_full"), 0, "{c:?}");
    assert_eq!(counter(&c, "sync_records_unknown"), 0, "{c:?}");
    assert_eq!(counter(&c, "sync_install_unknown"), 0, "{c:?}");
    assert_eq!(counter(&c, "sync_install_full"), 0, "{c:?}");
    assert_eq!(sample(&sock_b, "198.18.7.0"), first_a);
    assert_eq!(sample(&sock_b, "198.18.7.29"), last_a);
    let (code, _, _) = b.stop("TERM", Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", b.stderr());
    let (code, _, _) = a.stop("TERM", Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", a.stderr());
}
