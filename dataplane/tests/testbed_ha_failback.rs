//! An HA pair of real appliances on the namespace testbed (issue 10, docs/ha.md): A in dpt-lb
//! (priority 150), B in dpt-lb2 (priority 100), VRRP on the client side with the VIP and the
//! reals' gateway 198.19.0.1 floating, connection sync role `both` on both over the inside
//! segment's multicast group. NAT mode: the reals route through whichever director is master.
//!
//! - Failback without loss: A is killed (SIGKILL), B takes over, a session opened before and one
//!   opened during A's absence go on; A returns, holds preemption (`ctl ha`) while its resync
//!   cannot finish (its inside port is unplugged from the bridge, so its request cannot reach
//!   B), takes back only after its resync is done, and both sessions go on with every line.
//! - Split brain healed: B's client-side port is unplugged (no adverts cross, sync still
//!   flows), both are master; plugged back, the higher priority stays master, the other steps
//!   down, and the session opened before the split goes on, its entry still in both tables.
//!
//! Shares the dpt-* namespaces: runs in the testbed's one-at-a-time group.
mod common;
use common::testbed::*;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const KEY: &[u8] = b"testbed HA pair key, 32 bytes..!";
/// The advert interval (s): 3 s like tests/testbed_vrrp.rs (a loaded 2-CPU machine can stall an
/// appliance for seconds; the master-down interval is then about 10 s).
const INTERVAL_S: u64 = 3;
/// A bound on a takeover: the master-down interval plus a generous margin.
const TAKEOVER: Duration = Duration::from_secs(3 * INTERVAL_S + 30);
/// Longer than the master-down interval of A (9 s + skew 1.24 s).
const PAST_MASTER_DOWN: Duration = Duration::from_secs(3 * INTERVAL_S + 3);

const A_EXT: &str = "198.18.0.1";
const B_EXT: &str = "198.18.0.4";
const A_INT_MAC: &str = "02:00:00:00:02:01";
const B_INT_MAC: &str = "02:00:00:00:02:03";
const CLIENT1: &str = "198.18.0.2";
const CLIENT2: &str = "198.18.0.3";
const ECHO: &str = "198.18.0.100:7";

fn sh(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Unplugs a testbed veth from its bridge (the link stays up: nothing reaches it) or plugs it
/// back into `bridge`.
fn unplug(sw_port: &str) {
    sh(&["ip", "-n", "dpt-sw", "link", "set", sw_port, "nomaster"]);
}

fn plug(sw_port: &str, bridge: &str) {
    sh(&[
        "ip", "-n", "dpt-sw", "link", "set", sw_port, "master", bridge,
    ]);
}

/// A director's config: nat.yaml on the given interfaces and addresses, with VRRP and sync.
fn config(d: &TestDir, who: &str, priority: u8, sock: &Path) -> PathBuf {
    let key = d.path("sync.key");
    std::fs::write(&key, KEY).expect("key file");
    let (edits, sender): (Vec<(&str, &str)>, u32) = if who == "a" {
        // The gateway 198.19.0.1 floats: A's own inside address is another one.
        (vec![("ip: 198.19.0.1/24", "ip: 198.19.0.3/24")], 1)
    } else {
        (
            vec![
                (
                    "net_af_packet0,iface=lb-ext",
                    "net_af_packet0,iface=lb2-ext",
                ),
                (
                    "net_af_packet1,iface=lb-int",
                    "net_af_packet1,iface=lb2-int",
                ),
                ("ip: 198.18.0.1/24", "ip: 198.18.0.4/24"),
                ("ip: 198.19.0.1/24", "ip: 198.19.0.2/24"),
            ],
            2,
        )
    };
    let yaml = format!(
        "{}\ncontrol: {{socket: {}}}\n\
         sync: {{role: both, key_file: {}, sender_id: {sender}, via: int}}\n\
         vrrp: {{vrid: 51, priority: {priority}, advert_interval: {INTERVAL_S}s, preempt: true, \
         port: ext, floating: [{{ip: 198.19.0.1, port: int}}]}}\n",
        config_from("nat.yaml", &edits),
        sock.display(),
        key.display()
    );
    d.write(&format!("{who}.yaml"), &yaml)
}

/// `dataplane ctl ARGS`'s output. A failed call is tried again (three tries at most, logged):
/// on this loaded machine a control request was once seen to fail outright (no output); what
/// is tested here is the answer, not the control channel.
fn ctl(sock: &Path, args: &[&str]) -> String {
    let mut all = vec!["ctl", "--socket", sock.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    let mut errors = Vec::new();
    for _ in 0..3 {
        let out = run(&all, Duration::from_secs(20));
        if out.status.success() && !out.stdout.is_empty() {
            return String::from_utf8_lossy(&out.stdout).to_string();
        }
        let e = format!(
            "ctl {args:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("{e}");
        errors.push(e);
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("ctl failed three times: {errors:?}");
}

fn ctl_json(sock: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    let text = ctl(sock, &a);
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("ctl {args:?}: {e}: {text}"));
    assert_eq!(v["ok"], true, "{v}");
    v["result"].clone()
}

/// `ctl ha --json`'s VRRP part.
fn vrrp(sock: &Path) -> serde_json::Value {
    ctl_json(sock, &["ha"])["vrrp"].clone()
}

fn vrrp_state(sock: &Path) -> String {
    vrrp(sock)["state"].as_str().unwrap_or_default().to_string()
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

fn wait_state(sock: &Path, state: &str, limit: Duration, app: &Appliance) {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if vrrp_state(sock) == state {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "not {state} within {limit:?}: {}\n{}",
        vrrp(sock),
        app.stderr()
    );
}

/// The echo-service connections from `client` in a `ctl conns` listing: (client, real, state).
fn echo_conns(sock: &Path, client: &str) -> Vec<(String, String, String)> {
    let v = ctl_json(sock, &["conns"]);
    let s = |c: &serde_json::Value, k: &str| c[k].as_str().unwrap_or_default().to_string();
    v["conns"]
        .as_array()
        .expect("conns")
        .iter()
        .filter(|c| s(c, "vip") == ECHO && s(c, "client").starts_with(&format!("{client}:")))
        .map(|c| (s(c, "client"), s(c, "real"), s(c, "state")))
        .collect()
}

/// The one established echo connection from `client` (waits for it).
fn established(sock: &Path, client: &str, limit: Duration) -> (String, String) {
    let mut found = None;
    wait_until(
        &format!("an ESTABLISHED echo connection from {client}"),
        limit,
        || {
            let c = echo_conns(sock, client);
            if c.len() == 1 && c[0].2 == "ESTABLISHED" {
                found = Some((c[0].0.clone(), c[0].1.clone()));
            }
            found.is_some()
        },
    );
    found.expect("found")
}

fn sync_status(sock: &Path) -> serde_json::Value {
    ctl_json(sock, &["sync"])
}

fn sync_counter(sock: &Path, name: &str) -> u64 {
    let r = sync_status(sock);
    r["counters"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {name}: {r}"))
}

/// A TCP session to the echo service from `src`: a line every 100 ms, each echo awaited (up to
/// 60 s: a takeover or a split stalls it for that long at most, TCP retransmits meanwhile);
/// after `stop` exists, ten more lines, then `ok N worst W`. Bounded to 300 s.
/// A session's client process, killed if the test ends before it (a failed assertion).
struct Session(Option<Child>);

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn start_session(src: &str, stop: &Path) -> Session {
    let script = format!(
        "import socket,sys,time,os\n\
         s=socket.create_connection(('{VIP}',7),timeout=60,source_address=('{src}',0))\n\
         f=s.makefile('rwb')\n\
         i=0; after=None; worst=0.0; end=time.time()+300\n\
         while time.time()<end:\n\
         \x20   msg=('line %d ' % i).encode()*10+b'\\n'\n\
         \x20   t=time.monotonic()\n\
         \x20   f.write(msg); f.flush()\n\
         \x20   back=f.readline()\n\
         \x20   worst=max(worst,time.monotonic()-t)\n\
         \x20   if back!=msg:\n\
         \x20       print('mismatch at', i, back[:40]); sys.exit(2)\n\
         \x20   i+=1\n\
         \x20   if after is None and os.path.exists('{stop}'): after=i\n\
         \x20   if after is not None and i>=after+10: print('ok', i, 'worst %.1f' % worst); sys.exit(0)\n\
         \x20   time.sleep(0.1)\n\
         print('timeout', i); sys.exit(3)\n",
        stop = stop.display()
    );
    Session(Some(
        Command::new("ip")
            .args(["netns", "exec", "dpt-client", "python3", "-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the session"),
    ))
}

/// Ends a session (its stop file) and checks every line came back: no reset, no lost line.
/// Returns the number of lines.
fn finish_session(name: &str, mut s: Session, stop: &Path) -> u64 {
    std::fs::write(stop, "").expect("stop file");
    let out =
        s.0.take()
            .expect("running")
            .wait_with_output()
            .expect("session");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && text.starts_with("ok "),
        "session {name} broke: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("session {name}: {}", text.trim());
    text.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("line count")
}

/// SIGKILL, then what the dead appliance could not remove itself (its DPDK runtime directory
/// and hugepage files), so that the next one finds the pages free.
fn kill(app: &mut Appliance) {
    let (code, _, _) = app.stop("KILL", Duration::from_secs(10));
    assert_eq!(code, None, "killed by the signal");
    let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{}", app.prefix));
    if let Ok(rd) = std::fs::read_dir("/dev/hugepages") {
        let start = format!("{}map_", app.prefix);
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(&start) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// The MAC real `real` (its address, `198.19.0.1N:port`) has for the gateway 198.19.0.1.
fn gateway_mac_at(real: &str) -> String {
    let ip = real.split(':').next().expect("address");
    let n = ip.rsplit('.').next().expect("last byte");
    let ns = format!("dpt-real{}", n.parse::<u8>().expect("a number") - 10);
    let out = sh(&["ip", "-n", &ns, "neigh", "show", "198.19.0.1"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut words = text.split_whitespace();
    words
        .by_ref()
        .find(|w| *w == "lladdr")
        .and_then(|_| words.next())
        .unwrap_or_default()
        .to_string()
}

fn mgmt_counter(sock: &Path, name: &str) -> u64 {
    let s = ctl_json(sock, &["stats"]);
    s["management"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no management counter {name} in {s}"))
}

/// The byte offset of the first log line holding every needle.
fn log_line(app: &Appliance, needles: &[&str]) -> usize {
    let log = app.stderr();
    let mut at = 0;
    for line in log.split_inclusive('\n') {
        if needles.iter().all(|n| line.contains(n)) {
            return at;
        }
        at += line.len();
    }
    panic!("no log line with {needles:?}:\n{log}");
}

/// The testbed with dpt-lb2, A master (its VIP answering) and B backup with its resync done.
struct Pair {
    d: TestDir,
    a: Appliance,
    b: Appliance,
    sock_a: PathBuf,
    sock_b: PathBuf,
}

fn start_pair() -> Pair {
    lb2_up();
    let d = TestDir::new();
    let sock_a = d.path("a.sock");
    let cfg_a = config(&d, "a", 150, &sock_a);
    let mut a = Appliance::start_in_netns("dpt-lb", &cfg_a, &d, "a1");
    a.wait_for_log("running", Duration::from_secs(60));
    // Alone, A becomes master after the master-down interval (its resync cannot finish: the
    // hold never stops a takeover from a master that is not there).
    wait_state(&sock_a, "MASTER", TAKEOVER, &a);
    let v = vrrp(&sock_a);
    assert_eq!(v["preempt_hold"]["held"], true, "{v}");
    assert_eq!(
        v["last_reason"], "no advert from the master for the master-down interval",
        "{v}"
    );
    wait_until("the VIP answers through A", Duration::from_secs(30), || {
        curl().is_some()
    });
    let sock_b = d.path("b.sock");
    let cfg_b = config(&d, "b", 100, &sock_b);
    let mut b = Appliance::start_in_netns("dpt-lb2", &cfg_b, &d, "b");
    b.wait_for_log("running", Duration::from_secs(60));
    wait_until("B's resync from A", Duration::from_secs(40), || {
        sync_status(&sock_b)["status"]["resync"] == "done"
    });
    wait_until("B hears A's adverts", TAKEOVER, || {
        let v = vrrp(&sock_b);
        v["state"] == "BACKUP" && v["master"] == A_EXT && v["last_advert"]["priority"] == 150
    });
    // B's hold ended with its resync; it stays backup (A's priority is higher).
    let hold = &vrrp(&sock_b)["preempt_hold"];
    assert_eq!(hold["held"], false, "{hold}");
    Pair {
        d,
        a,
        b,
        sock_a,
        sock_b,
    }
}

#[test]
fn a_returning_master_takes_back_only_after_its_resync_and_no_session_breaks() {
    let t0 = Instant::now();
    let _tb = Testbed::up("nat");
    let Pair {
        d,
        a: mut a1,
        mut b,
        sock_a,
        sock_b,
    } = start_pair();
    eprintln!("pair up: {:?}", t0.elapsed());

    // S1 through A; synced to B.
    let stop1 = d.path("stop-s1");
    let s1 = start_session(CLIENT1, &stop1);
    let s1_on_a = established(&sock_a, CLIENT1, Duration::from_secs(20));
    let s1_on_b = established(&sock_b, CLIENT1, Duration::from_secs(20));
    assert_eq!(s1_on_a, s1_on_b, "B holds A's session, bound to its real");

    // A dies; B takes over after the master-down interval.
    kill(&mut a1);
    let killed = Instant::now();
    wait_state(&sock_b, "MASTER", TAKEOVER, &b);
    eprintln!("B master {:?} after the kill", killed.elapsed());
    assert_eq!(
        vrrp(&sock_b)["last_reason"],
        "no advert from the master for the master-down interval"
    );

    // S2 through B while A is away.
    let stop2 = d.path("stop-s2");
    let s2 = start_session(CLIENT2, &stop2);
    let s2_on_b = established(&sock_b, CLIENT2, Duration::from_secs(30));

    // A returns with its inside port unplugged: its resync request cannot reach B (sync runs on
    // the inside segment), so its resync waits and it must not preempt B.
    unplug("sw-lb-int");
    let cfg_a = d.path("a.yaml");
    let mut a2 = Appliance::start_in_netns("dpt-lb", &cfg_a, &d, "a2");
    a2.wait_for_log("running", Duration::from_secs(60));
    wait_until("A back, hearing B", TAKEOVER, || {
        let v = vrrp(&sock_a);
        v["state"] == "BACKUP" && v["master"] == B_EXT
    });
    let held_from = Instant::now();
    while held_from.elapsed() < PAST_MASTER_DOWN {
        let v = vrrp(&sock_a);
        assert_eq!(v["state"], "BACKUP", "A preempted before its resync: {v}");
        assert_eq!(
            v["preempt_hold"],
            serde_json::json!({"held": true, "reason": "connection resync not done",
                "max_ms": 60000}),
            "{v}"
        );
        assert_eq!(sync_status(&sock_a)["status"]["resync"], "waiting");
        std::thread::sleep(Duration::from_millis(500));
    }
    let text = ctl(&sock_a, &["ha"]);
    assert!(
        text.lines()
            .any(|l| l == "  preemption held: connection resync not done (at most 60000 ms)"),
        "{text}"
    );
    assert_eq!(vrrp_state(&sock_b), "MASTER");

    // Plugged back: the next request (every 2 s) is answered, the resync completes, and A
    // takes back one master-down interval later.
    plug("sw-lb-int", "br-int");
    let plugged = Instant::now();
    wait_state(&sock_a, "MASTER", TAKEOVER + PAST_MASTER_DOWN, &a2);
    eprintln!("A master again {:?} after the plug", plugged.elapsed());
    wait_state(&sock_b, "BACKUP", TAKEOVER, &b);
    let v = vrrp(&sock_a);
    assert_eq!(v["last_reason"], "preempted a lower-priority master", "{v}");
    assert_eq!(v["transitions"], 2, "startup, then master: {v}");
    assert_eq!(v["preempt_hold"]["held"], false, "{v}");
    let reason = v["preempt_hold"]["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("resync done: "), "{v}");
    let vb = vrrp(&sock_b);
    assert_eq!(vb["transitions"], 3, "startup, master, backup: {vb}");
    assert_eq!(
        vb["last_reason"], "198.18.0.1 advertises a higher priority (150)",
        "{vb}"
    );
    // The order of events in A's log: its resync done, the hold ended, then MASTER.
    let done_at = log_line(&a2, &["resync complete"]);
    let released_at = log_line(&a2, &["VRRP preemption hold ended: resync done"]);
    let master_at = log_line(&a2, &["VRRP state change", "to=\"MASTER\""]);
    assert!(
        done_at < released_at && released_at < master_at,
        "order: resync complete {done_at}, hold ended {released_at}, MASTER {master_at}\n{}",
        a2.stderr()
    );
    let _ = log_line(
        &a2,
        &["VRRP preemption held until the connection resync is done"],
    );
    // A has both sessions from the resync, bound to the same reals as on B.
    assert_eq!(
        established(&sock_a, CLIENT1, Duration::from_secs(10)),
        s1_on_a
    );
    assert_eq!(
        established(&sock_a, CLIENT2, Duration::from_secs(10)),
        s2_on_b
    );
    let st = sync_status(&sock_a);
    assert_eq!(st["status"]["resync"], "done", "{st}");
    assert!(
        st["status"]["resync_records"].as_u64().unwrap() >= 2,
        "{st}"
    );

    // Both sessions go on through A: every line echoed, no reset.
    let n1 = finish_session("S1", s1, &stop1);
    let n2 = finish_session("S2", s2, &stop2);
    eprintln!("S1 {n1} lines, S2 {n2} lines, {:?} in all", t0.elapsed());
    for sock in [&sock_a, &sock_b] {
        for name in [
            "sync_drop_bad_mac",
            "sync_drop_malformed",
            "sync_drop_truncated",
            "sync_drop_wrong_version",
            "sync_drop_replayed",
            "sync_drop_stale",
        ] {
            assert_eq!(sync_counter(sock, name), 0, "{name} on {}", sock.display());
        }
    }
    let (code, _, summary_a) = a2.stop("TERM", Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", a2.stderr());
    let (code, _, summary_b) = b.stop("TERM", Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", b.stderr());
    println!("A:\n{summary_a}\nB:\n{summary_b}");
    // The last lines of both sessions went through the returned A.
    assert!(
        summary_counter(&summary_a, "worker 0", "nat_in") >= 20,
        "{summary_a}"
    );
    assert_eq!(
        summary_counter(&summary_a, "worker 0", "sync_events_lost"),
        0
    );
    assert_eq!(
        summary_counter(&summary_b, "worker 0", "sync_events_lost"),
        0
    );
}

#[test]
fn a_healed_split_brain_keeps_the_higher_priority_and_every_synced_session() {
    let t0 = Instant::now();
    let _tb = Testbed::up("nat");
    let Pair {
        d,
        mut a,
        mut b,
        sock_a,
        sock_b,
    } = start_pair();
    eprintln!("pair up: {:?}", t0.elapsed());
    let stop = d.path("stop-s");
    let s = start_session(CLIENT1, &stop);
    let on_a = established(&sock_a, CLIENT1, Duration::from_secs(20));
    assert_eq!(established(&sock_b, CLIENT1, Duration::from_secs(20)), on_a);

    // B's client-side port unplugged: no advert crosses (sync, on the inside, still flows).
    unplug("sw-lb2-ext");
    wait_state(&sock_b, "MASTER", TAKEOVER, &b);
    assert_eq!(vrrp_state(&sock_a), "MASTER", "both masters");
    eprintln!("split brain: {:?}", t0.elapsed());
    // B's gratuitous ARP for the floating gateway moved the session's real to B.
    let real = on_a.1.clone();
    wait_until("the real follows B", Duration::from_secs(10), || {
        gateway_mac_at(&real) == B_INT_MAC
    });
    // Let the split last a little: both tables keep the session.
    std::thread::sleep(Duration::from_secs(INTERVAL_S));
    assert_eq!(vrrp_state(&sock_b), "MASTER");
    assert_eq!(echo_conns(&sock_a, CLIENT1).len(), 1);
    assert_eq!(echo_conns(&sock_b, CLIENT1).len(), 1);

    // Plugged back: adverts cross, B hears the higher priority and steps down; A, hearing B's
    // lower-priority advert, announces its addresses again (B's gratuitous ARPs moved the
    // reals' gateway to B during the split).
    plug("sw-lb2-ext", "br-ext");
    let healed = Instant::now();
    wait_state(&sock_b, "BACKUP", TAKEOVER, &b);
    eprintln!("healed {:?} after the plug", healed.elapsed());
    assert_eq!(vrrp_state(&sock_a), "MASTER");
    let va = vrrp(&sock_a);
    assert_eq!(va["transitions"], 2, "A never left MASTER: {va}");
    let vb = vrrp(&sock_b);
    assert_eq!(vb["transitions"], 3, "startup, master, backup: {vb}");
    assert_eq!(
        vb["last_reason"], "198.18.0.1 advertises a higher priority (150)",
        "{vb}"
    );
    wait_until("A announces again", Duration::from_secs(10), || {
        a.stderr().contains("split brain healing")
    });
    // ... and the real is back to A; A's gratuitous ARPs: the VIP and the gateway on becoming
    // master, and again on each lower-priority advert it heard.
    wait_until("the real back to A", Duration::from_secs(10), || {
        gateway_mac_at(&real) == A_INT_MAC
    });
    let heard_lower = a.stderr().matches("split brain healing").count() as u64;
    assert_eq!(mgmt_counter(&sock_a, "garps"), 2 * (1 + heard_lower));
    // No synced connection dropped: the session's entry is still in both tables, same real.
    assert_eq!(established(&sock_a, CLIENT1, Duration::from_secs(10)), on_a);
    assert_eq!(established(&sock_b, CLIENT1, Duration::from_secs(10)), on_a);
    let n = finish_session("S", s, &stop);
    eprintln!("S {n} lines, {:?} in all", t0.elapsed());
    // Still there after the session's last lines went through A.
    assert_eq!(echo_conns(&sock_b, CLIENT1).len(), 1);
    for sock in [&sock_a, &sock_b] {
        assert_eq!(sync_counter(sock, "sync_drop_bad_mac"), 0);
        assert_eq!(sync_counter(sock, "sync_drop_replayed"), 0);
    }
    let (code, _, summary_b) = b.stop("TERM", Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", b.stderr());
    let (code, _, summary_a) = a.stop("TERM", Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", a.stderr());
    println!("A:\n{summary_a}\nB:\n{summary_b}");
}
