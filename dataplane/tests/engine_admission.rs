//! Admission of new connections in process (`worker/engine/admission.rs`): a service's acl
//! (deny wins, established connections untouched by a reload), its max_connections, and its
//! reals' upper/lower thresholds with IPVS's hysteresis, each counted under its own name.
mod common;
use common::packets::*;
use common::two_ports::config;
use dataplane::worker::engine::sim::Sim;
use std::net::Ipv4Addr;

fn vip() -> Ipv4Addr {
    ip("198.18.0.100")
}

/// A TCP segment from `client:sport` to VIP:`dport` with `flags`.
fn seg(client: &str, sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    ipv4(
        [0x02, 0xd0, 0, 0, 0, 1],
        ROUTER_MAC,
        ip(client),
        vip(),
        6,
        &tcp(sport, dport, flags, b""),
    )
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const RST: u8 = 0x04;

/// The two-port config with one more TCP service, `guarded`, on VIP:8080 (rr over real1 and
/// real2) carrying `service_keys`, real1 carrying `real1_keys`.
fn guarded(service_keys: &str, real1_keys: &str) -> String {
    config(
        "nat",
        &format!(
            "  - name: guarded
    vip: 198.18.0.100
    port: 8080
    scheduler: rr
    forward: nat
{service_keys}    reals: [{{ip: 198.19.0.11{real1_keys}}}, {{ip: 198.19.0.12}}]
"
        ),
    )
}

/// At `ms`, `frame` arrives on ext at worker 0.
fn send(sim: &mut Sim, ms: u64, frame: Vec<u8>) {
    sim.now = ms;
    let p = sim.port("ext");
    sim.rx(0, p, &frame);
}

/// The destination addresses of what int sent since the last call.
fn sent_to(sim: &mut Sim) -> Vec<String> {
    let p = sim.port("int");
    sim.take_sent(p)
        .iter()
        .map(|f| Ipv4Addr::new(f[30], f[31], f[32], f[33]).to_string())
        .collect()
}

/// Ends real1's connection from `sport` at `ms`: ESTABLISHED by an ACK, then reset (CLOSE,
/// gone after tcp_close, 10 s; a RST in SYN_RECV would keep SYN_RECV, as IPVS).
fn reset(sim: &mut Sim, ms: u64, sport: u16) {
    send(sim, ms, seg("198.18.0.2", sport, 8080, ACK));
    send(sim, ms + 1, seg("198.18.0.2", sport, 8080, RST));
    assert_eq!(sent_to(sim), ["198.19.0.11", "198.19.0.11"], "{sport}");
}

fn counters(sim: &Sim) -> Vec<(&'static str, u64)> {
    sim.nonzero_counters().into_iter().collect()
}

#[test]
fn acl_deny_wins_and_a_reload_spares_established_connections() {
    let yaml = guarded(
        "    acl: {allow: [198.18.0.0/24], deny: [198.18.0.3/32]}\n",
        "",
    );
    let mut sim = Sim::new(&yaml, 1, false).unwrap();
    send(&mut sim, 0, seg("198.18.0.2", 1000, 8080, SYN));
    send(&mut sim, 1, seg("198.18.0.3", 1000, 8080, SYN));
    // Outside the allow list.
    send(&mut sim, 2, seg("203.0.113.9", 1000, 8080, SYN));
    // Other services have no acl.
    send(&mut sim, 3, seg("198.18.0.3", 1001, 80, SYN));
    assert_eq!(sent_to(&mut sim), ["198.19.0.11", "198.19.0.11"]);
    assert_eq!(
        counters(&sim),
        [
            ("conn_new", 2),
            ("drop_acl_denied", 2),
            ("nat_in", 2),
            ("rx", 4),
            ("tx", 2)
        ]
    );
    // A reload denies 198.18.0.2 too: its open connection goes on, a new one is refused.
    let denied = yaml.replace("deny: [198.18.0.3/32]", "deny: [198.18.0.2/31]");
    sim.reload(&denied).unwrap();
    send(&mut sim, 4, seg("198.18.0.2", 1000, 8080, ACK));
    send(&mut sim, 5, seg("198.18.0.2", 1002, 8080, SYN));
    assert_eq!(sent_to(&mut sim), ["198.19.0.11"]);
    assert_eq!(sim.counter("drop_acl_denied"), 3);
    assert_eq!(sim.counter("nat_in"), 3);
    // And the acl removed: the client is back.
    sim.reload(&guarded("", "")).unwrap();
    send(&mut sim, 6, seg("198.18.0.3", 1003, 8080, SYN));
    assert_eq!(sent_to(&mut sim), ["198.19.0.12"]);
    assert_eq!(sim.counter("drop_acl_denied"), 3);
}

#[test]
fn max_connections_counts_every_connection_of_the_service() {
    let mut sim = Sim::new(&guarded("    max_connections: 2\n", ""), 1, false).unwrap();
    for (ms, sport) in [(0, 1000), (1, 1001), (2, 1002)] {
        send(&mut sim, ms, seg("198.18.0.2", sport, 8080, SYN));
    }
    // A packet of an open connection is not a new one.
    send(&mut sim, 3, seg("198.18.0.2", 1000, 8080, ACK));
    assert_eq!(
        sent_to(&mut sim),
        ["198.19.0.11", "198.19.0.12", "198.19.0.11"]
    );
    assert_eq!(
        counters(&sim),
        [
            ("conn_new", 2),
            ("drop_service_full", 1),
            ("nat_in", 3),
            ("rx", 4),
            ("tx", 3)
        ]
    );
}

/// real1 has upper_threshold 2 and lower_threshold 1: at 2 connections it is skipped (rr goes
/// on with real2), one ending keeps it overloaded (1 is not below 1), both ending let it back.
#[test]
fn thresholds_overload_a_real_until_it_falls_below_the_lower_one() {
    let yaml = guarded("", ", upper_threshold: 2, lower_threshold: 1");
    let mut sim = Sim::new(&yaml, 1, false).unwrap();
    for (i, sport) in (1001..=1006).enumerate() {
        send(&mut sim, i as u64, seg("198.18.0.2", sport, 8080, SYN));
    }
    // rr: 1001 real1, 1002 real2, 1003 real1 (now 2: overloaded), then real2 only.
    assert_eq!(
        sent_to(&mut sim),
        [
            "198.19.0.11",
            "198.19.0.12",
            "198.19.0.11",
            "198.19.0.12",
            "198.19.0.12",
            "198.19.0.12"
        ]
    );
    assert_eq!(sim.counter("real_overloaded"), 1);
    let real1 = sim.workers[0]
        .engine
        .snap
        .services
        .services()
        .iter()
        .find(|s| s.name == "guarded")
        .unwrap()
        .reals[0]
        .id;
    assert!(sim.workers[0].engine.admission().is_overloaded(real1));
    // 1001 reset: CLOSE, gone after tcp_close (10 s). real1 holds 1: still overloaded.
    reset(&mut sim, 1000, 1001);
    send(&mut sim, 12_000, seg("198.18.0.2", 2000, 53, 0)); // a no-op that lets housekeeping run
    send(&mut sim, 12_001, seg("198.18.0.2", 1007, 8080, SYN));
    assert_eq!(sent_to(&mut sim), ["198.19.0.12"]);
    assert_eq!(sim.counter("conn_expired"), 1);
    // 1003 reset too: 0 < 1, real1 takes connections again.
    reset(&mut sim, 12_002, 1003);
    send(&mut sim, 24_000, seg("198.18.0.2", 2000, 53, 0));
    send(&mut sim, 24_001, seg("198.18.0.2", 1008, 8080, SYN));
    send(&mut sim, 24_002, seg("198.18.0.2", 1009, 8080, SYN));
    let got = sent_to(&mut sim);
    assert_eq!(got, ["198.19.0.11", "198.19.0.12"]);
    assert!(!sim.workers[0].engine.admission().is_overloaded(real1));
    assert_eq!(sim.counter("real_overloaded"), 1);
    assert_eq!(sim.counter("drop_reals_overloaded"), 0);
}

/// Without a lower threshold the mark clears below 3/4 of the upper one (IPVS); removing the
/// threshold by reload clears it at once; when every real is overloaded the SYN is dropped
/// under its own reason.
#[test]
fn default_lower_threshold_reload_and_all_overloaded() {
    let yaml = guarded("", ", upper_threshold: 2");
    let mut sim = Sim::new(&yaml, 1, false).unwrap();
    for (i, sport) in (1001..=1003).enumerate() {
        send(&mut sim, i as u64, seg("198.18.0.2", sport, 8080, SYN));
    }
    assert_eq!(
        sent_to(&mut sim),
        ["198.19.0.11", "198.19.0.12", "198.19.0.11"]
    );
    // One of real1's two ends: 1*4 < 2*3, no longer overloaded.
    reset(&mut sim, 1000, 1001);
    send(&mut sim, 12_000, seg("198.18.0.2", 2000, 53, 0));
    send(&mut sim, 12_001, seg("198.18.0.2", 1004, 8080, SYN));
    send(&mut sim, 12_002, seg("198.18.0.2", 1005, 8080, SYN));
    assert_eq!(
        sent_to(&mut sim),
        ["198.19.0.12", "198.19.0.11"],
        "rr goes on: real2, then real1 again"
    );
    // real1 is at 2 again. A single-real service whose real is full drops the SYN.
    let one = yaml.replace(
        "reals: [{ip: 198.19.0.11, upper_threshold: 2}, {ip: 198.19.0.12}]",
        "reals: [{ip: 198.19.0.11, upper_threshold: 2}]",
    );
    sim.reload(&one).unwrap();
    send(&mut sim, 12_003, seg("198.18.0.2", 1006, 8080, SYN));
    assert_eq!(sent_to(&mut sim), Vec::<String>::new());
    assert_eq!(sim.counter("drop_reals_overloaded"), 1);
    assert_eq!(sim.counter("drop_no_real"), 0);
    // The threshold raised by reload: real1 takes it.
    sim.reload(&one.replace("upper_threshold: 2", "upper_threshold: 3"))
        .unwrap();
    send(&mut sim, 12_004, seg("198.18.0.2", 1007, 8080, SYN));
    assert_eq!(sent_to(&mut sim), ["198.19.0.11"]);
    send(&mut sim, 12_005, seg("198.18.0.2", 1008, 8080, SYN));
    assert_eq!(sim.counter("drop_reals_overloaded"), 2);
    // Removed: no limit.
    sim.reload(&one.replace(", upper_threshold: 2", ""))
        .unwrap();
    send(&mut sim, 12_006, seg("198.18.0.2", 1009, 8080, SYN));
    assert_eq!(sent_to(&mut sim), ["198.19.0.11"]);
    assert_eq!(sim.counter("drop_reals_overloaded"), 2);
}

/// The acl is asked before the SYN-flood defence answers: a denied client gets no cookie
/// SYN-ACK from a proxied service, an allowed one does.
#[test]
fn a_denied_client_gets_no_syn_cookie() {
    let mut sim = Sim::new(
        &guarded(
            "    acl: {deny: [198.18.0.3/32]}\n    syn_proxy: {mode: always}\n",
            "",
        ),
        1,
        false,
    )
    .unwrap();
    send(&mut sim, 1000, seg("198.18.0.3", 40000, 8080, SYN));
    let ext = sim.port("ext");
    assert!(
        sim.take_sent(ext).is_empty(),
        "no answer to a denied client"
    );
    assert_eq!(sim.counter("drop_acl_denied"), 1);
    assert_eq!(sim.counter("syn_cookies_sent"), 0);
    send(&mut sim, 1001, seg("198.18.0.2", 40000, 8080, SYN));
    assert_eq!(sim.take_sent(ext).len(), 1, "the cookie SYN-ACK");
    assert_eq!(sim.counter("syn_cookies_sent"), 1);
    assert_eq!(sim.counter("drop_acl_denied"), 1);
}
